"""Typed records passed between the pure parts (schedulers, judges, ratings) and the edges.

Plain frozen dataclasses: cheap to build by the million, easy to turn into store rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, get_args

SCHEMA_VERSION = 7  # 2: games.cached_calls, games.cached_cost_usd; 3: every table by a step; 4: batches, batch_calls; 5: conversations; 6: the answers index; 7: pool digests (arena/migrations.py)

Label = Literal["A>>B", "A>B", "A=B", "B>A", "B>>A", "unparsed", "error"]
LABELS: tuple[str, ...] = get_args(Label)
DECISIVE_LABELS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")

Outcome = Literal["a", "b", "tie", "unresolved", "forfeit_a", "forfeit_b"]
"""`forfeit_a`: A wins because B has no answer (no judge call was made)."""

Order = Literal["AB", "BA"]


class RunStatus(StrEnum):
    """A run's status in the store. `running` left by a killed process is corrected on resume."""

    RUNNING = "running"
    DONE = "done"  # every match decided
    ERRORS = "errors"  # finished, but some matches unresolved after retries (exit 3)
    STOPPED = "stopped"  # a budget (max_calls / max_cost_usd) stopped it; resumable
    INTERRUPTED = "interrupted"  # Ctrl-C; resumable
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.DONE, RunStatus.ERRORS, RunStatus.FAILED)


class MatchStatus(StrEnum):
    """A match's status in the store."""

    PENDING = "pending"
    DONE = "done"
    ERROR = "error"  # unresolved after retries; judged again on resume
    FORFEIT = "forfeit"  # one side has no answer; no judge call


@dataclass(frozen=True, slots=True)
class Usage:
    """Judge calls and their price, summable with `+`.

    `calls`: calls paid (made to a backend) in this span; `cached_calls`: calls answered from the
    call cache (free); tokens are those of all the calls; `cost_usd` is the paid calls' cost in US
    dollars, None when a price is unknown (never counted as $0). Modelled on inspect_ai's `ModelUsage`.
    """

    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            self.calls + other.calls,
            self.cached_calls + other.cached_calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            cost,
        )

    def __radd__(self, other):  # sum(usages) starts from 0
        return self if other == 0 else NotImplemented

    def to_dict(self) -> dict:
        return {
            "calls": self.calls,
            "cached_calls": self.cached_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }

# Signed strength of each decisive label, from A's point of view.
LABEL_SCORE: dict[str, int] = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}


def swap_label(label: str) -> str:
    """The same judgement seen with A and B exchanged (`A>B` <-> `B>A`)."""
    table = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
    return table.get(label, label)


Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation (OpenAI chat roles). `content` is untrusted text."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """One pool item: a single-turn prompt (the common case) or a conversation.

    Single-turn: `text` is the prompt, `messages == ()`, `references == ()`.
    Conversation: `messages` holds an optional leading system message, the user turns, and any fixed
    assistant turns the pool gives (earlier turns written by the pool, not generated); `text` is its
    first user turn; `references` holds one reference (or None) per answered user turn when the pool
    has references, and `reference` is the first answered turn's. A user turn is *answered* when no
    fixed assistant message follows it (the model writes that answer). MT-Bench: 2 answered turns.
    """

    prompt_id: str
    text: str
    category: str | None = None
    reference: str | None = None
    messages: tuple[Message, ...] = ()
    references: tuple[str | None, ...] = ()

    @property
    def n_turns(self) -> int:
        """User turns the model answers (1 for a single-turn prompt)."""
        if not self.messages:
            return 1
        return len(answered_turns(self.messages))

    @property
    def is_conversation(self) -> bool:
        """More than one answered turn, or any fixed assistant/system message."""
        return self.n_turns > 1 or any(m.role != "user" for m in self.messages)

    @property
    def user_turns(self) -> tuple[str, ...]:
        """The user turns' contents (answered or not), in order; `(text,)` for a single-turn prompt."""
        if not self.messages:
            return (self.text,)
        return tuple(m.content for m in self.messages if m.role == "user")


