"""Schedulers: counts, coverage, determinism, resumption, forfeits, ties, waves."""

from __future__ import annotations

import itertools
import random
import zlib
from collections import Counter

import numpy as np
import pytest

from arena.records import Match, Prompt, Verdict
from arena.tournaments import DisconnectedPlan, SchedulerError, make_scheduler
from arena.tournaments.plan import check_connected


def arena(n_models: int, n_prompts: int, missing: dict[str, set[str]] | None = None):
    models = [f"m{i:02d}" for i in range(n_models)]
    prompts = [Prompt(f"p{i:03d}", f"prompt {i}") for i in range(n_prompts)]
    answered = {p.prompt_id: set(models) - (missing or {}).get(p.prompt_id, set()) for p in prompts}
    return models, prompts, answered


def strength_judge(m: Match) -> Verdict:
    """The model with the lower number always wins (deterministic)."""
    return Verdict(m.match_id, "a" if m.model_a < m.model_b else "b", 1, True)


def random_judge(seed: int = 0, ties: float = 0.2):
    rng = random.Random(seed)

    def judge(m: Match) -> Verdict:
        x = rng.random()
        return Verdict(m.match_id, "tie" if x < ties else ("a" if x < (1 + ties) / 2 else "b"), 1, None)

    return judge


def drive(s, judge, *, shuffle: int | None = None, max_waves: int = 1000, first: list[Match] | None = None):
    """Run a scheduler to the end: (all judged matches in release order, forfeits, waves)."""
    todo = s.start() if first is None else first
    forfeits = s.forfeits()
    judged: list[Match] = list(todo)
    waves = [list(todo)]
    verdicts: dict[str, Verdict] = {}
    while todo or not s.finished:
        assert len(waves) < max_waves, "scheduler does not finish"
        decided = [(m, verdicts.setdefault(m.match_id, judge(m))) for m in todo]
        if shuffle is not None:
            random.Random(shuffle + len(waves)).shuffle(decided)
        todo = s.update(decided)
        forfeits += s.forfeits()
        judged += todo
        if todo:
            waves.append(list(todo))
    return judged, forfeits, waves


# -- single elimination -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(2, 18))
def test_single_elimination_makes_n_minus_1_matches_per_prompt(n):
    models, prompts, answered = arena(n, 3)
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=n)
    judged, forfeits, _ = drive(s, random_judge(n, ties=0.3))
    per_prompt = Counter(m.prompt_id for m in judged)
    assert per_prompt == {p.prompt_id: n - 1 for p in prompts}
    assert not forfeits
    assert s.size().exact == 3 * (n - 1)
    for p in prompts:  # every model plays at least once on each prompt it answered
        played = {x for m in judged if m.prompt_id == p.prompt_id for x in (m.model_a, m.model_b)}
        assert played == set(models)
    assert set(s.champions) == {p.prompt_id for p in prompts}


def test_single_elimination_champion_is_the_strongest_with_a_perfect_judge():
    models, prompts, answered = arena(11, 5)
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=3)
    drive(s, strength_judge)
    assert set(s.champions.values()) == {"m00"}


def test_single_elimination_releases_a_round_only_when_the_previous_is_decided():
    models, prompts, answered = arena(8, 2)
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=0)
    first = s.start()
    assert len(first) == 8 and {m.round for m in first} == {0}
    p0 = [m for m in first if m.prompt_id == "p000"]
    p1 = [m for m in first if m.prompt_id == "p001"]
    # all of p000's round but one of p001's: only p000 moves on
    new = s.update([(m, strength_judge(m)) for m in p0 + p1[:3]])
    assert len(new) == 2 and all(m.prompt_id == "p000" and m.round == 1 for m in new)
    assert s.update([]) == []
    new = s.update([(p1[3], strength_judge(p1[3]))])
    assert len(new) == 2 and all(m.prompt_id == "p001" and m.round == 1 for m in new)
    assert not s.finished


