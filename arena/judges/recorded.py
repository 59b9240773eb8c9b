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
    turn = "each"                    # conversations: "each" (every recorded turn), "last" or N
    description = "..."              # optional

Conversations: MT-Bench judgments (GPT-4's pairwise, the experts') record the judged `turn`; a conversation's
match is answered by the recorded judgments of its turns (`turn = "each"`: every turn, each
turn's games a verdict, `combine_turns` adding them up; `"last"` or N: that turn only). A
format without a judged turn (Arena-Hard, AlpacaEval, JudgeBench, jsonl; Chatbot Arena's votes are
on whole conversations) cannot answer them and is refused before any match is played.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arena.errors import SpecError
from arena.judges._base import Judge, JudgeResult, combine_games, file_digest, preset_error, turn_setting
from arena.judges._conversation import check_turn, combine_turns, judged_turns
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
    turn: Literal["last", "each"] | int = "each"

    @field_validator("turn", mode="before")
    @classmethod
    def _turn(cls, v):
        return turn_setting(v, ("last", "each"))


TURN_FORMATS = ("mt_bench",)
"""Recorded formats that say which turn of a conversation a judgment is about (Chatbot Arena's
`turn` counts the turns of the conversation voted on, not a judged turn)."""


class RecordedJudge(Judge):
    """Serves matches from an index of recorded matches (see the module docstring)."""

    kind = "recorded"

    def __init__(
        self, name: str, matches, description: str = "", digests: dict | None = None, *, preset: dict | None = None,
        format: str = "jsonl", turn: str | int = "each",
    ) -> None:
        from arena.pools import text_id

        super().__init__(name, description or f"recorded verdicts ({len(matches)} matches)", preset=preset)
        self.format = format
        self.turn = turn
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

    def conversation_refusal(self) -> str | None:
        if self.format not in TURN_FORMATS:
            return f"its {self.format} judgments are single-turn (formats that record a turn: {', '.join(TURN_FORMATS)})"
        return None

    def turn_choice(self) -> str | int:
        return self.turn

    def check_prompts(self, prompts, where: str) -> None:
        super().check_prompts(prompts, where)
        check_turn(self.turn, prompts, where)

    def find(self, ctx: MatchContext, turn: int | None = None):
        """The recorded match for `ctx` (for a conversation: of its turn `turn`), or None."""
        from arena.pools import text_id
        from arena.verdicts.formats import turn_prompt_id

        pair = frozenset((ctx.model_a, ctx.model_b))
        m = self.index.get((turn_prompt_id(ctx.prompt_id, turn), pair))
        if m is None and ctx.prompt and turn is None:
            m = self.index.get((text_id(ctx.prompt, "ae"), pair))
        return m

    def games_for(self, ctx: MatchContext, turn: int | None = None) -> list[Game]:
        m = self.find(ctx, turn)
        if m is None:
            where = f"prompt {ctx.prompt_id}" + (f" turn {turn}" if turn is not None else "")
            return [
                Game(ctx.match_id, self.name, "AB", "error", parse_status="error", cost_usd=0.0, calls=0,
                     error=f"{NOT_RECORDED}: no recorded verdict for {ctx.model_a} vs {ctx.model_b} on {where}",
                     detail={"permanent": True, **({"turn": turn} if turn is not None else {})})
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
                     detail={**g.detail, "recorded_judge": g.judge, "source": m.where, "confidence": 1.0,
                             **({"turn": turn} if turn is not None else {})})
            )
        return out

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        """The recorded games of the match (of each judged turn for a conversation)."""
        per_turn = [self.games_for(ctx, t) for t in judged_turns(ctx, self.turn)]
        games = [g for gs in per_turn for g in gs]
        return JudgeResult(games, combine_turns(ctx.match_id, [combine_games(ctx.match_id, gs) for gs in per_turn]))


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
    return RecordedJudge(name, matches, s.description, digests, preset=preset, format=s.format, turn=s.turn)
