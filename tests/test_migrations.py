"""Schema 3 opens databases made by the releases before it (schema 1, tests/fixtures/store/v1.db;
schema 2, v2.db; made by make_v1.py / make_v2.py there) through the numbered steps of
arena/migrations.py, resumes their runs without paying a call twice, and a database newer than the
code is refused with one line."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from arena.errors import NotFound
from arena.records import SCHEMA_VERSION, MatchStatus, RunStatus, Usage
from arena.store import Store

V1 = Path(__file__).parent / "fixtures" / "store" / "v1.db"
V2 = Path(__file__).parent / "fixtures" / "store" / "v2.db"
V3_TABLES = {"leases", "calls_in_flight", "replays", "prompt_annotations", "prompt_clusters"}


@pytest.fixture
def v1(tmp_path) -> Path:
    path = tmp_path / "v1.db"
    shutil.copy(V1, path)
    return path


@pytest.fixture
def v2(tmp_path) -> Path:
    path = tmp_path / "v2.db"
    shutil.copy(V2, path)
    return path


def _raw(path: Path, sql: str):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_v1_database_is_migrated_to_v2_with_its_usage_in_columns(v1):
    assert _raw(v1, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    before = _raw(v1, "SELECT COUNT(*), SUM(calls), SUM(input_tokens) FROM games")[0]
    store = Store(v1)
    assert store.schema_version == SCHEMA_VERSION
    cols = {r[1] for r in store.db.execute("PRAGMA table_info(games)").fetchall()}
    assert {"cached_calls", "cached_cost_usd"} <= cols
    (run,) = store.list_runs()
    assert run["status"] == RunStatus.STOPPED
    usage = store.usage(run["run_id"])
    assert (store.game_count(run["run_id"]), usage.calls, usage.input_tokens) == before
    assert usage.cached_calls == 0 and usage.calls == 10  # make_v1.py stopped at max_calls = 10
    rows = store.match_rows(run["run_id"])
    assert len(rows) == 12 and sum(r.status == MatchStatus.DONE for r in rows) == 5
    assert store.run_record(run["run_id"]).summary.stop_reason == "max_calls=10 reached"
    store.close()
    Store(v1).close()  # opening it again is a no-op
    assert _raw(v1, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_a_cached_game_of_v1_is_migrated_as_cached(tmp_path, v1):
    con = sqlite3.connect(v1)
    con.execute("UPDATE games SET cached = 1 WHERE rowid = (SELECT MIN(rowid) FROM games)")
    con.execute(
        "UPDATE games SET detail = '{\"cached_calls\": 1, \"cached_cost_usd\": 0.5}', cost_usd = 2.0 WHERE rowid = (SELECT MAX(rowid) FROM games)"
    )
    con.commit()
    con.close()
    store = Store(v1)
    (run,) = store.list_runs()
    u = store.usage(run["run_id"])
    assert (u.calls, u.cached_calls) == (8, 2)
    store.close()


def test_a_migrated_v1_run_resumes_without_repeating_a_paid_call(v1, tmp_path, loopback):
    _resume_without_repeating(v1, tmp_path, loopback)


def _resume_without_repeating(db: Path, tmp_path: Path, loopback) -> None:
    from arena.judges import load_judge
    from arena.runner import Runner, prepare_run
    from arena.tournaments import answered_from_outputs, make_scheduler, spec_from_dict

    store = Store(db)
    (row,) = store.list_runs()
    stored = row["spec"]
    spec = spec_from_dict({**stored["spec"], "max_calls": 1000})  # the budget is not part of a run's identity
    preset = dict(stored["judge"])
    paid = {(g.match_id, g.order) for g in store.games(row["run_id"])}
    assert len(paid) == 10

    # the same judge, served now by a live loopback server (its address is not in the identity we pass)
    judge_file = tmp_path / "judge.toml"
    judge_file.write_text("".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in {**preset, "api_base": loopback.api_base}.items()))
    judge = load_judge(judge_file, store=store)
    prepared = prepare_run(store, spec, preset, judge_fingerprint=judge.fingerprint(), create=False)
    assert prepared.resumed and prepared.run_id == row["run_id"]
    sched = make_scheduler(spec.scheduler, prepared.prompts, answered_from_outputs(prepared.outputs), prepared.models, spec.seed)
    stats = asyncio.run(Runner(store, prepared, judge, sched).run())
    assert prepared.status == RunStatus.DONE
    assert stats.matches_resumed == 5 and stats.matches_done == 12
    assert loopback.requests == 2 * (12 - 5)  # only the undecided matches were judged: nothing paid twice
    requested = {(g.match_id, g.order) for g in store.games(row["run_id"])} - paid
    assert len(requested) == 14
    usage = store.usage(row["run_id"])
    assert isinstance(usage, Usage) and usage.calls == 24 and usage.cached_calls == 0
    store.close()


def test_a_database_newer_than_the_code_is_refused_with_one_line(v1):
    con = sqlite3.connect(v1)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    before = _raw(v1, "SELECT name FROM sqlite_master ORDER BY name")
    with pytest.raises(NotFound) as e:
        Store(v1)
    assert "\n" not in str(e.value) and f"schema version 99 is newer than this arena's ({SCHEMA_VERSION}); upgrade arena" in str(e.value)
    assert _raw(v1, "SELECT name FROM sqlite_master ORDER BY name") == before  # nothing changed


def test_the_cli_says_so_for_a_newer_database(v1, cli):
    con = sqlite3.connect(v1)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.commit()
    con.close()
    r = cli("tournament", "list", "--db", v1)
    assert r.code == 2 and r.err.startswith("Error: ") and r.err.count("\n") == 1 and "newer than this arena" in r.err


def test_a_v2_database_gets_the_tables_v2_made_on_open_by_the_v3_step(v2):
    assert _raw(v2, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    before = {r[0] for r in _raw(v2, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not (V3_TABLES & before)  # the first v2 release had none of them
    counts = _raw(v2, "SELECT (SELECT COUNT(*) FROM games), (SELECT COUNT(*) FROM verdicts), (SELECT COUNT(*) FROM call_cache)")
    store = Store(v2)
    assert store.schema_version == SCHEMA_VERSION
    after = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    assert V3_TABLES <= after and before <= after
    assert store.db.execute("SELECT (SELECT COUNT(*) FROM games), (SELECT COUNT(*) FROM verdicts), (SELECT COUNT(*) FROM call_cache)").fetchall() == counts
    (run,) = store.list_runs()
    # the tables work: a lease is taken, a replay kept, a call registered in flight
    assert store.acquire_lease(run["run_id"], "me@here") is None
    assert store.claim_call("k", "me@here", 5.0) and store.call_in_flight("k")
    store.close()
    Store(v2).close()  # opening it again is a no-op
    assert _raw(v2, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_the_v3_step_moves_cached_usage_out_of_a_game_detail(v2):
    con = sqlite3.connect(v2)
    con.execute(
        "UPDATE games SET detail = '{\"cached_calls\": 1, \"cached_cost_usd\": 0.5, \"roles\": [1]}', cached_calls = 1,"
        " cached_cost_usd = 0.5, cost_usd = 2.0 WHERE rowid = (SELECT MAX(rowid) FROM games)"
    )
    con.execute(
        "UPDATE games SET detail = '{\"cached_calls\": 2}', cached_calls = 2 WHERE rowid = (SELECT MIN(rowid) FROM games)"
    )
    con.commit()
    con.close()
    store = Store(v2)
    (run,) = store.list_runs()
    u = store.usage(run["run_id"])
    assert (u.calls, u.cached_calls) == (7, 3)  # ten calls stored, three of them served by the cache
    details = [g.detail for g in store.games(run["run_id"])]
    assert not any("cached_calls" in d or "cached_cost_usd" in d for d in details)
    assert {"roles": [1]} in details  # the judge kind's own explanation stays
    assert _raw(v2, "SELECT COUNT(*) FROM games WHERE detail = '{}'") == [(0,)]  # emptied details become NULL
    store.close()


def test_a_migrated_v2_run_resumes_without_repeating_a_paid_call(v2, tmp_path, loopback):
    _resume_without_repeating(v2, tmp_path, loopback)
