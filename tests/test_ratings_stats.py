"""Statistical proof on simulated arenas (seeded): recovery of known strengths, coverage of the
bootstrap intervals for both resampling schemes, clustering, and style control."""

from __future__ import annotations

import numpy as np
import pytest

from arena.ratings import ELO_SCALE, BattleArrays, StyleFeatures, fit_ratings


def arena(theta, n_battles, n_prompts, rng, prompt_sd=0.0):
    n = len(theta)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    prompt = rng.integers(0, n_prompts, n_battles)
    d = theta[a] - theta[b]
    if prompt_sd:  # each prompt favours some models: battles on one prompt are correlated
        eff = rng.normal(0, prompt_sd, (n_prompts, n))
        d = d + eff[prompt, a] - eff[prompt, b]
    s = (rng.random(n_battles) < 1 / (1 + np.exp(-d))).astype(float)
    return BattleArrays([f"m{i}" for i in range(n)], a, b, s, np.ones(n_battles), prompt)


def elo(theta):
    return 1000 + ELO_SCALE * (theta - theta.mean())


@pytest.mark.parametrize("by", ["prompt", "battle"])
def test_recovers_true_order_and_ratings_within_15_elo(by):
    rng = np.random.default_rng(2024)
    theta = np.linspace(-1.2, 1.2, 10)[rng.permutation(10)]  # 48 Elo apart
    arr = arena(theta, 50_000, 1000, rng)
    lb = fit_ratings(arr, bootstrap=200, by=by, seed=1)
    truth = elo(theta)
    assert [r.model for r in lb.rows] == [f"m{i}" for i in np.argsort(-theta)]
    got = np.array([lb.row(f"m{i}").rating for i in range(10)])
    assert np.abs(got - truth).max() < 15
    assert all(r.ci_low <= truth[int(r.model[1:])] <= r.ci_high or abs(r.rating - truth[int(r.model[1:])]) < 15 for r in lb.rows)


@pytest.mark.parametrize("by", ["prompt", "battle"])
def test_95_percent_intervals_cover_the_truth_92_to_98_percent(by):
    """200 simulated arenas (10 models, 2,000 battles on 200 prompts each): the share of
    (arena, model) intervals containing the true rating."""
    rng = np.random.default_rng(7 if by == "prompt" else 8)
    hits = total = 0
    for k in range(200):
        theta = rng.normal(0, 0.7, 10)
        arr = arena(theta, 2000, 200, rng)
        lb = fit_ratings(arr, bootstrap=200, by=by, seed=k)
        truth = elo(theta)
        for r in lb.rows:
            hits += r.ci_low <= truth[int(r.model[1:])] <= r.ci_high
            total += 1
    coverage = hits / total
    assert 0.92 <= coverage <= 0.98, coverage


def test_prompt_bootstrap_widens_intervals_when_battles_on_a_prompt_are_correlated():
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 0.7, 8)
    arr = arena(theta, 6000, 60, rng, prompt_sd=0.8)
    width = lambda lb: np.median([r.ci_high - r.ci_low for r in lb.rows])  # noqa: E731
    w_prompt = width(fit_ratings(arr, bootstrap=300, by="prompt", seed=0))
    w_battle = width(fit_ratings(arr, bootstrap=300, by="battle", seed=0))
    assert w_prompt > 1.3 * w_battle


def test_style_control_recovers_strengths_and_style_coefficient():
    rng = np.random.default_rng(5)
    n, N = 6, 20_000
    theta = np.array([0.6, 0.3, 0.0, -0.1, -0.3, -0.5])
    verbosity = np.array([0.0, 1.5, 0.0, 1.0, -1.0, 0.5])  # model 1 writes long answers
    a = rng.integers(0, n, N)
    b = (a + rng.integers(1, n, N)) % n
    len_a = np.exp(5 + verbosity[a] + rng.normal(0, 0.3, N))
    len_b = np.exp(5 + verbosity[b] + rng.normal(0, 0.3, N))
    f = (len_a - len_b) / (len_a + len_b)
    feats = StyleFeatures(["length"], f[:, None], standardize=False)
    beta = 1.5
    s = (rng.random(N) < 1 / (1 + np.exp(-(theta[a] - theta[b] + beta * f)))).astype(float)
    arr = BattleArrays([f"m{i}" for i in range(n)], a, b, s, np.ones(N), rng.integers(0, 500, N))
    plain = fit_ratings(arr, bootstrap=0)
    styled = fit_ratings(arr, bootstrap=100, style=feats, seed=0)
    truth = elo(theta)
    got = np.array([styled.row(f"m{i}").rating for i in range(n)])
    raw = np.array([plain.row(f"m{i}").rating for i in range(n)])
    assert np.abs(got - truth).max() < 20
    assert raw[1] - truth[1] > 40  # without style control the verbose model is overrated
    c = styled.style_coefs["length"]
    assert c["coef"] == pytest.approx(beta, abs=0.15)
    assert c["ci_low"] < beta < c["ci_high"]
    assert styled.params["style"] == ["length"]
    lo = np.array([styled.row(f"m{i}").ci_low for i in range(n)])
    hi = np.array([styled.row(f"m{i}").ci_high for i in range(n)])
    assert np.mean((lo <= truth) & (truth <= hi)) >= 5 / 6
