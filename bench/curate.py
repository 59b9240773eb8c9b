"""Does a curated 20% of a prompt pool rank *new* models better than a random 20%?

    .venv/bin/python bench/curate.py [--data ../shared/data] [--splits 10] [--draws 50] [--fraction 0.2]

Data: AlpacaEval 2's recorded GPT-4-Turbo verdicts (`alpaca_eval/judgments_gpt4_turbo/`, 44
models x 805 prompts, each a probability-weighted preference against the baseline
gpt4_1106_preview). A model's score on a set of prompts is its win rate against the baseline
there (the mean of `preference - 1`), as AlpacaEval reports it.

Whole models are held out: each split puts half the models in a *pilot* set (the only models a
selection may look at) and ranks the other half. For each selection of 20% of the prompts it
prints, over the held-out models:
- Spearman between their ranking on the subset and on all 805 prompts (the full pool);
- the mean width of their 95% win-rate intervals on the subset (percentile bootstrap over
  prompts, 200 replicates), in percentage points;
- separability: the share of held-out model pairs whose intervals do not overlap.

Selections:
- `random`: 20% uniformly (mean and spread over `--draws` draws per split);
- `cluster-balanced`: arena.curate's topic clusters (TF-IDF + k-means, computed from the prompt
  texts alone) and `select_balanced` with every prompt eligible: even sampling across clusters
  (`--draws` draws per split);
- `pilot-correlation`: the prompts whose verdicts correlate most, across the pilot models, with
  the pilot models' full-pool win rates (selection by separability on a pilot run);
- `pilot-variance`: the prompts on which the pilot models' verdicts vary most (arena.curate's
  `prompt_spread`, what `arena pool curate --pilot RUN` uses);
- `pilot-correlation, balanced` / `pilot-variance, balanced`: the best prompts by that score within
  each cluster, even counts across clusters.

What cannot be measured offline: the seven BenchBuilder criteria need an LLM annotator (and
money); this data set has no annotations. The script says which selections beat random here;
arena ships as default only those (see README, "Curating a pool").

Last, it prints `arena pool compare`'s metrics (`arena.ratings.pool_quality`, with intervals) for a
random subset and the pilot-spread subset of one split, rating the held-out models by
Bradley-Terry against the baseline (Elo scale).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.curate import balanced_quotas, cluster_texts, prompt_spread, select_balanced


def load(folder: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(models, instructions, win matrix (n_models, n_prompts) in [0, 1]) joined on the instruction text
    (6 of the 805 instructions differ in a few models' files and are left out: 799 remain)."""
    models, cols = [], []
    instructions: list[str] | None = None
    for f in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        by_instr = {r["instruction"]: float(r["preference"]) - 1.0 for r in rows if r.get("preference") is not None}
        if instructions is None:
            instructions = [r["instruction"] for r in rows]
        models.append(f.name.removesuffix(".jsonl.gz"))
        cols.append([by_instr.get(i, np.nan) for i in instructions])
    assert instructions is not None
    W = np.array(cols, dtype=float)
    keep = ~np.isnan(W).any(axis=0)
    return models, [t for t, k in zip(instructions, keep) if k], W[:, keep]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def interval_stats(W: np.ndarray, idx: np.ndarray, rng: np.random.Generator, n_boot: int = 200) -> tuple[float, float]:
    """(mean 95% CI width in percentage points, separability) of the models' win rates on prompts `idx`."""
    sub = W[:, idx]
    draws = rng.integers(0, len(idx), size=(n_boot, len(idx)))
    boot = sub[:, draws].mean(axis=2)  # (models, n_boot)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=1)
    width = float(np.mean(hi - lo)) * 100
    n = len(lo)
    sep = [(lo[i] > hi[j]) or (lo[j] > hi[i]) for i in range(n) for j in range(i + 1, n)]
    return width, float(np.mean(sep))


