"""The scheduler interface, plan sizes, deterministic match ids and per-key random streams.

Determinism contract (the runner resumes by replaying stored verdicts into a fresh scheduler):

- the same seed and the same verdicts give the same matches with the same `match_id`;
- randomness is drawn from streams keyed by (seed, what, prompt_id, round, ...), never from one
  generator consumed in the order verdicts arrive, so the released set does not depend on the
  order of verdicts within a wave;
- dynamic schedulers (single-elimination, swiss, adaptive) work in waves: a wave's successors
  are chosen only when all of its matches are decided.

Forfeits: a match where one model has no answer is decided by the scheduler itself, without a
judge call. `start()` and `update()` return only matches that need a judge; the forfeits they
produced are collected and handed out (once) by `forfeits()`, as `(Match, Verdict)` pairs with
outcome `forfeit_a` / `forfeit_b`. The runner records them without calling the judge and does not
feed them back (feeding them back is harmless: they are ignored).
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256 as _sha256

import numpy as np

from arena.errors import BadInput
from arena.records import Match, Prompt, Verdict


class DisconnectedPlan(BadInput):
    """A schedule's comparison graph is not connected, so ratings of its parts cannot be compared."""


class SchedulerError(BadInput):
    """A scheduler cannot be built from the spec and pool given (e.g. an unknown baseline model)."""


@dataclass(frozen=True, slots=True)
class PlanSize:
    """How many judged matches a schedule makes: `exact` when fixed, else None; `expected`; `worst`."""

    exact: int | None
    expected: float
    worst: int
    forfeits: int = 0


def match_id(prompt_id: str, rnd: int, a: str, b: str) -> str:
    """The deterministic id of a match: `prompt_id|r<round>|A|B`."""
    return f"{prompt_id}|r{rnd}|{a}|{b}"


def _key_int(part: object) -> int:
    if isinstance(part, (int, np.integer)) and part >= 0:
        return int(part)
    return _text_key(str(part))


@functools.lru_cache(maxsize=1 << 16)
def _text_key(text: str) -> int:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def keyed_rng(seed: int, *parts: object) -> np.random.Generator:
    """A generator that depends only on (seed, parts): the same key gives the same stream anywhere."""
    return np.random.default_rng([_key_int(seed), *(_key_int(p) for p in parts)])


def keyed_float(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) fixed by (seed, parts), for seeded tie-breaks."""
    blob = "\x1f".join(map(str, (seed, *parts))).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") / 2**64


def answered_from_outputs(outputs: Iterable) -> dict[str, set[str]]:
    """prompt_id -> the models with a usable answer to it, from `Output` records: an answer that is
    missing, empty, or only whitespace and invisible characters (zero-width, BOM, ...) is none; a
    conversation's answer is usable when every one of its turns is (else the model forfeits it)."""
    from arena.answers import is_usable_answer

    out: dict[str, set[str]] = {}
    for o in outputs:
        if is_usable_answer(o.text, getattr(o, "turns", ())):
            out.setdefault(o.prompt_id, set()).add(o.model)
    return out


