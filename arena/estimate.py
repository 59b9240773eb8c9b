"""The one cost estimator of both planners (`arena tournament plan`, `arena judge eval --dry-run`):
token-count a judge's calls on a sample of match contexts, scale them to the planned calls, and
price them per judge model from litellm's price table (None when a model has no price: unknown,
never $0)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from arena.records import MatchContext


@dataclass(slots=True)
class CallsEstimate:
    """Tokens and US dollars of the planned judge calls; costs None when a model's price is unknown."""

    input_tokens: float = 0.0
    output_tokens_expected: float = 0.0
    output_tokens_worst: float = 0.0
    cost_usd_expected: float | None = 0.0
    cost_usd_worst: float | None = 0.0
    unknown_price_models: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CallSample:
    """Per judge model: [input tokens, output tokens expected, output tokens at most, calls] of the sampled contexts."""

    per_model: dict[str, list[float]] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return int(sum(v[3] for v in self.per_model.values()))

    def scaled(self, f_expected: float, f_worst: float) -> CallsEstimate:
        """The sample scaled by `f_expected` (input tokens, expected output) and `f_worst` (worst case):
        each judge model keeps its share of the calls."""
        est = CallsEstimate()
        for model, (i, o, omax, _) in sorted(self.per_model.items()):
            est.input_tokens += i * f_expected
            est.output_tokens_expected += o * f_expected
            est.output_tokens_worst += omax * f_worst
            c_exp = _price(model, i * f_expected, o * f_expected) if model else None
            c_worst = _price(model, i * f_worst, omax * f_worst) if model else None
            if c_exp is None or c_worst is None:
                est.unknown_price_models.append(model or "(unnamed)")
            else:
                est.cost_usd_expected = (est.cost_usd_expected or 0.0) + c_exp
                est.cost_usd_worst = (est.cost_usd_worst or 0.0) + c_worst
        if est.unknown_price_models:
            est.cost_usd_expected = est.cost_usd_worst = None
        return est


def sample_calls(judge, contexts: Iterable[MatchContext]) -> CallSample:
    """Token-count `judge.call_estimates(ctx)` over `contexts` (no call is made)."""
    sample = CallSample()
    for ctx in contexts:
        for e in judge.call_estimates(ctx):
            acc = sample.per_model.setdefault(e.model, [0.0, 0.0, 0.0, 0.0])
            acc[0] += e.input_tokens
            acc[1] += e.output_tokens_expected
            acc[2] += e.output_tokens_max
            acc[3] += 1
    return sample


def _price(model: str, input_tokens: float, output_tokens: float) -> float | None:
    """Dollars for that usage from litellm's price table; None when the model has no known price."""
    from arena.backends import price

    return price(model, max(int(round(input_tokens)), 0), max(int(round(output_tokens)), 0))
