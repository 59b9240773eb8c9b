"""What a judge is shown of a conversation: each side's dialogue, turn by turn, up to the judged turn.

A conversation (`Prompt.messages`: an optional system message, user turns, and fixed assistant
turns the pool gives) is answered turn by turn by each model (`Output.turns`). MT-Bench judges
turn 2 with turn 1 as context: the judge sees, for each assistant, the whole dialogue up to the
turn it judges (FastChat's `pair-v2-multi-turn` prompt, `fastchat/llm_judge/data/judge_prompts.jsonl`,
and `pair-math-v1-multi-turn` where references are given, shown before the dialogues).

`dialogue_turns(ctx, first, upto)` builds those turns as plain dicts a Jinja2 template can walk;
`conversation_variables` adds them to the pairwise variables. Every text is untrusted: templates
fence each message on its own (`fence(name, text)`), so an answer cannot fake a turn boundary.

Turn choices (`turn` in an llm preset): `"last"` judges the last turn in context, `"all"` the whole
conversation, `"each"` every turn in its own game (MT-Bench's protocol: the report then has a
leaderboard per turn), an integer N judges turn N with the turns before it as context.
"""

from __future__ import annotations

from typing import Literal

from arena.records import LABEL_SCORE, Game, MatchContext, Message, Verdict, answered_turns

TurnChoice = Literal["last", "all", "each"] | int

ROLE_LABELS = {"system": "System Message", "user": "User Message", "assistant": "Earlier Assistant Message"}
"""Names of the fixed messages a pool gives (not answered by the models), as fenced for the judge."""


def side_turns(ctx: MatchContext, side: Literal["a", "b"]) -> tuple[str, ...]:
    """A side's assistant turns; a single answer (no `turns`) is its first turn."""
    turns = ctx.turns_a if side == "a" else ctx.turns_b
    return turns or ((ctx.answer_a if side == "a" else ctx.answer_b),)


def judged_turns(ctx: MatchContext, choice: TurnChoice) -> list[int | None]:
    """The turns one judge call each is made for: `[None]` for a single-turn prompt and for
    `"all"` (the whole conversation in one call), `[n]` for `"last"`, `[1..n]` for `"each"`,
    `[N]` for an integer (checked against the pool before any call: `check_turn`)."""
    if not ctx.is_conversation:
        return [None]
    n = ctx.n_turns
    if choice == "all":
        return [None]
    if choice == "last":
        return [n]
    if choice == "each":
        return list(range(1, n + 1))
    return [int(choice)]


def dialogue_turns(ctx: MatchContext, first: Literal["a", "b"], upto: int | None) -> list[dict]:
    """The answered turns 1..`upto` (all when None), each a dict: `number` (from 1), `context`
    (the fixed messages the pool gives before this user turn: `[{"role", "label", "content"}]`),
    `question` (the user turn), `answer_a` / `answer_b` (the answers shown as A and B: `first`'s
    is A) and `reference` (None when the pool has none for that turn). A missing answer is ""."""
    messages: tuple[Message, ...] = ctx.messages or (Message("user", ctx.prompt),)
    answered = answered_turns(messages)
    second = "b" if first == "a" else "a"
    shown_a, shown_b = side_turns(ctx, first), side_turns(ctx, second)
    refs = ctx.references or ((ctx.reference,) if ctx.reference is not None else ())
    out: list[dict] = []
    start = 0
    for k, idx in enumerate(answered):
        if upto is not None and k >= upto:
            break
        context = [{"role": m.role, "label": ROLE_LABELS.get(m.role, m.role), "content": m.content} for m in messages[start:idx]]
        out.append({
            "number": k + 1,
            "context": context,
            "question": messages[idx].content,
            "answer_a": shown_a[k] if k < len(shown_a) else "",
            "answer_b": shown_b[k] if k < len(shown_b) else "",
            "reference": refs[k] if k < len(refs) else None,
        })
        start = idx + 1
    return out


def conversation_variables(ctx: MatchContext, first: Literal["a", "b"], turn: int | None, *, references: bool = True) -> dict:
    """The variables of a conversation template: the pairwise ones (`question` = the first user
    turn; `answer_a`, `answer_b`, `reference` = those of the judged turn, the last shown) plus
    `conversation` (True), `turns` (`dialogue_turns` up to `turn`), `turn` (the judged turn; None:
    the whole conversation), `n_turns` (answered turns in the conversation) and `has_references`."""
    turns = dialogue_turns(ctx, first, turn)
    if not references:
        turns = [{**t, "reference": None} for t in turns]
    last = turns[-1] if turns else {"answer_a": "", "answer_b": "", "reference": None}
    return {
        "question": ctx.prompt,
        "answer_a": last["answer_a"],
        "answer_b": last["answer_b"],
        "reference": last["reference"],
        "category": ctx.category,
        "conversation": True,
        "turns": turns,
        "turn": turn,
        "n_turns": ctx.n_turns,
        "has_references": any(t["reference"] for t in turns),
    }


def shown_texts(variables: dict) -> list[str | None]:
    """Every untrusted text a conversation render shows, in order (what its fence tag hashes)."""
    parts: list[str | None] = [str(variables.get("turn"))]
    for t in variables["turns"]:
        parts += [m["content"] for m in t["context"]] + [t["question"], t["reference"], t["answer_a"], t["answer_b"]]
    return parts