def answered_turns(messages: tuple[Message, ...]) -> tuple[int, ...]:
    """Indices into `messages` of the user messages a model answers (those not followed by a fixed
    assistant message)."""
    out = []
    for i, m in enumerate(messages):
        if m.role == "user" and (i + 1 >= len(messages) or messages[i + 1].role != "assistant"):
            out.append(i)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Output:
    """A model's answer to one pool item.

    Single-turn: `text` is the answer, `turns == ()`. Conversation: `turns` holds the model's assistant
    turns, one per answered user turn, and `text` is the first of them. Untrusted text."""

    prompt_id: str
    model: str
    text: str
    turns: tuple[str, ...] = ()

    @property
    def all_turns(self) -> tuple[str, ...]:
        """The model's assistant turns; `(text,)` for a single-turn answer."""
        return self.turns or (self.text,)


@dataclass(frozen=True, slots=True)
class Match:
    """One pairing of two models on one prompt, as a scheduler emits it."""

    match_id: str
    prompt_id: str
    model_a: str
    model_b: str
    round: int = 0


@dataclass(frozen=True, slots=True)
class MatchContext:
    """Everything a judge sees of a match. Answers are untrusted text."""

    match_id: str
    prompt_id: str
    prompt: str
    model_a: str
    model_b: str
    answer_a: str
    answer_b: str
    category: str | None = None
    reference: str | None = None
    messages: tuple[Message, ...] = ()  # a conversation's messages (`Prompt.messages`); () single-turn
    turns_a: tuple[str, ...] = ()  # A's assistant turns, one per answered user turn (`Output.turns`)
    turns_b: tuple[str, ...] = ()
    references: tuple[str | None, ...] = ()  # one per answered user turn, when the pool has them

    @property
    def is_conversation(self) -> bool:
        """The match is about a conversation (several answered turns, or a system / fixed assistant message)."""
        return bool(self.messages) and (len(answered_turns(self.messages)) > 1 or any(m.role != "user" for m in self.messages))

    @property
    def n_turns(self) -> int:
        """User turns the models answer (1 for a single-turn prompt)."""
        return len(answered_turns(self.messages)) if self.messages else 1


class PoolView:
    """A pool seen by a run: prompts by id and the answers (`arena.answers.Answers`: read from the
    store when a match is played, or `Output` records in memory); `context(match)` is the one place
    a match's `MatchContext` is built (runner and planner). A missing answer reads ""."""

    __slots__ = ("prompts", "answers")

    def __init__(self, prompts: Iterable[Prompt], outputs) -> None:
        from arena.answers import as_answers

        self.prompts = {p.prompt_id: p for p in prompts}
        self.answers = as_answers(outputs)

    def context(self, m: Match) -> MatchContext:
        p = self.prompts[m.prompt_id]
        if not p.is_conversation:
            answer_a, answer_b = self.answers.pair(m.prompt_id, m.model_a, m.model_b)
            turns_a: tuple[str, ...] = ()
            turns_b: tuple[str, ...] = ()
        else:  # a conversation: each side's assistant turns too
            got = self.answers.outputs(m.prompt_id, [m.model_a, m.model_b])
            a, b = got.get(m.model_a), got.get(m.model_b)
            answer_a, answer_b = (a.text or "") if a else "", (b.text or "") if b else ""
            turns_a, turns_b = (a.turns if a else ()), (b.turns if b else ())
        return MatchContext(
            m.match_id,
            m.prompt_id,
            p.text,
            m.model_a,
            m.model_b,
            answer_a,
            answer_b,
            p.category,
            p.reference,
            p.messages,
            turns_a,
            turns_b,
            p.references,
        )


