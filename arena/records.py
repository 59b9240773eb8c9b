"""Typed records passed between the pure parts (schedulers, judges, ratings) and the edges.

Plain frozen dataclasses: cheap to build by the million, easy to turn into store rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

SCHEMA_VERSION = 1

Label = Literal["A>>B", "A>B", "A=B", "B>A", "B>>A", "unparsed", "error"]
LABELS: tuple[str, ...] = get_args(Label)
DECISIVE_LABELS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")

Outcome = Literal["a", "b", "tie", "unresolved", "forfeit_a", "forfeit_b"]
"""`forfeit_a`: A wins because B has no answer (no judge call was made)."""

Order = Literal["AB", "BA"]

# Signed strength of each decisive label, from A's point of view.
LABEL_SCORE: dict[str, int] = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}


def swap_label(label: str) -> str:
    """The same judgement seen with A and B exchanged (`A>B` <-> `B>A`)."""
    table = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
    return table.get(label, label)


@dataclass(frozen=True, slots=True)
class Prompt:
    prompt_id: str
    text: str
    category: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    prompt_id: str
    model: str
    text: str


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


@dataclass(slots=True)
class Game:
    """One judge call chain in one order. `label` is from the original A's point of view."""

    match_id: str
    judge: str
    order: Order
    label: str
    raw: str = ""
    parse_status: Literal["ok", "retried", "unparsed", "error"] = "ok"
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 1
    calls: int = 1
    error: str | None = None
    detail: dict = field(default_factory=dict)

    def row(self) -> dict:
        d = asdict(self)
        d["detail"] = d.pop("detail") or None
        return d


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decided match: the games of both orders combined."""

    match_id: str
    outcome: Outcome
    strength: int  # |combined score|: 0 tie, 1 normal, 2+ strong
    consistent: bool | None  # None when only one game was played
    label: str = "A=B"  # combined label from A's point of view


@dataclass(frozen=True, slots=True)
class Battle:
    """A rating observation. `outcome` is 'a', 'b' or 'tie'; `weight` counts repeated or strong wins."""

    prompt_id: str
    model_a: str
    model_b: str
    outcome: Literal["a", "b", "tie"]
    weight: float = 1.0
    judge: str = ""