def context_texts(ctx: MatchContext) -> tuple[str, str, str]:
    """(prompt, answer A, answer B) of a match with every turn: a conversation's messages and each
    side's assistant turns, joined (what token counts of a whole conversation measure)."""
    if not ctx.is_conversation:
        return ctx.prompt, ctx.answer_a, ctx.answer_b
    refs = "\n".join(r for r in ctx.references if r)
    prompt = "\n".join([m.content for m in ctx.messages] + ([refs] if refs else []))
    return prompt, "\n".join(side_turns(ctx, "a")), "\n".join(side_turns(ctx, "b"))


CONVERSATION_FINGERPRINT_KEYS = ("conversation_template",)
"""Keys of `Judge.fingerprint()` that matter only to pools of conversations."""


def fingerprint_for(fingerprint: dict | None, prompts) -> dict | None:
    """A judge's fingerprint as a run on `prompts` depends on it: without the conversation template
    digests (at any depth: panel members, cascade stages) when no prompt is a conversation, so a
    single-turn run keeps the identity it had before conversations existed and resumes."""
    if not fingerprint or any(p.is_conversation for p in prompts):
        return fingerprint

    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in CONVERSATION_FINGERPRINT_KEYS}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(fingerprint)


def check_turn(choice: TurnChoice, prompts, where: str) -> None:
    """Raise SpecError when an integer `turn` names a turn some prompt does not have (before any call)."""
    from arena.errors import SpecError

    if isinstance(choice, int) and not isinstance(choice, bool):
        short = next((p for p in prompts if p.n_turns < choice), None)
        if short is not None:
            raise SpecError(
                f"{where}: key 'turn': {choice}, but prompt {short.prompt_id!r} has {short.n_turns} answered turn(s)"
                f' (expected "last", "all", "each" or a turn every prompt has)'
            )


def max_turns(prompts) -> int:
    """The most answered turns of a prompt in `prompts` (1 when there is none)."""
    return max((p.n_turns for p in prompts), default=1)


def same_turn_choice(judges, prompts, where: str, what: str) -> TurnChoice | None:
    """The `turn` choice every judge of `judges` (a panel's members, a cascade's stages: `(name, judge)`
    pairs) shares, None when none has one. When `prompts` hold a conversation and two judges judge
    different turns, `SpecError` before any call: their per-turn verdicts could not be put together
    (a panel's vote per turn, a cascade's per-turn leaderboards from whichever stage decided)."""
    import json

    from arena.errors import SpecError

    choices = [(name, j.turn_choice()) for name, j in judges]
    have = [(n, c) for n, c in choices if c is not None]
    if not have:
        return None
    first = have[0]
    other = next((nc for nc in have if nc[1] != first[1]), None)
    if other is not None and any(p.is_conversation for p in prompts):
        raise SpecError(
            f"{where}: the {what}s judge different turns of a conversation ({first[0]!r}: turn = {json.dumps(first[1])},"
            f" {other[0]!r}: turn = {json.dumps(other[1])}): give every {what} the same `turn` (\"each\": a leaderboard per turn)"
        )
    return first[1]


def turn_judge_name(judge: str, turn: int) -> str:
    """The judge name of a game that judged one turn of several (`turn = "each"`): `judge@turnN`.
    A match's games are stored one per (judge, order); the turn in the name keeps them apart.

    The turn itself is typed where it is read: `detail.turn` (an int; `game_turn`), which per-turn
    leaderboards and the MT-Bench export use (the export writes the judge without `@turnN`). A
    `turn` column in the games table was considered and left out: the turn would have to join the
    table's primary key (a rebuild of every store's largest table), and every place that keys a
    game by (judge, order) would change, for a judge name only arena's internals show."""
    return f"{judge}@turn{turn}"


def game_turn(game: Game | dict) -> int | None:
    """The conversation turn a game judged (`detail.turn`: an llm judge's, a recorded judge's, an
    imported MT-Bench judgment's), None when it judged a single-turn prompt or a whole conversation."""
    import json

    detail = game.get("detail") if isinstance(game, dict) else game.detail
    if isinstance(detail, str):
        if "turn" not in detail:
            return None
        try:
            detail = json.loads(detail)
        except ValueError:
            return None
    if not isinstance(detail, dict):
        return None
    turn = detail.get("turn")
    return turn if isinstance(turn, int) and not isinstance(turn, bool) else None


def combine_turns(match_id: str, verdicts: list[Verdict]) -> Verdict:
    """One match verdict from the verdicts of its judged turns (`turn = "each"`): unresolved when any
    turn is; otherwise the turns' signed scores (A>>B = 2 ... B>>A = -2) add, the sign gives the
    winner and a mean of at least 1.5 is a strong verdict. `consistent` is False when any turn's
    two orders disagreed (position inconsistency is a property of games of one turn, not across turns)."""
    if len(verdicts) == 1:
        return verdicts[0]
    bad = next((v for v in verdicts if v.outcome == "unresolved"), None)
    if bad is not None:
        return Verdict(match_id, "unresolved", 0, None, bad.label)
    scores = [LABEL_SCORE.get(v.label, 0) for v in verdicts]
    flags = [v.consistent for v in verdicts if v.consistent is not None]
    consistent = None if not flags else all(flags)
    total = sum(scores)
    if total == 0:
        return Verdict(match_id, "tie", 0, consistent, "A=B")
    strong = abs(total / len(scores)) >= 1.5
    if total > 0:
        return Verdict(match_id, "a", 2 if strong else 1, consistent, "A>>B" if strong else "A>B")
    return Verdict(match_id, "b", 2 if strong else 1, consistent, "B>>A" if strong else "B>A")
