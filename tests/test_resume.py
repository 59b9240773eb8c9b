"""Resuming a run killed outright (SIGKILL): the dead process's claims on its calls in flight are
dropped at once (no wait for their deadlines), no call whose answer reached the call cache is paid
again, and the run's totals over every invocation count every stored game."""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from test_run_e2e import MODELS, _arena, _kill_after_requests, _verdicts


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _claim(store, key: str, owner: str, deadline_in_s: float = 3600.0) -> None:
    now = time.time()
    store.db.execute("INSERT INTO calls_in_flight (key, owner, started, deadline) VALUES (?, ?, ?, ?)", [key, owner, now, now + deadline_in_s])


def test_a_claim_of_a_dead_process_on_this_host_is_taken_at_once(store):
    from arena.store import owner_gone

    host = socket.gethostname()
    dead = f"{_dead_pid()}@{host}:0badf00d"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = f"{live.pid}@{host}:c0ffee00"
        assert owner_gone(dead) and not owner_gone(alive)
        # an owner on another host, or of another shape, is never declared gone: its deadline decides
        assert not owner_gone(f"{_dead_pid()}@elsewhere.example:1") and not owner_gone("another-process")
        _claim(store, "k-dead", dead)
        _claim(store, "k-alive", alive)
        _claim(store, "k-remote", "1@elsewhere.example:1")
        _claim(store, "k-expired", "1@elsewhere.example:2", deadline_in_s=-1)
        assert store.claim_call("k-dead", "me", 10.0)  # not after the dead claim's deadline (an hour)
        assert not store.claim_call("k-alive", "me", 10.0) and not store.claim_call("k-remote", "me", 10.0)
        live.kill()
        live.wait()
        assert store.claim_call("k-alive", "me", 10.0)  # its owner died meanwhile
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    _claim(store, "k-dead-2", dead)
    # what a resumed run does first: drop every claim whose owner is gone or whose deadline passed
    assert store.release_abandoned_calls() == 2  # k-dead-2 and k-expired; "me" is alive, k-remote may be
    keys = {k for (k,) in store.db.execute("SELECT key FROM calls_in_flight")}
    assert keys == {"k-dead", "k-alive", "k-remote"}


def _spec(loop_judge) -> Path:
    """4 models on 12 prompts, round-robin: 72 matches, 144 judge calls. A long judge timeout: the
    killed run's claims would hold for timeout x (retries + 1) + INFLIGHT_GRACE_S = 120 x 3 + 30 s =
    390 s, far longer than this test allows the resumed run (150 s, for a loaded machine)."""
    judge = loop_judge.preset(timeout=120, max_retries=2)
    return loop_judge.spec(judge, loop_judge.pool(MODELS, 12), name="resume", seed=7, concurrency=4, bootstrap=20)


@pytest.mark.slow
def test_sigkill_with_calls_in_flight_resumes_at_once_and_pays_no_answered_call_twice(tmp_path, loopback, loop_judge):
    # ~15 s: two subprocesses (each imports litellm); 144 judge calls against the loopback server
    loopback.delay_s = 0.15  # each call in flight long enough for the kill to find several
    spec = _spec(loop_judge)
    db = tmp_path / "run.db"
    env = {"ARENA_TEST_KEY": "sk-loopback-test"}
    total = 2 * 72  # 4 models, 12 prompts, round-robin, both orders

    kill_at = random.Random(os.getpid()).randint(30, 100)
    proc = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "rep", env=env)
    _kill_after_requests(proc, loopback, kill_at, 120)
    con = sqlite3.connect(db)
    claims = con.execute("SELECT COUNT(*) FROM calls_in_flight").fetchone()[0]
    answered = con.execute("SELECT COUNT(*) FROM call_cache").fetchone()[0]  # paid calls whose answers were stored
    stored_games = con.execute("SELECT COUNT(*) FROM games").fetchone()[0]
    summary = json.loads(con.execute("SELECT summary FROM runs").fetchone()[0] or "{}")
    con.close()
    assert claims > 0, "the kill found no call in flight: the test proves nothing"
    assert 0 < answered < total
    # the killed invocation's stored summary counts exactly the games it stored (committed together)
    assert summary["totals"]["games"] == summary["games"] == stored_games
    before = list(loopback.bodies)

    again = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "rep", env=env)
    try:
        out, _ = again.communicate(timeout=150)  # waiting for the dead claims would take 390 s
    except subprocess.TimeoutExpired:
        again.kill()
        again.communicate()
        pytest.fail("the resumed run waited for the killed run's claims on its calls in flight")
    assert again.returncode == 0, out
    assert "Resuming run" in out and f"{claims} calls in flight in a process that is gone (killed) are asked again now" in out
    assert len(_verdicts(db)) == 72
    # every call not answered before the kill is asked exactly once now; an answered one never again
    resumed = Counter(json.dumps(b, sort_keys=True) for b in loopback.bodies[len(before):])
    assert max(resumed.values()) == 1 and len(resumed) == total - answered
    assert len({json.dumps(b, sort_keys=True) for b in loopback.bodies}) == total
    repeated = set(resumed) & {json.dumps(b, sort_keys=True) for b in before}
    assert len(repeated) <= claims  # only calls in flight at the kill are asked twice (their answers were lost)

    # the run's totals over both invocations count every stored game once
    con = sqlite3.connect(db)
    games, calls, cached, tokens_in = con.execute("SELECT COUNT(*), SUM(calls - cached_calls), SUM(cached_calls), SUM(input_tokens) FROM games").fetchone()
    con.close()
    report = json.loads((tmp_path / "rep" / "run.json").read_text())["summary"]
    t = report["totals"]
    assert report["invocations"] == 2 and games == total
    assert (t["games"], t["calls"], t["cached_calls"], t["input_tokens"]) == (games, calls, cached, tokens_in)
    assert t["calls"] + t["cached_calls"] == total
    # a call answered for a match still undecided at the kill is served from the cache now (counted as cached)
    assert t["cached_calls"] == answered - stored_games <= 8  # at most 4 matches in flight x 2 orders
    assert f"Run totals over 2 invocations: {t['calls']} paid calls, {t['cached_calls']} cached" in out
