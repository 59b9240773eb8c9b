"""Which schedule buys the most certainty per judge call? The issue-4 claim table.

16 models whose true ratings span 300 Elo (normal quantiles: denser in the middle, as real
leaderboards are), a synthetic judge of accuracy 0.8 and position bias 0.1 judging both orders
(2 calls a match), at least 50 trials. For each scheduler: the judge calls needed to reach a
mean Spearman of 0.95 with the true order (interpolated between the budgets of the grid).

Claims checked (printed as PASS / FAIL with the ratio):
  - adaptive needs at most 40% of the calls of round-robin with uniformly sampled pairs;
  - single-elimination needs fewer calls than anchored (Varco Arena's claim).

Then (and alone with `--only adaptive`) the adaptive scheduler before and after it picked in
blocks, in the same run on the same trials (the per-pick greedy, `block = 1`, against the
default, a quarter of the models per gain evaluation): mean Spearman, 95% CI coverage of the
judge-implied ratings (bootstrap), CI width and the slope of fitted on implied ratings, by
budget. Measured (50 trials, 100 bootstrap replicates, seed 0; see the adaptive module's
docstring for the figures).

Run:  .venv/bin/python bench/schedulers.py [--trials 50] [--seed 0] [--only adaptive]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena.tournaments.simulate import simulate  # noqa: E402

RR = "round-robin:pairs_per_prompt=1,sampling=uniform"
SCHEDULERS = [
    "single-elimination",
    RR,
    "round-robin:pairs_per_prompt=1",  # balanced sampling
    "anchored:baseline=@median",
    "anchored:baseline=@best",
    "swiss",
    "adaptive",
]
BUDGETS = [500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000]


def oracle_ratio(n_matches: int = 3000) -> float:
    """A bound on what any adaptive design can save here: the best fixed allocation of matches
    over pairs, chosen knowing the true (judge-implied) ratings, to minimise the expected number
    of misordered pairs under the Bradley-Terry Fisher information; returned as the matches it
    needs to equal uniform round-robin's expected misorderings with `n_matches` matches."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import ndtr

    from arena.tournaments.simulate import SyntheticJudge, implied_ratings, true_ratings

    n = 16
    th = implied_ratings(true_ratings(n, 300), SyntheticJudge(0.8, 0.1)) * np.log(10) / 400
    iu, ju = np.triu_indices(n, 1)
    p = 1 / (1 + np.exp(-(th[iu] - th[ju])))
    c, g = p * (1 - p), np.abs(th[iu] - th[ju])

    def misordered(w, total):
        L = np.zeros((n, n))
        for (i, j), v in ((ij, v) for ij, v in zip(zip(iu, ju), w * c * total)):
            L[i, i] += v
            L[j, j] += v
            L[i, j] -= v
            L[j, i] -= v
        S = np.linalg.pinv(L)
        return ndtr(-g / np.sqrt(S[iu, iu] + S[ju, ju] - 2 * S[iu, ju])).sum()

    def softmax(x):
        w = np.exp(x - x.max())
        return w / w.sum()

    uniform = misordered(np.full(len(iu), 1 / len(iu)), n_matches)
    best = softmax(minimize(lambda x: misordered(softmax(x), n_matches), np.zeros(len(iu)), method="L-BFGS-B").x)
    lo, hi = 1.0, float(n_matches)
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if misordered(best, mid) > uniform else (lo, mid)
    return hi / n_matches


