"""A sick store, a full disk, one writer per run, calls paid once, Ctrl-C (issue 21)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from arena.store import LEASE_STALE_S, DiskFull, Store, StoreError

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _valid_db(path: Path) -> Path:
    s = Store(path)
    s.set_meta("x", "1")
    s.close()
    return path


def _sick(kind: str, tmp: Path) -> Path:
    p = tmp / "sick.db"
    if kind == "truncated":
        full = _valid_db(tmp / "full.db").read_bytes()
        p.write_bytes(full[:1500])
    elif kind == "random":
        p.write_bytes(os.urandom(8192))
    elif kind == "text":
        p.write_text("prompt_id,text\np1,hello\n")
    elif kind == "directory":
        p.mkdir()
    elif kind == "newer":
        _valid_db(p)
        con = sqlite3.connect(p)
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        con.commit()
        con.close()
    elif kind == "other_sqlite":
        con = sqlite3.connect(p)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
    return p


COMMANDS = [
    ("pool", "list"),
    ("pool", "show", "demo"),
    ("pool", "export", "demo"),
    ("tournament", "list"),
    ("tournament", "show", "x"),
    ("report", "x"),
    ("pool", "import", str(DEMO), "--name", "demo"),
    ("tournament", "run", "demo", "--yes", "--plain"),
    ("judge", "eval", "--judge", "surrogate", "--pairs", str(ROOT / "tests" / "fixtures" / "nope.jsonl")),
]


@pytest.mark.parametrize("kind", ["truncated", "random", "text", "directory", "newer", "other_sqlite"])
def test_a_sick_store_is_one_line_naming_the_file_for_every_command(cli, tmp_path, kind, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = _sick(kind, tmp_path)
    before = _digest(db)
    for cmd in COMMANDS:
        if kind == "other_sqlite" and cmd[:2] in (("pool", "import"), ("tournament", "run")):
            continue  # a writable SQLite file without arena tables: writing commands make it an arena store
        r = cli(*cmd, "--db", db)
        lines = r.err.strip().splitlines()
        assert r.code == 2, (kind, cmd, r.err)
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in r.err, (kind, cmd, r.err)
        if cmd[:2] != ("judge", "eval"):  # eval fails on its missing pairs file first
            assert str(db) in lines[0], (kind, cmd, lines[0])
        assert _digest(db) == before, (kind, cmd)
    assert not (tmp_path / "reports").exists()


def test_newer_schema_message(tmp_path):
    db = _sick("newer", tmp_path)
    with pytest.raises(StoreError, match="schema version 99 is newer than this arena"):
        Store(db)


def test_read_only_commands_never_create_the_database_or_its_folders(cli, tmp_path):
    db = tmp_path / "a" / "b" / "arena.db"
    assert cli("pool", "list", "--db", db).code == 0
    assert cli("tournament", "list", "--db", db).code == 0
    for cmd in (("pool", "show", "x"), ("pool", "export", "x"), ("tournament", "show", "x"), ("report", "x"), ("tournament", "plan", "demo")):
        r = cli(*cmd, "--db", db)
        assert r.code in (0, 2), (cmd, r.err)
    assert not (tmp_path / "a").exists()


def test_a_command_refused_on_a_new_database_leaves_no_file_behind(cli, tmp_path):
    """left18 (4): a failed `tournament run` (unknown pool, unknown judge) or `pool import` /
    `verdicts import` (missing file) with a new --db left a schema-only database behind."""
    db = tmp_path / "new" / "deeper" / "arena.db"
    unknown_pool = tmp_path / "t.toml"
    unknown_pool.write_text('name = "t"\npool = "nosuchpool"\njudge = "surrogate"\n[scheduler]\nkind = "round-robin"\n')
    unknown_judge = tmp_path / "j.toml"
    unknown_judge.write_text(f'name = "t"\npool = "{ROOT / "data" / "demo"}"\njudge = "no-such-judge"\n[scheduler]\nkind = "round-robin"\n')
    for cmd in (("tournament", "run", unknown_pool, "--yes", "--plain"), ("tournament", "run", unknown_judge, "--yes", "--plain"),
                ("pool", "import", tmp_path / "missing.json", "--format", "native", "--name", "p"),
                ("verdicts", "import", tmp_path / "missing.jsonl", "--format", "jsonl")):
        r = cli(*cmd, "--db", db)
        assert r.code == 2 and r.err.startswith("Error: ") and len(r.err.strip().splitlines()) == 1, (cmd, r.err)
        assert not (tmp_path / "new").exists(), cmd
    # an existing database is never removed, even an empty one
    Store(db).close()
    assert cli("tournament", "run", unknown_pool, "--yes", "--plain", "--db", db).code == 2 and db.exists()


def test_a_failed_command_keeps_a_new_database_that_holds_paid_work(tmp_path):
    from arena.api import _writing

    db = tmp_path / "n" / "w.db"
    with pytest.raises(RuntimeError), _writing(db) as store:
        store.cache_put("k" * 64, "openai/gpt-4o-mini", "an answer paid for", 10, 5, 0.001)
        raise RuntimeError("a failure after a paid call")
    assert db.exists() and Store(db).cache_get("k" * 64).response == "an answer paid for"
    with pytest.raises(KeyError), _writing(tmp_path / "m" / "x.db"):
        raise KeyError("nothing written")
    assert not (tmp_path / "m").exists()


def test_a_read_only_store_is_read_but_not_written(cli, tmp_path, monkeypatch):
    db = tmp_path / "arena.db"
    assert cli("pool", "import", DEMO, "--name", "demo", "--db", db).code == 0
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = _digest(db)
    real = os.access

    def no_write(path, mode, *a, **k):  # a read-only mount (tests run as root, so chmod would not do)
        if mode & os.W_OK and str(path).startswith(str(tmp_path)):
            return False
        return real(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", no_write)
    r = cli("pool", "show", "demo", "--db", db, "--limit", "0")
    assert r.code == 0 and "Pool demo" in r.out, r.err
    r = cli("pool", "import", DEMO, "--name", "demo2", "--db", db)
    assert r.code == 2 and "read-only" in r.err and str(db) in r.err
    assert _digest(db) == before


# -- a full disk -----------------------------------------------------------------------------------


def _limit_pages(monkeypatch, pages: int):
    """A full disk: SQLite's max_page_count caps the file, the same SQLITE_FULL a full disk gives."""
    real = Store._ensure_schema

    def limited(self):
        real(self)
        self.db.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(Store, "_ensure_schema", limited)


