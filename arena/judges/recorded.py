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
turn's games a verdict, `combine_turns` adding them up, games named `judge@turnN` as an llm judge's,
so the report has a leaderboard per turn; `"last"` or N: that turn only). A preset whose files answer
none of the planned matches (no judgment on a planned prompt between a planned pair) is refused by
the plan before any match (`check_plan`). A
format without a judged turn (Arena-Hard, AlpacaEval, JudgeBench, jsonl; Chatbot Arena's votes are
on whole conversations) cannot answer them and is refused before any match is played.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arena.errors import SpecError
from arena.judges._base import Judge, JudgeResult, combine_games, file_digest, preset_error, turn_setting
from arena.judges._conversation import check_turn, combine_turns, judged_turns, turn_judge_name
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
        self.index: dict[tuple[str, frozenset, int | None], tuple[object, list]] = {}
        for m in matches:
            pair = frozenset((m.model_a, m.model_b))
            ids = [m.prompt_id] + ([text_id(m.prompt, "ae")] if m.prompt is not None else [])
            by_turn: dict[int | None, list] = {}
            for g in m.games:  # MT-Bench: one match per conversation, its games by judged turn (`verdicts.turns`)
                t = g.detail.get("turn") if m.conversation is not None else None
                by_turn.setdefault(t if isinstance(t, int) and not isinstance(t, bool) else None, []).append(g)
            for t, games in by_turn.items():
                for pid in ids:
                    self.index.setdefault((pid, pair, t), (m, games))
                    if t == 1:  # a single-turn prompt is answered by a judgment of turn 1
                        self.index.setdefault((pid, pair, None), (m, games))

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

    def check_plan(self, prompts, pairs, where: str) -> None:
        """Raise SpecError (before any match) when no recorded judgment is on a planned prompt between a
        planned pair of models (`pairs`: (model, model) tuples): every match would fail "not recorded"."""
        from arena.pools import text_id

        ids = {p.prompt_id for p in prompts} | {text_id(p.text, "ae") for p in prompts if p.text}  # found by id or text
        wanted = {frozenset(p) for p in pairs}
        if not ids or not wanted or any(pid in ids and pair in wanted for pid, pair, _ in self.index):
            return
        recorded = sorted({pid for pid, _, _ in self.index})
        models = sorted({m for _, pair, _ in self.index for m in pair})
        raise SpecError(
            f"{where}: the recorded judgments answer none of the planned matches: expected judgments on the pool's prompts"
            f" between its models (recorded: {len(recorded)} prompts such as {', '.join(map(repr, recorded[:3]))};"
            f" models {', '.join(models[:6])}{', ...' if len(models) > 6 else ''})"
        )

    def find(self, ctx: MatchContext, turn: int | None = None):
        """The recorded match for `ctx` and its games (for a conversation: of its turn `turn`), or None."""
        from arena.pools import text_id

        pair = frozenset((ctx.model_a, ctx.model_b))
        hit = self.index.get((ctx.prompt_id, pair, turn))
        if hit is None and ctx.prompt and turn is None:
            hit = self.index.get((text_id(ctx.prompt, "ae"), pair, None))
        return hit

    def games_for(self, ctx: MatchContext, turn: int | None = None) -> list[Game]:
        hit = self.find(ctx, turn)
        # a game of one turn among several (`turn = "each"`) is named `judge@turnN`, as an llm judge's:
        # a match's games are one per (judge, order)
        name = turn_judge_name(self.name, turn) if turn is not None and self.turn == "each" else self.name
        if hit is None:
            where = f"prompt {ctx.prompt_id}" + (f" turn {turn}" if turn is not None else "")
            return [
                Game(ctx.match_id, name, "AB", "error", parse_status="error", cost_usd=0.0, calls=0,
                     error=f"{NOT_RECORDED}: no recorded verdict for {ctx.model_a} vs {ctx.model_b} on {where}",
                     detail={"permanent": True, **({"turn": turn} if turn is not None else {})})
            ]
        m, games = hit
        flip = m.model_a != ctx.model_a
        out = []
        for g in games:
            order = g.order if not flip else ("BA" if g.order == "AB" else "AB")
            label = swap_label(g.label) if flip else g.label
            status = label if label in ("unparsed", "error") else "ok"
            detail = {k: v for k, v in g.detail.items() if k not in ("turn", "record")}  # `record`: a position in the file read
            out.append(
                Game(ctx.match_id, name, order, label, g.raw, status, cost_usd=0.0, calls=0,  # type: ignore[arg-type]
                     error="the recorded game has no verdict" if label == "error" else None,
                     detail={**detail, "recorded_judge": g.judge, "source": m.where, "confidence": 1.0,
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
        if s.format == "mt_bench":  # one match per conversation, its games by judged turn
            from arena.verdicts.turns import group_turns

            matches += group_turns(res.matches)
        else:
            matches += res.matches
        for q in files_of(p):
            digests[f"{f}/{q.relative_to(p)}" if p.is_dir() else f] = file_digest(q)
    return RecordedJudge(name, matches, s.description, digests, preset=preset, format=s.format, turn=s.turn)
