"""The adaptive wave with `block = 1` (one pick per gain evaluation; S updated by Sherman-Morrison
after each pick, prompts emitted in blocks) picks exactly what the original per-pick
implementation (kept here as the reference) picked; the dense refit equals bt_fit."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from arena.records import Match, Prompt, Verdict
from arena.tournaments._adaptive import Adaptive
from arena.tournaments._base import keyed_rng


class ReferenceAdaptive(Adaptive):
    """The wave selection as it was before vectorising: an n x pairs matrix rebuilt per pick."""

    def _next_wave(self) -> list[Match]:
        from scipy.special import ndtr

        released = len(self._released)
        left = self.max_matches - released
        if left <= 0:
            self.stop_reason = "max_matches"
            return []
        theta, H = self._fit()
        S = np.linalg.inv(H)
        a, b, gap, sd = self._adjacent(theta, S)
        D = np.zeros((len(a), len(theta)))
        D[np.arange(len(a)), a] = 1
        D[np.arange(len(a)), b] = -1
        if self.params.target == "separated" and released >= self.params.min_matches and np.all(gap > _z(self.params.level) * sd):
            self.stop_reason = "separated"
            return []
        iu, ju = self._iu, self._ju
        if self.params.objective == "all-pairs":
            n = len(theta)
            D = np.zeros((len(iu), n))
            D[np.arange(len(iu)), iu] = 1
            D[np.arange(len(iu)), ju] = -1
            gap = D @ theta
            sd = np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", D, S, D), 1e-12))
        z = np.abs(gap) / sd
        if self.params.weighting == "gradient":
            weight = np.exp(-0.5 * z**2) * np.maximum(z, 0.3) / sd**2 + 1e-12
        else:
            weight = 2 * ndtr(-z) + 1e-9
        pij = 1 / (1 + np.exp(-(theta[iu] - theta[ju])))
        c = pij * (1 - pij)
        out: list[Match] = []
        S = S.copy()
        size = min(max(self.batch, math.ceil(self.params.growth * released)), left)
        n_explore = int(round(self.params.explore * size))
        tiebreak = keyed_rng(self.seed, "adaptive-explore", self._wave_no).random(len(iu))
        for k in range(size):
            SX = S[:, iu] - S[:, ju]
            xSx = SX[iu, np.arange(len(iu))] - SX[ju, np.arange(len(iu))]
            if k < n_explore:
                gain = -(self._pair_n + tiebreak)
            else:
                DSX = D @ SX
                gain = c * (weight[:, None] * DSX**2).sum(axis=0) / (1 + c * xSx)
            gain[self._avail <= 0] = -np.inf
            p = int(np.argmax(gain))
            if not np.isfinite(gain[p]):
                break
            m = next(iter(self._emit_block([p])), None)
            if m is None:
                continue
            out.append(m)
            sx = SX[:, p]
            S -= c[p] * np.outer(sx, sx) / (1 + c[p] * xSx[p])
        if not out:
            self.stop_reason = self.stop_reason or "no pairs left"
        return out


def _z(level: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(0.5 + level / 2))


def drive(cls, n_models: int, n_prompts: int, seed: int, **params) -> list[list[str]]:
    """Released match ids wave by wave, against a judge that is a hash of the match id."""
    models = [f"m{i:02d}" for i in range(n_models)]
    strength = {m: 60.0 * i for i, m in enumerate(models)}
    prompts = [Prompt(f"p{i:03d}", "") for i in range(n_prompts)]
    answered = {p.prompt_id: set(models) if i % 7 else set(models[1:]) for i, p in enumerate(prompts)}
    s = cls(prompts, answered, models, seed, **params)
    waves = []
    todo = s.start()
    while todo:
        waves.append([m.match_id for m in todo])
        verdicts = []
        for m in todo:
            u = int.from_bytes(hashlib.sha256(m.match_id.encode()).digest()[:4], "big") / 2**32
            pa = 1 / (1 + 10 ** ((strength[m.model_b] - strength[m.model_a]) / 400))
            o = "tie" if abs(u - pa) < 0.03 else "a" if u < pa else "b"
            verdicts.append((m, Verdict(m.match_id, o, 0 if o == "tie" else 1, True)))
        todo = s.update(verdicts)
    return waves


CASES = [
    (5, 40, 0, {}),
    (8, 60, 1, {}),
    (12, 30, 2, {"explore": 0.0}),
    (10, 50, 3, {"objective": "all-pairs"}),
    (9, 50, 4, {"weighting": "gradient"}),
    (16, 40, 5, {"growth": 0.3, "explore": 0.5}),
    (6, 200, 6, {"batch": 3}),
]


@pytest.mark.parametrize(("n", "prompts", "seed", "params"), CASES)
def test_vectorised_wave_picks_what_the_reference_picked(n, prompts, seed, params):
    params = {"target": "none", "max_matches": 400, "block": 1, **params}
    new = drive(Adaptive, n, prompts, seed, **params)
    old = drive(ReferenceAdaptive, n, prompts, seed, **params)
    assert sum(map(len, new)) >= min(400, 60)  # the runs went several waves deep
    assert len(new) > 3
    assert new == old


def test_stopping_on_separation_is_unchanged():
    params = {"max_matches": 3000, "block": 1}
    assert drive(Adaptive, 5, 400, 7, **params) == drive(ReferenceAdaptive, 5, 400, 7, **params)


@pytest.mark.parametrize(("n", "battles", "far"), [(5, 40, True), (12, 600, False), (30, 3000, False)])
def test_the_dense_refit_equals_bt_fit(n, battles, far):
    """bt_dense on n x n counts, from a cold or a warm start, gives bt_fit's ratings on the battles."""
    from arena.ratings import BattleArrays, bt_fit
    from arena.ratings._bt import to_elo
    from arena.tournaments._adaptive import bt_dense

    rng = np.random.default_rng(n)
    strength = np.linspace(1, -1, n)
    if far:
        strength[-1] = -6.0  # never wins: its rating is held by the prior
    a = rng.integers(0, n, battles)
    b = (a + rng.integers(1, n, battles)) % n
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    u = rng.random(battles)
    score = np.where(np.abs(u - p) < 0.05, 0.5, (u < p).astype(float))
    expected = bt_fit(BattleArrays([f"m{i}" for i in range(n)], a, b, score, np.ones(battles), np.arange(battles)))
    won, count = np.zeros((n, n)), np.zeros((n, n))
    np.add.at(won, (a, b), score)
    np.add.at(won, (b, a), 1 - score)
    np.add.at(count, (a, b), 1)
    np.add.at(count, (b, a), 1)
    for start in (np.zeros(n), rng.normal(0, 2, n)):
        assert np.abs(to_elo(bt_dense(won, count, start)) - expected).max() < 1e-6


