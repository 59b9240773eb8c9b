"""`arena tournament run` as a user runs it: a subprocess, real HTTP through litellm to the loopback
judge server, a real SQLite file; killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

MODELS = {"alpha": 9, "bravo": 7, "charlie": 5, "delta": 3}


def _pool(folder: Path, n_prompts: int = 12) -> Path:
    (folder / "outputs").mkdir(parents=True)
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(n_prompts):
            f.write(json.dumps({"prompt_id": f"q{i:02d}", "text": f"Question {i}: explain topic {i}.", "category": "c%d" % (i % 2)}) + "\n")
    for model, q in MODELS.items():
        with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
            for i in range(n_prompts):
                # quality varies a little by prompt so that some matches are close
                quality = q + (1 if (i + len(model)) % 3 == 0 else 0)
                f.write(json.dumps({"prompt_id": f"q{i:02d}", "output": f"Answer of {model} to {i}. <!-- quality={quality} -->"}) + "\n")
    return folder


def _spec(tmp: Path, api_base: str, *, concurrency: int = 4, max_retries: int = 2, kind: str = "round-robin") -> Path:
    judge = tmp / "loop.toml"
    judge.write_text(
        f'kind = "llm"\nmodel = "openai/loop-judge"\napi_base = "{api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
        f'max_tokens = 64\ntimeout = 3\nmax_retries = {max_retries}\nconcurrency = {concurrency}\n'
    )
    spec = tmp / "t.toml"
    spec.write_text(
        f'name = "e2e"\npool = "{tmp / "pool"}"\njudge = "{judge}"\nseed = 7\nconcurrency = {concurrency}\n'
        f'bootstrap = 100\n[scheduler]\nkind = "{kind}"\n'
    )
    return spec


def _arena(*args, env=None, **kw):
    e = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_OFFLINE_MODE="true", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "arena", *map(str, args)], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _kill_after_requests(proc, loopback, at: int, timeout_s: float) -> None:
    """SIGKILL `proc` once the loopback server has had `at` requests (or `proc` ended, or `timeout_s`)."""
    deadline = time.time() + timeout_s
    while loopback.requests < at and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _verdicts(db: Path) -> dict[str, tuple]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT match_id, outcome, strength, label FROM verdicts").fetchall()
    con.close()
    return {r[0]: r[1:] for r in rows}


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, loopback):
    loopback.delay_s = 0.03
    _pool(tmp_path / "pool")
    spec = _spec(tmp_path, loopback.api_base)
    env = {"ARENA_TEST_KEY": "sk-loopback-test"}

    # the reference: one uninterrupted run
    ref = _arena("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "ref.db", "--out", tmp_path / "ref", env=env)
    out, _ = ref.communicate(timeout=240)
    assert ref.returncode == 0, out
    expected = _verdicts(tmp_path / "ref.db")
    assert len(expected) == 6 * 12
    calls_uninterrupted = loopback.requests
    assert calls_uninterrupted == 2 * 72

    # the same run, killed at a random point, then resumed
    loopback.reset_counts()
    loopback.bodies.clear()
    kill_at = random.Random(os.getpid()).randint(20, 110)
    proc = _arena("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "run.db", "--out", tmp_path / "run", env=env)
    _kill_after_requests(proc, loopback, kill_at, 240)
    before = loopback.requests
    assert 0 < len(_verdicts(tmp_path / "run.db")) < 72

    again = _arena("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "run.db", "--out", tmp_path / "run", env=env)
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0, out
    assert "Resuming run" in out and "saved by resuming" in out
    assert _verdicts(tmp_path / "run.db") == expected
    repeated = sum(n - 1 for n in Counter(json.dumps(b, sort_keys=True) for b in loopback.bodies).values() if n > 1)
    assert repeated <= 4, f"{repeated} repeated requests (killed after {before})"  # at most `concurrency`

    # running the finished spec again makes zero calls
    loopback.reset_counts()
    done = _arena("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "run.db", "--out", tmp_path / "run", env=env)
    out, _ = done.communicate(timeout=240)
    assert done.returncode == 0, out
    assert loopback.requests == 0


@pytest.mark.slow
def test_failing_judge_finishes_with_exit_3_and_counts_errors(tmp_path, loopback):
    _pool(tmp_path / "pool", n_prompts=2)
    spec = _spec(tmp_path, loopback.api_base, max_retries=1)
    loopback.set_faults(**{"500": 1.0})
    p = _arena("tournament", "run", spec, "--yes", "--plain", "--db", tmp_path / "x.db", "--out", tmp_path / "x", env={"ARENA_TEST_KEY": "sk-secret-e2e-4711"})
    out, _ = p.communicate(timeout=240)
    assert p.returncode == 3, out
    assert "sk-secret-e2e-4711" not in out
    for f in (tmp_path / "x").iterdir():
        assert "sk-secret-e2e-4711" not in f.read_text()
    assert "Finished with errors" in out and "12 matches unresolved" in out
    js = json.loads((tmp_path / "x" / "run.json").read_text())["judge_stats"]
    assert js["errors"] == 24 and js["unresolved_matches"] == 12
    # every error game says why; no error became a tie
    con = sqlite3.connect(tmp_path / "x.db")
    assert con.execute("SELECT COUNT(*) FROM games WHERE label = 'error' AND error IS NOT NULL AND error != ''").fetchone()[0] == 24
    assert con.execute("SELECT COUNT(*) FROM verdicts WHERE outcome = 'tie'").fetchone()[0] == 0
    # no key in the store
    dump = "\n".join(con.iterdump())
    assert "sk-secret-e2e-4711" not in dump and "ARENA_TEST_KEY" in dump  # the variable's name only
