"""A run's judgments in FastChat's MT-Bench pairwise judgment format (`model_judgment/<judge>_pair.jsonl`).

FastChat's `gen_judgment.py --mode pairwise-all` (lm-sys/FastChat, `fastchat/llm_judge/common.py`,
`play_a_match_pair`) writes one JSON line per (question, model pair, judged turn):

    {"question_id": 81, "model_1": ..., "model_2": ..., "g1_winner": "model_1", "g2_winner": "tie",
     "judge": ["gpt-4", "pair-v2"], "g1_user_prompt": ..., "g1_judgment": ..., "g2_user_prompt": ...,
     "g2_judgment": ..., "turn": 1, "tstamp": 1687222085.5}

Game 1 shows model_1's answer as assistant A, game 2 swaps the answers; both winners are already
mapped back to model names (`model_1`, `model_2`, `tie`; `error` when the reply had no verdict).
FastChat's `show_result.py` counts a record whose two winners differ as a tie.

`mt_bench_judgments(store, run_id)` builds those records from a run: one per match, judge and judged
turn (`detail.turn`: an llm judge's `turn = "each"` / `"last"` / N, an imported judgment's turn; a
single-turn prompt is turn 1). Labels lose their strength (MT-Bench has none: A>>B and A>B are both
`model_1`). A match judged in one order only has `g2_winner` null (game 1 is whichever order was
played, the models named accordingly). A game that judged a whole conversation at once (`turn =
"all"`) has no MT-Bench turn and is refused (`BadInput`).

Runs imported from MT-Bench judgments (`verdicts import --format mt_bench`) keep the peer's own
fields (`judge`, `tstamp`, `judge_model`, ..., its key order) and judge prompts (`g1_user_prompt`
in the game's `detail.user_prompt`): their export gives back the same records. Arena's own runs do
not store the judge's prompt: `g1_user_prompt` / `g2_user_prompt` are null there, `judge` is
[judge name, template name] and `tstamp` the time the game was stored.
"""

from __future__ import annotations

import re
from pathlib import Path

from arena.errors import BadInput, naming_options
from arena.records import LABEL_SCORE, Game, MatchRow

DERIVED_KEYS = ("question_id", "model_1", "model_2", "g1_winner", "g2_winner", "g1_user_prompt", "g1_judgment",
                "g2_user_prompt", "g2_judgment", "turn", "question", "answer_1", "answer_2")
"""Keys of a pair judgment rebuilt from the store on export (the rest is kept as the peer wrote it)."""

CANONICAL_KEYS = ("question_id", "model_1", "model_2", "g1_winner", "g2_winner", "judge", "g1_user_prompt",
                  "g1_judgment", "g2_user_prompt", "g2_judgment", "turn", "tstamp")
"""FastChat's key order (`play_a_match_pair`)."""


_MT = ("format='mt_bench'", "--format mt_bench")  # the refusals' subject: Python argument, CLI option (naming_options)

def peer_fields(rec: dict) -> dict:
    """What an import keeps of a pair judgment row beyond what the store holds: every key not in
    `DERIVED_KEYS`, and the row's key order (`"keys"`), so an export can give the row back."""
    kept = {k: v for k, v in rec.items() if k not in DERIVED_KEYS}
    return {"keys": list(rec), "fields": kept}


def winner(label: str, model_1_is_a: bool) -> str:
    """A game's label (from the match's A's point of view) as FastChat's winner of a record whose
    model_1 is the match's A (`model_1_is_a`) or its B: `model_1`, `model_2`, `tie`; `error` for
    a game without a verdict (FastChat writes `error` when the judge's reply had none)."""
    s = LABEL_SCORE.get(label)
    if s is None:
        return "error"
    if s == 0:
        return "tie"
    return "model_1" if (s > 0) == model_1_is_a else "model_2"


def question_id(prompt_id: str, turn: int | None):
    """The MT-Bench question id of a match's prompt; a judgment of turn N >= 2 imported before turns
    belonged to their question has prompt id `qid:turnN` (`verdicts.turns.prompt_question`), which loses
    the suffix; digit strings become integers (FastChat's question ids are integers)."""
    from arena.verdicts.turns import prompt_question

    prompt_id = prompt_question(prompt_id, turn)
    return int(prompt_id) if re.fullmatch(r"[1-9][0-9]{0,17}|0", prompt_id) else prompt_id


def base_judge(game: Game, turn: int | None) -> str:
    """The judge's own name: `judge@turnN` (an llm judge's `turn = "each"`) without the turn."""
    suffix = f"@turn{turn}"
    return game.judge[: -len(suffix)] if turn is not None and game.judge.endswith(suffix) else game.judge


