"""Money and limits through the CLI in-process, real HTTP to the loopback judge server: an
unenforceable cost cap is refused, the cap is never passed, the plan's worst case bounds the calls
including re-asks, and prompts above the judge model's input limit are never sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

MODELS = {"alpha": 9, "bravo": 6, "charlie": 4, "delta": 2}


def _spec(loop_judge, model: str, spec_extra: str = "", huge: str = "") -> Path:
    """A round-robin over MODELS on 6 prompts judged by `model` on the loopback server; `huge` is
    appended to delta's answer to q0."""
    judge = loop_judge.preset(model=model, concurrency=8)
    pool = loop_judge.pool(MODELS, 6, answer=lambda m, i, q: f"Answer of {m} to {i}. <!-- quality={q} -->" + (huge if (m, i) == ("delta", 0) else ""))
    return loop_judge.spec(judge, pool, name="money", seed=3, bootstrap=20, concurrency=8, extra=spec_extra)


def test_a_cost_cap_with_an_unknown_price_is_refused(cli, db_path, tmp_path, loopback, loop_judge):
    spec = _spec(loop_judge, "openai/loop-judge", "max_cost_usd = 1.0\n")
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code == 2 and loopback.requests == 0
    line = r.err.strip()
    assert line.count("\n") == 0 and line.startswith(f"Error: {spec}: max_cost_usd: no known price for the judge model openai/loop-judge")
    assert json.loads(cli("tournament", "list", "--format", "json").out) == []
    assert cli("tournament", "run", spec, "--yes", "--plain", "--allow-unknown-price", "--out", tmp_path / "r").code == 0
    assert loopback.requests > 0


def test_max_calls_makes_an_unknown_price_acceptable(cli, db_path, tmp_path, loopback, loop_judge):
    spec = _spec(loop_judge, "openai/loop-judge", "max_cost_usd = 1.0\nmax_calls = 10\n")
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r")
    assert r.code == 0, r.out + r.err
    assert loopback.requests <= 10  # reservations: a match starts only when its worst case fits


def test_the_cost_cap_is_never_passed(cli, db_path, tmp_path, loopback, loop_judge):
    # gpt-4o-mini is priced in litellm's table; the loopback answers with real usage numbers
    spec = _spec(loop_judge, "openai/gpt-4o-mini", "max_cost_usd = 0.003\n")
    plan = json.loads(cli("tournament", "plan", spec, "--format", "json").out)
    assert plan["cost_usd_worst"] <= 0.003
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r")
    assert r.code == 0, r.out + r.err
    assert "Stopped early (max_cost_usd=0.003 reached)" in r.out
    con = sqlite3.connect(db_path)
    paid = con.execute("SELECT SUM(cost_usd) FROM games WHERE cached = 0").fetchone()[0]
    assert 0 < paid <= 0.003
    assert loopback.requests >= 4  # it did spend most of what it could


def test_the_plans_worst_case_bounds_the_calls_including_reasks(cli, db_path, tmp_path, loopback, loop_judge):
    spec = _spec(loop_judge, "openai/loop-judge")
    plan = json.loads(cli("tournament", "plan", spec, "--format", "json").out)
    assert plan["max_calls_per_match"] == 4 and plan["judge_calls_worst"] == 4 * plan["matches_worst"]
    loopback.hook = lambda req: "I cannot decide."  # every game asks once more
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r")
    assert r.code == 3
    assert loopback.requests == plan["judge_calls_worst"]  # the bound is reached and not passed


def test_prompts_above_the_input_limit_are_listed_and_never_sent(cli, db_path, tmp_path, loopback, loop_judge):
    huge = " ".join(f"w{i}" for i in range(140_000))  # well over gpt-4o-mini's 128,000 input tokens
    spec = _spec(loop_judge, "openai/gpt-4o-mini", huge=huge)
    plan = json.loads(cli("tournament", "plan", spec, "--format", "json").out)
    assert plan["input_limits"] == {"openai/gpt-4o-mini": 128000}
    assert plan["largest_input_tokens"] > 128000
    assert plan["over_input_limit"] == 2 * 3  # every call of the 3 matches that show delta's answer to q0, both orders
    assert any("above the judge model's input limit" in w for w in plan["warnings"])
    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", tmp_path / "r")
    assert r.code == 3
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT error, detail, attempts FROM games WHERE label = 'error'").fetchall()
    assert len(rows) == 2 * 3  # delta's answer to q0 meets 3 opponents, both orders
    assert all("context length exceeded" in e and json.loads(d)["permanent"] and a == 0 for e, d, a in rows)
    assert all(len(json.dumps(b)) < 100_000 for b in loopback.bodies)  # none was sent
    assert "no retryable failure remains" in r.out + r.err


def test_the_input_limit_scan_covers_every_match_not_only_the_sample(tmp_path, loop_judge):
    from arena.judges import load_judge
    from arena.tournaments.plan import plan_tournament
    from arena.tournaments.spec import load_spec, load_spec_pool

    huge = " ".join(f"w{i}" for i in range(140_000))
    spec = load_spec(_spec(loop_judge, "openai/gpt-4o-mini", huge=huge))
    prompts, outputs = load_spec_pool(spec)
    plan = plan_tournament(spec, prompts, outputs, load_judge(str(tmp_path / "loop.toml")), sample=2)
    assert plan.sampled_matches == 2 and plan.over_input_limit == 6 and plan.largest_input_tokens > 128_000
