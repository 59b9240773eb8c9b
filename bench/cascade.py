"""Judge cascade on real recorded verdicts: the offline surrogate in front of GPT-4-Turbo.

AlpacaEval 2 (../shared/data/alpaca_eval/judgments_gpt4_turbo): 4-fold split by model (the split
`arena surrogate eval` uses, `arena.surrogate.train.model_folds`). In each fold the surrogate is
trained on the other folds' models only, then a cascade [surrogate, GPT-4-Turbo's recorded
verdicts] judges every match of the held-out models against the baseline: a pilot drawn with the
seed is judged by both, the surrogate's threshold is calibrated on it (arena.cascade, fixed-sequence
testing, one-sided Clopper-Pearson, target `--target`, delta `--delta`), the other matches go to
GPT-4-Turbo only when the surrogate's confidence is below the threshold. Printed per fold and
overall: the share of GPT-4-Turbo verdicts used (pilot included), agreement with GPT-4-Turbo on the
non-pilot matches the surrogate decided, each model's win-rate error against the all-GPT-4-Turbo
value (mean and max, points), Spearman of the two rankings; beside it a random subsample of
GPT-4-Turbo verdicts of the same size (median over 20 draws).

PandaLM (../shared/data/pandalm): the shipped surrogate (never trained on PandaLM) in front of
GPT-3.5's recorded verdicts, agreement of each with the human majority.

    .venv/bin/python bench/cascade.py [--target 0.95] [--delta 0.1] [--pilot 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.cascade import calibrate_threshold, pilot_indices  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def win(out: np.ndarray) -> np.ndarray:
    """Model B's score per match (B is the evaluated model, A the baseline): 1 win, 0.5 tie, 0 loss."""
    return np.where(out == "b", 1.0, np.where(out == "tie", 0.5, 0.0))


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


class FoldSurrogate:
    """The surrogate trained without a fold's models, served to `SurrogateJudge` by the texts of a
    match: P(A better) for the pairs it was asked about (`arena.surrogate.train.predict`)."""

    def __init__(self, p2: dict[tuple[str, str, str], tuple[float, float]]) -> None:
        self.p2 = p2  # (instruction, output_1, output_2) -> P(output_2 better), with and without the length terms
        self.length_control = False

    def prob_a_views(self, prompt: str, a: str, b: str) -> tuple[float, float]:
        if (prompt, a, b) in self.p2:
            full, no_length = self.p2[(prompt, a, b)]
            return 1.0 - full, 1.0 - no_length
        return self.p2[(prompt, b, a)]

    def prob_a(self, prompt: str, a: str, b: str) -> float:
        return self.prob_a_views(prompt, a, b)[0]

    def label(self, p: float) -> str:
        from arena.surrogate.model import label_for

        return label_for(p)


def recorded_judge(folder: Path):
    """GPT-4-Turbo's recorded AlpacaEval 2 verdicts as arena's `recorded` judge kind."""
    from arena.judges.recorded import build

    return build({"kind": "recorded", "format": "alpaca_eval", "files": [str(folder)]}, name="gpt-4-turbo", base_dir=folder.parent)


def contexts(rec) -> list:
    """Every recorded match as the MatchContext a runner would build (baseline as A)."""
    from arena.records import MatchContext

    seen, out = set(), []
    for m in rec.index.values():
        if id(m) in seen:
            continue
        seen.add(id(m))
        out.append(MatchContext(f"{m.prompt_id}:{m.model_b}", m.prompt_id, m.prompt, m.model_a, m.model_b, m.answer_a, m.answer_b))
    return out


async def _judge_all(judge, ctxs) -> list:
    import asyncio

    return await asyncio.gather(*(judge.judge(c) for c in ctxs))


