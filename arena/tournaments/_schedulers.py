"""The fixed-per-prompt schedulers (single-elimination, round-robin, anchored) and swiss.

Each class has a pydantic `Params` model: the keys its `[scheduler]` table accepts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from arena.records import Match, Verdict
from arena.tournaments._base import PlanSize, Scheduler, SchedulerError, keyed_float, keyed_rng, winner_of


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- single elimination ---------------------------------------------------------------------


class SingleElimination(Scheduler):
    """A fresh random bracket per prompt (Varco Arena / Arena-Lite).

    - The bracket holds the models that answered the prompt, shuffled by a stream keyed by
      (seed, prompt). With n models and P the next power of two, the first P - n of the shuffled
      order get a bye; the rest play round 0. Every later round has a power-of-two field, paired
      in order (bye holders first, then round winners in match order). n - 1 judged matches.
    - A prompt's round r+1 is released only when all its round-r matches are decided.
    - Tie rule: a tie (or an unresolved verdict) advances the model picked by a seeded coin
      fixed by (seed, match_id); the verdict stays a tie for the ratings.
    - A model of the tournament without an answer to the prompt forfeits one match (round 0,
      no judge call) against an answering model picked by (seed, prompt, model); so a prompt
      still accounts for N - 1 matches for N models, N_answered - 1 of them judged.
    """

    kind = "single-elimination"

    class Params(_Params):
        pass

    def __init__(self, prompts, answered, models, seed, **params) -> None:
        super().__init__(prompts, answered, models, seed)
        self.params = self.Params(**params)
        self._started = False
        # prompt_id -> (round, its matches, models that advance without playing it)
        self._open: dict[str, tuple[int, list[Match], list[str]]] = {}
        self.champions: dict[str, str] = {}
        self.tiebreaks: dict[str, str] = {}

    def _pairs(self, pid: str, rnd: int, field: list[str]) -> list[Match]:
        out = []
        for i in range(0, len(field) - 1, 2):
            m = self._pair(pid, rnd, field[i], field[i + 1])
            assert m is not None  # both are in the bracket, so both answered
            out.append(m)
        return out

    def start(self) -> list[Match]:
        if self._started:
            return []
        self._started = True
        released: list[Match] = []
        for pid in self.prompt_ids:
            who = sorted(self.answered[pid])
            if not who:
                continue
            rng = keyed_rng(self.seed, "bracket", pid)
            order = [who[i] for i in rng.permutation(len(who))]
            for m in self.models:
                if m not in self.answered[pid]:
                    opp = order[int(keyed_rng(self.seed, "forfeit", pid, m).integers(len(order)))]
                    self._pair(pid, 0, m, opp)
            if len(order) == 1:
                self.champions[pid] = order[0]
                continue
            size = 1 << math.ceil(math.log2(len(order)))
            byes = size - len(order)
            matches = self._pairs(pid, 0, order[byes:])
            self._open[pid] = (0, matches, order[:byes])
            released += matches
        return self._release(released)

    def _advance(self) -> list[Match]:
        released: list[Match] = []
        for pid in list(self._open):
            rnd, matches, byes = self._open[pid]
            if any(m.match_id not in self._decided for m in matches):
                continue
            field = list(byes)
            for m in matches:
                w, broken = winner_of(m, self._decided[m.match_id], self.seed)
                if broken:
                    self.tiebreaks[m.match_id] = w
                field.append(w)
            self._forget(m.match_id for m in matches)  # the round is settled: its winners are in `field`
            if len(field) == 1:
                self.champions[pid] = field[0]
                del self._open[pid]
                continue
            nxt = self._pairs(pid, rnd + 1, field)
            self._open[pid] = (rnd + 1, nxt, [])
            released += nxt
        return self._release(released)

    @property
    def finished(self) -> bool:
        return self._started and not self._open

    def size(self) -> PlanSize:
        n = sum(max(len(self.answered[p]) - 1, 0) for p in self.prompt_ids)
        forfeits = sum(len(self.models) - len(self.answered[p]) for p in self.prompt_ids if self.answered[p])
        return PlanSize(n, float(n), n, forfeits)

    def comparison_pairs(self) -> set[tuple[str, str]]:
        # a bracket spans its prompt's answerers, so connectivity is that of the answerer cliques
        return super().comparison_pairs()


# -- fixed schedules: round-robin and anchored ----------------------------------------------------


class _Fixed(Scheduler):
    """A schedule decided before any verdict, released by `start()`: all of it at once, or, after
    `release_in_chunks(n)`, n matches at a time (the next n each time fewer than n are pending), in
    the same order, with every forfeit at the start either way.

    A kind whose matches on a prompt depend only on who answered it (every pair, anchored: its
    `_candidates` are set) is lazy: its size, comparison pairs, the plan's sampled matches and a
    chunked release come from the pair lists of each distinct answerer set (`Scheduler.answered`
    shares one frozenset per set), and no match is built before it is needed. Other kinds
    (round-robin with `pairs_per_prompt`) build the whole plan (`_build`) once."""

    def __init__(self, prompts, answered, models, seed) -> None:
        super().__init__(prompts, answered, models, seed)
        self._started = False
        self._plan: list[Match] | None = None
        self._plan_forfeits: list = []
        #: the model pairs a prompt may get, in release order, when its matches depend on its answerers only
        self._candidates: list[tuple[str, str]] | None = None
        self._pair_memo: dict[frozenset[str], tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
        self._counts: np.ndarray | None = None  # judged matches per prompt
        self._by_prompt: dict[str, list[tuple[str, str]]] | None = None
        self._chunk = 0  # matches per release once `release_in_chunks` was called (0: all at start)
        self._first = 0  # matches of the first release when chunked
        self._size: PlanSize | None = None
        self._source: Iterator[Match] | None = None
        self._unreleased = 0  # matches of the schedule not released yet

    # -- the schedule, prompt by prompt ----------------------------------------------------------
    @property
    def lazy(self) -> bool:
        """True when the schedule is computed prompt by prompt from the answerer sets."""
        return self._candidates is not None

    def _pairs_of(self, who: frozenset[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(pairs judged, pairs forfeited) on a prompt with answerers `who`, unoriented, in release
        order; computed once per distinct answerer set."""
        got = self._pair_memo.get(who)
        if got is None:
            cands = self._candidates or []
            judged = [(x, y) for x, y in cands if x in who and y in who]
            lost = [(x, y) for x, y in cands if (x in who) != (y in who)]
            got = self._pair_memo[who] = (judged, lost)
        return got

    def judged_pairs(self, prompt_id: str) -> list[tuple[str, str]]:
        """The (unoriented) model pairs judged on one prompt, in release order."""
        if self.lazy:
            return self._pairs_of(self.answered.get(prompt_id, frozenset()))[0]
        return self._grouped().get(prompt_id, [])

    def _grouped(self) -> dict[str, list[tuple[str, str]]]:
        """A built plan's pairs by prompt (kinds that are not lazy)."""
        if self._by_prompt is None:
            self._by_prompt = {}
            for m in self.planned():
                self._by_prompt.setdefault(m.prompt_id, []).append((m.model_a, m.model_b))
        return self._by_prompt

    def judged_counts(self) -> np.ndarray:
        """Judged matches per prompt, in `prompt_ids` order (int64, shape (prompts,))."""
        if self._counts is None:
            pairs = (self._pairs_of(who)[0] for who in map(self.answered.__getitem__, self.prompt_ids)) if self.lazy else map(
                self.judged_pairs, self.prompt_ids
            )
            self._counts = np.fromiter(map(len, pairs), np.int64, len(self.prompt_ids))
        return self._counts

    def matches_at(self, indices: Iterable[int]) -> list[Match]:
        """The matches at these positions of the release order (what `planned()[i]` gives), built
        one by one for a lazy kind: the prompt from the cumulative counts, then its pair."""
        if not self.lazy:
            plan = self.planned()
            return [plan[int(i)] for i in indices]
        ends = np.cumsum(self.judged_counts())
        out = []
        for i in indices:
            p = int(np.searchsorted(ends, i, side="right"))
            pid = self.prompt_ids[p]
            out += self._matches(pid, 0, [self.judged_pairs(pid)[int(i) - (int(ends[p - 1]) if p else 0)]])
        return out

    def _iter_matches(self) -> Iterator[Match]:
        for pid in self.prompt_ids:
            yield from self._matches(pid, 0, self._pairs_of(self.answered[pid])[0])

    def _all_forfeits(self) -> list[tuple[Match, Verdict]]:
        out = []
        for pid in self.prompt_ids:
            has = self.answered[pid]
            lost = self._pairs_of(has)[1]
            if lost:
                out += [self._forfeit(m, has) for m in self._matches(pid, 0, lost)]
        return out

    def planned(self) -> list[Match]:
        """Every match of the schedule (judged ones), in release order."""
        if self._plan is None:
            if self.lazy:
                self._plan = list(self._iter_matches())
                self._plan_forfeits = self._all_forfeits()
            else:
                saved = self._forfeits
                self._forfeits = []
                self._plan = self._build()
                self._plan_forfeits, self._forfeits = self._forfeits, saved
        return self._plan

    def _build(self) -> list[Match]:
        raise NotImplementedError

    def restrict_to(self, prompt_ids: set[str]) -> None:
        if not self.lazy:
            # the whole plan first: balanced pair sampling depends on every earlier prompt's pairs
            plan = self.planned()
            self._plan = [m for m in plan if m.prompt_id in prompt_ids]
            self._plan_forfeits = [f for f in self._plan_forfeits if f[0].prompt_id in prompt_ids]
        else:  # a prompt's matches depend on its answerers only: the shard's prompts give its matches
            self._plan, self._plan_forfeits = None, []
        self._counts = self._by_prompt = self._size = None
        super().restrict_to(prompt_ids)

    # -- releasing -------------------------------------------------------------------------------
    def release_in_chunks(self, n: int, first: int | None = None) -> None:
        """Release `first` matches (default `n`) at start and `n` more whenever fewer than `n` are
        pending (call before `start()`): the same matches in the same order, without building all of
        a lazy plan before its first verdict. A judge that draws across everything released (a
        cascade's pilot) needs the whole schedule at start: leave it unchunked then."""
        self._chunk = max(int(n), 1)
        self._first = max(int(first if first is not None else n), 1)

    def start(self) -> list[Match]:
        if self._started:
            return []
        self._started = True
        if self._chunk and self.lazy and self._plan is None:
            self._forfeits += self._all_forfeits()
            self._source = self._iter_matches()
            self._unreleased = int(self.judged_counts().sum())
            return self._next_chunk(self._first)
        plan = self.planned()
        self._forfeits += self._plan_forfeits
        if self._chunk:
            self._source, self._unreleased = iter(plan), len(plan)
            return self._next_chunk(self._first)
        return self._release(plan)

    def _next_chunk(self, n: int | None = None) -> list[Match]:
        assert self._source is not None
        out = list(islice(self._source, n if n is not None else self._chunk))
        self._unreleased -= len(out)
        return self._release(out)

    def release_rest(self) -> list[Match]:
        """Release every match not released yet (a run stopped by its budget or interrupted writes
        them as pending, as an unchunked run does)."""
        if not self._started or self._source is None or not self._unreleased:
            return []
        return self._next_chunk(self._unreleased)

    def update(self, decided):
        new = super().update(decided)
        self._forget(m.match_id for m, _ in decided)  # a fixed schedule never looks at a verdict again
        return new

    def _advance(self) -> list[Match]:
        if self._source is None or not self._unreleased or self.pending >= self._chunk:
            return []
        return self._next_chunk()

    @property
    def pending(self) -> int:
        return len(self._released) - len(self._decided)  # `update` keeps only released matches' verdicts

    @property
    def finished(self) -> bool:
        return self._started and not self._unreleased and self.pending == 0

    def size(self) -> PlanSize:
        if self.lazy and self._plan is None:
            if self._size is None:
                n = int(self.judged_counts().sum())
                forfeits = sum(len(self._pairs_of(who)[1]) for who in map(self.answered.__getitem__, self.prompt_ids))
                self._size = PlanSize(n, float(n), n, forfeits)
            return self._size
        n = len(self.planned())
        return PlanSize(n, float(n), n, len(self._plan_forfeits))

    def comparison_pairs(self) -> set[tuple[str, str]]:
        if not self.lazy:
            return {(m.model_a, m.model_b) if m.model_a < m.model_b else (m.model_b, m.model_a) for m in self.planned()}
        distinct = {id(who): who for who in self.answered.values()}
        return {(x, y) if x < y else (y, x) for who in distinct.values() for x, y in self._pairs_of(who)[0]}


