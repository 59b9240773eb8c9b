"""Importing 100,000 answers (1 KB each) vs a bare sqlite3.executemany of the same rows.

Target (issue 2): `arena pool import` (read + validate + one-transaction write through the store)
takes at most 3x the bare insert into the same schema, measured in the same run.

    python bench/pool_import.py [--answers 100000] [--models 10]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import string
import tempfile
import time
from pathlib import Path

from arena.pools import import_pool
from arena.store import Store


def make_pool(folder: Path, n_prompts: int, n_models: int, size: int, rng: random.Random) -> list[tuple]:
    (folder / "outputs").mkdir(parents=True)
    alphabet = string.ascii_letters + "     "
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(n_prompts):
            f.write(json.dumps({"prompt_id": f"p{i}", "text": f"Question {i}?", "category": f"c{i % 5}"}) + "\n")
    rows = []
    chunk = "".join(rng.choice(alphabet) for _ in range(size * 4))
    for m in range(n_models):
        with open(folder / "outputs" / f"model-{m}.jsonl", "w") as f:
            for i in range(n_prompts):
                start = rng.randrange(0, size * 3)
                text = chunk[start : start + size]
                f.write(json.dumps({"prompt_id": f"p{i}", "output": text}) + "\n")
                rows.append(("bench", f"p{i}", f"model-{m}", text))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    rng = random.Random(0)
    n_prompts = args.answers // args.models
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = make_pool(tmp / "pool", n_prompts, args.models, args.size, rng)

        # reference: bare executemany into the same schema, same journal mode, one transaction
        ref_db = tmp / "ref.db"
        Store(ref_db).close()
        con = sqlite3.connect(ref_db, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        t = time.perf_counter()
        con.execute("BEGIN")
        con.executemany("INSERT INTO prompts (pool, prompt_id, seq, text, category) VALUES (?, ?, ?, ?, ?)",
                        [("bench", f"p{i}", i, f"Question {i}?", f"c{i % 5}") for i in range(n_prompts)])
        con.executemany("INSERT INTO outputs (pool, prompt_id, model, text) VALUES (?, ?, ?, ?)", rows)
        con.execute("COMMIT")
        bare = time.perf_counter() - t
        con.close()

        store = Store(tmp / "arena.db")
        t = time.perf_counter()
        data = import_pool(store, "bench", [tmp / "pool"])
        ours = time.perf_counter() - t
        assert len(data.outputs) == len(rows)
        store.close()

    ratio = ours / bare
    print(f"answers: {len(rows):,} of {args.size} B, {args.models} models")
    print(f"bare sqlite3.executemany: {bare:.3f} s")
    print(f"arena pool import (read, validate, write): {ours:.3f} s")
    print(f"ratio: {ratio:.2f}x (target <= 3.0x) -> {'PASS' if ratio <= 3.0 else 'FAIL'}")
    raise SystemExit(0 if ratio <= 3.0 else 1)


if __name__ == "__main__":
    main()