def cascade_fold(ctxs, sur_judge, rec, *, args, seed):
    """One fold through arena's `cascade` judge: [surrogate, recorded GPT-4-Turbo], pilot drawn with
    `seed` (`CascadeJudge.arrange`), thresholds calibrated on it; against all-GPT-4-Turbo."""
    import asyncio

    from arena.judges.cascade import CascadeJudge, CascadeSettings
    from arena.records import Match

    cfg = CascadeSettings(kind="cascade", stages=["surrogate", "gpt-4-turbo"], agreement=args.target, delta=args.delta,
                          pilot=min(args.pilot, len(ctxs)), win_rate_error=args.win_rate_error)
    judge = CascadeJudge("cascade", cfg, [sur_judge, rec])
    by_id = {c.match_id: c for c in ctxs}
    order = judge.arrange([Match(c.match_id, c.prompt_id, c.model_a, c.model_b) for c in ctxs], seed)
    ordered = [by_id[m.match_id] for m in order]
    res = asyncio.run(_judge_all(judge, ordered))
    refs = asyncio.run(_judge_all(rec, ordered))
    n = len(ordered)
    ref = np.array([r.verdict.outcome for r in refs])
    final = np.array([r.verdict.outcome for r in res])
    stage = np.array([r.extra["cascade"]["stage"] for r in res])
    pil = np.array([r.extra["cascade"]["pilot"] for r in res])
    models = np.array([c.model_b for c in ordered])
    cal = judge.calibration.stages[0]
    decided = stage == 0
    expensive = int((~decided).sum())
    names = sorted(set(models))
    wr_ref = np.array([win(ref[models == m]).mean() for m in names])
    wr_cas = np.array([win(final[models == m]).mean() for m in names])
    rng = np.random.default_rng(seed + 1)
    rand_err, rand_sp, rand_max = [], [], []
    for _ in range(20):
        pick = np.zeros(n, bool)
        pick[rng.choice(n, expensive, replace=False)] = True
        wr = np.array([win(ref[(models == m) & pick]).mean() if ((models == m) & pick).any() else 0.5 for m in names])
        rand_err.append(np.abs(wr - wr_ref).mean() * 100)
        rand_max.append(np.abs(wr - wr_ref).max() * 100)
        rand_sp.append(spearman(wr, wr_ref))
    agree_kept = final[decided] == ref[decided]
    return {
        "models": len(names), "matches": n, "pilot": int(pil.sum()),
        "threshold": cal.threshold, "pilot_agreement": cal.agreement, "pilot_lower": cal.lower, "certified": cal.certified,
        "changed_upper": cal.changed_upper,
        "expensive": expensive, "share": expensive / n, "min_model_share": min(float((~decided)[models == m].mean()) for m in names),
        "decided_by_surrogate": int(decided.sum()),
        "agreement_non_pilot": float(agree_kept.mean()) if decided.any() else float("nan"),
        "wr_mae": float(np.abs(wr_cas - wr_ref).mean() * 100), "wr_max": float(np.abs(wr_cas - wr_ref).max() * 100),
        "spearman": spearman(wr_cas, wr_ref),
        "random_wr_mae": float(np.median(rand_err)), "random_wr_max": float(np.median(rand_max)), "random_spearman": float(np.median(rand_sp)),
        "_wr": dict(zip(names, wr_cas)), "_wr_ref": dict(zip(names, wr_ref)), "_decided_agree": (int(agree_kept.sum()), int(decided.sum())),
    }


def alpaca(args) -> list[dict]:
    from arena.judges.surrogate import SurrogateJudge
    from arena.surrogate.data import load_judgments
    from arena.surrogate.train import TrainParams, dense_scale, featurise, fit, model_folds, predict

    folder = DATA / "alpaca_eval" / "judgments_gpt4_turbo"
    rec = recorded_judge(folder)
    ctxs = contexts(rec)
    pairs = load_judgments(folder)
    params = TrainParams()
    groups = model_folds([p.generator_2 for p in pairs], params.folds, params.seed)
    cache = Path(args.predictions) if args.predictions else None
    if cache is not None and cache.exists():  # the held-out predictions of an earlier run on the same data
        with np.load(cache, allow_pickle=False) as z:
            P2, P2LC, FOLD = z["p2"], z["p2_lc"], z["fold"]
        if len(P2) != len(pairs):
            raise SystemExit(f"{cache}: predictions for {len(P2)} verdicts, the data has {len(pairs)}")
    else:  # each fold's surrogate trained on the other folds' models only
        fx = featurise(pairs, params.n_buckets)
        scale = dense_scale(fx.dense)
        P2, P2LC, FOLD = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan), np.full(len(pairs), -1)
        for k, held in enumerate(groups):
            test = np.isin(fx.model, held) & (fx.i1 != fx.i2)
            train = ~np.isin(fx.model, held) & (fx.i1 != fx.i2)
            wd, wh, _ = fit(fx, np.flatnonzero(train), params, scale)
            t = np.flatnonzero(test)
            P2[t], P2LC[t], FOLD[t] = predict(fx, t, wd, wh, scale), predict(fx, t, wd, wh, scale, length_control=True), k
        if cache is not None:
            np.savez(cache, p2=P2, p2_lc=P2LC, fold=FOLD)
    rows = []
    for k, held in enumerate(groups):
        t = np.flatnonzero(FOLD == k)
        sur = SurrogateJudge("surrogate", FoldSurrogate({(pairs[i].instruction, pairs[i].output_1, pairs[i].output_2): (float(P2[i]), float(P2LC[i]))
                                                        for i in t}), preset={"kind": "surrogate", "confidence": args.confidence})
        fold_ctxs = [c for c in ctxs if c.model_b in set(held)]
        r = cascade_fold(fold_ctxs, sur, rec, args=args, seed=args.seed + k)
        r["fold"] = k
        rows.append(r)
        print(fmt(r, f"fold {k}"), flush=True)
    return rows


