"""Judge kind `recorded`: answers matches from verdicts recorded elsewhere (Arena-Hard-Auto,
AlpacaEval, MT-Bench, Chatbot Arena, JudgeBench or arena's own JSONL, read by
`arena.verdicts.formats`), so that any scheduler can be replayed on a real judge's decisions
with no key and no call.

A match (prompt, model A, model B) is answered by the recorded match on the same prompt and the
same two models, in either orientation: its games come back in both orders where both were
recorded, labels turned to the match's A. The prompt is found by its id, or by its text for
formats whose ids are derived from the text (AlpacaEval). When the file holds several
judgments of the pair on that prompt (several human judges), the first is used. A pair never
recorded is a permanent error "not recorded" (the game's detail says `permanent`): running the
tournament again cannot change it.

Preset keys:
    kind = "recorded"
    format = "alpaca_eval"           # arena_hard, alpaca_eval, mt_bench, chatbot_arena, judgebench, jsonl
    files = ["recorded/x.jsonl.gz"]  # files or folders, relative to the preset
    baseline = "gpt-4-0314"          # Arena-Hard v0.1 judgment files do not name it
    description = "..."              # optional
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arena.errors import SpecError
from arena.judges._base import Judge, JudgeResult, combine_games, file_digest, preset_error
from arena.records import Game, MatchContext, swap_label

kind = "recorded"
NOT_RECORDED = "not recorded"


class RecordedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["recorded"]
    format: Literal["arena_hard", "alpaca_eval", "mt_bench", "chatbot_arena", "judgebench", "jsonl"]
    files: list[str] = Field(min_length=1)
    baseline: str | None = None
    description: str = ""
    strong_weight: float = Field(default=3.0, ge=1)


class RecordedJudge(Judge):
    """Serves matches from an index of recorded matches (see the module docstring)."""

    kind = "recorded"

    def __init__(self, name: str, matches, description: str = "", digests: dict | None = None, *, preset: dict | None = None) -> None:
        from arena.pools import text_id

        super().__init__(name, description or f"recorded verdicts ({len(matches)} matches)", preset=preset)
        self.digests = digests or {}
        self.index: dict[tuple[str, frozenset], object] = {}
        self.text_ids: set[str] = set()
        for m in matches:
            keys = [(m.prompt_id, frozenset((m.model_a, m.model_b)))]
            if m.prompt is not None:
                tid = text_id(m.prompt, "ae")
                keys.append((tid, frozenset((m.model_a, m.model_b))))
            for k in keys:
                self.index.setdefault(k, m)

    def fingerprint(self) -> dict:
        return {"files": self.digests}

    def calls_per_match(self) -> int:
        return 0

    def find(self, ctx: MatchContext):
        """The recorded match for `ctx`, or None."""
        from arena.pools import text_id

        pair = frozenset((ctx.model_a, ctx.model_b))
        m = self.index.get((ctx.prompt_id, pair))
        if m is None and ctx.prompt:
            m = self.index.get((text_id(ctx.prompt, "ae"), pair))
        return m

    def games_for(self, ctx: MatchContext) -> list[Game]:
        m = self.find(ctx)
        if m is None:
            return [
                Game(ctx.match_id, self.name, "AB", "error", parse_status="error", cost_usd=0.0, calls=0,
                     error=f"{NOT_RECORDED}: no recorded verdict for {ctx.model_a} vs {ctx.model_b} on prompt {ctx.prompt_id}",
                     detail={"permanent": True})
            ]
        flip = m.model_a != ctx.model_a
        out = []
        for g in m.games:
            order = g.order if not flip else ("BA" if g.order == "AB" else "AB")
            label = swap_label(g.label) if flip else g.label
            status = label if label in ("unparsed", "error") else "ok"
            out.append(
                Game(ctx.match_id, self.name, order, label, g.raw, status, cost_usd=0.0, calls=0,  # type: ignore[arg-type]
                     error="the recorded game has no verdict" if label == "error" else None,
                     detail={**g.detail, "recorded_judge": g.judge, "source": m.where, "confidence": 1.0})
            )
        return out

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        games = self.games_for(ctx)
        return JudgeResult(games, combine_games(ctx.match_id, games))


def build(preset: dict, *, name: str, base_dir: Path, **options) -> RecordedJudge:
    """Build a recorded judge from its preset (the `kind = "recorded"` entry point): reads the files."""
    from arena.verdicts.formats import files_of, read_recorded

    where = Path(base_dir) / f"{name}.toml"
    try:
        s = RecordedSettings.model_validate(preset)
    except ValidationError as e:
        raise preset_error(str(where), e, "a recorded judge", RecordedSettings.model_fields) from None
    matches = []
    digests = {}
    for f in s.files:
        p = Path(f).expanduser()
        if not p.is_absolute():
            p = Path(base_dir) / p
        if not p.exists():
            raise SpecError(f"{where}: key 'files': {f}: no such file or folder")
        res = read_recorded(p, s.format, baseline=s.baseline)
        matches += res.matches
        for q in files_of(p):
            digests[f"{f}/{q.relative_to(p)}" if p.is_dir() else f] = file_digest(q)
    return RecordedJudge(name, matches, s.description, digests, preset=preset)