def test_disk_full_during_import_is_one_line_and_writes_nothing(cli, db_path, monkeypatch):
    assert cli("pool", "list").code == 0
    s = Store(db_path)
    pages = s.db.execute("PRAGMA page_count").fetchone()[0]
    s.close()
    _limit_pages(monkeypatch, pages + 3)
    r = cli("pool", "import", DEMO, "--name", "demo")
    assert r.code == 2, r.err
    assert r.err.strip() == f"Error: the disk holding {db_path} is full: nothing of the last step was written; free space and run the command again"
    monkeypatch.undo()
    s = Store(db_path)
    assert s.list_pools() == [] and s.db.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 0


def test_disk_full_during_a_run_marks_it_interrupted_and_it_resumes(tmp_path):
    from test_runner import ScriptedJudge, _setup

    from arena.runner import Runner

    db = tmp_path / "arena.db"
    store = Store(db)
    spec, prepared, sched = _setup(store, "round-robin")

    class FillsTheDisk(ScriptedJudge):
        async def judge(self, ctx):
            if self.calls == 200:  # the disk fills up after 100 matches
                pages = store.db.execute("PRAGMA page_count").fetchone()[0]
                store.db.execute(f"PRAGMA max_page_count = {pages}")
            return await super().judge(ctx)

    with pytest.raises(DiskFull, match=f"the disk holding {db} is full"):
        asyncio.run(Runner(store, prepared, FillsTheDisk(), sched).run())
    assert store.get_run(prepared.run_id).status == "interrupted"
    partial = len([v for v in store.verdicts(prepared.run_id) if not v.outcome.startswith("forfeit")])
    assert 0 < partial < len(store.matches(prepared.run_id))
    # every stored verdict has its games: nothing half-written
    assert store.db.execute(
        "SELECT COUNT(*) FROM verdicts v WHERE NOT EXISTS (SELECT 1 FROM games g WHERE g.run_id = v.run_id AND g.match_id = v.match_id)"
        " AND v.outcome NOT LIKE 'forfeit%'",
    ).fetchone()[0] == 0
    store.db.execute("PRAGMA max_page_count = 1073741823")
    spec2, prepared2, sched2 = _setup(store, "round-robin")
    assert prepared2.run_id == prepared.run_id and prepared2.resumed
    stats = asyncio.run(Runner(store, prepared2, ScriptedJudge(), sched2).run())
    assert store.get_run(prepared.run_id).status == "done" and stats.matches_resumed == partial