def fmt(r: dict, name: str) -> str:
    thr = "none (escalate all)" if not r["certified"] else f"{r['threshold']:.3f}"
    return (f"{name:8s} models {r['models']:2d} matches {r['matches']:5d} pilot {r['pilot']:4d} threshold {thr:>6s} "
            f"(pilot agreement {r['pilot_agreement']:.3f}, lower {r['pilot_lower']:.3f}"
            + ("" if r.get("changed_upper") is None else f", changed <= {r['changed_upper']:.4f}") + ")\n"
            f"         GPT-4-Turbo verdicts used {r['share']:.1%} ({r['expensive']}; fewest for a model {r['min_model_share']:.1%}); "
            f"surrogate decided {r['decided_by_surrogate']}, "
            f"agreement there {r['agreement_non_pilot']:.4f}\n"
            f"         cascade: win-rate error mean {r['wr_mae']:.2f} max {r['wr_max']:.2f} pts, Spearman {r['spearman']:.3f} | "
            f"random same size: mean {r['random_wr_mae']:.2f} max {r['random_wr_max']:.2f} pts, Spearman {r['random_spearman']:.3f}")


def overall(rows: list[dict]) -> dict:
    wr = {m: v for r in rows for m, v in r["_wr"].items()}
    ref = {m: v for r in rows for m, v in r["_wr_ref"].items()}
    names = sorted(wr)
    a = np.array([wr[m] for m in names])
    b = np.array([ref[m] for m in names])
    agreed = sum(r["_decided_agree"][0] for r in rows)
    decided = sum(r["_decided_agree"][1] for r in rows)
    n = sum(r["matches"] for r in rows)
    e = sum(r["expensive"] for r in rows)
    return {"models": len(names), "matches": n, "expensive": e, "share": e / n, "agreement_non_pilot": agreed / decided if decided else float("nan"),
            "wr_mae": float(np.abs(a - b).mean() * 100), "wr_max": float(np.abs(a - b).max() * 100), "spearman": spearman(a, b),
            "min_fold_agreement": min(r["agreement_non_pilot"] for r in rows)}


def surrogate_outcome(p2: np.ndarray, tie: float = 0.10) -> tuple[np.ndarray, np.ndarray]:
    """The surrogate judge's outcome and its confidence max(P, 1-P) (arena.judges.cascade.confidence)."""
    out = np.where(np.abs(p2 - 0.5) <= tie, "tie", np.where(p2 > 0.5, "b", "a"))
    return out, np.maximum(p2, 1 - p2)