class RoundRobin(_Fixed):
    """Every pair on every prompt, or `pairs_per_prompt = k` sampled pairs per prompt.

    Sampling `balanced` (default) walks the prompts in order and takes, k times, the pair that
    has met least so far (then the one whose models play least on this prompt, then a seeded
    random key), so every pair meets about equally often and any prefix of prompts is balanced.
    `uniform` draws k distinct pairs uniformly at random per prompt (seeded by prompt).
    Only pairs where both models answered are sampled. With every pair on every prompt, a pair
    where exactly one model answered is a forfeit.
    """

    kind = "round-robin"

    class Params(_Params):
        pairs_per_prompt: int | None = Field(default=None, ge=1)
        sampling: Literal["balanced", "uniform"] = "balanced"

    def __init__(self, prompts, answered, models, seed, **params) -> None:
        super().__init__(prompts, answered, models, seed)
        self.params = self.Params(**params)
        if self.params.pairs_per_prompt is None:  # every pair, in row-major order of the model list
            self._candidates = [(x, y) for i, x in enumerate(self.models) for y in self.models[i + 1 :]]

    def _build(self) -> list[Match]:
        # pairs_per_prompt = k (every pair is the lazy `_candidates` schedule)
        k = self.params.pairs_per_prompt
        assert k is not None
        models = self.models
        n = len(models)
        iu, ju = np.triu_indices(n, 1)
        out: list[Match] = []
        index = {m: i for i, m in enumerate(models)}
        counts = np.zeros(len(iu))
        for pid in self.prompt_ids:
            has = np.zeros(n, bool)
            has[[index[m] for m in self.answered[pid]]] = True
            avail = has[iu] & has[ju]
            if not avail.any():
                continue
            rng = keyed_rng(self.seed, "round-robin", pid)
            if self.params.sampling == "uniform":
                cand = np.flatnonzero(avail)
                picks = rng.choice(cand, size=min(k, len(cand)), replace=False)
            else:
                noise = rng.random(len(iu))
                load = np.zeros(n)
                picks = []
                for _ in range(min(k, int(avail.sum()))):
                    score = counts * 1e6 + (load[iu] + load[ju]) * 10 + noise
                    score[~avail] = np.inf
                    p = int(np.argmin(score))
                    picks.append(p)
                    avail[p] = False
                    load[iu[p]] += 1
                    load[ju[p]] += 1
            for p in picks:
                counts[p] += 1
                out.append(self._pair(pid, 0, models[iu[p]], models[ju[p]]))
        return out


