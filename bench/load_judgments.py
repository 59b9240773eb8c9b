"""`arena.surrogate.data.load_judgments` (arena.io + pydantic rows) against a hand-written reader.

    .venv/bin/python bench/load_judgments.py [--data ../shared/data/alpaca_eval] [--rounds 3]

Reads AlpacaEval's recorded GPT-4-turbo judgments (44 gzipped JSON-lines files, 35,412 rows) three
ways in one run, best of `--rounds` each, and prints seconds and ratios to the reference:
- reference: the hand-written reader arena.io replaced (gzip, `json.loads` per line, the range check);
- arena before: `load_judgments` (every row validated by the `JudgmentRow` pydantic model,
  `path:line` errors, lone-surrogate checks) with `read_text`'s former empty-file test
  (`not text.strip()`: a copy of each whole decompressed text, as the file ends in a newline);
- arena now: the same with `not text or text.isspace()` (no copy).

Measured (2 cores shared with other jobs, load 5-7, so noisy): best of 5, reference 2.14 s, arena
before 2.54 s (1.19x), arena now 2.19 s (1.02x); another run, best of 7: 2.21 s, 2.74 s (1.24x),
1.54 s (0.70x). A reader streaming the lines (no whole-text decode and split) was tried: no
faster within the noise (1.42 s in that run), so not kept.

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
from arena.surrogate import data as surrogate_data  # noqa: E402
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


def _whole_text(copy: bool):
    """`load_judgments` through arena.io's JSON-lines path; with `copy`, plus read_text's former
    empty-file test (`not text.strip()`, a copy of the whole text)."""

    def iter_records(path, format="auto", *, list_key=None, what="record"):
        text = arena_io.read_text(path, expected="JSON lines")
        if copy and not text.strip():
            raise AssertionError
        yield from arena_io._json_lines(text, Path(path))

    def load(data: Path) -> list[JudgedPair]:
        saved = surrogate_data.iter_records
        surrogate_data.iter_records = iter_records
        try:
            return load_judgments(data)
        finally:
            surrogate_data.iter_records = saved

    return load


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
    ref_pairs = hand_written(args.data)
    variants = [("arena before (empty test copied the text)", _whole_text(True)), ("arena now", load_judgments)]
    assert all(fn(args.data) == ref_pairs for _, fn in variants), "the readers disagree"
    ref, n = best(hand_written, args.data, args.rounds)
    print(f"{n:,} judgments, best of {args.rounds}")
    print(f"  {'hand-written reference':44s} {ref:6.2f} s")
    for label, fn in variants:
        t, _ = best(fn, args.data, args.rounds)
        print(f"  {label:44s} {t:6.2f} s   {t / ref:.2f}x the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