def evaluate(W: np.ndarray, held: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    full = W[held].mean(axis=1)
    sub = W[held][:, idx].mean(axis=1)
    width, sep = interval_stats(W[held], idx, rng)
    return spearman(sub, full), width, sep


def pilot_scores(W: np.ndarray, pilot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt: correlation of the pilot models' verdicts with their full-pool win rates, and the verdicts' variance."""
    P = W[pilot]
    overall = P.mean(axis=1)
    pc = P - P.mean(axis=0, keepdims=True)
    oc = overall - overall.mean()
    denom = np.sqrt((pc**2).sum(axis=0) * (oc**2).sum())
    corr = np.where(denom > 0, (pc * oc[:, None]).sum(axis=0) / np.where(denom > 0, denom, 1), 0.0)
    return corr, prompt_spread(P)  # what `arena pool curate --pilot RUN` ranks prompts by


def top_balanced(score: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    """The highest-scoring prompts within each cluster, with even per-cluster counts."""
    keys = np.unique(labels)
    quotas = balanced_quotas([int((labels == c).sum()) for c in keys], size)
    out = []
    for c, q in zip(keys, quotas):
        members = np.flatnonzero(labels == c)
        out.extend(members[np.argsort(-score[members])[:q]])
    return np.array(sorted(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--splits", type=int, default=10, help="random halvings of the models into pilot / held out")
    ap.add_argument("--draws", type=int, default=50, help="random draws per split for the random selections")
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    folder = args.data / "alpaca_eval" / "judgments_gpt4_turbo"
    if not folder.is_dir():
        print(f"skip: {folder} not found (the shared AlpacaEval judgments)")
        return 0
    t0 = time.perf_counter()
    _models, texts, W = load(folder)
    n_models, n_prompts = W.shape
    size = round(args.fraction * n_prompts)
    clustering = cluster_texts(texts, seed=args.seed)
    labels = clustering.labels
    print(
        f"{n_models} models x {n_prompts} prompts; subsets of {size} prompts ({args.fraction:.0%}); "
        f"{len(clustering.names)} clusters ({clustering.method}); {args.splits} splits of the models "
        f"(half pilot, half held out), {args.draws} random draws per split"
    )
    rng = np.random.default_rng(args.seed)
    results: dict[str, list[tuple[float, float, float]]] = {}
    per_split: dict[str, list[float]] = {}
    everything = np.zeros(n_prompts, dtype=int)
    for s in range(args.splits):
        perm = rng.permutation(n_models)
        pilot, held = perm[: n_models // 2], perm[n_models // 2 :]
        corr, var = pilot_scores(W, pilot)
        selections: dict[str, list[np.ndarray]] = {
            "random": [np.sort(rng.choice(n_prompts, size, replace=False)) for _ in range(args.draws)],
            "cluster-balanced": [
                np.array(select_balanced(everything, labels, size=size, threshold=0, rng=rng)) for _ in range(args.draws)
            ],
            "pilot-correlation": [np.sort(np.argsort(-corr)[:size])],
            "pilot-variance": [np.sort(np.argsort(-var)[:size])],
            "pilot-correlation, balanced": [top_balanced(corr, labels, size)],
            "pilot-variance, balanced": [top_balanced(var, labels, size)],
        }
        for name, idxs in selections.items():
            vals = [evaluate(W, held, idx, rng) for idx in idxs]
            results.setdefault(name, []).extend(vals)
            per_split.setdefault(name, []).append(float(np.mean([v[0] for v in vals])))
    print(f"\n{'selection':30s} {'Spearman vs full pool':>24s} {'95% CI width (pp)':>19s} {'separability':>13s} {'beats random in':>16s}")
    base = np.array(per_split["random"])
    verdicts = {}
    for name, vals in results.items():
        a = np.array(vals)
        m, sd = a.mean(axis=0), a.std(axis=0)
        wins = "" if name == "random" else f"{int((np.array(per_split[name]) > base).sum())}/{args.splits} splits"
        print(f"{name:30s} {m[0]:13.3f} +- {sd[0]:.3f}    {m[1]:10.2f} +- {sd[1]:.2f} {m[2]:8.3f} {wins:>16s}")
        verdicts[name] = float(np.mean(per_split[name]) - base.mean())
    print("\nSpearman minus random's (mean over splits): " + ", ".join(f"{k} {v:+.3f}" for k, v in verdicts.items() if k != "random"))
    better = [k for k, v in verdicts.items() if k != "random" and v > 0 and (np.array(per_split[k]) > base).mean() > 0.5]
    print("Selections that beat random here: " + (", ".join(better) if better else "none"))
    quality_side_by_side(W, texts, rng, size)
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


def quality_side_by_side(W: np.ndarray, texts: list[str], rng: np.random.Generator, size: int) -> None:
    """`arena pool compare`'s metrics (arena.ratings.pool_quality) on one split: the held-out models
    against the baseline on a random subset and on the pilot-spread subset, the reference being
    their win rates on the whole pool. Each verdict is a battle against the baseline, weighted by
    the judge's preference (p for the model, 1 - p for the baseline)."""
    from arena.ratings import QUALITY_METRICS, pool_quality
    from arena.records import Battle

    n_models = W.shape[0]
    perm = rng.permutation(n_models)
    pilot, held = perm[: n_models // 2], perm[n_models // 2 :]
    reference = {f"m{i}": float(W[i].mean()) for i in held}
    subsets = {
        "random": np.sort(rng.choice(W.shape[1], size, replace=False)),
        "pilot spread": np.sort(np.argsort(-prompt_spread(W[pilot]))[:size]),
    }
    print(f"\narena pool compare's metrics on one split ({len(held)} held-out models + the baseline, {size} prompts each, 95% intervals):")
    rows = {}
    for name, idx in subsets.items():
        battles = [
            Battle(f"q{j}", f"m{i}", "baseline", outcome, weight)
            for i in held
            for j in idx
            for outcome, weight in (("a", float(W[i, j])), ("b", 1.0 - float(W[i, j])))
            if weight > 0
        ]
        q = pool_quality(battles, judge_calls=len(held) * size, reference=reference, n_outer=20, n_boot=100)
        rows[name] = q.metrics
    print(f"  {'metric':28s} " + " ".join(f"{n:>26s}" for n in subsets))
    for k in QUALITY_METRICS:
        cells = []
        for name in subsets:
            e = rows[name][k]
            cells.append("-" if e.value is None else f"{e.value:8.3f} [{e.low:.3f}, {e.high:.3f}]")
        print(f"  {k:28s} " + " ".join(f"{c:>26s}" for c in cells))


if __name__ == "__main__":
    raise SystemExit(main())
