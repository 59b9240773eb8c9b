"""Where the variance comes from: re-judged matches give the judge's self-agreement and split each
rating's bootstrap variance into prompt sampling and judge noise. End to end through real HTTP to
the loopback judge (noisy only when sampled at a temperature above 0), a real SQLite file, the
CLI in-process; the surrogate (offline, deterministic) reports zero judge noise."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from loopback import sampling_judge
from test_run_e2e import _pool
from test_variance import _battles

import arena
from arena.ratings import fit_ratings, self_agreement, variance_sources

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


def _setup(tmp_path: Path, api_base: str, temperature: float, max_retries: int = 1, n_prompts: int = 12) -> Path:
    _pool(tmp_path / "pool", n_prompts)
    judge = tmp_path / "loop.toml"
    judge.write_text(
        f'kind = "llm"\nmodel = "openai/loop-judge"\napi_base = "{api_base}"\napi_key_env = "ARENA_TEST_KEY"\n'
        f"max_tokens = 64\ntimeout = 5\nmax_retries = {max_retries}\nconcurrency = 8\ntemperature = {temperature}\n"
    )
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "noise"\npool = "{tmp_path / "pool"}"\njudge = "{judge}"\nseed = 3\nbootstrap = 300\n[scheduler]\nkind = "round-robin"\n')
    return spec


def _dump(db: Path) -> dict:
    con = sqlite3.connect(db)
    out = {
        "verdicts": con.execute("SELECT run_id, match_id, outcome, strength, consistent, label FROM verdicts ORDER BY match_id").fetchall(),
        "games": con.execute("SELECT match_id, [order], label, raw, calls FROM games ORDER BY match_id, [order]").fetchall(),
        "cache": dict(con.execute("SELECT key, response FROM call_cache").fetchall()),
    }
    con.close()
    return out


def _expected_agreement(p: float) -> float:
    """Each game's label flips with probability p; a match is won by the right side (both games
    right), tied (one flipped) or lost (both flipped); two independent readings agree with
    probability sum over outcomes of P(outcome)^2."""
    probs = [(1 - p) ** 2, 2 * p * (1 - p), p**2]
    return sum(q * q for q in probs)


@pytest.mark.slow
def test_a_noisy_judge_re_judged_through_the_cli(tmp_path, loopback, cli):
    loopback.hook = sampling_judge(0.2, seed=11)
    spec = _setup(tmp_path, loopback.api_base, temperature=1.0)
    db = tmp_path / "a.db"
    result = arena.run_tournament(spec, db=db, yes=True, write_reports=False)
    assert result.status == "done" and loopback.requests == 144
    before = _dump(db)

    r = cli("report", result.run_id, "--rejudge", "72", "--yes", "--db", db, "--out", tmp_path / "rep")
    assert r.code == 0, r.out + r.err
    assert loopback.requests == 288  # every replay paid once: the run's cached answers were not served to it
    assert "Re-judge plan" in r.err and "144 judge calls" in r.err
    after = _dump(db)
    assert after["verdicts"] == before["verdicts"] and after["games"] == before["games"]
    assert all(after["cache"][k] == v for k, v in before["cache"].items())  # the run's cache entries untouched

    e = json.loads((tmp_path / "rep" / "run.json").read_text())["variance_sources"][0]
    agr = e["agreement"]
    expected = _expected_agreement(0.2)  # 0.5136
    assert agr["n"] == 72 and agr["ci"][0] < expected < agr["ci"][1] and abs(agr["rate"] - expected) < 0.15
    assert e["setting"] == "as run" and e["usage"]["calls"] == 144 and not e["deterministic"]
    assert e["kappa"] > 0.1 and e["kappa_ci"][0] > 0
    for m in e["models"]:
        assert m["judge_var"] > 0
        assert m["prompt_var"] == pytest.approx(max(0.0, m["total_var"] - m["judge_var"]))
    assert "Self-agreement (as run)" in r.out
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "## Where the variance comes from (re-judged: 72 matches, as run)" in md and "## How many prompts separate" in md
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'id="self-agreement"' in html and 'id="variance-sources"' in html and 'id="separation"' in html

    # the same request again pays nothing: every replay is stored
    r = cli("report", result.run_id, "--rejudge", "72", "--yes", "--db", db, "--out", tmp_path / "rep", "-f", "json")
    assert r.code == 0, r.err
    assert loopback.requests == 288 and "72 already re-judged, 0 to judge" in r.err


@pytest.mark.slow
def test_a_consistent_judge_has_zero_judge_noise_and_replays_resume(tmp_path, loopback):
    loopback.hook = sampling_judge(0.2, seed=11)  # deterministic at temperature 0
    spec = _setup(tmp_path, loopback.api_base, temperature=0)
    db = tmp_path / "b.db"
    run_id = arena.run_tournament(spec, db=db, yes=True, write_reports=False).run_id
    before = _dump(db)
    plan = arena.plan_rejudge(run_id, 30, db=db)
    assert (plan.matches, plan.judge_calls, plan.done, plan.deterministic) == (30, 60, 0, False)
    assert plan.input_tokens > 0 and loopback.requests == 144  # planning calls nothing

    got = arena.rejudge(run_id, 30, db=db, yes=True)
    assert (got.judged, got.failed, got.usage.calls) == (30, 0, 60) and loopback.requests == 204
    more = arena.rejudge(run_id, 40, db=db, yes=True)  # extends the same sample: only 10 new matches
    assert (more.plan.done, more.judged, more.total_usage.calls) == (30, 10, 80) and loopback.requests == 224
    assert _dump(db)["verdicts"] == before["verdicts"]

    e = arena.load_run(run_id, db=db).report(bootstrap=200)["variance_sources"][0]
    assert e["agreement"]["rate"] == 1.0 and e["agreement"]["n"] == 40
    assert e["kappa"] == 0.0 and e["kappa_ci"] == [0.0, 0.0]
    assert all(m["judge_var"] == 0.0 and m["prompt_var"] == m["total_var"] > 0 for m in e["models"])
    assert all(p["judge_share"] == 0.0 for p in e["pairs"])

    # another temperature is another setting, with its own replays and its own cache namespace
    hot = arena.rejudge(run_id, 20, temperature=1.0, db=db, yes=True)
    assert hot.plan.setting == "temperature=1" and hot.plan.done == 0 and hot.usage.calls == 40
    sources = {s["setting"]: s for s in arena.load_run(run_id, db=db).report(bootstrap=100)["variance_sources"]}
    assert set(sources) == {"as run", "temperature=1"} and sources["temperature=1"]["agreement"]["n"] == 20


def test_the_surrogate_is_deterministic_so_its_judge_noise_is_zero(tmp_path, cli):
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'name = "sur"\npool = "{DEMO}"\njudge = "surrogate"\nseed = 2\nprompts = 10\nbootstrap = 100\n'
        'models = ["gpt4_0613", "Yi-34B-Chat", "vicuna-7b-v1.5", "zephyr-7b-beta"]\n[scheduler]\nkind = "round-robin"\n'
    )
    db = tmp_path / "s.db"
    run_id = arena.run_tournament(spec, db=db, write_reports=False).run_id
    r = cli("report", run_id, "--rejudge", "25", "--db", db, "--out", tmp_path / "rep", "-f", "json")
    assert r.code == 0, r.err
    assert "0 judge calls" in r.err and "offline, deterministic judge" in r.err
    e = json.loads((tmp_path / "rep" / "run.json").read_text())["variance_sources"][0]
    assert e["deterministic"] and e["agreement"]["rate"] == 1.0 and e["agreement"]["n"] == 25
    assert e["kappa"] == 0.0 and all(m["judge_var"] == 0.0 for m in e["models"])

    r = cli("report", run_id, "--bootstrap", "0", "--db", db, "--out", tmp_path / "b0", "-f", "md", "-f", "html")
    assert r.code == 0, r.err
    assert "Variance not split: no bootstrap replicates" in (tmp_path / "b0" / "leaderboard.md").read_text()
    assert "Variance not split" in (tmp_path / "b0" / "report.html").read_text()

    r = cli("report", run_id, "--rejudge", "5", "--temperature", "0.7", "--db", db)
    assert r.code == 2 and r.err.strip().count("\n") == 0
    assert "no single sampling temperature" in r.err and r.err.startswith("Error: ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rejudge", "0"], "rejudge: expected 1 to 24 (the run's decided matches), got 0"),
        (["--rejudge", "25"], "rejudge: expected 1 to 24"),
        (["--temperature", "0.5"], "--temperature: only with --rejudge N"),
        (["--dry-run"], "--dry-run: only with --rejudge N"),
        (["--rejudge", "3", "--temperature", "7"], "temperature: expected a number from 0 to 2, got 7.0"),
    ],
)
def test_bad_rejudge_requests_are_one_line_and_change_nothing(tmp_path, cli, args, expected):
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'name = "bad"\npool = "{DEMO}"\njudge = "surrogate"\nprompts = 4\nbootstrap = 0\n'
        'models = ["gpt4_0613", "Yi-34B-Chat", "vicuna-7b-v1.5", "zephyr-7b-beta"]\n[scheduler]\nkind = "round-robin"\n'
    )
    db = tmp_path / "x.db"
    run_id = arena.run_tournament(spec, db=db, write_reports=False).run_id
    r = cli("report", run_id, *args, "--db", db, "--out", tmp_path / "rep")
    assert r.code == 2 and r.err.strip().count("\n") == 0, r.err
    assert expected in r.err and r.err.startswith("Error: ")
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM replays").fetchone()[0] == 0
    assert not (tmp_path / "rep").exists()


def test_dry_run_prices_and_judges_nothing(tmp_path, loopback, cli):
    loopback.hook = sampling_judge(0.2)
    spec = _setup(tmp_path, loopback.api_base, temperature=1.0, n_prompts=2)
    db = tmp_path / "d.db"
    run_id = arena.run_tournament(spec, db=db, yes=True, write_reports=False).run_id
    n = loopback.requests
    r = cli("report", run_id, "--rejudge", "10", "--dry-run", "--db", db)
    assert r.code == 0 and "10 to judge: 20 judge calls" in r.err and loopback.requests == n
    assert not sqlite3.connect(db).execute("SELECT COUNT(*) FROM replays").fetchone()[0]


# -- the statistics ----------------------------------------------------------------------------------


def test_self_agreement_has_a_wilson_interval():
    got = self_agreement(["a"] * 8 + ["b", "tie"], ["a"] * 8 + ["a", "tie"])
    assert (got["n"], got["agree"], got["rate"]) == (10, 9, 0.9)
    assert got["ci"] == pytest.approx([0.5958, 0.9821], abs=1e-3)  # Wilson 95% for 9/10
    assert self_agreement([], [])["rate"] is None


def test_pure_coin_flip_judge_makes_all_the_variance_judge_noise():
    """Battles drawn from Bradley-Terry with no prompt effect: each verdict is a coin flip at p, so
    the bootstrap variance is all judge noise; a replay drawn afresh at the true p gives kappa ~ 1
    and a judge share ~ 1. A replay that repeats the verdict gives exactly zero."""
    strength = [0.0, 0.4, 0.8, 1.2]
    battles = _battles(strength, 150, np.random.default_rng(5))
    board = fit_ratings(battles, bootstrap=400, seed=0)
    rng = np.random.default_rng(9)
    s = np.asarray(strength)
    p_true = 1 / (1 + np.exp(s[battles.b] - s[battles.a]))
    idx = rng.choice(len(battles), size=len(battles) // 2, replace=False)
    fresh = (rng.random(len(idx)) < p_true[idx]).astype(float)
    got = variance_sources(board, battles, idx, fresh, np.ones(len(idx)), bootstrap=300)
    assert 0.8 < got["kappa"] < 1.2 and got["kappa_ci"][0] < 1 < got["kappa_ci"][1]
    assert 0.7 < got["judge_share_mean"] <= 1.0
    same = variance_sources(board, battles, idx, battles.score_a[idx], np.ones(len(idx)), bootstrap=100)
    assert same["kappa"] == 0.0 and all(m["judge_var"] == 0.0 for m in same["models"])
    with pytest.raises(arena.errors.RatingError, match="no re-judged matches"):
        variance_sources(board, battles, [], [], [])


@pytest.mark.slow
def test_failed_replays_exit_3_and_are_retried(tmp_path, loopback, cli):
    loopback.hook = sampling_judge(0.0)
    spec = _setup(tmp_path, loopback.api_base, temperature=0, max_retries=0, n_prompts=2)
    db = tmp_path / "f.db"
    run_id = arena.run_tournament(spec, db=db, yes=True, write_reports=False).run_id
    loopback.set_faults(**{"500": 1.0})
    r = cli("report", run_id, "--rejudge", "4", "--yes", "--db", db, "--out", tmp_path / "rep", "-f", "json")
    assert r.code == 3 and "4 re-judged matches failed after retries" in r.err
    e = json.loads((tmp_path / "rep" / "run.json").read_text())["variance_sources"][0]
    assert e["failed"] == 4 and e["agreement"]["rate"] is None
    loopback.set_faults(0)
    r = cli("report", run_id, "--rejudge", "4", "--yes", "--db", db, "--out", tmp_path / "rep", "-f", "json")
    assert r.code == 0, r.err
    assert "0 already re-judged, 4 to judge" in r.err
    assert json.loads((tmp_path / "rep" / "run.json").read_text())["variance_sources"][0]["agreement"]["n"] == 4
