"""The simulator: the synthetic judge, runs through the real schedulers and ratings, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from arena.tournaments.simulate import SimRow, SyntheticJudge, calls_to_reach, parse_scheduler, simulate, true_ratings


def test_a_perfect_judge_reproduces_bradley_terry():
    rng = np.random.default_rng(0)
    n = 40_000
    out = SyntheticJudge(accuracy=1.0, position_bias=0.0).decide(np.full(n, 1200.0), np.full(n, 1000.0), rng)
    p = 1 / (1 + 10 ** (-200 / 400))
    assert set(out) == {"a", "b"}  # both orders agree: no ties
    assert np.mean(out == "a") == pytest.approx(p, abs=0.01)


def test_judge_accuracy_and_position_bias():
    rng = np.random.default_rng(1)
    n = 40_000
    far = np.full(n, 3000.0), np.full(n, 0.0)  # A's answer is always the better one
    one = SyntheticJudge(accuracy=0.8, position_bias=0.0, orders=1).decide(*far, rng)
    assert np.mean(one == "a") == pytest.approx(0.8, abs=0.01)
    two = SyntheticJudge(accuracy=0.8, position_bias=0.0).decide(*far, rng)
    assert np.mean(two == "a") == pytest.approx(0.64, abs=0.01)  # both games right
    assert np.mean(two == "tie") == pytest.approx(0.32, abs=0.01)
    biased = SyntheticJudge(accuracy=0.8, position_bias=1.0).decide(*far, rng)
    assert set(biased) == {"tie"}  # always picks the first shown: the two orders disagree


def test_true_ratings_span_the_spread():
    r = true_ratings(16, 300)
    assert r.max() - r.min() == pytest.approx(300) and r.mean() == pytest.approx(1000)
    gaps = -np.diff(r)
    assert np.all(gaps > 0) and gaps[7] < gaps[0]  # denser in the middle
    assert np.allclose(np.diff(true_ratings(5, 100, "linear")), -25)


def test_simulation_gets_better_with_budget():
    res = simulate(
        n_models=6, n_prompts=300, spread=800, accuracy=0.9, position_bias=0.05,
        schedulers=["round-robin:pairs_per_prompt=2", "single-elimination", "adaptive"],
        budgets=[40, 1000], trials=4, bootstrap=30, seed=3,
    )
    rows = {(r.scheduler, r.budget): r for r in res.rows}
    for name in ("round-robin:pairs_per_prompt=2", "single-elimination", "adaptive"):
        small, big = rows[(name, 40)], rows[(name, 1000)]
        assert big.calls == pytest.approx(1000, abs=30)
        assert big.spearman > 0.85 and big.spearman > small.spearman
        assert big.kendall > 0.7
        assert big.ci_width < small.ci_width
        assert 0.5 <= big.coverage <= 1.0
    assert set(res.reach) == {"round-robin:pairs_per_prompt=2", "single-elimination", "adaptive"}


def test_simulation_is_seeded():
    kw = dict(n_models=5, n_prompts=50, schedulers=["swiss"], budgets=[100], trials=2, bootstrap=0)
    assert simulate(seed=1, **kw).rows == simulate(seed=1, **kw).rows
    assert simulate(seed=1, **kw).rows != simulate(seed=2, **kw).rows


def test_calls_to_reach_interpolates():
    rows = [SimRow("x", b, b, s, s, None, None, 1) for b, s in [(100, 0.5), (200, 0.9), (400, 0.99)]]
    got = calls_to_reach(rows, 0.95)
    assert 200 < got < 400
    assert calls_to_reach(rows, 0.999) is None


def test_parse_scheduler_errors():
    from arena.tournaments.simulate import SimulationError

    assert parse_scheduler("round_robin:pairs_per_prompt=3")[1].params == {"pairs_per_prompt": 3}
    with pytest.raises(SimulationError, match="expected one of"):
        parse_scheduler("ladder")
    with pytest.raises(SimulationError, match="key=value"):
        parse_scheduler("swiss:rounds")


def test_simulate_command(cli):
    r = cli("simulate", "--models", "5", "--prompts", "60", "--budgets", "50,200", "--trials", "2",
            "-s", "single-elimination", "-s", "anchored", "--bootstrap", "20", "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert [row["scheduler"] for row in data["rows"]] == ["single-elimination"] * 2 + ["anchored"] * 2
    assert data["params"]["judge_accuracy"] == 0.8 and data["params"]["position_bias"] == 0.1
    r = cli("simulate", "--models", "4", "--prompts", "30", "--budgets", "60", "--trials", "1", "-s", "swiss", "--bootstrap", "0")
    assert r.code == 0 and "swiss" in r.out and "Judge calls to reach" in r.out
    r = cli("simulate", "--budgets", "lots")
    assert r.code == 2 and r.err.startswith("Error: --budgets")
    r = cli("simulate", "--help")
    assert r.code == 0 and "--judge-accuracy" in r.out
