"""Judge cascade on real recorded verdicts: the offline surrogate in front of GPT-4-Turbo.

AlpacaEval 2 (../shared/data/alpaca_eval/judgments_gpt4_turbo), 43 models against the baseline
gpt4_1106_preview. GPT-4-Turbo's verdicts are served by arena's `recorded` judge (its labels, tie
band included); the cheap stage is arena's `surrogate` judge kind where, for each match, the
surrogate was trained without that match's model (the 4-fold split by model of `arena surrogate
eval`, `arena.surrogate.train.model_folds`). One run of the `cascade` judge over all 34,607
matches, as a tournament of those models would be judged: a pilot drawn with the seed from the
whole plan (`CascadeJudge.arrange`) is judged by both stages, one threshold is calibrated on it
(fixed-sequence testing, one-sided Clopper-Pearson: agreement >= `--target` and, with
`--win-rate-error`, at most that share of all verdicts changed), the other matches go to
GPT-4-Turbo only below the threshold. Printed for the main setting per fold and overall, and
overall for the other confidences and bounds: the share of GPT-4-Turbo verdicts used (pilot
included), agreement with GPT-4-Turbo where the surrogate decided, the models' win-rate error
against all-GPT-4-Turbo (mean and max, points), Spearman of the two rankings; beside it a random
subsample of GPT-4-Turbo verdicts of the same size (median over 20 draws). Last, the evidence of
what is reachable: the smallest share any single threshold (chosen with all labels) needs.

PandaLM (../shared/data/pandalm): the shipped surrogate (never trained on PandaLM) in front of
GPT-3.5's recorded verdicts, agreement of each with the human majority.

    .venv/bin/python bench/cascade.py [--confidence length_consistent] [--win-rate-error 0.01]
        [--target 0.95] [--delta 0.1] [--pilot N] [--seed 0] [--predictions folds.npz]

Training the four fold surrogates takes a few CPU minutes; `--predictions` keeps their held-out
predictions in a file and reuses them.
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
        if a == b:  # identical answers: 0.5 by antisymmetry (such pairs are left out of training and prediction)
            return 0.5, 0.5
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


def cascade_run(ctxs, sur_judge, rec, *, args, confidence: str, win_rate_error: float | None, seed: int) -> dict:
    """One run of arena's `cascade` judge [surrogate, recorded GPT-4-Turbo] over `ctxs`: the pilot
    drawn with `seed` from the whole plan (`CascadeJudge.arrange`), one threshold calibrated on it."""
    import asyncio

    from arena.judges.cascade import CascadeJudge, CascadeSettings
    from arena.records import Match

    sur_judge.views = confidence == "length_consistent"
    cfg = CascadeSettings(kind="cascade", stages=["surrogate", "gpt-4-turbo"], agreement=args.target, delta=args.delta,
                          pilot=min(args.pilot, len(ctxs)), win_rate_error=win_rate_error)
    judge = CascadeJudge("cascade", cfg, [sur_judge, rec])
    by_id = {c.match_id: c for c in ctxs}
    order = [by_id[m.match_id] for m in judge.arrange([Match(c.match_id, c.prompt_id, c.model_a, c.model_b) for c in ctxs], seed)]
    res = dict(zip((c.match_id for c in order), asyncio.run(_judge_all(judge, order))))
    out = [res[c.match_id] for c in ctxs]
    return {"final": np.array([r.verdict.outcome for r in out]), "decided": np.array([r.extra["cascade"]["stage"] == 0 for r in out]),
            "pilot": np.array([r.extra["cascade"]["pilot"] for r in out]), "calibration": judge.calibration.stages[0]}


def metrics(ref, final, decided, models, *, seed: int, random_draws: int = 20) -> dict:
    """Share of expensive verdicts, agreement where the surrogate decided, win-rate error (points)
    against all-expensive and Spearman; beside it a random subsample of expensive verdicts of the
    same size (median over `random_draws`)."""
    n = len(ref)
    expensive = int((~decided).sum())
    names = sorted(set(models))
    wr_ref = np.array([win(ref[models == m]).mean() for m in names])
    wr_cas = np.array([win(final[models == m]).mean() for m in names])
    rng = np.random.default_rng(seed + 1)
    rand = []
    for _ in range(random_draws):
        pick = np.zeros(n, bool)
        pick[rng.choice(n, expensive, replace=False)] = True
        wr = np.array([win(ref[(models == m) & pick]).mean() if ((models == m) & pick).any() else 0.5 for m in names])
        rand.append((np.abs(wr - wr_ref).mean() * 100, np.abs(wr - wr_ref).max() * 100, spearman(wr, wr_ref)))
    r = np.median(np.array(rand), axis=0)
    agree = final[decided] == ref[decided]
    return {"models": len(names), "matches": n, "expensive": expensive, "share": expensive / n,
            "min_model_share": min(float((~decided)[models == m].mean()) for m in names),
            "decided_by_surrogate": int(decided.sum()), "agreement_non_pilot": float(agree.mean()) if decided.any() else float("nan"),
            "wr_mae": float(np.abs(wr_cas - wr_ref).mean() * 100), "wr_max": float(np.abs(wr_cas - wr_ref).max() * 100),
            "spearman": spearman(wr_cas, wr_ref), "random_wr_mae": float(r[0]), "random_wr_max": float(r[1]), "random_spearman": float(r[2])}


def oracle_share(ref, sur, conf, models, max_error_points: float = 1.0) -> tuple[float, float]:
    """The evidence for what is reachable: the smallest share of expensive verdicts at which ANY
    threshold on `conf` (chosen with all the labels, no pilot) keeps the mean win-rate error within
    `max_error_points`, and the surrogate's agreement on what it then keeps."""
    names = sorted(set(models))
    wr_ref = np.array([win(ref[models == m]).mean() for m in names])
    for esc in np.arange(0.0, 1.0001, 0.01):
        kept = conf > np.quantile(conf, esc) if esc < 1 else np.zeros(len(conf), bool)
        final = np.where(kept, sur, ref)
        wr = np.array([win(final[models == m]).mean() for m in names])
        if np.abs(wr - wr_ref).mean() * 100 <= max_error_points:
            return float((~kept).mean()), float((sur[kept] == ref[kept]).mean()) if kept.any() else float("nan")
    return 1.0, float("nan")


