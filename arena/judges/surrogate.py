"""Judge kind `surrogate`: an offline learned judge that imitates GPT-4-Turbo from its recorded verdicts.

No completion calls, no key, no GPU. It predicts P(A better) = sigmoid(score(A) - score(B)) from
cheap features of the prompt and each answer (see `arena.surrogate`), plays one game in order
"AB" (the model is antisymmetric, so the other order would only repeat it), and maps P to a
label with the tie band documented in `arena.surrogate.model`.

Preset keys (all optional):

    kind = "surrogate"
    imitates = "GPT-4-Turbo"     # what the description says it imitates
    weights = "path.npz"         # relative to the preset; default: the weights shipped in the package
    tie = 0.10                   # |P - 0.5| <= tie is a tie (A=B)
    strong = 0.15                # P >= 1 - strong is A>>B, P <= strong is B>>A
    length_control = false       # true: drop the length terms (AlpacaEval-2 LC style)
    confidence = "probability"   # what a cascade reads: max(P, 1 - P); "length_consistent": also
                                 # predict without the length terms and report the smaller of the two
                                 # margins, 0.5 when the two views pick different winners
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena.errors import SpecError
from arena.judges._base import Judge, JudgeResult, combine_games, file_digest
from arena.records import Game, MatchContext

kind = "surrogate"
DESCRIPTION = "surrogate (imitates {imitates}; offline)"


class SurrogateJudge(Judge):
    kind = "surrogate"

    def __init__(
        self, name: str, model, description: str = "", *, strong_weight: float = 3.0, weights_digest: str | None = None, preset: dict | None = None
    ) -> None:
        super().__init__(name, description or DESCRIPTION.format(imitates="GPT-4-Turbo"), preset=preset)
        self.model = model
        self.strong_weight = strong_weight
        self.weights_digest = weights_digest
        self.views = bool((preset or {}).get("confidence") == "length_consistent")

    def fingerprint(self) -> dict:
        return {"weights": self.weights_digest}

    def conversation_refusal(self) -> str:
        # Refused rather than scored turn by turn: its weights are fitted on single-turn AlpacaEval
        # judgments (one instruction, two answers); no recorded multi-turn verdicts train features
        # over later turns, whose quality depends on the earlier ones (consistency, follow-up).
        return ("its features are learned from single-turn AlpacaEval judgments of GPT-4-Turbo, and no recorded"
                " multi-turn verdicts train it to score later turns in context")

    def calls_per_match(self) -> int:
        return 0

    async def aclose(self) -> None:
        """The run is over: drop the model's memoised scores (they hold answer texts)."""
        self.model.clear_caches()

    def prob_a(self, ctx: MatchContext) -> float:
        """P(A's answer better than B's) for this match."""
        return self.model.prob_a(ctx.prompt, ctx.answer_a, ctx.answer_b)

    def _result(self, ctx: MatchContext, p: float, p_no_length: float | None = None) -> JudgeResult:
        label = self.model.label(p)
        game = Game(
            match_id=ctx.match_id,
            judge=self.name,
            order="AB",
            label=label,
            raw=f"P(A better)={p:.2f}",
            cost_usd=0.0,
            calls=0,
            detail={"p_a": round(float(p), 6), "length_control": self.model.length_control,
                    **({} if p_no_length is None else {"p_a_no_length": round(float(p_no_length), 6)})},
        )
        extra = {"p_a": float(p)}
        if p_no_length is not None:
            extra["p_a_no_length"] = float(p_no_length)
        return JudgeResult([game], combine_games(ctx.match_id, [game]), extra)

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        return self.judge_sync(ctx)

    def judge_sync(self, ctx: MatchContext) -> JudgeResult:
        """Decide one match without an event loop."""
        if self.views:
            return self._result(ctx, *self.model.prob_a_views(ctx.prompt, ctx.answer_a, ctx.answer_b))
        return self._result(ctx, self.prob_a(ctx))

    def judge_batch(self, ctxs: Sequence[MatchContext]) -> list[JudgeResult]:
        """Decide many matches at once (thousands a second on one core): each distinct
        (prompt, answer) is featurised once and reused across the matches it appears in."""
        if self.views:
            return [self.judge_sync(c) for c in ctxs]
        probs = self.model.prob_a_batch([c.prompt for c in ctxs], [c.answer_a for c in ctxs], [c.answer_b for c in ctxs])
        return [self._result(c, float(p)) for c, p in zip(ctxs, probs)]


def _float(preset: dict, key: str, default: float, lo: float, hi: float, where: Path) -> float:
    v = preset.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= float(v) <= hi:
        raise SpecError(f"{where}: key '{key}': expected a number between {lo} and {hi}, got {v!r}")
    return float(v)


def build(preset: dict, *, name: str, base_dir: Path, **options) -> SurrogateJudge:
    """Build the surrogate judge a preset describes (the `kind = "surrogate"` entry point)."""
    from arena.surrogate.model import DEFAULT_STRONG, DEFAULT_TIE, WEIGHTS_FILE, SurrogateModel

    where = Path(base_dir) / f"{name}.toml"
    weights = preset.get("weights")
    if weights is not None and not isinstance(weights, str):
        raise SpecError(f"{where}: key 'weights': expected a path to a .npz file, got {weights!r}")
    path = None
    if weights:
        path = Path(weights)
        if not path.is_absolute():
            path = Path(base_dir) / path
    lc = preset.get("length_control", False)
    if not isinstance(lc, bool):
        raise SpecError(f"{where}: key 'length_control': expected true or false, got {lc!r}")
    model = SurrogateModel.load(path, length_control=lc)
    model.tie = _float(preset, "tie", model.tie if weights else DEFAULT_TIE, 0.0, 0.5, where)
    model.strong = _float(preset, "strong", model.strong if weights else DEFAULT_STRONG, 0.0, 0.5, where)
    if model.strong > 0.5 - model.tie:
        raise SpecError(f"{where}: key 'strong': {model.strong} overlaps the tie band (must be at most 0.5 - tie = {0.5 - model.tie})")
    if preset.get("confidence", "probability") not in ("probability", "length_consistent"):
        raise SpecError(f"{where}: key 'confidence': expected \"probability\" or \"length_consistent\", got {preset.get('confidence')!r}")
    imitates = str(preset.get("imitates") or "GPT-4-Turbo")
    strong_weight = _float(preset, "strong_weight", 3.0, 1.0, 100.0, where)
    digest = file_digest(path or WEIGHTS_FILE)
    return SurrogateJudge(name, model, DESCRIPTION.format(imitates=imitates), strong_weight=strong_weight, weights_digest=digest, preset=preset)