def test_a_block_counts_each_copy_of_a_pair_at_its_exact_gain_and_updates_s_exactly():
    """The t-th copy of a pair in a block is worth what the per-pick greedy would compute after
    t-1 copies; S after a block equals the inverse of H plus the block's information."""
    n = 7
    models = [f"m{i}" for i in range(n)]
    prompts = [Prompt(f"p{i}", "") for i in range(30)]
    s = Adaptive(prompts, {p.prompt_id: set(models) for p in prompts}, models, 0, target="none")
    rng = np.random.default_rng(3)
    A = rng.normal(size=(n, n))
    H = A @ A.T + np.eye(n)
    S = np.linalg.inv(H)
    w = rng.random(n - 1)
    order = rng.permutation(n)
    SD = -np.diff(S[:, order], axis=1)
    M = (SD * w) @ SD.T
    c = rng.uniform(0.1, 0.25, len(s._iu))
    q, m = s._quadratic(S), s._quadratic(M)
    gain = c * m / (1 + c * q)
    picks = s._block(gain, c, q, m, 5)
    assert len(picks) == 5
    # brute force: the sequential greedy's gain of each pick in turn, restricted to the same
    # pair's earlier copies (what the block accounts for)
    for k, p in enumerate(picks):
        t = picks[:k].count(p)
        St = S.copy()
        x = np.zeros(n)
        x[s._iu[p]], x[s._ju[p]] = 1, -1
        for _ in range(t):
            sx = St @ x
            St -= c[p] * np.outer(sx, sx) / (1 + c[p] * x @ sx)
        Dt = -np.diff(St[:, order], axis=1)
        exact = c[p] * x @ ((Dt * w) @ Dt.T) @ x / (1 + c[p] * x @ St @ x)
        worth = c[p] * m[p] / ((1 + t * c[p] * q[p]) * (1 + (t + 1) * c[p] * q[p]))
        assert worth == pytest.approx(exact, rel=1e-9)
    # the block's picks are its best copies: nothing left out is worth more than the last taken
    taken = {p: picks.count(p) for p in picks}
    last = min(c[p] * m[p] / ((1 + (k - 1) * c[p] * q[p]) * (1 + k * c[p] * q[p])) for p, k in taken.items())
    for p in range(len(gain)):
        k = taken.get(p, 0)
        assert c[p] * m[p] / ((1 + k * c[p] * q[p]) * (1 + (k + 1) * c[p] * q[p])) <= last * (1 + 1e-12)
    H2 = H.copy()
    S2 = s._update_cov(S.copy(), H2, picks, c, [])
    X = np.zeros((n, len(picks)))
    X[s._iu[picks], np.arange(len(picks))] = 1
    X[s._ju[picks], np.arange(len(picks))] = -1
    expected = np.linalg.inv(H + (X * c[picks]) @ X.T)
    assert np.abs(S2 - expected).max() < 1e-10
    assert np.abs(H2 - (H + (X * c[picks]) @ X.T)).max() < 1e-12
    # a block of few pairs (Woodbury) and of one pick (Sherman-Morrison) give the same
    for few in ([4, 4, 9], [11]):
        X = np.zeros((n, len(few)))
        X[s._iu[few], np.arange(len(few))] = 1
        X[s._ju[few], np.arange(len(few))] = -1
        S3 = s._update_cov(S.copy(), H.copy(), few, c, [])
        assert np.abs(S3 - np.linalg.inv(H + (X * c[few]) @ X.T)).max() < 1e-10
