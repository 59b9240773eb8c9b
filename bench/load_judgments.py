"""`arena.surrogate.data.load_judgments` (arena.io + pydantic rows) against a hand-written reader.

    .venv/bin/python bench/load_judgments.py [--data ../shared/data/alpaca_eval] [--rounds 3]

Reads AlpacaEval's recorded GPT-4-turbo judgments (44 gzipped JSON-lines files, 35,412 rows) three
ways in one run, best of `--rounds` each, and prints seconds and ratios to the reference:
- reference: the hand-written reader arena.io replaced (gzip, `json.loads` per line, the range check);
- arena: `load_judgments` as it is (every row validated by the `JudgmentRow` pydantic model,
  `path:line` errors, lone-surrogate checks);
- arena, previous empty-file check: the same with `read_text`'s `text.strip()` test of an empty
  file, which copied every whole decompressed file (the 1.4x of issue 17 came mostly from it).

Skips (exit 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena import io as arena_io  # noqa: E402
from arena.surrogate.data import JudgedPair, _judgment_files, load_judgments  # noqa: E402


def hand_written(data: Path) -> list[JudgedPair]:
    """The reference: surrogate/data.py's own reader before arena.io (commit 598c447^), its checks included."""
    out = []
    for path in _judgment_files(data):
        with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                pref = r["preference"]
                if pref is None:
                    continue
                pref = float(pref)
                if not 1.0 <= pref <= 2.0:
                    raise ValueError(f"preference {pref} is outside [1, 2]")
                out.append(JudgedPair(str(r["instruction"]), str(r["output_1"] or ""), str(r["generator_1"]), str(r["output_2"] or ""), str(r["generator_2"]), pref))
    return out


def previous_check(data: Path) -> list[JudgedPair]:
    """`load_judgments` with read_text's former empty-file test (`not text.strip()`)."""
    original = arena_io.read_text

    def read_text(path, *, expected="records"):
        text = original(path, expected=expected)
        if not text.strip():  # the former test, a copy of the text; the new one ran first and passed
            raise AssertionError
        return text

    arena_io.read_text = read_text
    try:
        return load_judgments(data)
    finally:
        arena_io.read_text = original


def best(fn, data: Path, rounds: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(rounds):
        t = time.perf_counter()
        n = len(fn(data))
        times.append(time.perf_counter() - t)
    return min(times), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "alpaca_eval")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found")
        return 0
    assert load_judgments(args.data) == hand_written(args.data), "the readers disagree"
    ref, n = best(hand_written, args.data, args.rounds)
    now, _ = best(load_judgments, args.data, args.rounds)
    before, _ = best(previous_check, args.data, args.rounds)
    print(f"{n:,} judgments, best of {args.rounds}")
    print(f"  hand-written reference          {ref:6.2f} s")
    print(f"  arena load_judgments            {now:6.2f} s   {now / ref:.2f}x the reference")
    print(f"  arena, previous empty check     {before:6.2f} s   {before / ref:.2f}x the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
