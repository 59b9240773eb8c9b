"""The human leaderboard of PandaLM's test set (../shared/data/pandalm/testset-v1.json).

Each record compares two models' responses to one instruction; `cmp_key` is "MODEL1_MODEL2"
(response1 is MODEL1's). Three annotators vote 0 (tie), 1 (response1 better) or 2 (response2
better); the battle outcome is their majority (a three-way split counts as a tie). Battles on
the same instruction + input share a prompt cluster for the bootstrap.

    .venv/bin/python bench/ratings_pandalm.py [PATH] [--bootstrap N] [--style]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena.ratings import fit_ratings, style_features  # noqa: E402
from arena.records import Battle  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "pandalm" / "testset-v1.json"


def majority(votes: list[int]) -> int:
    value, count = Counter(votes).most_common(1)[0]
    return value if count >= 2 else 0


def battles_from_pandalm(records: list[dict]) -> list[Battle]:
    out = []
    for rec in records:
        m1, m2 = rec["cmp_key"].split("_")
        vote = majority([rec["annotator1"], rec["annotator2"], rec["annotator3"]])
        outcome = {0: "tie", 1: "a", 2: "b"}[vote]
        prompt = rec["instruction"] + "\n" + rec.get("input", "")
        out.append(Battle(prompt_id=prompt, model_a=m1, model_b=m2, outcome=outcome, judge="human-majority"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--style", action="store_true", help="also fit with style control (length, markdown)")
    args = ap.parse_args(argv)
    if not args.path.exists():
        print(f"skipped: {args.path} not found (the PandaLM test set lives in ../shared/data/pandalm)")
        return 0
    records = json.loads(args.path.read_text())
    battles = battles_from_pandalm(records)
    outcomes = Counter(b.outcome for b in battles)
    print(f"{args.path.name}: {len(battles)} battles, {len({b.prompt_id for b in battles})} prompts; "
          f"human majority: {outcomes['a']} response1, {outcomes['b']} response2, {outcomes['tie']} ties")
    lb = fit_ratings(battles, bootstrap=args.bootstrap, by="prompt", seed=0)
    _print(lb, f"Bradley-Terry (ties half), {args.bootstrap} prompt-bootstrap replicates, 95% CI")
    if args.style:
        feats = style_features([r["response1"] for r in records], [r["response2"] for r in records])
        lbs = fit_ratings(battles, bootstrap=args.bootstrap, by="prompt", seed=0, style=feats)
        _print(lbs, "style-controlled (length, headers, lists, bold held equal)")
        print("style coefficients (log-odds per sd): " + ", ".join(
            f"{k} {v['coef']:+.3f} [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}]" for k, v in lbs.style_coefs.items()))
    return 0


def _print(lb, title: str) -> None:
    print(title)
    print(f"{'rank_ub':>7}  {'model':<18} {'rating':>7}  {'95% CI':>15}  {'ranks':>5}  {'battles':>7}  {'win rate':>8}")
    for r in lb.rows:
        ranks = f"{r.rank_lo}-{r.rank_hi}" if r.rank_lo != r.rank_hi else str(r.rank_lo)
        print(f"{r.rank_ub:>7}  {r.model:<18} {r.rating:7.1f}  [{r.ci_low:6.1f}, {r.ci_high:6.1f}]  {ranks:>5}  "
              f"{r.battles:>7}  {100 * r.win_rate:7.1f}%")
    for w in lb.warnings:
        print("warning:", w)


if __name__ == "__main__":
    raise SystemExit(main())
