"""Build data/demo/ from the AlpacaEval outputs in ../shared/data/alpaca_eval (run once; the result is committed).

The subset is reproducible: within each of the five AlpacaEval sources (helpful_base, koala,
oasst, selfinstruct, vicuna) the prompts are ordered by the sha256 of their text and the first
20 are taken, so 100 prompts in all. The one prompt that llama-2-70b-chat-hf did not answer is
added on purpose (101 prompts), so the demo shows how a missing answer is handled.

    python data/make_demo.py [--src ../shared/data/alpaca_eval] [--out data/demo] [--per-source 20]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=HERE.parent.parent / "shared" / "data" / "alpaca_eval")
    ap.add_argument("--out", type=Path, default=HERE / "demo")
    ap.add_argument("--per-source", type=int, default=20)
    args = ap.parse_args()

    outputs = {}
    for f in sorted((args.src / "outputs").glob("*.json.gz")):
        rows = json.loads(gzip.decompress(f.read_bytes()))
        outputs[rows[0]["generator"]] = {r["instruction"]: r for r in rows}

    reference = max(outputs.values(), key=len)  # a model with all 805 answers
    order = list(reference)  # AlpacaEval's own order gives the prompt ids
    ids = {text: f"ae-{i:03d}" for i, text in enumerate(order)}
    by_source: dict[str, list[str]] = {}
    for text, row in reference.items():
        by_source.setdefault(row["dataset"], []).append(text)
    chosen: set[str] = set()
    for source, texts in sorted(by_source.items()):
        texts.sort(key=lambda t: hashlib.sha256(t.encode("utf-8")).hexdigest())
        chosen.update(texts[: args.per_source])
    missing = {t for m in outputs.values() for t in order if t not in m}
    chosen |= missing
    chosen_order = [t for t in order if t in chosen]

    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "outputs").mkdir(parents=True)
    with open(args.out / "prompts.jsonl", "w", encoding="utf-8") as f:
        for t in chosen_order:
            f.write(json.dumps({"prompt_id": ids[t], "text": t, "category": reference[t]["dataset"]}, ensure_ascii=False) + "\n")
    for model, rows in sorted(outputs.items()):
        with open(args.out / "outputs" / f"{model}.jsonl", "w", encoding="utf-8") as f:
            for t in chosen_order:
                if t in rows:
                    f.write(json.dumps({"prompt_id": ids[t], "output": rows[t]["output"]}, ensure_ascii=False) + "\n")
    shutil.copy(args.src / "reference_rankings.csv", args.out / "reference_rankings.csv")
    print(f"{args.out}: {len(chosen_order)} prompts, {len(outputs)} models, missing answers kept: {len(missing)}")


if __name__ == "__main__":
    main()