def prompt_name(preset: dict | None, conversation: bool) -> str:
    """The judge prompt's name for FastChat's `judge` pair: the llm preset's template (its conversation
    template for a conversation), else the judge's kind."""
    preset = preset or {}
    if preset.get("kind", "llm") != "llm":
        return str(preset.get("kind"))
    if conversation:
        if preset.get("conversation_template"):
            return Path(str(preset["conversation_template"])).stem
        from arena.judges.llm import CONVERSATION_TEMPLATES, VerdictFormat

        try:
            return CONVERSATION_TEMPLATES.get(VerdictFormat(preset.get("verdict_format", "labels")), "conversation")
        except ValueError:
            return "conversation"
    return Path(str(preset.get("template") or "pairwise")).stem


def mt_bench_judgments(store, run_id: str, prompts: dict, answers: dict) -> list[dict]:
    """The run's judgments as FastChat pair-judgment records (see the module docstring), in match
    order, turns in order. `prompts` / `answers` are the run's pool ({prompt_id: Prompt},
    {(prompt_id, model): Output}; empty without a pool). Raises `BadInput` for a game that judged a
    whole conversation (no MT-Bench turn) and for a run without games."""
    from arena.judges._conversation import game_turn

    run = store.get_run(run_id)
    rid = run.run_id
    preset = run.spec.get("judge") if isinstance(run.spec.get("judge"), dict) else None
    times = store.game_times(rid)
    by_match: dict[str, list[Game]] = {}
    for g in store.games(rid):
        by_match.setdefault(g.match_id, []).append(g)
    records: list[dict] = []
    at: list[int | None] = []  # each record's position in the file it was imported from (`verdicts.turns.group_turns`)
    for m in store.matches(rid):
        groups: dict[tuple[str, int | None], list[Game]] = {}
        for g in by_match.get(m.match_id, []):
            t = game_turn(g)
            groups.setdefault((base_judge(g, t), t), []).append(g)
        p = prompts.get(m.prompt_id)
        conversation = p is not None and p.is_conversation
        for (judge, turn), games in sorted(groups.items(), key=lambda kv: (kv[0][1] or 0, kv[0][0])):
            if turn is None and conversation:
                raise naming_options(
                    BadInput, f"<f>: match {m.match_id} on prompt {m.prompt_id!r} was judged as a whole conversation"
                    ' (turn = "all"); MT-Bench records judge one turn each: export it as jsonl', f=_MT,
                )
            records.append(_record(m, judge, turn, games, preset, conversation, times, prompts, answers))
            k = games[0].detail.get("record")
            at.append(k if isinstance(k, int) else None)
    if not records:
        raise naming_options(BadInput, f"<f>: run {rid} has no judged games", f=_MT)
    if None not in at:  # an import of turn-by-turn records: their own order
        records = [r for _, r in sorted(zip(at, records), key=lambda kr: kr[0])]
    return records


def _record(m: MatchRow, judge: str, turn: int | None, games: list[Game], preset: dict | None, conversation: bool,
            times: dict, prompts: dict, answers: dict) -> dict:
    ab = next((g for g in games if g.order == "AB"), None)
    ba = next((g for g in games if g.order == "BA"), None)
    g1, g2 = (ab, ba) if ab is not None else (ba, None)
    a_first = ab is not None  # model_1 is the match's A unless only the swapped order was played
    m1, m2 = (m.model_a, m.model_b) if a_first else (m.model_b, m.model_a)
    peer = next((g.detail["peer"] for g in games if isinstance(g.detail.get("peer"), dict)), None)
    derived = {
        "question_id": question_id(m.prompt_id, turn),
        "model_1": m1,
        "model_2": m2,
        "g1_winner": winner(g1.label, a_first),
        "g2_winner": None if g2 is None else winner(g2.label, a_first),
        "g1_user_prompt": g1.detail.get("user_prompt"),
        "g1_judgment": g1.raw or "",
        "g2_user_prompt": None if g2 is None else g2.detail.get("user_prompt"),
        "g2_judgment": None if g2 is None else g2.raw or "",
        "turn": turn or 1,
    }
    if peer is None:
        pair = [judge, prompt_name(preset, conversation)]
        if (preset or {}).get("kind") == "recorded" and "/" in judge:  # an import named it "model/prompt" (FastChat's pair, joined)
            pair = judge.rsplit("/", 1)
        rec = {**derived, "judge": pair, "tstamp": times.get((m.match_id, g1.judge, g1.order))}
        return {k: rec[k] for k in CANONICAL_KEYS}
    p = prompts.get(m.prompt_id)
    a1, a2 = answers.get((m.prompt_id, m1)), answers.get((m.prompt_id, m2))
    derived.update(question=p.text if p is not None else None, answer_1=a1.text if a1 is not None else None,
                   answer_2=a2.text if a2 is not None else None)
    fields = peer.get("fields") or {}
    return {k: derived[k] if k in DERIVED_KEYS else fields.get(k) for k in peer.get("keys") or CANONICAL_KEYS}
