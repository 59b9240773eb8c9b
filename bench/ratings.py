"""Benchmark: Bradley-Terry point fit + prompt-clustered bootstrap, against Chatbot Arena's method.

Ours: `arena.ratings.fit_ratings(..., bootstrap=N, by="prompt")`: battles collapse into a
(prompt x pair) matrix of sufficient statistics, replicates are a multinomial-weights matrix
product, and all replicates are solved together by a batched Newton iteration.

Reference (Chatbot Arena's rating code): collapse identical (model_a, model_b, outcome) rows
into counts, draw each replicate's counts multinomially, and refit each replicate with scipy's
L-BFGS on the Bradley-Terry loss (ties as half wins, the same prior as ours so that the point
ratings are comparable). The reference is timed on a subset of replicates and extrapolated per
replicate; the output says so.

    .venv/bin/python bench/ratings.py            # 100 models, 2,000 prompts, 1,000,000 battles
    .venv/bin/python bench/ratings.py --quick    # 20 models, 200 prompts, 20,000 battles
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena.ratings import DEFAULT_PRIOR, BattleArrays, fit_ratings, to_elo  # noqa: E402


def simulate(n_models: int, n_prompts: int, n_battles: int, seed: int = 0, tie_rate: float = 0.1) -> tuple[BattleArrays, np.ndarray]:
    """Battles from known strengths (sd 1 log-odds, about 170 Elo) spread over prompts."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    prompt = rng.integers(0, n_prompts, n_battles)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    u = rng.random(n_battles)
    score = np.where(u < tie_rate, 0.5, (rng.random(n_battles) < p).astype(float))
    arrays = BattleArrays([f"model-{i:03d}" for i in range(n_models)], a, b, score, np.ones(n_battles), prompt)
    return arrays, theta


# ---------------------------------------------------------------- reference (Chatbot Arena's method)
def reference_preprocess(arrays: BattleArrays):
    """Unique (a, b, outcome) rows and their counts, as Chatbot Arena's preprocess_for_bt does."""
    key = (arrays.a * arrays.n_models + arrays.b) * 3 + np.round(arrays.score_a * 2).astype(np.int64)
    uniq, counts = np.unique(key, return_counts=True)
    outcome = (uniq % 3) / 2.0
    ab = uniq // 3
    return ab // arrays.n_models, ab % arrays.n_models, outcome, counts.astype(float)


def reference_fit(n: int, a, b, outcome, counts, prior: float, x0=None) -> np.ndarray:
    """scipy L-BFGS on the (count-weighted) Bradley-Terry loss plus our prior."""
    from scipy.optimize import minimize

    total = counts.sum()

    def loss_and_grad(theta):
        d = theta[a] - theta[b]
        p = 1.0 / (1.0 + np.exp(-d))
        ll = counts * (outcome * np.logaddexp(0, -d) + (1 - outcome) * np.logaddexp(0, d))
        g_d = counts * (p - outcome)
        grad = np.bincount(a, g_d, minlength=n) - np.bincount(b, g_d, minlength=n)
        ab_ = np.abs(theta)
        loss = ll.sum() + prior * (0.5 * ab_ + np.log1p(np.exp(-ab_))).sum()
        grad = grad + 0.5 * prior * np.tanh(0.5 * theta)
        return loss / total, grad / total

    x0 = np.zeros(n) if x0 is None else x0
    res = minimize(loss_and_grad, x0, jac=True, method="L-BFGS-B", options={"maxiter": 10_000, "gtol": 1e-12, "ftol": 1e-15})
    return res.x


def reference_bootstrap(n: int, a, b, outcome, counts, n_boot: int, prior: float, rng) -> np.ndarray:
    total = int(counts.sum())
    draws = rng.multinomial(total, counts / counts.sum(), size=n_boot)
    out = np.empty((n_boot, n))
    for r in range(n_boot):
        out[r] = reference_fit(n, a, b, outcome, draws[r].astype(float), prior)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 models, 200 prompts, 20,000 battles")
    ap.add_argument("--models", type=int)
    ap.add_argument("--prompts", type=int)
    ap.add_argument("--battles", type=int)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--ref-replicates", type=int, default=None, help="reference replicates actually timed")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n_models = args.models or (20 if args.quick else 100)
    n_prompts = args.prompts or (200 if args.quick else 2000)
    n_battles = args.battles or (20_000 if args.quick else 1_000_000)
    ref_reps = args.ref_replicates or (20 if args.quick else 10)

    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus={os.cpu_count()}")
    t = time.perf_counter()
    arrays, theta_true = simulate(n_models, n_prompts, n_battles, args.seed)
    print(f"simulated {n_models} models, {n_prompts} prompts, {n_battles:,} battles in {time.perf_counter() - t:.2f} s")

    # warm-up on a small problem (imports, BLAS threads), not timed
    fit_ratings(simulate(5, 10, 200, 1)[0], bootstrap=5)

    t0 = time.perf_counter()
    lb = fit_ratings(arrays, bootstrap=args.bootstrap, by="prompt", seed=args.seed)
    ours = time.perf_counter() - t0
    ours_rating = np.array([lb.row(m).rating for m in arrays.models])
    print(f"ours: point fit + {args.bootstrap} prompt-clustered bootstrap replicates: {ours:.2f} s")

    ra, rb, rout, rcounts = reference_preprocess(arrays)
    t1 = time.perf_counter()
    theta_ref = reference_fit(n_models, ra, rb, rout, rcounts, DEFAULT_PRIOR)
    ref_point = time.perf_counter() - t1
    rng = np.random.default_rng(args.seed)
    t2 = time.perf_counter()
    reference_bootstrap(n_models, ra, rb, rout, rcounts, ref_reps, DEFAULT_PRIOR, rng)
    per_rep = (time.perf_counter() - t2) / ref_reps
    ref_total = ref_point + per_rep * args.bootstrap
    print(
        f"reference (scipy L-BFGS per replicate on multinomially resampled counts, {len(rcounts):,} unique rows): "
        f"point fit {ref_point:.2f} s, {per_rep:.3f} s per replicate timed on {ref_reps} replicates, "
        f"extrapolated to {args.bootstrap}: {ref_total:.1f} s"
    )
    ref_rating = to_elo(theta_ref)
    diff = np.abs(ref_rating - ours_rating).max()
    print(f"max |ours - reference| point rating: {diff:.5f} Elo ({'OK' if diff < 0.01 else 'MISMATCH'} at 0.01)")
    from scipy.stats import spearmanr

    rho = spearmanr(ours_rating, theta_true).statistic
    width = np.median([r.ci_high - r.ci_low for r in lb.rows])
    print(f"Spearman(ours, true strengths) = {rho:.4f}; median 95% CI width {width:.1f} Elo")
    ratio = ref_total / ours
    print(f"ratio reference / ours: {ratio:.1f}x ({'meets' if ratio >= 10 else 'MISSES'} 10x); "
          f"ours {'meets' if ours < 5 else 'MISSES'} the 5 s budget")
    return 0 if diff < 0.01 else 1


if __name__ == "__main__":
    raise SystemExit(main())