# -- one writer per run ----------------------------------------------------------------------------------


def test_a_lease_is_held_refused_while_fresh_and_taken_over_when_stale(tmp_path):
    s = Store(tmp_path / "a.db")
    assert s.acquire_lease("r1", "me") is None
    holder = s.acquire_lease("r1", "other")
    assert holder is not None and holder.owner == "me" and holder.pid == os.getpid()
    assert s.acquire_lease("r1", "me") is None  # re-entrant for its owner
    assert s.acquire_lease("r1", "other", now=time.time() + LEASE_STALE_S + 1) is None  # stale: taken over
    assert not s.heartbeat("r1", "me") and s.heartbeat("r1", "other")
    # a dead process's lease on this host is stale at once
    s.db.execute("UPDATE leases SET pid = 2147483646")
    assert s.acquire_lease("r1", "third") is None


def _spec(tmp: Path) -> Path:
    spec = tmp / "t.toml"
    spec.write_text(f'name = "lease"\npool = "{DEMO}"\njudge = "surrogate"\nbootstrap = 10\nprompts = 5\n[scheduler]\nkind = "round-robin"\n')
    return spec


def test_a_second_run_of_the_same_run_exits_2_naming_the_first_or_waits(cli, db_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path)
    assert cli("tournament", "run", spec, "--yes", "--plain").code == 0
    s = Store(db_path)
    run_id = s.list_runs()[0].run_id
    assert s.db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0  # released at the end
    assert s.acquire_lease(run_id, "another-process") is None  # a live holder (this pid)
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code == 2
    assert r.err.strip().startswith(f"Error: run {run_id} is in progress in process {os.getpid()} on ")
    assert "--wait" in r.err and len(r.err.strip().splitlines()) == 1

    def release_soon():
        time.sleep(1.0)
        Store(db_path).release_lease(run_id, "another-process")

    t = threading.Thread(target=release_soon)
    t.start()
    t0 = time.monotonic()
    r = cli("tournament", "run", spec, "--yes", "--plain", "--wait")
    t.join()
    assert r.code == 0, r.err
    assert "Waiting: run" in r.out and time.monotonic() - t0 >= 1.0


def test_two_processes_needing_the_same_call_pay_once(tmp_path, loopback):
    from arena.backends import CompletionRequest, Policy, make_backend

    loopback.delay_s = 0.5
    db = tmp_path / "a.db"
    stores = [Store(db), Store(db)]
    backends = [make_backend("openai/loopback", store=s, policy=Policy(max_retries=0), seed=1) for s in stores]
    backends[1].owner = "another-process"  # as if a second process held the other handle
    req = CompletionRequest("openai/loopback", [{"role": "user", "content": "same call"}], {"max_tokens": 8}, api_base=loopback.api_base, api_key_env="ARENA_TEST_KEY", timeout=5)

    async def both():
        return await asyncio.gather(backends[0].complete(req), backends[1].complete(req))

    a, b = asyncio.run(both())
    assert a.ok and b.ok and a.text == b.text
    assert loopback.requests == 1 and sorted([a.cached, b.cached]) == [False, True]
    assert stores[0].db.execute("SELECT COUNT(*) FROM calls_in_flight").fetchone()[0] == 0