def pandalm(args) -> dict | None:
    from arena.surrogate.model import SurrogateModel

    test, gpt = DATA / "pandalm" / "testset-v1.json", DATA / "pandalm" / "gpt-3.5-turbo-testset-v1.json"
    if not (test.exists() and gpt.exists()):
        return None
    recs = json.loads(test.read_text())
    g35 = {int(r["idx"]): str(r["gpt_result"]).strip() for r in json.loads(gpt.read_text())}
    recs = [r for r in recs if g35.get(int(r["idx"])) in ("0", "1", "2")]
    model = SurrogateModel.load(None)
    prompts = [r["instruction"] + ("\n\n" + r["input"] if r.get("input") else "") for r in recs]
    p2 = np.asarray(model.prob_a_batch(prompts, [str(r["response2"]) for r in recs], [str(r["response1"]) for r in recs]))
    code = {"0": "tie", "1": "a", "2": "b"}
    gpt_out = np.array([code[g35[int(r["idx"])]] for r in recs])

    def maj(r):
        v, c = Counter([r["annotator1"], r["annotator2"], r["annotator3"]]).most_common(1)[0]
        return {0: "tie", 1: "a", 2: "b"}[v if c >= 2 else 0]

    human = np.array([maj(r) for r in recs])
    sur, conf = surrogate_outcome(p2)
    n = len(recs)
    pil = np.zeros(n, bool)
    pil[pilot_indices(n, min(args.pilot, n), args.seed)] = True
    cal = calibrate_threshold(conf[pil], sur[pil] == gpt_out[pil], target=args.target, delta=args.delta, stage="surrogate",
                              win_rate_error=args.win_rate_error)
    decided = ~pil & (conf >= cal.threshold)
    final = np.where(decided, sur, gpt_out)
    return {"matches": n, "pilot": int(pil.sum()), "certified": cal.certified, "threshold": cal.threshold,
            "pilot_agreement_with_gpt35": cal.agreement, "share_gpt35": float((~decided).mean()),
            "cascade_vs_human": float((final == human).mean()), "gpt35_vs_human": float((gpt_out == human).mean()),
            "surrogate_alone_vs_human": float((sur == human).mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--delta", type=float, default=0.1)
    ap.add_argument("--pilot", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--win-rate-error", type=float, default=None, help="also bound the share of matches the surrogate changes (e.g. 0.01)")
    ap.add_argument("--predictions", help="an .npz of the folds' held-out surrogate predictions: read when present, else computed and written")
    ap.add_argument("--confidence", choices=["probability", "length_consistent"], default="probability",
                    help="the surrogate's confidence (judges/surrogate.toml key `confidence`)")
    ap.add_argument("--skip-pandalm", action="store_true")
    ap.add_argument("--only-pandalm", action="store_true")
    args = ap.parse_args()
    if not (DATA / "alpaca_eval" / "judgments_gpt4_turbo").is_dir():
        print(f"skipped: {DATA / 'alpaca_eval'} not found")
        return 0
    if not args.only_pandalm:
        alpaca_part(args)
    if not args.skip_pandalm:
        pandalm_part(args)
    return 0


def alpaca_part(args) -> None:
    print(f"AlpacaEval 2, surrogate -> GPT-4-Turbo (recorded), target {args.target}, delta {args.delta}, pilot {args.pilot} per fold, "
          f"win-rate error bound {args.win_rate_error}, surrogate confidence {args.confidence}")
    rows = alpaca(args)
    o = overall(rows)
    print(f"overall  models {o['models']} matches {o['matches']}: GPT-4-Turbo verdicts used {o['share']:.1%}; agreement on surrogate-decided "
          f"non-pilot {o['agreement_non_pilot']:.4f} (lowest fold {o['min_fold_agreement']:.4f}); win-rate error mean {o['wr_mae']:.2f} "
          f"max {o['wr_max']:.2f} pts; Spearman {o['spearman']:.3f}")
    targets = {"share <= 30%": o["share"] <= 0.30, "mean win-rate error <= 1 pt": o["wr_mae"] <= 1.0, "Spearman >= 0.98": o["spearman"] >= 0.98,
               f"agreement >= {args.target} in every fold": o["min_fold_agreement"] >= args.target}
    print("targets: " + "; ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))


def pandalm_part(args) -> None:
    p = pandalm(args)
    if p:
        print(f"PandaLM  {p['matches']} matches, pilot {p['pilot']}, threshold {'none' if not p['certified'] else round(p['threshold'], 3)} "
              f"(surrogate vs GPT-3.5 on the pilot {p['pilot_agreement_with_gpt35']:.3f}): GPT-3.5 verdicts used {p['share_gpt35']:.1%}; "
              f"agreement with the human majority: cascade {p['cascade_vs_human']:.3f}, GPT-3.5 alone {p['gpt35_vs_human']:.3f}, "
              f"surrogate alone {p['surrogate_alone_vs_human']:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
