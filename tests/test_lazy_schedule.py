"""Fixed schedules built lazily (issue 18, start-up): round-robin over every pair and anchored are
computed prompt by prompt from the answerer sets, and a run may release them in chunks. Every
figure and every match must equal what the full build gives: the oracle below is the full build
as main wrote it before the lazy schedule (every candidate pair of every prompt, oriented by the
documented seeded coin `keyed_float(seed, "side", prompt, round, lo, hi) < 0.5`)."""

from __future__ import annotations

import numpy as np
import pytest

from arena.records import Match, Prompt, Verdict
from arena.tournaments import make_scheduler
from arena.tournaments._base import keyed_float, match_id
from arena.tournaments._schedulers import Anchored, RoundRobin

MODELS = ["zeta", "alpha", "mike", "bravo", "kilo"]  # not sorted: release order follows the list


def make_pool(seed: int, n_prompts: int = 60) -> tuple[list[Prompt], dict[str, set[str]]]:
    """Prompts with every kind of answerer set: all, none, one, some, the first model missing."""
    rng = np.random.default_rng(seed)
    prompts = [Prompt(f"p{i:03d}", f"Question {i}") for i in range(n_prompts)]
    answered: dict[str, set[str]] = {}
    for p in prompts:
        r = rng.random()
        if r < 0.5:
            who = set(MODELS)
        elif r < 0.6:
            who = set()
        elif r < 0.7:
            who = {str(rng.choice(MODELS))}
        elif r < 0.8:
            who = set(MODELS[1:])  # the default baseline missing
        else:
            who = {str(m) for m in rng.choice(MODELS, size=int(rng.integers(2, len(MODELS))), replace=False)}
        if who:
            answered[p.prompt_id] = who
    return prompts, answered


def oracle(kind: str, prompts, answered, models, seed: int, baseline: str | None = None):
    """(judged matches in release order, forfeits in order) as the full build gives them."""
    if kind == "round-robin":
        iu, ju = np.triu_indices(len(models), 1)
        pairs = [(models[i], models[j]) for i, j in zip(iu, ju)]
    else:
        baseline = baseline or models[0]
        pairs = [(m, baseline) for m in models if m != baseline]
    judged, forfeits = [], []
    for p in prompts:
        has = answered.get(p.prompt_id, set()) & set(models)
        for x, y in pairs:
            lo, hi = sorted((x, y))
            a, b = (lo, hi) if keyed_float(seed, "side", p.prompt_id, 0, lo, hi) < 0.5 else (hi, lo)
            m = Match(match_id(p.prompt_id, 0, a, b), p.prompt_id, a, b, 0)
            if a in has and b in has:
                judged.append(m)
            elif a in has or b in has:
                won = "forfeit_a" if a in has else "forfeit_b"
                forfeits.append((m, Verdict(m.match_id, won, 0, None, "A>B" if a in has else "B>A")))
    return judged, forfeits


def drive(sched, seed: int, chunk: int | None = None, first: int | None = None) -> tuple[list[Match], list]:
    """Start `sched` (in chunks of `chunk`, the first of `first`), then decide random parts of what is pending in random
    order until it is finished; returns (every released match in release order, the forfeits)."""
    if chunk:
        sched.release_in_chunks(chunk, first)
    todo = sched.start()
    if chunk:
        assert len(todo) == min(first or chunk, sched.size().exact)
    forfeits = sched.forfeits()
    order = list(todo)
    rng = np.random.default_rng(seed)
    while todo:
        assert not sched.finished
        pick = set(rng.permutation(len(todo))[: int(rng.integers(1, len(todo) + 1))].tolist())
        part = [todo[i] for i in sorted(pick, key=lambda i: -i)]
        todo = [m for i, m in enumerate(todo) if i not in pick]
        new = sched.update([(m, Verdict(m.match_id, "a", 1, True)) for m in part])
        assert sched.forfeits() == []  # every forfeit was handed out at the start
        if chunk:
            assert len(new) <= chunk
        order += new
        todo += new
    assert sched.finished  # the queue never ran dry before the schedule ended
    return order, forfeits


