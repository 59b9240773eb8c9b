"""Rankings across benchmarks and from sparse sample-level data, on synthetic and real tables.

    .venv/bin/python bench/aggregate.py [--data ../shared/data] [--models 100] [--samples 10000] [--bootstrap 200]

1. Plackett-Luce from sparse sample-level measurements (ONEBench's claim): synthetic data with
   known strengths, 95% of the model x sample cells missing, half the samples pass/fail and half
   scored; prints Spearman with the true order, and the fit time against choix's `ilsr_top1`
   (the reference, on the same choices, in the same run). Exits 1 if Spearman < 0.95.
2. AlpacaEval's benchmarks.csv (a sparse real table): the models ranked from every benchmark
   column except the Arena Elo ones and Output Length, by Kemeny, Borda, mean of z-scores and
   Plackett-Luce (each column a sample), beside the held-out Arena Elo [Feb 2, 2024] column, with
   each method's Spearman against it. Skipped when the data is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.stats import kendalltau, spearmanr  # noqa: E402

from arena.ratings import SampleMeasurements, aggregate_rankings, choices_from_samples, fit_pl, fit_plackett_luce  # noqa: E402
from arena.ratings._plackett_luce import simulate_measurements  # noqa: E402
from arena.tables import read_score_table  # noqa: E402

ELO = "Arena Elo [Feb 2, 2024]"
HELD_OUT = (ELO, "Arena Elo [April 18, 2024]", "Output Length")


def synthetic(n_models: int, n_samples: int, bootstrap: int, seed: int) -> bool:
    import choix

    theta, data = simulate_measurements(n_models, n_samples, 0.05, np.random.default_rng(seed))
    missing = 1 - len(data.score) / (n_models * n_samples)
    t = time.perf_counter()
    ch = choices_from_samples(data)
    t_break = time.perf_counter() - t
    t = time.perf_counter()
    ours = fit_pl(ch, prior=0.0)
    t_ours = time.perf_counter() - t
    tops = [(int(w), [int(m) for m in ch.entry_model[ch.entry_event == e] if m != w]) for e, w in enumerate(ch.winner)]
    t = time.perf_counter()
    ref = choix.ilsr_top1(n_models, tops, tol=1e-8)
    t_choix = time.perf_counter() - t
    t = time.perf_counter()
    res = fit_plackett_luce(data, bootstrap=bootstrap, seed=seed)
    t_full = time.perf_counter() - t
    fitted = {r.model: r.rating for r in res.rows}
    rho = float(spearmanr([fitted[m] for m in data.models], theta).statistic)
    tau = float(kendalltau([fitted[m] for m in data.models], theta).statistic)
    inside = 0
    print(f"\n1. Plackett-Luce, synthetic: {n_models} models x {n_samples} samples drawn, {len(data.samples)} kept (>= 2 models),"
          f" {len(data.score)} measurements: {100 * missing:.1f}% of cells missing")
    print(f"   Spearman with the true strengths {rho:.4f}, Kendall {tau:.4f} (prior 1, {len(ch.winner)} choices)")
    print(f"   MLE: ours {t_ours:.3f} s vs choix ilsr_top1 {t_choix:.3f} s on the same choices ({t_choix / max(t_ours, 1e-9):.1f}x),"
          f" max |diff| {np.max(np.abs(ours - (ref - ref.mean()))):.2e} (log-strength); rank-breaking {t_break:.2f} s")
    print(f"   with {bootstrap} sample-bootstrap replicates: {t_full:.1f} s in all")
    # interval coverage where the data follow the model exactly (scores with Gumbel noise only;
    # pass/fail samples compress the scale, so only the order is comparable there)
    theta2, data2 = simulate_measurements(30, 2000, 0.2, np.random.default_rng(seed + 1), binary_share=0.0)
    res2 = fit_plackett_luce(data2, bootstrap=bootstrap, seed=seed, prior=0.0)
    true_elo = 1000 + 400 / np.log(10) * (theta2 - theta2.mean())
    for k, m in enumerate(data2.models):
        r = next(r for r in res2.rows if r.model == m)
        inside += r.ci_low <= true_elo[k] <= r.ci_high
    print(f"   coverage (30 models x 2000 Plackett-Luce samples, 80% missing, prior 0): {inside}/30 true ratings inside their 95% intervals")
    return rho >= 0.95


def real(data_dir: Path) -> None:
    path = data_dir / "alpaca_eval" / "benchmarks.csv"
    if not path.exists():
        print(f"\n2. no {path}: skipped")
        return
    full = read_score_table(path)
    elo = dict(zip(full.models, full.scores[:, full.tasks.index(ELO)]))
    table = read_score_table(path, exclude=HELD_OUT)
    t = time.perf_counter()
    agg = aggregate_rankings(table, bootstrap=200, seed=0)
    t_agg = time.perf_counter() - t
    # Plackett-Luce with each benchmark column as one sample over the models it measured
    s_idx, m_idx = np.nonzero(~np.isnan(table.scores.T))
    data = SampleMeasurements(table.models, table.tasks, s_idx, m_idx, table.scores.T[s_idx, m_idx])
    pl = fit_plackett_luce(data, bootstrap=200, seed=0)
    plr = {r.model: r for r in pl.rows}
    print(f"\n2. {path.name}: {len(table.models)} models x {len(table.tasks)} benchmarks (Arena Elo and Output Length held out),"
          f" {100 * np.isnan(table.scores).mean():.0f}% of cells missing; Kemeny {'exact' if agg.kemeny_exact else 'local search'},"
          f" aggregate + 200 task-bootstrap replicates in {t_agg:.1f} s")
    print(f"   {'model':28s} {'tasks':>5s} {'Kemeny':>6s} {'Borda':>5s} {'mean z':>6s} {'PL':>4s} {'PL rating (95% CI)':>20s} {'Arena Elo':>9s}")
    pl_rank = {r.model: r.rank for r in pl.rows}
    for r in agg.rows:
        p = plr[r.model]
        e = elo.get(r.model, float("nan"))
        print(f"   {r.model[:28]:28s} {r.tasks:5d} {r.ranks['kemeny']:6d} {r.ranks['borda']:5d} {r.ranks['mean_normalised']:6d} {pl_rank[r.model]:4d}"
              f" {p.rating:7.0f} ({p.ci_low:5.0f}-{p.ci_high:5.0f}) {'' if e != e else f'{e:9.0f}'}")
    both = [r for r in agg.rows if elo.get(r.model) == elo.get(r.model)]
    ref = [elo[r.model] for r in both]
    print(f"   against {ELO} on the {len(both)} models it has (rank correlation; higher is closer to human preference):")
    for name, vals in (
        ("Kemeny", [-r.ranks["kemeny"] for r in both]),
        ("Borda", [r.values["borda"] for r in both]),
        ("mean of z-scores", [r.values["mean_normalised"] for r in both]),
        ("Plackett-Luce", [plr[r.model].rating for r in both]),
    ):
        print(f"     {name:18s} Spearman {spearmanr(vals, ref).statistic:.3f}  Kendall {kendalltau(vals, ref).statistic:.3f}")
    print(f"   methods disagree on {len(agg.disagreements)} of {len(agg.rows) * (len(agg.rows) - 1) // 2} pairs")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ok = synthetic(args.models, args.samples, args.bootstrap, args.seed)
    real(args.data)
    if not ok:
        print("FAIL: Spearman below 0.95")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