@dataclass(slots=True)
class Game:
    """One judge call chain in one order. `label` is from the original A's point of view."""

    match_id: str
    judge: str
    order: Order
    label: Label
    raw: str = ""
    parse_status: Literal["ok", "retried", "unparsed", "error"] = "ok"
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 1
    calls: int = 1  # calls the provider answered (a failed call without a response is not counted: not paid)
    error: str | None = None
    detail: dict = field(default_factory=dict)  # per-kind explanation only (roles, members, evaluations)
    cached_calls: int = 0  # of `calls`, those answered from the call cache (free); all of them when `cached`
    cached_cost_usd: float = 0.0  # their cost in US dollars, included in `cost_usd`

    @property
    def usage(self) -> Usage:
        """What this game cost: its calls split into paid and served from the call cache."""
        cached_calls, cached_cost = cached_part(self)
        return Usage(
            calls=self.calls - cached_calls,
            cached_calls=cached_calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=None if self.cost_usd is None else max(0.0, self.cost_usd - cached_cost),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decided match: the games of both orders combined."""

    match_id: str
    outcome: Outcome
    strength: int  # |combined score|: 0 tie, 1 normal, 2+ strong
    consistent: bool | None  # None when only one game was played
    label: Label = "A=B"  # combined label from A's point of view


def cached_part(game: Game) -> tuple[int, float]:
    """(calls, cost in USD) of a game that were served from the call cache rather than paid.

    A game is `cached` when all its calls were; a game with several calls (a network's, a panel's,
    an llm judge's re-ask) says how many of them were in its `cached_calls` / `cached_cost_usd`
    fields, so a match resumed after a kill is not counted as paid twice."""
    if game.cached:
        return int(game.calls or 0), float(game.cost_usd or 0.0)
    return int(game.cached_calls or 0), float(game.cached_cost_usd or 0.0)


def cached_totals(parts: Iterable[tuple[int, float]]) -> tuple[int, float]:
    """Sum (calls, cost) parts served from the call cache: `(1, cost)` per cached completion, or
    `cached_part(g)` per member game. The cost is summed with `math.fsum` (exact to the last bit)."""
    import math

    parts = list(parts)
    return sum(n for n, _ in parts), math.fsum(c for _, c in parts)


@dataclass(frozen=True, slots=True)
class MatchRow:
    """A stored match of a run, with its status."""

    run_id: str
    match_id: str
    prompt_id: str
    model_a: str
    model_b: str
    round: int
    status: MatchStatus

    @property
    def match(self) -> Match:
        return Match(self.match_id, self.prompt_id, self.model_a, self.model_b, self.round)


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """A stored verdict with its match (`Store.verdicts`): who played, on which prompt, and how it ended."""

    match_id: str
    prompt_id: str
    model_a: str
    model_b: str
    round: int
    outcome: Outcome
    strength: int
    consistent: bool | None
    label: Label

    @property
    def match(self) -> Match:
        return Match(self.match_id, self.prompt_id, self.model_a, self.model_b, self.round)

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.match_id, self.outcome, self.strength, self.consistent, self.label)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The counters a run's last invocation stored when it finished (`Runner.summary()`);
    `extra` keeps keys of other modes (the reliability mode's `total_elapsed_s`, `pairs`...)."""

    matches_done: int = 0
    matches_resumed: int = 0
    forfeits: int = 0
    games: int = 0
    calls: int = 0
    cached_calls: int = 0
    calls_saved: int = 0
    retries: int = 0
    errors: int = 0
    unparsed: int = 0
    inconsistent: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    cost_unknown: bool = False
    elapsed_s: float = 0.0
    stop_reason: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> RunSummary:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known, extra={k: v for k, v in d.items() if k not in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        """The stored JSON form: the counters, then the `extra` keys (`totals`, `invocations`...)."""
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}, **self.extra}

    @property
    def totals(self) -> dict | None:
        """Counters summed over every invocation of the run (`runner.add_totals`), when stored."""
        t = self.extra.get("totals")
        return t if isinstance(t, dict) else None

    @property
    def invocations(self) -> int:
        """How many invocations ran (resumed) the run; 1 for a summary stored before they were counted."""
        return int(self.extra.get("invocations") or 1)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A stored run. `spec` is the JSON stored with it (for a tournament: {"spec": the tournament
    spec, "judge": the judge preset, "pool": the pool name}); times are Unix seconds."""

    run_id: str
    name: str
    spec: dict
    spec_hash: str
    seed: int
    status: RunStatus
    started: float | None
    finished: float | None
    summary: RunSummary | None


@dataclass(frozen=True, slots=True)
class PoolDigest:
    """What a run reads of a whole pool before its first call, kept when the pool is written
    (`Store.pool_digest`; `arena.answers.StoredAnswers`): the pool's fingerprint (its prompts in
    order, then every answer in (model, prompt_id) order: `arena.pools.pool_fingerprint`), the
    number of answers of its prompts, the models with one, and who answered each prompt usably:
    `prompt_ids` in the pool's order, `index[i]` the position in `sets` of prompt i's answerers
    (-1: nobody)."""

    fingerprint: str
    count: int
    models: tuple[str, ...]
    prompt_ids: tuple[str, ...]
    sets: tuple[tuple[str, ...], ...]
    index: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """A stored pool and its counts (`Store.list_pools`); `created` in Unix seconds."""

    pool: str
    format: str
    source: str
    created: float | None
    prompts: int
    models: int
    outputs: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class AnnotationRow:
    """One annotator's stored annotation of a prompt (`Store.annotations`; arena.curate).
    `criteria`: {criterion: {"met": bool, "reason": str}}, None when unparsed or failed; cost in US dollars."""

    pool: str
    prompt_id: str
    annotator_key: str
    annotator: str
    status: str
    score: int | None
    criteria: dict | None
    raw: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    error: str | None
    created: float


@dataclass(frozen=True, slots=True)
class ReplayRow:
    """A re-judged match (`Store.replays`; arena.replays) with its match's prompt and models.
    `games`: [{order, label, raw, error}]; usage of the replay's own calls (cost in US dollars)."""

    run_id: str
    match_id: str
    setting: str
    prompt_id: str
    model_a: str
    model_b: str
    outcome: Outcome
    strength: int
    consistent: bool | None
    label: str | None
    games: list
    usage: Usage

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.match_id, self.outcome, self.strength, self.consistent, self.label)