KINDS = [("round-robin", {}), ("anchored", {}), ("anchored", {"baseline": "mike"})]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize(("kind", "params"), KINDS)
def test_lazy_figures_and_matches_equal_the_full_build(kind, params, seed):
    prompts, answered = make_pool(seed)
    judged, forfeits = oracle(kind, prompts, answered, MODELS, seed, params.get("baseline"))
    assert judged and forfeits  # the pool exercises both
    sched = make_scheduler({"kind": kind, **params}, prompts, answered, MODELS, seed)
    assert sched.lazy
    size = sched.size()
    assert (size.exact, size.expected, size.worst, size.forfeits) == (len(judged), len(judged), len(judged), len(forfeits))
    pairs = {(m.model_a, m.model_b) if m.model_a < m.model_b else (m.model_b, m.model_a) for m in judged}
    assert sched.comparison_pairs() == pairs
    idx = sorted(np.random.default_rng(seed).choice(len(judged), size=25, replace=False).tolist()) + [0, len(judged) - 1]
    assert sched.matches_at(idx) == [judged[i] for i in idx]
    per_prompt = [sum(m.prompt_id == p.prompt_id for m in judged) for p in prompts]
    assert sched.judged_counts().tolist() == per_prompt
    assert sched._plan is None  # none of the above built the schedule
    assert sched.planned() == judged and sched._plan_forfeits == forfeits


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize(("kind", "params"), KINDS)
@pytest.mark.parametrize(("chunk", "first"), [(None, None), (1, None), (7, None), (7, 3), (10_000, None)])
def test_a_chunked_release_gives_the_same_matches_in_the_same_order(kind, params, seed, chunk, first):
    prompts, answered = make_pool(seed)
    judged, forfeits = oracle(kind, prompts, answered, MODELS, seed, params.get("baseline"))
    sched = make_scheduler({"kind": kind, **params}, prompts, answered, MODELS, seed)
    released, got_forfeits = drive(sched, seed, chunk, first)
    assert released == judged
    assert got_forfeits == forfeits  # all of them at the start, in order, chunked or not
    if chunk == 7 and first is None:
        fresh = make_scheduler({"kind": kind, **params}, prompts, answered, MODELS, seed)
        fresh.release_in_chunks(7)
        assert len(fresh.start()) == 7 and fresh._plan is None  # only the first chunk was built
        rest = fresh.release_rest()  # a run stopped early releases the rest, as an unchunked start
        assert rest == judged[7:] and fresh.release_rest() == [] and not fresh.finished


@pytest.mark.parametrize("sampling", ["balanced", "uniform"])
@pytest.mark.parametrize("seed", [0, 5])
def test_sampled_pairs_release_in_chunks_as_built(sampling, seed):
    prompts, answered = make_pool(seed)
    spec = {"kind": "round-robin", "pairs_per_prompt": 2, "sampling": sampling}
    full = make_scheduler(spec, prompts, answered, MODELS, seed)
    assert not full.lazy
    plan = list(full.planned())
    assert plan and len(full.start()) == len(plan)
    chunked = make_scheduler(spec, prompts, answered, MODELS, seed)
    size = chunked.size()
    assert size.exact == len(plan) and size.forfeits == 0
    assert chunked.matches_at([0, 3, len(plan) - 1]) == [plan[0], plan[3], plan[-1]]
    assert chunked.judged_counts().sum() == len(plan)
    assert [chunked.judged_pairs(p.prompt_id) for p in prompts[:10]] == [
        [(m.model_a, m.model_b) for m in plan if m.prompt_id == p.prompt_id] for p in prompts[:10]
    ]
    assert drive(chunked, seed, 5) == (plan, [])


@pytest.mark.parametrize(("kind", "params"), KINDS)
def test_a_shard_of_a_lazy_schedule_is_the_whole_schedule_on_its_prompts(kind, params):
    prompts, answered = make_pool(11)
    judged, forfeits = oracle(kind, prompts, answered, MODELS, 11, params.get("baseline"))
    mine = {p.prompt_id for p in prompts[1::3]}
    sched = make_scheduler({"kind": kind, **params}, prompts, answered, MODELS, 11)
    sched.restrict_to(mine)
    assert sched.size().exact == sum(m.prompt_id in mine for m in judged)
    released, got = drive(sched, 11, 4)
    assert released == [m for m in judged if m.prompt_id in mine]
    assert got == [f for f in forfeits if f[0].prompt_id in mine]


class _FullRoundRobin(RoundRobin):
    """Round-robin over every pair built in full, as main did before the lazy schedule (the plan's
    reference: its figures come from `planned()`)."""

    def __init__(self, *args, **params) -> None:
        super().__init__(*args, **params)
        self._candidates = None

    def _build(self) -> list[Match]:
        judged, self._forfeits = oracle("round-robin", self.prompts, self.answered, self.models, self.seed)
        return judged


class _FullAnchored(Anchored):
    def __init__(self, *args, **params) -> None:
        super().__init__(*args, **params)
        self._candidates = None

    def _build(self) -> list[Match]:
        judged, self._forfeits = oracle("anchored", self.prompts, self.answered, self.models, self.seed, self.baseline)
        return judged


def _plans(spec_path, judge_path, make_full, **params):
    """The plan with the run's lazy scheduler and with the full build, over the same pool."""
    from arena.answers import as_answers
    from arena.judges import load_judge
    from arena.tournaments import select_models, select_prompts
    from arena.tournaments.plan import plan_tournament
    from arena.tournaments.spec import load_spec, load_spec_pool

    spec = load_spec(spec_path)
    prompts, outputs = load_spec_pool(spec)
    answers = as_answers(outputs)
    models, chosen = select_models(spec, answers.models), select_prompts(spec, prompts)
    answered = {pid: set(who) & set(models) for pid, who in answers.answered.items()}
    judge = load_judge(str(judge_path))
    lazy = make_scheduler(spec.scheduler, chosen, answered, models, spec.seed)
    full = make_full(chosen, answered, models, spec.seed, **params)
    return plan_tournament(spec, prompts, outputs, judge, scheduler=lazy), plan_tournament(spec, prompts, outputs, judge, scheduler=full), lazy