class Anchored(_Fixed):
    """Every model against one baseline on every prompt (Arena-Hard / AlpacaEval style).

    `baseline` defaults to the first model listed. A model or baseline without an answer
    forfeits that match (no judge call).
    """

    kind = "anchored"

    class Params(_Params):
        baseline: str | None = None

    def __init__(self, prompts, answered, models, seed, **params) -> None:
        super().__init__(prompts, answered, models, seed)
        self.params = self.Params(**params)
        if not self.models:
            raise SchedulerError("anchored: no models")
        self.baseline = self.params.baseline or self.models[0]
        if self.baseline not in self.models:
            raise SchedulerError(
                f"key 'scheduler.baseline': {self.baseline!r} is not one of the tournament's models ({', '.join(self.models)})"
            )
        self._candidates = [(m, self.baseline) for m in self.models if m != self.baseline]


# -- swiss ---------------------------------------------------------------------------------------


class Swiss(Scheduler):
    """Rounds that pair models with similar running scores, each round on fresh prompts.

    Prompts are taken in a seeded shuffled order, `prompts_per_round` per round (default 1);
    `rounds` defaults to as many as the prompts allow. Running score = (wins + ties / 2) / games
    over all decided verdicts (forfeits and unresolved excluded), ties in score broken by a
    seeded key per (round, model). The answerers of a round's prompt are sorted by score and
    paired neighbour to neighbour; on odd rounds the pairing is shifted by one (the first and
    last sit out), so the comparison chain links every model. A round is released only when the
    previous one is fully decided.
    """

    kind = "swiss"
    sequential = True
    unshardable = (
        "each round is paired by the running scores over every earlier round's verdicts, on other prompts,"
        " which a shard on its own store cannot see; run it unsplit (round-robin, anchored and single-elimination split)"
    )

    class Params(_Params):
        rounds: int | None = Field(default=None, ge=1)
        prompts_per_round: int = Field(default=1, ge=1)

    def __init__(self, prompts, answered, models, seed, **params) -> None:
        super().__init__(prompts, answered, models, seed)
        self.params = self.Params(**params)
        rng = keyed_rng(self.seed, "swiss-prompts")
        order = [self.prompt_ids[i] for i in rng.permutation(len(self.prompt_ids))]
        k = self.params.prompts_per_round
        rounds = [order[i : i + k] for i in range(0, len(order) - k + 1, k)]
        if self.params.rounds is not None:
            rounds = rounds[: self.params.rounds]
        self._rounds = rounds
        self._round = -1
        self._wave: list[Match] = []

    def _standings(self) -> dict[str, float]:
        pts = dict.fromkeys(self.models, 0.0)
        games = dict.fromkeys(self.models, 0)
        for mid, v in self._decided.items():
            m = self._released[mid]
            if v.outcome not in ("a", "b", "tie"):
                continue
            games[m.model_a] += 1
            games[m.model_b] += 1
            if v.outcome == "a":
                pts[m.model_a] += 1
            elif v.outcome == "b":
                pts[m.model_b] += 1
            else:
                pts[m.model_a] += 0.5
                pts[m.model_b] += 0.5
        return {m: (pts[m] / games[m] if games[m] else 0.5) for m in self.models}

    def _next_round(self) -> list[Match]:
        while True:  # skip rounds whose prompts have fewer than two answers
            self._round += 1
            if self._round >= len(self._rounds):
                self._wave = []
                return []
            score = self._standings()
            out: list[Match] = []
            for pid in self._rounds[self._round]:
                # a model without an answer to the round's prompt sits out (no forfeit)
                who = sorted(self.answered[pid], key=lambda m: (-score[m], keyed_float(self.seed, "swiss", self._round, m)))
                for i in range(self._round % 2, len(who) - 1, 2):
                    match = self._pair(pid, self._round, who[i], who[i + 1])
                    if match is not None:
                        out.append(match)
            self._wave = self._release(out)
            if self._wave:
                return self._wave

    def start(self) -> list[Match]:
        if self._round >= 0:
            return []
        return self._next_round()

    def _advance(self) -> list[Match]:
        if self._round < 0 or any(m.match_id not in self._decided for m in self._wave):
            return []
        return self._next_round()

    @property
    def finished(self) -> bool:
        return self._round >= len(self._rounds) or (
            self._round == len(self._rounds) - 1 and all(m.match_id in self._decided for m in self._wave)
        )

    def size(self) -> PlanSize:
        n = 0
        for r, pids in enumerate(self._rounds):
            for pid in pids:
                m = len(self.answered[pid]) - (r % 2)
                n += max(m, 0) // 2
        return PlanSize(n, float(n), n, 0)