def alpaca(args) -> None:
    import asyncio

    from arena.cascade import pilot_size
    from arena.judges.cascade import confidence as stage_confidence
    from arena.judges.surrogate import SurrogateJudge
    from arena.surrogate.data import load_judgments
    from arena.surrogate.train import TrainParams, dense_scale, featurise, fit, model_folds, predict

    folder = DATA / "alpaca_eval" / "judgments_gpt4_turbo"
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
    t = np.flatnonzero(FOLD >= 0)
    fold_of = {m: k for k, held in enumerate(groups) for m in held}
    # one cheap stage: for each match, the surrogate trained without that match's model
    sur = SurrogateJudge("surrogate", FoldSurrogate({(pairs[i].instruction, pairs[i].output_1, pairs[i].output_2): (float(P2[i]), float(P2LC[i]))
                                                    for i in t}))
    rec = recorded_judge(folder)
    ctxs = contexts(rec)
    ref = np.array([r.verdict.outcome for r in asyncio.run(_judge_all(rec, ctxs))])  # all GPT-4-Turbo
    models = np.array([c.model_b for c in ctxs])
    fold = np.array([fold_of[m] for m in models])
    wre_main = args.win_rate_error or None
    if args.pilot is None:
        args.pilot = pilot_size(wre_main or 0.01, args.delta)
    print(f"AlpacaEval 2: {len(ctxs):,} matches of {len(set(models))} models against gpt4_1106_preview, GPT-4-Turbo verdicts through the "
          f"`recorded` judge; cheap stage: for each match the surrogate trained without its model's fold (4 folds by model); one cascade "
          f"run (`cascade` judge), pilot {args.pilot} drawn with seed {args.seed} from the whole plan "
          f"(arena.cascade.pilot_size({wre_main or 0.01}, {args.delta}): the least pilot that certifies a stage changing half the bound), "
          f"target {args.target}, delta {args.delta}")
    main_cfg = (args.confidence, wre_main)
    variants = [main_cfg] + [v for v in [("probability", None), ("probability", 0.01), ("length_consistent", None), ("length_consistent", 0.01)]
                             if v != main_cfg]
    for conf_kind, wre in variants:
        run = cascade_run(ctxs, sur, rec, args=args, confidence=conf_kind, win_rate_error=wre, seed=args.seed)
        cal = run["calibration"]
        thr = "none (escalate all)" if not cal.certified else f"{cal.threshold:.3f}"
        head = f"surrogate confidence {conf_kind}, win-rate error bound {wre}: threshold {thr} (pilot agreement {cal.agreement:.3f}, lower {cal.lower:.3f}" + (
            "" if cal.changed_upper is None else f", changed {cal.changed} of {cal.pilot}, upper {cal.changed_upper:.4f}") + ")" + (
            f"; always escalated (stratified): {', '.join(cal.escalated)}" if cal.escalated else "")
        print(("* " if (conf_kind, wre) == main_cfg else "  ") + head, flush=True)
        o = metrics(ref, run["final"], run["decided"], models, seed=args.seed)
        print(fmt(o, "overall"))
        if (conf_kind, wre) == main_cfg:
            for k in range(len(groups)):
                mk = fold == k
                print(fmt(metrics(ref[mk], run["final"][mk], run["decided"][mk], models[mk], seed=args.seed + k), f"fold {k}"))
            folds_ok = min(float((run["final"] == ref)[run["decided"] & (fold == k)].mean()) for k in range(len(groups)))
            targets = {"share <= 30%": o["share"] <= 0.30, "mean win-rate error <= 1 pt": o["wr_mae"] <= 1.0, "Spearman >= 0.98": o["spearman"] >= 0.98,
                       f"agreement >= {args.target} in every fold (lowest {folds_ok:.4f})": folds_ok >= args.target}
            print("    targets: " + "; ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()), flush=True)
    # what any threshold could reach: the labels pick the cut (no pilot, no guarantee)
    for conf_kind in ("probability", "length_consistent"):
        sur.views = conf_kind == "length_consistent"
        outs = [sur.judge_sync(c) for c in ctxs]
        conf = np.array([stage_confidence(sur, r) for r in outs])
        so = np.array([r.verdict.outcome for r in outs])
        esc, agr = oracle_share(ref, so, conf, models)
        print(f"oracle ({conf_kind}): the best single threshold chosen with all labels needs {esc:.0%} GPT-4-Turbo verdicts for mean "
              f"win-rate error <= 1 point (agreement {agr:.4f} on the rest); the surrogate alone agrees on {(so == ref).mean():.4f} of all matches")
        for wre in (None, 0.01):
            spread(ref, so, conf, models, fold, args=args, win_rate_error=wre, label=f"{conf_kind}, bound {wre}")


def spread(ref, sur, conf, models, fold, *, args, win_rate_error, label: str, draws: int = 10) -> None:
    """The same calibration (`calibrate_threshold` + `flag_strata`, as `CascadeJudge.calibrate`) over
    `draws` pilot draws: a single draw can be lucky, the targets must hold across them."""
    from arena.cascade import calibrate_threshold, flag_strata

    n, rows = len(ref), []
    names = sorted(set(models))
    wr_ref = np.array([win(ref[models == m]).mean() for m in names])
    for seed in range(draws):
        pil = np.zeros(n, bool)
        pil[pilot_indices(n, min(args.pilot, n), seed)] = True
        agree = sur == ref
        cal = calibrate_threshold(conf[pil], agree[pil], target=args.target, delta=args.delta, win_rate_error=win_rate_error)
        esc = flag_strata(conf[pil], agree[pil], [("A", m) for m in models[pil]], threshold=cal.threshold, target=args.target,
                          delta=args.delta) if cal.certified else ()
        kept = ~pil & (conf >= cal.threshold) & ~np.isin(models, list(esc))
        final = np.where(kept, sur, ref)
        wr = np.array([win(final[models == m]).mean() for m in names])
        folds = min(float(agree[kept & (fold == k)].mean()) if (kept & (fold == k)).any() else 1.0 for k in sorted(set(fold)))
        rows.append(((~kept).mean(), np.abs(wr - wr_ref).mean() * 100, spearman(wr, wr_ref), folds))
    r = np.array(rows)
    met = np.mean((r[:, 0] <= 0.30) & (r[:, 1] <= 1.0) & (r[:, 2] >= 0.98) & (r[:, 3] >= args.target))
    print(f"    {draws} pilot draws ({label}): share {r[:, 0].mean():.1%} [{r[:, 0].min():.1%}, {r[:, 0].max():.1%}], win-rate error mean "
          f"{r[:, 1].mean():.2f} [worst draw {r[:, 1].max():.2f}] pts, Spearman {r[:, 2].mean():.3f} [worst {r[:, 2].min():.3f}], "
          f"lowest fold agreement {r[:, 3].min():.4f}; all four targets met in {met:.0%} of draws")


def fmt(r: dict, name: str) -> str:
    return (f"    {name:8s} models {r['models']:2d} matches {r['matches']:6,d}: GPT-4-Turbo verdicts used {r['share']:.1%} "
            f"(fewest for a model {r['min_model_share']:.1%}); surrogate decided {r['decided_by_surrogate']:,}, agreement there "
            f"{r['agreement_non_pilot']:.4f}; win-rate error mean {r['wr_mae']:.2f} max {r['wr_max']:.2f} pts, Spearman {r['spearman']:.3f} | "
            f"random same size: mean {r['random_wr_mae']:.2f} max {r['random_wr_max']:.2f} pts, Spearman {r['random_spearman']:.3f}")


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
    pil[pilot_indices(n, min(args.pandalm_pilot, n), args.seed)] = True
    cal = calibrate_threshold(conf[pil], sur[pil] == gpt_out[pil], target=args.target, delta=args.delta, stage="surrogate")
    decided = ~pil & (conf >= cal.threshold)
    final = np.where(decided, sur, gpt_out)
    return {"matches": n, "pilot": int(pil.sum()), "certified": cal.certified, "threshold": cal.threshold,
            "pilot_agreement_with_gpt35": float((sur[pil] == gpt_out[pil]).mean()), "kept_agreement": cal.agreement, "share_gpt35": float((~decided).mean()),
            "cascade_vs_human": float((final == human).mean()), "gpt35_vs_human": float((gpt_out == human).mean()),
            "surrogate_alone_vs_human": float((sur == human).mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--delta", type=float, default=0.1)
    ap.add_argument("--pilot", type=int, default=None, help="default: arena.cascade.pilot_size(win-rate error bound or 0.01, delta)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--win-rate-error", type=float, default=0.01, help="bound on the share of matches the surrogate changes; 0: none")
    ap.add_argument("--predictions", help="an .npz of the folds' held-out surrogate predictions: read when present, else computed and written")
    ap.add_argument("--confidence", choices=["probability", "length_consistent"], default="length_consistent",
                    help="the surrogate's confidence (judges/surrogate.toml key `confidence`)")
    ap.add_argument("--skip-pandalm", action="store_true")
    ap.add_argument("--only-pandalm", action="store_true")
    ap.add_argument("--pandalm-pilot", type=int, default=200, help="PandaLM's pilot (999 matches; agreement target only)")
    args = ap.parse_args()
    if args.win_rate_error is not None and args.win_rate_error <= 0:
        args.win_rate_error = None
    if not (DATA / "alpaca_eval" / "judgments_gpt4_turbo").is_dir():
        print(f"skipped: {DATA / 'alpaca_eval'} not found")
        return 0
    if not args.only_pandalm:
        alpaca_part(args)
    if not args.skip_pandalm:
        pandalm_part(args)
    return 0


def alpaca_part(args) -> None:
    alpaca(args)


def pandalm_part(args) -> None:
    p = pandalm(args)
    if p:
        print(f"PandaLM  {p['matches']} matches, pilot {p['pilot']}, threshold {'none' if not p['certified'] else round(p['threshold'], 3)} "
              f"(surrogate agrees with GPT-3.5 on {p['pilot_agreement_with_gpt35']:.3f} of the pilot): GPT-3.5 verdicts used {p['share_gpt35']:.1%}; "
              f"agreement with the human majority: cascade {p['cascade_vs_human']:.3f}, GPT-3.5 alone {p['gpt35_vs_human']:.3f}, "
              f"surrogate alone {p['surrogate_alone_vs_human']:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
