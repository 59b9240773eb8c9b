"""Recorded judgments of a conversation's turns put together as one match on the conversation.

MT-Bench's judgments (FastChat's `model_judgment/<judge>_pair.jsonl`, the experts' votes) name the
turn they judged: one record per (question, model pair, judge, turn). The turn belongs to the
question: `group_turns` makes one `RecordedMatch` on the question for each (question, model_1,
model_2, judge model) with the games of every judged turn, each game's `detail.turn` the turn it
judged, as arena's own `turn = "each"` runs keep them (`arena.judges._conversation`): the match's
verdict adds the turns up (`combine_turns`), per-turn leaderboards come from `detail.turn`
(`run_turn_battles`), categories, the bootstrap's clusters and the report's match browser use the
question. Stores written before this (turn-N judgments as matches on prompts `qid:turnN`) still
read: `detail.turn` is there and `prompt_question` gives the question back.
"""

from __future__ import annotations

from dataclasses import replace

from arena.verdicts.formats import RecordedGame, RecordedMatch

TURN_SUFFIX = ":turn"


def prompt_question(prompt_id: str, turn: int | None) -> str:
    """The question a turn-`turn` judgment is about: `prompt_id` without the `:turnN` suffix that
    stores written before `group_turns` gave a turn-N judgment (N >= 2)."""
    suffix = f"{TURN_SUFFIX}{turn}"
    return prompt_id[: -len(suffix)] if turn is not None and turn >= 2 and prompt_id.endswith(suffix) else prompt_id


def group_turns(matches: list[RecordedMatch]) -> list[RecordedMatch]:
    """One match per conversation judged (same question, same model_1 and model_2 in that order,
    same judge model; `RecordedMatch.conversation`), its games those of every judged turn in file
    order, each with `detail.turn`, the record's `meta` and its position among the records
    (`detail.record`: an export gives the records back in file order). A turn judged twice by the same judge
    (two experts' votes are two judges) starts a match of its own, as does a record without a
    turn. Matches without `conversation` pass through. Returned in the order of their first record."""
    out: list[RecordedMatch] = []
    open_: dict[tuple, RecordedMatch] = {}
    for k, m in enumerate(matches):
        turn = m.meta.get("turn")
        if m.conversation is None or not isinstance(turn, int) or isinstance(turn, bool):
            out.append(m)
            continue
        games = [RecordedGame(g.order, g.label, g.judge, g.raw, {**g.detail, "meta": dict(m.meta), "turn": turn, "record": k}) for g in m.games]
        key = (m.prompt_id, m.model_a, m.model_b, m.conversation)
        have = open_.get(key)
        if have is not None and not any(g.detail.get("turn") == turn for g in have.games):
            have.games.extend(games)
            for k in ("prompt", "answer_a", "answer_b", "category"):
                if getattr(have, k) is None and getattr(m, k) is not None:
                    setattr(have, k, getattr(m, k))
            continue
        new = replace(m, games=games, meta={})
        open_[key] = new
        out.append(new)
    for m in out:
        if m.conversation is not None:
            m.games.sort(key=lambda g: g.detail.get("turn") or 0)  # stable: each turn's games in file order
    return out