def adaptive_before_after(trials: int, seed: int, bootstrap: int, budgets=(1000, 2000, 4000, 8000, 16000)) -> None:
    """The per-pick adaptive (block = 1) and the block default on the same trials (same judge
    streams: both run under the label "adaptive"), printed side by side."""
    from arena.tournaments._adaptive import Adaptive
    from arena.tournaments.spec import SCHEDULERS as KINDS

    class PerPick(Adaptive):
        def __init__(self, *args, **params):
            super().__init__(*args, **{**params, "block": 1})

    out = {}
    for label, cls in (("per pick (before)", PerPick), ("blocks (after)", Adaptive)):
        KINDS["adaptive"] = cls
        t0 = time.process_time()
        try:
            res = simulate(
                n_models=16, n_prompts=8000, accuracy=0.8, position_bias=0.1, spread=300,
                schedulers=["adaptive"], budgets=list(budgets), trials=trials, seed=seed, bootstrap=bootstrap,
            )
        finally:
            KINDS["adaptive"] = Adaptive
        out[label] = (res, time.process_time() - t0)
    print(f"adaptive before/after, same {trials} trials, {bootstrap} bootstrap replicates (16 models, as above):")
    print(f"{'':20s} {'calls':>6s} {'Spearman':>9s} {'coverage':>9s} {'CI width':>9s} {'slope':>6s}")
    for b in budgets:
        for label, (res, _) in out.items():
            r = next(r for r in res.rows if r.budget == b)
            print(f"{label:20s} {b:6d} {r.spearman:9.3f} {r.coverage:9.3f} {r.ci_width:9.1f} {r.slope:6.3f}")
    for label, (res, took) in out.items():
        c = res.reach["adaptive"]
        print(f"{label:20s} calls to Spearman 0.95: {('%.0f' % c) if c else 'not reached'}  ({took:.0f} s CPU with the bootstrap)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompts", type=int, default=8000)
    ap.add_argument("--bootstrap", type=int, default=100, help="replicates for the adaptive before/after CIs")
    ap.add_argument("--only", choices=["all", "adaptive"], default="all", help="adaptive: only the before/after section")
    args = ap.parse_args()
    if args.only == "adaptive":
        adaptive_before_after(args.trials, args.seed, args.bootstrap)
        return 0
    t0 = time.perf_counter()
    res = simulate(
        n_models=16, n_prompts=args.prompts, accuracy=0.8, position_bias=0.1, spread=300,
        schedulers=SCHEDULERS, budgets=BUDGETS, trials=args.trials, seed=args.seed, bootstrap=0,
    )
    took = time.perf_counter() - t0
    print(f"16 models, 300 Elo spread, judge accuracy 0.8, position bias 0.1, 2 calls a match, {args.trials} trials, seed {args.seed}")
    print()
    print("mean Spearman with the true order, by budget (judge calls):")
    head = f"{'scheduler':50s}" + "".join(f"{b:>7d}" for b in BUDGETS)
    print(head)
    for name in SCHEDULERS:
        rows = [r for r in res.rows if r.scheduler == name]
        print(f"{name:50s}" + "".join(f"{r.spearman:7.3f}" if r.calls >= r.budget * 0.99 else f"{'(' + format(r.spearman, '.2f') + ')':>7s}" for r in rows))
    print("(parenthesised: the pool ran out of prompts before the budget)")
    print()
    print(f"{'scheduler':50s} {'calls to Spearman 0.95':>24s} {'vs round-robin (uniform)':>26s}")
    base = res.reach[RR]
    for name in SCHEDULERS:
        c = res.reach[name]
        ratio = f"{c / base:.0%}" if c and base else "-"
        print(f"{name:50s} {('%.0f' % c) if c else 'not reached':>24s} {ratio:>26s}")
    print()
    ok = True
    a, r = res.reach["adaptive"], base
    if a and r:
        verdict = a <= 0.4 * r
        ok &= verdict
        print(f"claim: adaptive <= 40% of round-robin (uniform pairs): {a:.0f} / {r:.0f} = {a / r:.0%}  {'PASS' if verdict else 'FAIL'}")
    else:
        ok = False
        print("claim: adaptive <= 40% of round-robin: not measurable (target not reached)  FAIL")
    se, an = res.reach["single-elimination"], res.reach["anchored:baseline=@median"]
    if se and an:
        verdict = se < an
        ok &= verdict
        print(f"claim: single-elimination < anchored (median baseline): {se:.0f} vs {an:.0f} = {se / an:.0%}  {'PASS' if verdict else 'FAIL'}")
    anb = res.reach["anchored:baseline=@best"]
    if se and anb:
        print(f"       single-elimination vs anchored (best model as baseline, Arena-Hard style): {se:.0f} vs {anb:.0f} = {se / anb:.0%}")
    print(
        f"       bound: the best fixed allocation over pairs, chosen knowing the true ratings, needs {oracle_ratio():.0%} of "
        "uniform round-robin's matches for the same expected misordered pairs (Bradley-Terry information)"
    )
    print(f"\n{took:.0f} s\n")
    adaptive_before_after(args.trials, args.seed, args.bootstrap)
    return 0 if ok or "--strict" not in sys.argv else 1


if __name__ == "__main__":
    sys.exit(main())
