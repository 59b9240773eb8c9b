"""Every Store read returns typed records (arena.records, arena.callcache), never dict rows (issue 13)."""

from __future__ import annotations

import os

from arena.callcache import CachedCall
from arena.records import (
    AnnotationRow,
    Game,
    Lease,
    Match,
    MatchRow,
    MatchStatus,
    Output,
    PoolInfo,
    Prompt,
    ReplayRow,
    RunRecord,
    RunStatus,
    Usage,
    Verdict,
)


def _game(match_id: str, order: str, label: str, cost: float | None) -> Game:
    return Game(match_id, "j", order, label, "raw", "ok", 10, 2, cost, 0.1, False, 1, 1, None, {})


def test_runs_matches_pools_replays_cache_and_leases_are_typed(store):
    store.write_pool("p", [Prompt("q1", "hi"), Prompt("q2", "yo")], [Output("q1", "a", "x"), Output("q1", "b", "y")], source="s.jsonl", format="jsonl")
    (pool,) = store.list_pools()
    assert pool == PoolInfo("p", "jsonl", "s.jsonl", pool.created, 2, 2, 2)

    store.create_run("r-1", "r", {"spec": {"pool": "p"}, "pool": "p"}, "h", 7)
    store.set_run_status("r-1", "done", {"matches_done": 1, "stop_reason": "all matches decided", "pairs": 3})
    (run,) = store.list_runs()
    assert isinstance(run, RunRecord) and run == store.get_run("r-1") == store.resolve_run("r")[0]
    assert (run.status, run.seed, run.spec["pool"]) == (RunStatus.DONE, 7, "p")
    assert run.summary.matches_done == 1 and run.summary.stop_reason == "all matches decided" and run.summary.extra == {"pairs": 3}
    assert store.find_resumable_run("r", "h") == run and store.find_resumable_run("r", "other") is None

    store.add_matches("r-1", [Match("m1", "q1", "a", "b", 2)])
    store.record_verdict("r-1", Verdict("m1", "a", 1, True, "A>B"), [_game("m1", "AB", "A>B", 0.5)])
    assert store.matches("r-1") == [MatchRow("r-1", "m1", "q1", "a", "b", 2, MatchStatus.DONE)]

    store.record_replay("r-1", "temperature=0.7", Verdict("m1", "b", 2, None, "B>>A"), [_game("m1", "AB", "B>>A", 0.25)])
    (rep,) = store.replays("r-1")
    assert isinstance(rep, ReplayRow) and (rep.setting, rep.prompt_id, rep.model_a, rep.model_b) == ("temperature=0.7", "q1", "a", "b")
    assert rep.verdict == Verdict("m1", "b", 2, None, "B>>A") and rep.games[0]["label"] == "B>>A"
    assert rep.usage == Usage(1, 0, 10, 2, 0.25) == store.replay_usage("r-1", "temperature=0.7")
    assert store.replays("r-1", "as run") == [] and store.replay_usage("r-1", "as run") == Usage()

    assert store.cache_get("k") is None
    store.cache_put("k", "gpt", "reply", 3, 4, None)
    assert store.cache_get("k") == CachedCall("k", "gpt", "reply", 3, 4, None)

    assert store.acquire_lease("r-1", "me") is None
    holder = store.acquire_lease("r-1", "you")
    assert isinstance(holder, Lease) and (holder.run_id, holder.owner, holder.pid) == ("r-1", "me", os.getpid())


def test_annotations_are_typed_with_criteria_decoded(store):
    from arena.curate import AnnotationRecord

    store.write_pool("p", [Prompt("q1", "hi")], [])
    rec = AnnotationRecord("q1", "ok", {"specificity": (True, "names a task"), "creativity": (False, "none")}, "raw", 5, 6, 0.01)
    store.write_annotation("p", "key", "judge-x", rec)
    (row,) = store.annotations("p")
    assert isinstance(row, AnnotationRow) and (row.prompt_id, row.annotator, row.status, row.score) == ("q1", "judge-x", "ok", 1)
    assert row.criteria["specificity"] == {"met": True, "reason": "names a task"} and row.cost_usd == 0.01
    assert store.annotations("p", "other") == []
