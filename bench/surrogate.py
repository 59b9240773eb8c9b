"""Benchmark: surrogate verdicts per second on one core, against the "longer answer wins" rule.

    .venv/bin/python bench/surrogate.py [--outputs ../shared/data/alpaca_eval/outputs] [--matches 4000]

Three figures on the round-robin of the AlpacaEval demo models (matches in a fixed shuffled order):
- cold: every verdict featurises both answers from scratch (no answer cache): the worst case;
- batch: `SurrogateJudge.judge_batch` over the whole round-robin, each distinct answer featurised
  once (how a tournament uses it: an answer meets several opponents);
- the reference rule "longer answer wins" (len() comparisons only) on the same matches.
Pins itself to one CPU where the OS allows, and single-threaded BLAS.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from itertools import combinations  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", default=str(ROOT.parent / "shared/data/alpaca_eval/outputs"))
    ap.add_argument("--matches", type=int, default=4000, help="matches for the cold figure")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass

    from arena.judges import load_judge
    from arena.records import MatchContext
    from arena.surrogate.data import load_outputs

    outs = load_outputs(args.outputs)
    models = sorted(outs)
    ctxs = []
    for a, b in combinations(models, 2):
        for k, prompt in enumerate(sorted(set(outs[a]) & set(outs[b]))):
            ctxs.append(MatchContext(f"{a}|{b}|{k}", str(k), prompt, a, b, outs[a][prompt], outs[b][prompt]))
    order = np.random.default_rng(0).permutation(len(ctxs))
    ctxs = [ctxs[i] for i in order]

    # reference: longer answer wins
    t = time.perf_counter()
    longer = [("a" if len(c.answer_a) > len(c.answer_b) else "b" if len(c.answer_b) > len(c.answer_a) else "tie") for c in ctxs]
    ref_rate = len(ctxs) / (time.perf_counter() - t)

    # cold: no answer cache, every verdict featurises both answers
    judge = load_judge("surrogate")
    judge.model.cache_size = 0
    cold = ctxs[: args.matches]
    judge.judge_sync(cold[0])  # warm imports
    t = time.perf_counter()
    for c in cold:
        judge.judge_sync(c)
    cold_rate = len(cold) / (time.perf_counter() - t)

    # batch over the whole round-robin, fresh judge (empty caches)
    judge = load_judge("surrogate")
    t = time.perf_counter()
    results = judge.judge_batch(ctxs)
    batch_s = time.perf_counter() - t
    batch_rate = len(ctxs) / batch_s
    agree_longer = float(np.mean([r.verdict.outcome == lg for r, lg in zip(results, longer) if r.verdict.outcome != "tie" and lg != "tie"]))

    figures = {
        "matches_round_robin": len(ctxs),
        "distinct_answers": sum(len(v) for v in outs.values()),
        "surrogate_cold_verdicts_per_s": round(cold_rate),
        "surrogate_batch_verdicts_per_s": round(batch_rate),
        "longer_answer_wins_verdicts_per_s": round(ref_rate),
        "surrogate_agrees_with_longer_on_decisive": round(agree_longer, 4),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"round-robin of {len(models)} models: {len(ctxs)} matches, {figures['distinct_answers']} distinct answers (one core)")
    print(f"surrogate, cold (both answers featurised per verdict): {cold_rate:,.0f} verdicts/s over {len(cold)} matches")
    print(f"surrogate, judge_batch (each answer featurised once):  {batch_rate:,.0f} verdicts/s ({batch_s:.2f} s)")
    print(f"reference, longer answer wins (len() only):             {ref_rate:,.0f} verdicts/s")
    print(f"surrogate picks the longer answer on {100 * agree_longer:.1f}% of matches both call decisively")


if __name__ == "__main__":
    main()