def test_an_abandoned_in_flight_claim_does_not_block_forever(tmp_path, loopback):
    from arena.backends import CompletionRequest, Policy, make_backend

    s = Store(tmp_path / "a.db")
    req = CompletionRequest("openai/loopback", [{"role": "user", "content": "x"}], {"max_tokens": 8}, api_base=loopback.api_base, api_key_env="ARENA_TEST_KEY", timeout=5)
    s.db.execute("INSERT INTO calls_in_flight (key, owner, started, deadline) VALUES (?, 'ghost', ?, ?)", [req.key(), time.time() - 100, time.time() - 1])
    c = asyncio.run(make_backend("openai/loopback", store=s, policy=Policy(max_retries=0)).complete(req))
    assert c.ok and loopback.requests == 1


# -- Retry-After and Ctrl-C ---------------------------------------------------------------------------


def test_retry_after_is_capped_and_ctrl_c_ends_the_pause_at_once(loopback):
    from loopback import Reply

    from arena.backends import CompletionRequest, Policy, make_backend
    from arena.backends._base import RETRY_AFTER_MAX_S, interrupt_pauses, pause_left

    b = make_backend("openai/loopback", policy=Policy(max_retries=3))
    assert b.backoff(1, 3600) <= RETRY_AFTER_MAX_S
    loopback.hook = lambda req: Reply(status=429, headers={"Retry-After": "3600"})
    req = CompletionRequest("openai/loopback", [{"role": "user", "content": "x"}], {"max_tokens": 8}, api_base=loopback.api_base, api_key_env="ARENA_TEST_KEY", timeout=5)

    async def go():
        task = asyncio.ensure_future(b.complete(req))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if pause_left() > 0:
                break
        left = pause_left()
        t0 = time.monotonic()
        interrupt_pauses()
        with pytest.raises(asyncio.CancelledError):
            await task
        return left, time.monotonic() - t0

    left, took = asyncio.run(go())
    assert 60 < left <= RETRY_AFTER_MAX_S and took < 1.0


@pytest.mark.parametrize("value", ["nan", "inf", "-5"])
def test_a_nonsense_retry_after_is_ignored_on_the_fast_path(loopback, value):
    """The aiohttp fast path (openai/ + api_base) shares the base policy: a NaN, infinite or
    negative Retry-After is no pause at all, and the call is retried after the usual backoff."""
    from loopback import Reply

    from arena.backends import CompletionRequest, Policy, make_backend
    from arena.backends._base import CallError, pause_left

    assert CallError("x", retry_after=float(value)).retry_after is None
    seen = []
    loopback.hook = lambda req: (seen.append(1), Reply(status=429, headers={"Retry-After": value}) if len(seen) == 1 else None)[1]
    b = make_backend("openai/loopback", policy=Policy(max_retries=2, backoff_base=0.01))
    req = CompletionRequest("openai/loopback", [{"role": "user", "content": "x"}], {"max_tokens": 8}, api_base=loopback.api_base, api_key_env="ARENA_TEST_KEY", timeout=5)
    t0 = time.monotonic()
    c = asyncio.run(b.complete(req))
    assert c.ok and c.attempts == 2 and b.fast_calls == 2
    assert pause_left() == 0 and time.monotonic() - t0 < 5


def test_the_plain_display_shows_a_pause():
    import io

    from arena.dashboard import PlainDisplay
    from arena.runner import RunEvent, RunStats

    buf = io.StringIO()
    d = PlainDisplay(stream=buf, every=0)
    d(RunEvent("tick", RunStats(paused_s=95, paused_cap_s=120, paused_asked_s=95)))
    assert "paused 95 s more: the provider asked to wait (Retry-After capped at 120 s)" in buf.getvalue()
    d(RunEvent("tick", RunStats(paused_s=3, paused_cap_s=120)))  # a backoff without any Retry-After
    assert "paused 3 s more: backing off before retrying failed calls" in buf.getvalue()
    assert buf.getvalue().count("the provider asked to wait") == 1