@dataclass(frozen=True, slots=True)
class Lease:
    """The holder of a run's lease (`Store.acquire_lease`): `owner` is `pid@host`; times in Unix seconds."""

    run_id: str
    owner: str
    pid: int
    host: str
    since: float
    heartbeat: float


@dataclass(frozen=True, slots=True)
class Battle:
    """A rating observation. `outcome` is 'a', 'b' or 'tie'; `weight` counts repeated or strong wins."""

    prompt_id: str
    model_a: str
    model_b: str
    outcome: Literal["a", "b", "tie"]
    weight: float = 1.0
    judge: str = ""


def battle_of(match: Match, verdict: Verdict, *, strong_weight: float = 3.0, judge: str = "", forfeit: str = "loss") -> Battle | None:
    """The rating observation of a decided match, or None when it is not one (unresolved; a forfeit
    with `forfeit="skip"`).

    `a`/`b` become a win for that side, with weight `strong_weight` when `strength >= 2` (a `>>`
    verdict, as Arena-Hard counts it) and 1 otherwise; `tie` becomes a tie. A forfeit (`forfeit_a`:
    B had no usable answer) is, with `forfeit="loss"` (the default), a win of weight 1 for the side
    that answered: a model that answered few prompts cannot rank first on them."""
    if verdict.outcome in ("forfeit_a", "forfeit_b"):
        if forfeit == "skip":
            return None
        return Battle(match.prompt_id, match.model_a, match.model_b, verdict.outcome[-1], 1.0, judge)  # type: ignore[arg-type]
    if verdict.outcome not in ("a", "b", "tie"):
        return None
    weight = float(strong_weight) if (verdict.outcome != "tie" and verdict.strength >= 2) else 1.0
    return Battle(match.prompt_id, match.model_a, match.model_b, verdict.outcome, weight, judge)


@dataclass(slots=True)
class BatchJob:
    """A Batch API job (`Store.batch_job`, `batch_jobs`, `batch_jobs_holding`; `arena.backends._batch`).
    `state`: preparing | uploaded | submitted | ingested | failed (arena's); `status`: the provider's
    last one; times in Unix seconds. Mutable: a poll updates `status` in place."""

    ref: str
    provider: str | None = None
    model: str | None = None
    api_base: str | None = None
    input_file_id: str | None = None
    batch_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    state: str | None = None
    status: str | None = None
    n_calls: int | None = None
    owner: str | None = None
    error: str | None = None
    created: float | None = None
    updated: float | None = None
