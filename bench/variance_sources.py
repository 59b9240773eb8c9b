"""Check the split of rating variance into prompt sampling and judge noise against Monte Carlo truth.

    .venv/bin/python bench/variance_sources.py [--prompts 150] [--sims 150]

Synthetic arenas: 6 models, round-robin on every prompt; each (prompt, pair) has its own
expected verdict mu = sigmoid(s_a - s_b + eta), eta ~ N(0, tau^2) (prompt heterogeneity), and
the judge reads a Bernoulli(mu) verdict (judge noise). For each tau:

- truth, judge noise: the variance of each rating over fresh judge readings with the prompts
  held fixed (averaged over a few prompt sets); truth, total: over fresh prompts and readings;
- estimate: one arena, its prompt-bootstrap variance (total) and `variance_sources` with half
  the matches re-judged once (judge noise).

Prints, per tau, the ratio estimate / truth of the mean judge-noise variance and of the total,
and the judge share both ways. tau = 0 is a pure coin-flip judge (all variance is judge noise);
a large tau makes verdicts nearly deterministic given the prompt (mostly prompt sampling).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.ratings import BattleArrays, fit_ratings, variance_sources  # noqa: E402

STRENGTH = np.array([0.0, 0.3, 0.6, 0.9, 1.2, 1.5])


def arena_mu(tau: float, n_prompts: int, rng: np.random.Generator):
    n = len(STRENGTH)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    a = np.array([i for _ in range(n_prompts) for i, _ in pairs])
    b = np.array([j for _ in range(n_prompts) for _, j in pairs])
    prompt = np.repeat(np.arange(n_prompts), len(pairs))
    eta = rng.normal(0, tau, len(a)) if tau > 0 else np.zeros(len(a))
    mu = 1 / (1 + np.exp(-(STRENGTH[a] - STRENGTH[b] + eta)))
    return a, b, prompt, mu


def arrays(a, b, prompt, y) -> BattleArrays:
    return BattleArrays([f"m{i}" for i in range(len(STRENGTH))], a, b, y, np.ones(len(a)), prompt)


def ratings(a, b, prompt, y) -> np.ndarray:
    board = fit_ratings(arrays(a, b, prompt, y), bootstrap=0)
    return np.array([board.ratings[m] for m in board.models])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=150)
    ap.add_argument("--sims", type=int, default=150)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{len(STRENGTH)} models, {args.prompts} prompts, round-robin; {args.sims} Monte Carlo draws per truth")
    print("tau   judge var est/true   total est/true   judge share est / true")
    for tau in (0.0, 1.0, 2.0, 4.0):
        judge_true = []
        for _ in range(4):  # a few prompt sets; judge noise redrawn with prompts fixed
            a, b, prompt, mu = arena_mu(tau, args.prompts, rng)
            draws = np.array([ratings(a, b, prompt, (rng.random(len(mu)) < mu).astype(float)) for _ in range(args.sims // 4)])
            judge_true.append(draws.var(axis=0, ddof=1))
        judge_true = np.mean(judge_true, axis=0)
        total_draws = []
        for _ in range(args.sims):
            a, b, prompt, mu = arena_mu(tau, args.prompts, rng)
            total_draws.append(ratings(a, b, prompt, (rng.random(len(mu)) < mu).astype(float)))
        total_true = np.var(total_draws, axis=0, ddof=1)
        est_j, est_t = [], []
        for _ in range(5):
            a, b, prompt, mu = arena_mu(tau, args.prompts, rng)
            y = (rng.random(len(mu)) < mu).astype(float)
            battles = arrays(a, b, prompt, y)
            board = fit_ratings(battles, bootstrap=500, seed=int(rng.integers(1 << 30)))
            idx = rng.choice(len(y), size=len(y) // 2, replace=False)
            replay = (rng.random(len(idx)) < mu[idx]).astype(float)
            got = variance_sources(board, battles, idx, replay, np.ones(len(idx)), bootstrap=0)
            est_j.append(np.mean([m["judge_var"] for m in got["models"]]))
            est_t.append(np.mean([m["total_var"] for m in got["models"]]))
        rj, rt = np.mean(est_j) / judge_true.mean(), np.mean(est_t) / total_true.mean()
        print(f"{tau:<5g} {rj:>18.2f} {rt:>16.2f}   {np.mean(est_j) / np.mean(est_t):>10.2f} / {judge_true.mean() / total_true.mean():.2f}")


if __name__ == "__main__":
    main()