def test_only_a_retry_after_counts_as_a_pause_the_provider_asked_for(loopback):
    """A backoff after 500s (no Retry-After) is a pause, not one the provider asked for; a 429's
    Retry-After is."""
    import asyncio

    from arena.backends import CompletionRequest, Policy, make_backend
    from arena.backends._base import asked_pause_left, pause_left

    seen: list[tuple[float, float]] = []

    async def go(kind: str) -> None:
        loopback.set_faults(**{kind: 1.0})
        b = make_backend("openai/loopback", policy=Policy(max_retries=1, backoff_base=0.8))  # a backoff of 0.4 - 0.8 s
        req = CompletionRequest("openai/loopback", [{"role": "user", "content": "x"}], {"max_tokens": 8}, api_base=loopback.api_base, api_key_env="ARENA_TEST_KEY", timeout=5)
        task = asyncio.create_task(b.complete(req))
        await asyncio.sleep(0.2)
        seen.append((pause_left(), asked_pause_left()))
        await task

    asyncio.run(go("500"))
    assert seen[-1][0] > 0 and seen[-1][1] == 0
    loopback.retry_after_s = 0.6
    asyncio.run(go("429"))
    assert seen[-1][0] > 0 and seen[-1][1] > 0


def test_ctrl_c_while_writing_reports_says_how_to_write_them_again(cli, db_path, tmp_path, monkeypatch):
    import arena.reports

    monkeypatch.chdir(tmp_path)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(arena.reports, "write_reports", interrupted)
    r = cli("tournament", "run", _spec(tmp_path), "--yes", "--plain")
    assert r.code == 130
    run = Store(db_path).list_runs()[0]
    assert run.status == "done"
    assert r.err.strip().splitlines()[-1] == (
        f"Error: interrupted while writing the reports: run {run.run_id} is done and stored."
        f" Write the reports again with `arena report {run.run_id}`."
    )
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert cli("report", run.run_id).code == 0
    assert json.loads((tmp_path / "reports" / run.run_id / "run.json").read_text())["run"]["status"] == "done"


def test_a_big_judge_reply_is_stored_once(tmp_path, loopback):
    from test_llm_judge import ctx, make_judge

    big = "reasoning " * 200_000 + "\nMy final verdict is [[A>B]]"  # 2 MB
    loopback.hook = lambda req: big
    db = tmp_path / "a.db"
    store = Store(db)
    r = asyncio.run(make_judge(loopback, store).judge(ctx(1, 9, 1)))
    store.record_verdict("run", r.verdict, r.games)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert all(g.raw == big for g in r.games)
    stored = store.games("run")
    assert len(stored) == 2 and all(g.raw == big for g in stored)  # read back whole
    assert store.db.execute("SELECT COUNT(*) FROM games WHERE raw IS NULL").fetchone()[0] == 2
    assert db.stat().st_size < 2 * len(big) * 1.2  # two calls cached once each, no copy in the games
    # a --no-cache call that replaces the cache row leaves the old games their own reply
    other = "other " * 2000 + "[[B>A]]"
    loopback.hook = lambda req: other
    asyncio.run(make_judge(loopback, store, no_cache=True).judge(ctx(1, 9, 1)))
    assert all(g.raw == big for g in store.games("run"))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["judging", "retry_after_pause"])
def test_ctrl_c_stops_a_real_run_promptly_says_how_to_resume_and_it_resumes(tmp_path, loopback, where):
    import signal
    import sqlite3 as sq

    from loopback import Reply
    from test_run_e2e import _arena, _pool, _spec

    _pool(tmp_path / "pool")
    spec = _spec(tmp_path, loopback.api_base, max_retries=3)
    env = {"ARENA_TEST_KEY": "sk-loopback-test"}
    if where == "judging":
        loopback.delay_s = 0.05
    else:  # every call answered 429 with Retry-After: 3600 (capped, and Ctrl-C must not wait it out)
        loopback.hook = lambda req: Reply(status=429, headers={"Retry-After": "3600"})
    db = tmp_path / "run.db"
    proc = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "rep", env=env)
    deadline = time.time() + 60
    while loopback.requests < (20 if where == "judging" else 4) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.5 if where == "judging" else 2.0)  # a pause shows at the next tick (1 s)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 130, out
    assert took < 30, took  # not the 120 s pause (the rest is the interpreter's exit, ~8 s on a loaded machine)
    assert f"Run `arena tournament run {spec}` again to resume." in " ".join(out.split()), out
    con = sq.connect(db)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert con.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    con.close()
    if where == "retry_after_pause":
        assert "paused" in out  # the pause was shown while it ran
        loopback.hook = None
    again = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "rep", env=env)
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0, out
    assert "Resuming run" in out
