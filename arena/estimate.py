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
    input_tokens_worst: float = 0.0
    cost_usd_expected: float | None = 0.0
    cost_usd_worst: float | None = 0.0
    unknown_price_models: list[str] = field(default_factory=list)
    batch_rates: dict[str, str] = field(default_factory=dict)  # judge model -> where its Batch API rate comes from


@dataclass(slots=True)
class CallSample:
    """Per judge model: [input tokens, output tokens expected, output tokens at most, calls] of the
    sampled contexts' calls (`per_model`), and [input tokens, output tokens at most, calls] of their
    worst case, re-asks included (`worst`, from `Judge.worst_call_estimates`). `limits`: judge model ->
    its input limit (litellm's model information) where known; `overhead`: judge model -> the most
    input tokens of a call beyond the prompt and the two answers (template, history); `largest`: the
    largest sampled call's input tokens."""

    per_model: dict[str, list[float]] = field(default_factory=dict)
    per_context: list[float] = field(default_factory=list)  # input tokens of each context's calls (its sampling error)
    worst: dict[str, list[float]] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    overhead: dict[str, int] = field(default_factory=dict)
    largest: int = 0
    batch: set[str] = field(default_factory=set)  # judge models whose calls go through the Batch API

    @property
    def calls(self) -> int:
        return int(sum(v[3] for v in self.per_model.values()))

    @property
    def worst_calls(self) -> int:
        return int(sum(v[2] for v in self.worst.values()))

    def scaled(self, f_expected: float, f_worst: float) -> CallsEstimate:
        """The sample scaled by `f_expected` (input tokens, expected output) and `f_worst` (worst case,
        applied to the worst-case calls, re-asks included): each judge model keeps its share."""
        est = CallsEstimate()
        est.batch_rates = {m: batch_rate(m) for m in sorted(self.batch)}
        for model, (i, o, _omax, _) in sorted(self.per_model.items()):
            est.input_tokens += i * f_expected
            est.output_tokens_expected += o * f_expected
            c_exp = _price(model, i * f_expected, o * f_expected, model in self.batch) if model else None
            if c_exp is None:
                est.unknown_price_models.append(model or "(unnamed)")
            else:
                est.cost_usd_expected = (est.cost_usd_expected or 0.0) + c_exp
        for model, (i, omax, _) in sorted(self.worst.items()):
            est.input_tokens_worst += i * f_worst
            est.output_tokens_worst += omax * f_worst
            c_worst = _price(model, i * f_worst, omax * f_worst, model in self.batch) if model else None
            if c_worst is None:
                if (model or "(unnamed)") not in est.unknown_price_models:
                    est.unknown_price_models.append(model or "(unnamed)")
            else:
                est.cost_usd_worst = (est.cost_usd_worst or 0.0) + c_worst
        if est.unknown_price_models:
            est.cost_usd_expected = est.cost_usd_worst = None
        return est


class TokenMemo:
    """Prompt tokens of a text for a model, counted once (`count_tokens` of one user message)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}

    def __call__(self, model: str, text: str | None) -> int:
        from arena.backends import count_tokens

        key = (model, text or "")
        if key not in self._seen:
            self._seen[key] = count_tokens(model, [{"role": "user", "content": text or ""}])
        return self._seen[key]


def worst_estimates(judge, ctx: MatchContext, estimates: list) -> list:
    """The judge's worst-case calls for `ctx` (re-asks included; `Judge.worst_call_estimates`), or
    `estimates` when the judge adds none."""
    from arena.judges._base import Judge

    worst = getattr(type(judge), "worst_call_estimates", None)
    if worst is None or worst is Judge.worst_call_estimates:
        return estimates
    return judge.worst_call_estimates(ctx)


def sample_calls(judge, contexts: Iterable[MatchContext], tokens: TokenMemo | None = None) -> CallSample:
    """Token-count `judge.call_estimates(ctx)` and its worst case over `contexts` (no call is made)."""
    from arena.backends import input_limit
    from arena.judges._conversation import context_texts

    tokens = tokens or TokenMemo()
    sample = CallSample()
    for ctx in contexts:
        estimates = judge.call_estimates(ctx)
        sample.per_context.append(0.0)
        for e in estimates:
            sample.per_context[-1] += e.input_tokens
            acc = sample.per_model.setdefault(e.model, [0.0, 0.0, 0.0, 0.0])
            acc[0] += e.input_tokens
            acc[1] += e.output_tokens_expected
            acc[2] += e.output_tokens_max
            acc[3] += 1
            if getattr(e, "batch", False):
                sample.batch.add(e.model)
            limit = input_limit(e.model) if e.model else None
            if limit is not None:
                sample.limits[e.model] = limit
                content = sum(tokens(e.model, t) for t in context_texts(ctx))  # every turn of a conversation
                sample.overhead[e.model] = max(sample.overhead.get(e.model, 0), e.input_tokens - content)
            sample.largest = max(sample.largest, e.input_tokens)
        for e in worst_estimates(judge, ctx, estimates):
            acc = sample.worst.setdefault(e.model, [0.0, 0.0, 0.0])
            acc[0] += e.input_tokens
            acc[1] += e.output_tokens_max
            acc[2] += 1
    return sample


def _price(model: str, input_tokens: float, output_tokens: float, batch: bool = False) -> float | None:
    """Dollars for that usage from litellm's price table (its Batch API rate when `batch`); None when
    the model has no known price."""
    from arena.backends import price

    return price(model, max(int(round(input_tokens)), 0), max(int(round(output_tokens)), 0), batch=batch)


def batch_rate(model: str) -> str:
    """`$0.075 / $0.30 per 1M tokens in / out (litellm's batch price)`: a judge model's Batch API rate and its source."""
    from arena.backends import batch_unit_prices

    unit, source = batch_unit_prices(model)
    if unit is None:
        return "unknown (no price in litellm's table)"
    return f"${unit[0] * 1e6:,.4g} / ${unit[1] * 1e6:,.4g} per 1M tokens in / out ({source})"