def test_single_elimination_tie_is_broken_by_a_seeded_coin_and_stays_a_tie():
    models, prompts, answered = arena(2, 40)
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=5)
    tie = lambda m: Verdict(m.match_id, "tie", 0, False)  # noqa: E731
    judged, _, _ = drive(s, tie)
    assert len(s.tiebreaks) == 40
    winners = Counter(s.champions.values())
    assert set(winners) == {"m00", "m01"}  # a coin, not a fixed side
    again = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=5)
    drive(again, tie)
    assert again.champions == s.champions  # seeded


def test_single_elimination_missing_answer_forfeits_without_a_judge_call():
    models, prompts, answered = arena(5, 2, missing={"p000": {"m03"}})
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=0)
    judged, forfeits, _ = drive(s, strength_judge)
    assert all("m03" not in (m.model_a, m.model_b) for m in judged if m.prompt_id == "p000")
    assert Counter(m.prompt_id for m in judged) == {"p000": 3, "p001": 4}
    assert len(forfeits) == 1
    m, v = forfeits[0]
    assert "m03" in (m.model_a, m.model_b) and m.prompt_id == "p000"
    assert v.outcome == ("forfeit_a" if m.model_b == "m03" else "forfeit_b")  # forfeit_a: A wins, B has no answer
    assert s.size().forfeits == 1


# -- determinism and resume -----------------------------------------------------------------------

KINDS = [
    {"kind": "single-elimination"},
    {"kind": "round-robin"},
    {"kind": "round-robin", "pairs_per_prompt": 3},
    {"kind": "round-robin", "pairs_per_prompt": 2, "sampling": "uniform"},
    {"kind": "anchored", "baseline": "m02"},
    {"kind": "swiss", "rounds": 6},
    {"kind": "adaptive", "max_matches": 60},
]


