"""Reproduce published judge-reliability numbers from the recorded verdicts in ../shared/data.

    .venv/bin/python bench/reliability.py [--data ../shared/data] [--no-surrogate] [--db PATH]

Checks, exactly (the script exits 1 if any differs):
- GPT-4 on LLMBar Natural, Vanilla prompt: 95.5% accuracy averaged over both games, 95% positional
  agreement (and LLMBar's other statistics: 95% / 96% per order, 93% both, kappa between orders 0.8977);
- GPT-3.5 and PandaLM-7B against the PandaLM human majority: 69.8% and 66.8% over 999 pairs, with
  25 GPT-3.5 verdicts unparsed.

It also runs the judge-eval path with the shipped offline surrogate judge (`judges/surrogate.toml`,
when it exists) on LLMBar Natural and on the PandaLM pairs, and prints the figures.
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

from arena.reliability import build_result, read_pairs, read_verdicts  # noqa: E402

KEYS = ("judgebench_score", "accuracy", "accuracy_ab", "accuracy_ba", "both_correct", "agreement", "kappa", "consistency", "order_kappa", "first_slot", "tie_rate", "unparsed_rate", "length_bias")


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def show(label: str, res: dict) -> None:
    m = res["metrics"]
    print(f"\n{label}  ({res['pairs']['n']} pairs, {res['counts']['games']} games)")
    for k in KEYS:
        v = m[k]
        if v["value"] is None:
            continue
        if k.endswith("kappa"):
            s = f"{v['value']:.4f} [{v['lo']:.3f}, {v['hi']:.3f}]"
        elif k == "length_bias":
            s = f"{100 * v['value']:+.1f} pp [{100 * v['lo']:+.1f}, {100 * v['hi']:+.1f}]"
        else:
            s = f"{pct(v['value'])} [{pct(v['lo'])}, {pct(v['hi'])}]"
        print(f"  {v['title']:34s} {s}")
    u = res["usage"]
    if res["source"] == "eval":
        print(f"  calls/pair {u['calls_per_pair']:.2f}, time {res['time']['elapsed_s']:.2f} s, {res['time']['pairs_per_s']:.0f} pairs/s")


def check(name: str, got: float | int | None, want: float | int, tol: float = 1e-9) -> bool:
    ok = got is not None and abs(got - want) <= tol
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {got if not isinstance(got, float) else round(got, 6)} (published {want})")
    return ok


def recorded(data: Path) -> bool:
    ok = True
    llmbar = read_pairs(data / "llmbar" / "LLMBar_Natural.json")
    games = read_verdicts(data / "llmbar" / "verdicts_gpt4" / "Natural_Vanilla.json", llmbar)
    res = build_result(llmbar, games, judge={"name": "gpt-4 (LLMBar Vanilla)"}, source="score")
    show("GPT-4, LLMBar Natural, Vanilla prompt (recorded verdicts)", res)
    m = res["metrics"]
    ok &= check("accuracy averaged over both games", round(100 * m["accuracy"]["value"], 1), 95.5)
    ok &= check("positional agreement", round(100 * m["consistency"]["value"], 1), 95.0)
    ok &= check("correct, original order", round(100 * m["accuracy_ab"]["value"], 1), 95.0)
    ok &= check("correct, swapped order", round(100 * m["accuracy_ba"]["value"], 1), 96.0)
    ok &= check("correct in both", round(100 * m["both_correct"]["value"], 1), 93.0)
    ok &= check("kappa between orders", m["order_kappa"]["value"], 0.897708674304419, 1e-12)

    panda = read_pairs(data / "pandalm" / "testset-v1.json")
    for file, name, want, unparsed in (
        ("gpt-3.5-turbo-testset-v1.json", "GPT-3.5", 69.8, 25),
        ("pandalm-7b-testset-v1.json", "PandaLM-7B", 66.8, 0),
    ):
        res = build_result(panda, read_verdicts(data / "pandalm" / file, panda), judge={"name": name}, source="score")
        show(f"{name} vs PandaLM human majority (recorded verdicts)", res)
        ok &= check(f"{name} pairs", res["pairs"]["n"], 999)
        ok &= check(f"{name} agreement with the human majority", round(100 * res["metrics"]["agreement"]["value"], 1), want)
        ok &= check(f"{name} unparsed verdicts", res["counts"]["games_by_pick"]["unparsed"], unparsed)
    return ok


def surrogate(data: Path, db: str) -> None:
    from arena.judges import list_presets
    from arena.reliability import evaluate_judge
    from arena.store import Store

    if "surrogate" not in {name for name, _, _ in list_presets()}:
        print("\nno shipped surrogate preset (judges/surrogate.toml): skipped")
        return
    store = Store(db)
    try:
        for path in (data / "llmbar" / "LLMBar_Natural.json", data / "pandalm" / "testset-v1.json"):
            pairs = read_pairs(path)
            t = time.perf_counter()
            run = evaluate_judge("surrogate", pairs, store=store)
            res = build_result(
                pairs,
                run.games,
                judge={"name": run.judge_name, "kind": run.judge_kind, "description": run.judge_description},
                source="eval",
                time_s=time.perf_counter() - t,
            )
            show(f"{run.judge_description} on {path.name}", res)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--no-surrogate", action="store_true", help="skip evaluating the shipped surrogate judge")
    ap.add_argument("--db", default=":memory:", help="store for the surrogate evaluation (default: in memory)")
    args = ap.parse_args(argv)
    if not (args.data / "llmbar").is_dir() or not (args.data / "pandalm").is_dir():
        print(f"no llmbar/ and pandalm/ data under {args.data}: skipped")
        return 0
    ok = recorded(args.data)
    if not args.no_surrogate:
        surrogate(args.data, args.db)
    print("\nall published numbers reproduced" if ok else "\nSOME NUMBERS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