class Scheduler(ABC):
    """Releases matches in waves and reacts to their verdicts.

    Usage (what the runner does)::

        s = make_scheduler(spec.scheduler, prompts, answered, models, seed)
        todo = s.start(); record(s.forfeits())
        while todo or not s.finished:
            decided = [(m, judge(m)) for m in todo]      # in any order, concurrently
            todo = s.update(decided); record(s.forfeits())

    `update` may be called with part of a wave: it returns new matches only once every
    released match of the wave it waits on is decided (unresolved verdicts count as decided).
    """

    kind: str = ""
    #: True when later matches depend on verdicts across prompts (swiss, adaptive): a budget-limited
    #: run is a prefix of waves. False: each prompt is scheduled on its own, a prefix of prompts.
    sequential: bool = False
    #: Why this kind cannot be split by prompt into shards on separate stores ("" when it can; see
    #: `arena.tournaments.shard`): its matches on one prompt depend on verdicts on other prompts.
    unshardable: str = ""

    def __init__(self, prompts: Sequence[Prompt], answered: dict[str, set[str]], models: Sequence[str], seed: int) -> None:
        self.models = list(models)
        if len(set(self.models)) != len(self.models):
            raise SchedulerError("models: a model is listed twice")
        wanted = set(self.models)
        self.prompts = list(prompts)
        self.prompt_ids = [p.prompt_id for p in self.prompts]
        # one frozenset per distinct set of answerers, shared across prompts (compact at 50,000 prompts)
        shared: dict[frozenset[str], frozenset[str]] = {}
        self.answered: dict[str, frozenset[str]] = {}
        for pid in self.prompt_ids:
            who = frozenset(answered.get(pid, ())) & wanted
            self.answered[pid] = shared.setdefault(who, who)
        self.seed = int(seed)
        self._forfeits: list[tuple[Match, Verdict]] = []
        self._released: dict[str, Match] = {}
        self._decided: dict[str, Verdict] = {}
        # hashes of matches decided and then forgotten (`_forget`): a long run keeps an int per match,
        # not its Match and Verdict
        self._settled: set[int] = set()

    # -- the interface --------------------------------------------------------------
    @abstractmethod
    def start(self) -> list[Match]:
        """The first wave of matches to judge."""

    def update(self, decided: Sequence[tuple[Match, Verdict]]) -> list[Match]:
        """Feed verdicts of released matches; returns the matches this releases (maybe none)."""
        for m, v in decided:
            if m.match_id not in self._released:
                if hash(m.match_id) in self._settled:  # decided before and forgotten: the first verdict stands
                    continue
                if any(f[0].match_id == m.match_id for f in self._forfeits) or v.outcome.startswith("forfeit"):
                    continue
                raise SchedulerError(f"verdict for match {m.match_id!r}, which this scheduler did not release")
            self._decided.setdefault(m.match_id, v)
        return self._advance()

    @abstractmethod
    def _advance(self) -> list[Match]:
        """Release what the verdicts so far allow."""

    @property
    @abstractmethod
    def finished(self) -> bool:
        """True when no match is pending and none will be released."""

    @abstractmethod
    def size(self) -> PlanSize:
        """Judged matches this schedule makes (exact, expected, worst) and forfeits."""

    def forfeits(self) -> list[tuple[Match, Verdict]]:
        """Forfeits produced since the last call (each is returned once)."""
        out, self._forfeits = self._forfeits, []
        return out

    def comparison_pairs(self) -> set[tuple[str, str]]:
        """The pairs this schedule can compare (for the connectivity check). Fixed schedules: exactly
        their pairs; dynamic ones: every pair they might release."""
        pairs: set[tuple[str, str]] = set()
        for pid in self.prompt_ids:
            who = sorted(self.answered[pid])
            for i, a in enumerate(who):
                for b in who[i + 1 :]:
                    pairs.add((a, b))
        return pairs

    @property
    def pending(self) -> int:
        """Released matches without a verdict yet."""
        return sum(1 for mid in self._released if mid not in self._decided)

    def restrict_to(self, prompt_ids: set[str]) -> None:
        """Schedule only these prompts (a shard, `arena.tournaments.shard`): the matches released are
        exactly those the whole schedule releases on them. Call before `start()`. Raises
        `SchedulerError` for a kind whose matches on one prompt depend on verdicts on others."""
        if self.unshardable:
            from arena.tournaments.shard import _refusal, unsplittable

            raise _refusal(SchedulerError, None, unsplittable(self.kind, self.unshardable))
        self.prompts = [p for p in self.prompts if p.prompt_id in prompt_ids]
        self.prompt_ids = [p.prompt_id for p in self.prompts]
        self.answered = {pid: self.answered[pid] for pid in self.prompt_ids}

    # -- helpers for subclasses ---------------------------------------------------------
    def _forget(self, match_ids: Iterable[str]) -> None:
        """Drop decided matches nothing will look at again (a finished round, a fixed schedule's
        decided matches): `pending` is unchanged, and a repeated verdict for one is ignored."""
        for mid in match_ids:
            if mid in self._decided and self._released.pop(mid, None) is not None:
                del self._decided[mid]
                self._settled.add(hash(mid))

    def _release(self, matches: Iterable[Match]) -> list[Match]:
        out = []
        for m in matches:
            if m.match_id in self._released:
                continue
            self._released[m.match_id] = m
            out.append(m)
        return out

    def _oriented(self, prompt_id: str, rnd: int, x: str, y: str) -> tuple[str, str]:
        """Which of two models is A: a seeded coin per (prompt, round, pair), so positions are balanced
        (`keyed_float(seed, "side", prompt_id, rnd, lo, hi) < 0.5`, `_lo_first`)."""
        lo, hi = (x, y) if x < y else (y, x)
        return (lo, hi) if _lo_first(f"{self.seed}\x1fside\x1f{prompt_id}\x1f{int(rnd)}\x1f", lo, hi) else (hi, lo)

    def _match(self, prompt_id: str, rnd: int, x: str, y: str) -> Match:
        """The match of two models on a prompt, oriented by `_oriented`, whether or not both answered."""
        return self._matches(prompt_id, rnd, ((x, y),))[0]

    def _matches(self, prompt_id: str, rnd: int, pairs: Iterable[tuple[str, str]]) -> list[Match]:
        """The matches of these model pairs on one prompt, each oriented as `_oriented` says (the
        key's head formatted once: a 100,000-call plan orients 50,000 pairs)."""
        head = f"{self.seed}\x1fside\x1f{prompt_id}\x1f{int(rnd)}\x1f"
        out = []
        for x, y in pairs:
            lo, hi = (x, y) if x < y else (y, x)
            if not _lo_first(head, lo, hi):
                lo, hi = hi, lo
            out.append(Match(f"{prompt_id}|r{rnd}|{lo}|{hi}", prompt_id, lo, hi, rnd))  # match_id(prompt_id, rnd, a, b)
        return out

    @staticmethod
    def _forfeit(m: Match, has: frozenset[str] | set[str]) -> tuple[Match, Verdict]:
        """The recorded forfeit of `m`, where exactly one of its models (in `has`) answered."""
        outcome = "forfeit_a" if m.model_a in has else "forfeit_b"
        return m, Verdict(m.match_id, outcome, 0, None, "A>B" if m.model_a in has else "B>A")

    def _pair(self, prompt_id: str, rnd: int, x: str, y: str) -> Match | None:
        """A match to judge when both answered; a recorded forfeit when only one did; None when neither."""
        m = self._match(prompt_id, rnd, x, y)
        has = self.answered.get(prompt_id, set())
        if m.model_a in has and m.model_b in has:
            return m
        if m.model_a in has or m.model_b in has:
            self._forfeits.append(self._forfeit(m, has))
        return None


def _lo_first(head: str, lo: str, hi: str) -> bool:
    """The side coin: `keyed_float(seed, "side", prompt_id, rnd, lo, hi) < 0.5` with the key's head
    `seed\x1fside\x1fprompt_id\x1frnd\x1f` given (inlined: no join, one hash)."""
    return int.from_bytes(_sha256(f"{head}{lo}\x1f{hi}".encode("utf-8")).digest()[:8], "little") / 2**64 < 0.5


def winner_of(m: Match, v: Verdict, seed: int) -> tuple[str, bool]:
    """The model that advances from a decided match, and whether a tie-break decided it.

    Tie rule (documented): a tie, or an unresolved verdict, is broken by a seeded coin fixed by
    (seed, match_id); the verdict itself stays a tie for the ratings.
    """
    if v.outcome in ("a", "forfeit_a"):
        return m.model_a, False
    if v.outcome in ("b", "forfeit_b"):
        return m.model_b, False
    coin = keyed_float(seed, "tiebreak", m.match_id)
    return (m.model_a if coin < 0.5 else m.model_b), True