@pytest.mark.parametrize(("kind", "make_full", "params"), [("round-robin", _FullRoundRobin, {}), ("anchored", _FullAnchored, {})])
def test_plan_figures_equal_the_full_builds(loop_judge, kind, make_full, params):
    """Sampled token counts, the input-limit scan (gpt-4o-mini has a known limit), forfeits, cost."""
    huge = " ".join(f"w{i}" for i in range(140_000))  # over gpt-4o-mini's 128,000 input tokens

    def answer(model, i, q):
        if (model, i) in (("delta", 1), ("bravo", 4)):
            return ""  # a missing answer: forfeits
        return f"Answer of {model} to {i}. <!-- quality={q} -->" + (huge if (model, i) == ("charlie", 2) else "")

    judge = loop_judge.preset(model="openai/gpt-4o-mini")
    pool = loop_judge.pool({"alpha": 9, "bravo": 6, "charlie": 4, "delta": 2}, 70, answer=answer)
    spec = loop_judge.spec(judge, pool, name="lazy", scheduler=kind, seed=4)
    lazy_plan, full_plan, sched = _plans(spec, judge, make_full, **params)
    assert lazy_plan.to_dict() == full_plan.to_dict()
    assert lazy_plan.sampled_matches == 40 and lazy_plan.forfeits > 0 and lazy_plan.over_input_limit > 0
    assert sched._plan is None  # the run's scheduler was sized, sampled and scanned without building it


class _TurnJudge:
    def turn_choice(self) -> str:
        return "each"


def test_turn_share_of_a_lazy_schedule_equals_the_full_builds():
    from arena.records import Message
    from arena.tournaments.plan import _turn_share

    prompts, answered = make_pool(2, 30)
    turns = [Prompt(p.prompt_id, "", messages=tuple(Message("user", f"turn {t}") for t in range(1 + i % 3)))
             for i, p in enumerate(prompts)]
    for kind, full in (("round-robin", _FullRoundRobin), ("anchored", _FullAnchored)):
        lazy = make_scheduler({"kind": kind}, turns, answered, MODELS, 2)
        share = _turn_share(_TurnJudge(), lazy, turns)
        assert share == _turn_share(_TurnJudge(), full(turns, answered, MODELS, 2), turns)
        assert 1 / 3 < share < 1 and lazy._plan is None


def test_a_run_released_in_chunks_gets_the_verdicts_of_a_run_released_at_once(loop_judge, loopback, monkeypatch):
    """Through the API with real HTTP to the loopback judge: a round-robin whose first chunk is 8
    matches and later ones 20 (concurrency 2) stores the same matches, verdicts and leaderboard as the
    same run released at once, and asks the judge the same calls."""
    import sqlite3

    import arena
    from arena.runner import Runner

    def answer(model, i, q):
        return "" if (model, i) == ("delta", 3) else f"Answer of {model} to {i}. <!-- quality={q} -->"

    judge = loop_judge.preset(concurrency=2)
    pool = loop_judge.pool({"alpha": 9, "bravo": 6, "charlie": 4, "delta": 2}, 12, answer=answer)
    spec = loop_judge.spec(judge, pool, name="chunks", seed=5, bootstrap=0, concurrency=2)
    got = {}
    monkeypatch.setattr(Runner, "RELEASE_CHUNK", 20)
    for label in ("chunked", "at once"):
        if label == "at once":  # as before chunks: the whole schedule released by start()
            monkeypatch.setattr(Runner, "_ask_chunks", lambda self: False)
        releases = []
        before = loopback.requests
        result = arena.run_tournament(spec, db=loop_judge.folder / f"{label}.db", write_reports=False, yes=True,
                                      on_event=lambda e: releases.append(e) if e.kind == "released" else None)
        con = sqlite3.connect(loop_judge.folder / f"{label}.db")
        rows = sorted(con.execute("SELECT m.match_id, m.status, v.outcome FROM matches m JOIN verdicts v USING (run_id, match_id)"))
        got[label] = (rows, [(r["model"], r["rating"]) for r in result.leaderboard], loopback.requests - before, len(releases))
        assert result.status == "done"
    assert got["chunked"][:2] == got["at once"][:2] and len(got["chunked"][0]) == 12 * 6
    assert got["chunked"][2] == got["at once"][2] > 0  # the same number of judge calls
    assert got["chunked"][3] == 5 and got["at once"][3] == 1  # 69 judged matches: 8 + 20 + 20 + 20 + 1
