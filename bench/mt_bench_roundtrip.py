"""MT-Bench round trip on the whole shared data set: import ../shared/data/mt_bench into a fresh
store (`arena pool import --format mt_bench`), export it back (`arena pool export --format mt_bench`)
and compare every file byte for byte with the original (model answers gunzipped). Then the same for
recorded judgments in FastChat's pairwise format (../shared/data/jp_bench, each file through
`verdicts import --format mt_bench` and `verdicts export --format mt_bench`).

    .venv/bin/python bench/mt_bench_roundtrip.py [--data ../shared/data]

Prints one line per file (bytes, records, identical or not), the pool's turn counts and
references, and the import and export times beside the time of reading the same files with
`json.loads` (the reference measured in the same run). Exits 1 if any file differs; skips
cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.pools import import_pool, turn_counts  # noqa: E402
from arena.store import Store  # noqa: E402
from arena.verdicts.export import export_pool_peer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    src = args.data / "mt_bench"
    if not (src / "question.jsonl").exists():
        print(f"no mt_bench/ under {args.data}: skipped")
        return 0
    originals: dict[str, bytes] = {"question.jsonl": (src / "question.jsonl").read_bytes()}
    for f in sorted(src.glob("reference_answer_*.jsonl")):
        originals[f"reference_answer/{f.name.removeprefix('reference_answer_')}"] = f.read_bytes()
    for f in sorted((src / "model_answer").glob("*.jsonl*")):
        data = f.read_bytes()
        originals[f"model_answer/{f.name.removesuffix('.gz')}"] = gzip.decompress(data) if f.suffix == ".gz" else data

    t0 = time.perf_counter()
    n_json = sum(1 for b in originals.values() for line in b.decode().splitlines() if json.loads(line))
    t_json = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "a.db")
        t0 = time.perf_counter()
        data = import_pool(store, "mt_bench", [src], "mt_bench")
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        paths = export_pool_peer(store, "mt_bench", "mt_bench", Path(tmp) / "out")
        t_export = time.perf_counter() - t0
        written = {str(p.relative_to(Path(tmp) / "out")): p.read_bytes() for p in paths}
        prompts = store.prompts("mt_bench")
        store.close()

    bad = 0
    for rel, want in originals.items():
        got = written.get(rel)
        same = got == want
        bad += not same
        n = len(want.splitlines())
        print(f"  [{'ok' if same else 'DIFF'}] {rel}: {len(want)} bytes, {n} records" + ("" if same else f" (got {len(got or b'')} bytes)"))
    extra = sorted(set(written) - set(originals))
    if extra:
        bad += 1
        print(f"  [DIFF] files written that the data does not have: {', '.join(extra)}")
    n_refs = sum(1 for p in prompts for r in p.references if r is not None)
    print(f"pool: {len(prompts)} prompts, turns per prompt {turn_counts(prompts)}, {len(data.models)} models, "
          f"{len(data.outputs)} two-turn answers, {n_refs} reference turns")
    print(f"identical files: {len(originals) - bad} of {len(originals)}")
    print(f"import {t_import:.2f} s, export {t_export:.2f} s; json.loads of the same {n_json} records {t_json:.3f} s "
          f"(import = {t_import / t_json:.0f}x plain parsing)")
    return 1 if bad or judgments(args.data / "jp_bench") else 0


def judgments(src: Path) -> int:
    """Each FastChat pair-judgment file under `src`: import, export, compare bytes. Returns the files that differ."""
    from arena.verdicts import export_verdicts, import_verdicts

    files = sorted(src.glob("*.jsonl*"))
    if not files:
        print(f"no judgment files under {src}: skipped")
        return 0
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "j.db")
        for i, f in enumerate(files):
            want = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
            s = import_verdicts(store, f, "mt_bench", name=f"jp{i}")
            got = export_verdicts(store, s.run_id, "mt_bench", Path(tmp) / f"{i}.jsonl")[0].read_bytes()
            bad += got != want
            print(f"  [{'ok' if got == want else 'DIFF'}] {f.name}: {len(want)} bytes, {s.matches} records, {s.games} games")
        store.close()
    print(f"judgment files identical after import and export: {len(files) - bad} of {len(files)}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