@pytest.mark.parametrize("spec", KINDS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_same_seed_same_matches_whatever_the_order_of_verdicts(spec):
    models, prompts, answered = arena(7, 12)
    runs = []
    for shuffle in (None, 1, 2):
        s = make_scheduler(spec, prompts, answered, models, seed=11)
        judged, _, waves = drive(s, random_judge(4), shuffle=shuffle)
        runs.append([sorted(m.match_id for m in w) for w in waves])
    assert runs[0] == runs[1] == runs[2]
    other = make_scheduler(spec, prompts, answered, models, seed=12)
    judged2, _, waves2 = drive(other, random_judge(4))
    if spec["kind"] not in ("anchored", "round-robin") or spec.get("pairs_per_prompt"):
        assert [sorted(m.match_id for m in w) for w in waves2] != runs[0]


@pytest.mark.parametrize("spec", KINDS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_a_resumed_schedule_continues_where_it_stopped(spec):
    """The runner's resume: a fresh scheduler, same seed, replaying stored verdicts wave by wave."""
    models, prompts, answered = arena(6, 10)
    judge = random_judge(9)
    full = make_scheduler(spec, prompts, answered, models, seed=3)
    judged, _, waves = drive(full, judge)
    stored = {}
    # the first run stops after two waves; the verdicts it stored:
    s1 = make_scheduler(spec, prompts, answered, models, seed=3)
    todo = s1.start()
    for _ in range(2):
        decided = [(m, stored.setdefault(m.match_id, random_judge(9)(m))) for m in todo]
        todo = s1.update(decided)
    pending_at_kill = {m.match_id for m in todo}
    # resume: replay
    s2 = make_scheduler(spec, prompts, answered, models, seed=3)
    todo = s2.start()
    while todo and all(m.match_id in stored for m in todo):
        todo = s2.update([(m, stored[m.match_id]) for m in todo])
    assert {m.match_id for m in todo} == pending_at_kill


def test_match_ids_are_readable_and_unique():
    models, prompts, answered = arena(5, 4)
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=0)
    judged, _, _ = drive(s, strength_judge)
    ids = [m.match_id for m in judged]
    assert len(set(ids)) == len(ids)
    m = judged[-1]
    assert m.match_id == f"{m.prompt_id}|r{m.round}|{m.model_a}|{m.model_b}"


# -- round-robin and anchored --------------------------------------------------------------------


def test_round_robin_covers_every_pair_on_every_prompt():
    models, prompts, answered = arena(6, 4)
    s = make_scheduler({"kind": "round-robin"}, prompts, answered, models, seed=0)
    judged, forfeits, waves = drive(s, strength_judge)
    assert len(waves) == 1 and not forfeits
    got = Counter((m.prompt_id, frozenset((m.model_a, m.model_b))) for m in judged)
    assert set(got) == {(p.prompt_id, frozenset(c)) for p in prompts for c in itertools.combinations(models, 2)}
    assert set(got.values()) == {1}
    sides = Counter(m.model_a for m in judged)
    assert max(sides.values()) - min(sides.values()) <= 6  # positions are mixed, not alphabetical


def test_round_robin_sampled_pairs_are_balanced():
    models, prompts, answered = arena(8, 70)
    s = make_scheduler({"kind": "round-robin", "pairs_per_prompt": 2}, prompts, answered, models, seed=1)
    judged, _, _ = drive(s, strength_judge)
    assert Counter(m.prompt_id for m in judged) == {p.prompt_id: 2 for p in prompts}
    pairs = Counter(frozenset((m.model_a, m.model_b)) for m in judged)
    assert len(pairs) == 28 and max(pairs.values()) - min(pairs.values()) <= 1
    disjoint = 0
    for pid in (p.prompt_id for p in prompts):  # balance first, then disjoint pairs where it can
        who = [x for m in judged if m.prompt_id == pid for x in (m.model_a, m.model_b)]
        disjoint += len(set(who)) == 4
    assert disjoint >= 0.8 * len(prompts)


def test_round_robin_pair_with_one_missing_answer_is_a_forfeit():
    models, prompts, answered = arena(4, 2, missing={"p001": {"m00"}})
    s = make_scheduler({"kind": "round-robin"}, prompts, answered, models, seed=0)
    judged, forfeits, _ = drive(s, strength_judge)
    assert len(judged) == 6 + 3 and len(forfeits) == 3
    assert all(v.outcome in ("forfeit_a", "forfeit_b") for _, v in forfeits)


def test_anchored_plays_everyone_against_the_baseline():
    models, prompts, answered = arena(5, 3)
    s = make_scheduler({"kind": "anchored", "baseline": "m03"}, prompts, answered, models, seed=0)
    judged, _, _ = drive(s, strength_judge)
    assert len(judged) == 12
    assert all("m03" in (m.model_a, m.model_b) for m in judged)
    with pytest.raises(SchedulerError, match="'nobody' is not one of the tournament's models"):
        make_scheduler({"kind": "anchored", "baseline": "nobody"}, prompts, answered, models, seed=0)


# -- swiss ----------------------------------------------------------------------------------------


def test_swiss_rounds_use_fresh_prompts_and_pair_similar_scores():
    models, prompts, answered = arena(8, 10)
    s = make_scheduler({"kind": "swiss"}, prompts, answered, models, seed=2)
    judged, _, waves = drive(s, strength_judge)
    assert len(waves) == 10
    assert [len({m.prompt_id for m in w}) for w in waves] == [1] * 10
    assert len({w[0].prompt_id for w in waves}) == 10
    assert s.size().exact == len(judged) == 5 * 4 + 5 * 3
    # late rounds pair neighbours in strength
    last = waves[-2] if len(waves[-1]) == 3 else waves[-1]
    gaps = [abs(int(m.model_a[1:]) - int(m.model_b[1:])) for m in last]
    assert max(gaps) == 1
    # the comparison graph links everyone
    check_connected({(m.model_a, m.model_b) for m in judged}, models)


# -- adaptive ---------------------------------------------------------------------------------------


def test_adaptive_starts_connected_and_respects_its_budget():
    models, prompts, answered = arena(9, 40)
    s = make_scheduler({"kind": "adaptive", "max_matches": 100, "target": "none"}, prompts, answered, models, seed=0)
    first = s.start()
    check_connected({(m.model_a, m.model_b) for m in first}, models)
    judged, _, waves = drive(s, random_judge(1), first=first)
    assert len(judged) == 100 and s.stop_reason == "max_matches"
    assert len(waves) > 3
    # a pair never meets twice on one prompt
    keys = Counter((m.prompt_id, frozenset((m.model_a, m.model_b))) for m in judged)
    assert max(keys.values()) == 1
    assert s.size().exact is None and s.size().worst == 100


def test_adaptive_stops_when_adjacent_pairs_are_separated():
    models, prompts, answered = arena(4, 200)
    s = make_scheduler({"kind": "adaptive", "max_matches": 5000}, prompts, answered, models, seed=0)

    def judge(m):  # strong, consistent preferences with some noise
        rng = np.random.default_rng(zlib.crc32(m.match_id.encode()))
        better = "a" if m.model_a < m.model_b else "b"
        return Verdict(m.match_id, better if rng.random() < 0.9 else ("b" if better == "a" else "a"), 1, True)

    judged, _, _ = drive(s, judge)
    assert s.stop_reason == "separated"
    assert len(judged) < 5000
    assert list(np.argsort(-s.ratings)) == [0, 1, 2, 3]


def test_adaptive_focuses_on_close_pairs():
    """With a model far weaker than the rest, adaptive spends few matches on it. Counted over 5
    seeds: one run is a noisy draw (any change of one pick changes every later verdict of this
    judge), and on one seed the far model's share exceeds the bound about one run in five, with
    this scheduler as with the per-pick one before it (100 seeds each); summed over 5 seeds it
    stayed under it in 12 groups of 5 out of 12."""
    models, prompts, answered = arena(5, 300)
    strength = {"m00": 0.2, "m01": 0.1, "m02": 0.0, "m03": -0.1, "m04": -6.0}

    def plays(explore):
        total = Counter()
        for seed in range(5):
            s = make_scheduler({"kind": "adaptive", "max_matches": 400, "target": "none", "explore": explore}, prompts, answered, models, seed=seed)
            rng = np.random.default_rng(seed)

            def judge(m):
                p = 1 / (1 + np.exp(strength[m.model_b] - strength[m.model_a]))
                return Verdict(m.match_id, "a" if rng.random() < p else "b", 1, True)

            judged, _, _ = drive(s, judge)
            total += Counter(x for m in judged for x in (m.model_a, m.model_b))
        return total

    pure = plays(0.0)
    assert pure["m04"] < 0.5 * min(pure[m] for m in models[:4])
    mixed = plays(0.25)  # exploration keeps some matches on every pair
    assert pure["m04"] < mixed["m04"] < min(mixed[m] for m in models[:4])


def test_disconnected_answer_sets_are_reported_with_their_components():
    models, prompts, answered = arena(4, 2)
    answered["p000"] = {"m00", "m01"}
    answered["p001"] = {"m02", "m03"}
    s = make_scheduler({"kind": "single-elimination"}, prompts, answered, models, seed=0)
    with pytest.raises(DisconnectedPlan, match=r"2 separate groups.*\{m00, m01\}; \{m02, m03\}"):
        check_connected(s.comparison_pairs(), models, "spec.toml")


def test_unknown_verdicts_are_refused():
    models, prompts, answered = arena(3, 1)
    s = make_scheduler({"kind": "round-robin"}, prompts, answered, models, seed=0)
    s.start()
    stranger = Match("nope", "p000", "m00", "m01")
    with pytest.raises(SchedulerError, match="did not release"):
        s.update([(stranger, strength_judge(stranger))])
