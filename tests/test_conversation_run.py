"""A tournament on a small MT-Bench pool (conversations of two turns) as a user runs it: a
subprocess, real HTTP to the loopback judge, a real SQLite file; killed with SIGKILL and resumed
without repeating a paid call; per-turn leaderboards and a turn-by-turn match browser in the
report; a judge kind that cannot judge conversations refused before any call."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from test_conversation_judge import mt_bench_records
from test_run_e2e import _arena, _kill_after_requests, _verdicts

QUALITY = {"gpt-3.5-turbo": (8, 6), "claude-v1": (6, 8), "llama-13b": (2, 3)}
"""Hidden quality markers the loopback judge reads, per model and turn: gpt-3.5 leads turn 1, claude turn 2."""


def _mt_pool(db: Path) -> None:
    """The MT-Bench fixture as a pool `mtb` in the store `db`, each turn's answer tagged with its quality."""
    from arena.store import Store

    prompts, outputs = mt_bench_records()
    marked = []
    for o in outputs:
        turns = tuple(f"{t}\n<!-- quality={QUALITY[o.model][k]} -->" if t else t for k, t in enumerate(o.turns))
        marked.append(dataclasses.replace(o, text=turns[0], turns=turns))
    s = Store(db)
    s.write_pool("mtb", prompts, marked, source="tests/fixtures/mt_bench", format="mt_bench")
    s.close()


def _spec(tmp: Path, api_base: str, judge_kind: str = "llm") -> Path:
    judge = tmp / "loop.toml"
    if judge_kind == "llm":
        judge.write_text(
            f'kind = "llm"\nmodel = "openai/loop-judge"\napi_base = "{api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
            'max_tokens = 64\ntimeout = 2\nmax_retries = 1\nconcurrency = 4\nturn = "each"\n'
        )
    else:
        judge.write_text(f'kind = "{judge_kind}"\n')
    spec = tmp / "t.toml"
    spec.write_text(f'name = "mtb"\npool = "mtb"\njudge = "{judge}"\nseed = 3\nconcurrency = 4\nbootstrap = 50\n[scheduler]\nkind = "round-robin"\n')
    return spec


@pytest.mark.slow
def test_mt_bench_tournament_killed_and_resumed_repeats_no_paid_call(tmp_path, loopback):
    # kill -9 needs a subprocess; the resumed run drops the killed one's claims on its calls in flight
    # at once (its pid is gone: Store.release_abandoned_calls) and asks only those again
    loopback.delay_s = 0.03
    env = {"ARENA_TEST_KEY": "sk-loopback-test"}
    spec = _spec(tmp_path, loopback.api_base)
    db = tmp_path / "run.db"
    _mt_pool(db)
    import arena

    p = arena.plan(spec, db=db).to_dict()
    # 3 pairs x 5 questions; llama-13b's empty first answer to 127 forfeits its 2 matches there (every turn must be answered)
    assert p["matches"] == 13 and p["forfeits"] == 2 and p["calls_per_match"] == 4 and p["judge_calls"] == 52  # 2 orders x 2 turns
    assert loopback.requests == 0

    kill_at = random.Random(os.getpid()).randint(8, 40)
    proc = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "rep", env=env)
    _kill_after_requests(proc, loopback, kill_at, 120)
    first = list(loopback.bodies)
    assert 0 < len(first) < 52

    again = _arena("tournament", "run", spec, "--yes", "--plain", "--db", db, "--out", tmp_path / "rep", env=env)
    out, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out
    assert "Resuming run" in out
    verdicts = _verdicts(db)
    assert len(verdicts) == 15 and sum(v[0].startswith("forfeit") for v in verdicts.values()) == 2
    assert all(v[0] in ("a", "b", "tie", "forfeit_a", "forfeit_b") for v in verdicts.values())
    # each judge prompt was paid once, but for the calls in flight at the kill (at most `concurrency`)
    repeated = sum(n - 1 for n in Counter(json.dumps(b, sort_keys=True) for b in loopback.bodies).values() if n > 1)
    assert repeated <= 4, f"{repeated} repeated requests (killed after {len(first)})"
    assert len({json.dumps(b, sort_keys=True) for b in loopback.bodies}) == 52
    con = sqlite3.connect(db)
    turns = Counter(json.loads(d).get("turn") for (d,) in con.execute("SELECT detail FROM games"))
    con.close()
    assert turns == {1: 26, 2: 26}

    report = json.loads((tmp_path / "rep" / "run.json").read_text())
    boards = report["turns"]
    assert not {"turn 1", "turn 2"} & set(report["categories"])  # per-turn boards are not categories
    top = {t: boards[t]["leaderboard"][0]["model"] for t in ("turn 1", "turn 2")}
    assert top == {"turn 1": "gpt-3.5-turbo", "turn 2": "claude-v1"}  # the hidden qualities per turn
    assert set(report["turns"]) == {"turn 1", "turn 2"}
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Turn 2: user" in html and "judge, turn 2, order" in html.lower()
    sample = report["sample"][0]
    assert [t["number"] for t in sample["turns"]] == [1, 2] and sample["turns"][1]["answer_a"]


def test_a_judge_that_cannot_judge_conversations_fails_before_any_call(tmp_path):
    db = tmp_path / "run.db"
    _mt_pool(db)
    spec = _spec(tmp_path, "", judge_kind="surrogate")
    before = _dump(db)
    for cmd in ("plan", "run"):
        proc = _arena("tournament", cmd, spec, "--yes", "--plain", "--db", db) if cmd == "run" else _arena("tournament", cmd, spec, "--db", db)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 2, out
        lines = out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "loop.toml: prompt '81' is a conversation (2 turns)" in lines[0]
        assert "surrogate" in lines[0] and "single-turn AlpacaEval" in lines[0]
    assert _dump(db) == before  # no run, no match, nothing written


def _dump(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()
