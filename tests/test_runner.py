"""The runner over a real store with a scripted judge: decisions land, resume repeats nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arena.judges import Judge, JudgeResult, combine_games
from arena.records import Game, MatchContext
from arena.runner import Runner, prepare_run
from arena.tournaments import make_scheduler, spec_from_dict

DEMO = Path(__file__).parent.parent / "data" / "demo"
QUALITY = {
    "claude-3-opus-20240229": 8,
    "gpt4_0613": 7,
    "Mixtral-8x7B-Instruct-v0.1": 6,
    "gpt-3.5-turbo-0613": 5,
    "Yi-34B-Chat": 4,
    "llama-2-70b-chat-hf": 3,
    "zephyr-7b-beta": 2,
    "vicuna-7b-v1.5": 1,
}


class ScriptedJudge(Judge):
    """Prefers the model with the higher QUALITY, except on prompts whose id ends in 7 (a tie)."""

    kind = "scripted"

    def __init__(self) -> None:
        super().__init__("scripted")
        self.calls = 0

    def calls_per_match(self) -> int:
        return 2

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        await asyncio.sleep(0)
        self.calls += 2
        qa, qb = QUALITY[ctx.model_a], QUALITY[ctx.model_b]
        label = "A=B" if ctx.prompt_id.endswith("7") else ("A>B" if qa > qb else "B>A")
        games = [Game(ctx.match_id, self.name, o, label, raw=f"[[{label}]]") for o in ("AB", "BA")]
        return JudgeResult(games, combine_games(ctx.match_id, games))


def _setup(store, kind="single-elimination", **extra):
    spec = spec_from_dict({"name": "t", "pool": str(DEMO), "scheduler": {"kind": kind, **extra}, "judge": "scripted", "seed": 3, "concurrency": 4})
    prepared = prepare_run(store, spec, {"kind": "scripted"})
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    return spec, prepared, sched


def test_single_elimination_run_decides_n_minus_1_matches_per_prompt(store):
    spec, prepared, sched = _setup(store)
    judge = ScriptedJudge()
    stats = asyncio.run(Runner(store, prepared, judge, sched).run())
    verdicts = store.verdicts(prepared.run_id)
    assert len(verdicts) == 101 * 7  # N-1 per prompt, forfeits included
    forfeits = [v for v in verdicts if v.outcome.startswith("forfeit")]
    assert len(forfeits) == 1 and stats.forfeits == 1  # llama's one missing answer
    assert judge.calls == 2 * (101 * 7 - 1)
    assert store.get_run(prepared.run_id).status == "done"
    # three rounds for 8 models; one final per prompt
    last = max(v.round for v in verdicts)
    assert len({v.round for v in verdicts}) == 3
    assert len([v for v in verdicts if v.round == last]) == 101


def test_interrupted_run_resumes_without_repeating_a_match(store):
    spec, prepared, sched = _setup(store)
    judge = ScriptedJudge()
    runner = Runner(store, prepared, judge, sched)

    def stop_after_200(event):
        if event.kind == "decided" and event.stats.matches_done >= 200:
            runner.stop.set()

    runner.on_event = stop_after_200
    asyncio.run(runner.run())
    assert store.get_run(prepared.run_id).status == "interrupted"
    first_calls = judge.calls
    done_before = {v.match_id: v.outcome for v in store.verdicts(prepared.run_id)}
    assert 200 <= len(done_before) < 707

    spec2, prepared2, sched2 = _setup(store)
    assert prepared2.resumed and prepared2.run_id == prepared.run_id
    judge2 = ScriptedJudge()
    stats = asyncio.run(Runner(store, prepared2, judge2, sched2).run())
    after = {v.match_id: v.outcome for v in store.verdicts(prepared.run_id)}
    assert len(after) == 707
    assert all(after[k] == v for k, v in done_before.items())
    # nothing judged twice: the second run judged exactly the matches the first did not
    judged_first = first_calls // 2
    assert judge2.calls // 2 + judged_first == 707 - 1
    assert stats.matches_resumed > 0 and stats.calls_saved > 0

    # equals an uninterrupted run with the same seed
    from arena.store import Store

    fresh = Store(":memory:")
    _, p3, s3 = _setup(fresh)
    asyncio.run(Runner(fresh, p3, ScriptedJudge(), s3).run())
    assert {v.match_id: v.outcome for v in fresh.verdicts(p3.run_id)} == after


def test_budget_stops_and_a_raised_budget_continues(store):
    spec, prepared, sched = _setup(store, "round-robin")
    spec = spec.model_copy(update={"max_calls": 100})
    prepared.spec = spec
    asyncio.run(Runner(store, prepared, ScriptedJudge(), sched).run())
    assert store.get_run(prepared.run_id).status == "stopped"
    n = len(store.verdicts(prepared.run_id))
    assert 50 <= n < 200
    _, prepared2, sched2 = _setup(store, "round-robin")
    assert prepared2.run_id == prepared.run_id  # budget is not part of the run's identity
    asyncio.run(Runner(store, prepared2, ScriptedJudge(), sched2).run())
    assert store.get_run(prepared.run_id).status == "done"


@pytest.mark.parametrize("kind", ["round-robin", "anchored", "swiss", "adaptive"])
def test_every_scheduler_runs_to_the_end(store, kind):
    extra = {"baseline": "gpt4_0613"} if kind == "anchored" else {}
    spec, prepared, sched = _setup(store, kind, **extra)
    if kind in ("swiss", "adaptive"):
        prepared.spec = spec.model_copy(update={"max_calls": 300})
    asyncio.run(Runner(store, prepared, ScriptedJudge(), sched).run())
    assert store.get_run(prepared.run_id).status in ("done", "stopped")
    assert len(store.verdicts(prepared.run_id)) > 20


def test_a_run_above_the_confirm_threshold_needs_yes_and_leaves_no_run_behind(cli, db_path, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-the-run-stops-before-any-call")  # the key is checked first
    spec = tmp_path / "paid.toml"
    spec.write_text(f'name = "paid"\npool = "{DEMO}"\njudge = "gpt-4o-mini"\nconfirm_above_usd = 0.5\n')
    r = cli("tournament", "run", spec)
    assert r.code == 2
    assert r.err.strip().startswith("Error: the worst-case cost $") and r.err.strip().endswith("pass --yes to run without asking")
    assert "Plan: 706 matches, 1412 judge calls" in r.out
    r = cli("tournament", "list", "--format", "json")
    assert r.out.strip() == "[]"


class PartlyCachedJudge(ScriptedJudge):
    """Each game made 3 calls, 2 of them served from the call cache (a match resumed after a kill)."""

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        res = await super().judge(ctx)
        games = [
            Game(g.match_id, g.judge, g.order, g.label, raw=g.raw, calls=3, cost_usd=0.3, cached_calls=2, cached_cost_usd=0.2)
            for g in res.games
        ]
        return JudgeResult(games, res.verdict)


def test_calls_served_from_the_cache_inside_a_game_are_not_counted_as_paid(store):
    from arena.judges._base import cached_part
    from arena.reports._data import judge_stats

    spec, prepared, sched = _setup(store, "round-robin", pairs_per_prompt=1)
    stats = asyncio.run(Runner(store, prepared, PartlyCachedJudge(), sched).run())
    n_games = 2 * stats.matches_done
    assert n_games > 0
    assert (stats.calls, stats.cached_calls) == (n_games, 2 * n_games)
    assert stats.cost_usd == pytest.approx(0.1 * n_games)
    games = store.games(prepared.run_id)
    assert cached_part(games[0]) == (2, pytest.approx(0.2))  # read back from the store: usage in columns
    js = judge_stats(games, store.verdicts(prepared.run_id))  # the report counts the same
    assert (js["calls"], js["cached_calls"]) == (n_games, 2 * n_games)
    assert js["cost_usd"] == pytest.approx(0.1 * n_games)
    whole = Game("m", "j", "AB", "A>B", calls=3, cost_usd=0.3, cached=True)
    assert cached_part(whole) == (3, 0.3)


def _run_rr(monkeypatch, chunk: int | None, kind: str = "round-robin", max_calls: int | None = None, store=None):
    """A round-robin (or anchored) run of the demo pool released in chunks of `chunk` (None: all at
    start, as before chunks); returns (store, prepared, stats, judge calls, chunks released)."""
    from arena.store import Store

    if chunk is None:
        monkeypatch.setattr(Runner, "_ask_chunks", lambda self: False)
    else:
        monkeypatch.setattr(Runner, "_ask_chunks", _ORIGINAL_ASK)
        monkeypatch.setattr(Runner, "RELEASE_CHUNK", chunk)
    store = store or Store(":memory:")
    spec, prepared, sched = _setup(store, kind, **({"baseline": "gpt4_0613"} if kind == "anchored" else {}))
    if max_calls is not None:
        prepared.spec = spec.model_copy(update={"max_calls": max_calls})
    judge = ScriptedJudge()
    releases = []
    runner = Runner(store, prepared, judge, sched, on_event=lambda e: releases.append(e.kind) if e.kind == "released" else None)
    stats = asyncio.run(runner.run())
    return store, prepared, stats, judge.calls, len(releases)


_ORIGINAL_ASK = Runner._ask_chunks


def _outcome(store, run_id):
    return ({v.match_id: (v.outcome, v.round) for v in store.verdicts(run_id)},
            sorted((m.match_id, m.status) for m in store.matches(run_id)), store.match_counts(run_id))


@pytest.mark.parametrize("kind", ["round-robin", "anchored"])
def test_a_chunked_run_decides_what_an_unchunked_run_decides(monkeypatch, kind):
    s1, p1, st1, calls1, rel1 = _run_rr(monkeypatch, None, kind)
    s2, p2, st2, calls2, rel2 = _run_rr(monkeypatch, 20, kind)  # 4 x concurrency 4 = 16 < 20: chunks of 20
    assert rel1 == 1 and rel2 > 10  # the chunked run did release in chunks
    assert _outcome(s1, p1.run_id) == _outcome(s2, p2.run_id)
    assert st1.forfeits == st2.forfeits > 0 and calls1 == calls2
    assert st1.matches_done == st2.matches_done and s2.get_run(p2.run_id).status == "done"


def test_a_chunked_run_stopped_by_its_budget_stores_what_an_unchunked_one_does_and_resumes(monkeypatch):
    s1, p1, st1, _, _ = _run_rr(monkeypatch, None, max_calls=100)
    s2, p2, st2, _, _ = _run_rr(monkeypatch, 20, max_calls=100)
    assert s2.get_run(p2.run_id).status == s1.get_run(p1.run_id).status == "stopped"
    assert st1.stop_reason == st2.stop_reason == "max_calls=100 reached"
    assert _outcome(s1, p1.run_id) == _outcome(s2, p2.run_id)  # the same verdicts, the rest pending
    assert s2.match_counts(p2.run_id)["pending"] > 1000
    # resumed in chunks with the budget raised: the stored verdicts replay, the run ends as a straight one
    _, p3, st3, calls3, _ = _run_rr(monkeypatch, 20, store=s2)
    assert p3.run_id == p2.run_id and st3.matches_resumed == 50
    full, pf, _, _, _ = _run_rr(monkeypatch, None)
    assert _outcome(s2, p2.run_id) == _outcome(full, pf.run_id)


def test_a_judge_that_arranges_the_release_gets_the_whole_schedule_at_start(store, monkeypatch):
    """A cascade draws its pilot from everything released: the schedule is not chunked for it."""
    monkeypatch.setattr(Runner, "RELEASE_CHUNK", 20)

    class Arranging(ScriptedJudge):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[int] = []

        def arrange(self, matches, seed):
            self.seen.append(len(matches))
            return matches

    spec, prepared, sched = _setup(store, "round-robin")
    judge = Arranging()
    asyncio.run(Runner(store, prepared, judge, sched).run())
    whole = sched.size().exact
    assert judge.seen[0] == whole > 20 and sum(judge.seen) == whole
