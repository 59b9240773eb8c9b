"""Tournaments split across machines: N shards on N stores, merged, against the unsplit run (issue 18).

Two parts, both measured in the same run:

exact   The bundled demo pool (101 AlpacaEval prompts, 8 models' real answers) judged by the
        offline surrogate: for single-elimination, round-robin (4 sampled pairs a prompt, balanced)
        and anchored, the unsplit run beside 2 and 4 shards (each on its own SQLite store) merged
        with `arena run merge`. Prints the matches, the largest difference of any rating, interval
        bound and win rate between the two leaderboards, and whether they are identical.
scale   A judge whose capacity per machine is fixed (tests/loopback.py answering after 400 ms, the
        preset's concurrency 8: 20 calls/s a machine, as one busy vLLM server per node would be),
        a synthetic pool of 40 prompts x 5 models, round-robin (400 matches, 800 calls). The
        unsplit run as one `arena tournament run` process beside 2 shard processes side by side
        (each its own store, as on two machines) plus `arena run merge`: wall seconds of each,
        the speed-up, and the leaderboards compared. Process start-up (imports) and the reports are
        counted in both; the judging phase alone (each run's own clock) is printed beside it. On a
        shared 2-core machine the processes compete for the cores: the shards' gain is the
        judge's capacity they add, which separate machines add without that competition.

    .venv/bin/python bench/shard.py
    .venv/bin/python bench/shard.py --only exact
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY_ENV = "ARENA_BENCH_KEY"


def compare(a: list[dict], b: list[dict]) -> tuple[float, float, float, bool]:
    """(max |d rating|, max |d CI bound|, max |d win rate|, identical) of two leaderboards."""
    by = {r["model"]: r for r in b}
    dr = max(abs(r["rating"] - by[r["model"]]["rating"]) for r in a)
    dc = max(max(abs(r["ci_low"] - by[r["model"]]["ci_low"]), abs(r["ci_high"] - by[r["model"]]["ci_high"])) for r in a)
    dw = max(abs(r["win_rate"] - by[r["model"]]["win_rate"]) for r in a)
    return dr, dc, dw, a == b


def exact(tmp: Path) -> None:
    import arena

    print("exact: demo pool (101 prompts, 8 models), surrogate judge, bootstrap 1000")
    print(f"{'scheduler':<34} {'shards':>6} {'matches':>8} {'max|d rating|':>14} {'max|d CI|':>10} {'max|d WR|':>10}  identical")
    for name, sched in (
        ("single-elimination", {"kind": "single-elimination"}),
        ("round-robin, 4 pairs a prompt", {"kind": "round-robin", "pairs_per_prompt": 4}),
        ("anchored on gpt4_0613", {"kind": "anchored", "baseline": "gpt4_0613"}),
    ):
        spec = {"name": "bench", "pool": "data/demo", "judge": "surrogate", "seed": 1, "bootstrap": 1000, "scheduler": sched}
        tag = sched["kind"]
        whole = arena.run_tournament(spec, db=tmp / f"{tag}-whole.db", write_reports=False, handle_sigint=False)
        for n in (2, 4):
            stores = []
            for k in range(1, n + 1):
                stores.append(tmp / f"{tag}-{n}-{k}.db")
                arena.run_tournament(spec, db=stores[-1], shard=f"{k}/{n}", write_reports=False, handle_sigint=False)
            merged = arena.merge_runs(tmp / f"{tag}-{n}-merged.db", stores)
            board = arena.load_run(merged.run_id, db=tmp / f"{tag}-{n}-merged.db").report()["leaderboard"]
            dr, dc, dw, same = compare(whole.leaderboard, board)
            print(f"{name:<34} {n:>6} {merged.matches:>8,} {dr:>14.3g} {dc:>10.3g} {dw:>10.3g}  {'yes' if same else 'NO'}")


def _pool(folder: Path, n_prompts: int, models: dict[str, int]) -> Path:
    (folder / "outputs").mkdir(parents=True)
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(n_prompts):
            f.write(json.dumps({"prompt_id": f"q{i:03d}", "text": f"Question {i}: explain topic {i} briefly.", "category": f"c{i % 3}"}) + "\n")
    for model, q in models.items():
        with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
            for i in range(n_prompts):
                quality = q + (i * 7 + len(model)) % 4  # close matches on some prompts
                f.write(json.dumps({"prompt_id": f"q{i:03d}", "output": f"{model} answers {i}. <!-- quality={quality} -->"}) + "\n")
    return folder


def _arena(*args: str) -> subprocess.Popen:
    env = dict(os.environ, **{KEY_ENV: "sk-bench"})
    return subprocess.Popen([sys.executable, "-m", "arena", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"arena failed ({p.returncode}):\n{out[-2000:]}")


def scale(tmp: Path, delay: float, prompts: int) -> None:
    import arena

    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback.py"), "--delay", str(delay)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"loopback server did not start: {line!r}")
        api_base = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        pool = _pool(tmp / "pool", prompts, {"alpha": 8, "bravo": 7, "charlie": 6, "delta": 5, "echo": 4})
        judge = tmp / "judge.toml"
        judge.write_text(f'kind = "llm"\nmodel = "openai/gpt-4o-mini"\napi_base = "{api_base}"\napi_key_env = "{KEY_ENV}"\n'
                         'max_tokens = 64\ntimeout = 30\nconcurrency = 8\n')
        spec = tmp / "scale.toml"
        spec.write_text(f'name = "scale"\npool = "{pool}"\njudge = "{judge}"\nseed = 2\nconcurrency = 8\nbootstrap = 200\n'
                        'confirm_above_usd = 100\n[scheduler]\nkind = "round-robin"\n')
        t0 = time.perf_counter()
        _wait([_arena("tournament", "run", str(spec), "--db", str(tmp / "whole.db"), "--plain", "--yes", "--out", str(tmp / "r0"))])
        t_whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        _wait([_arena("tournament", "run", str(spec), "--shard", f"{k}/2", "--db", str(tmp / f"s{k}.db"), "--plain", "--yes",
                      "--out", str(tmp / f"r{k}")) for k in (1, 2)])
        t_shards = time.perf_counter() - t0
        t0 = time.perf_counter()
        _wait([_arena("run", "merge", str(tmp / "merged.db"), str(tmp / "s1.db"), str(tmp / "s2.db"))])
        t_merge = time.perf_counter() - t0
    finally:
        server.kill()
    whole = arena.load_run("scale", db=tmp / "whole.db")
    merged = arena.load_run("scale", db=tmp / "merged.db")
    dr, dc, dw, same = compare(whole.report()["leaderboard"], merged.report()["leaderboard"])
    calls = whole.usage.calls
    judging_whole = whole.summary.elapsed_s
    judging_shards = max(arena.load_run("scale", db=tmp / f"s{k}.db").summary.elapsed_s for k in (1, 2))
    print(f"\nscale: {prompts} prompts x 5 models, round-robin, {calls:,} judge calls; a judge per machine at concurrency 8, {1000 * delay:.0f} ms a call")
    print(f"  unsplit, one process:          {t_whole:6.1f} s  ({calls / t_whole:,.0f} calls/s)")
    print(f"  2 shards side by side:         {t_shards:6.1f} s  + merge {t_merge:.1f} s = {t_shards + t_merge:.1f} s"
          f"  ({calls / (t_shards + t_merge):,.0f} calls/s)")
    print(f"  judging phase (the runs' own clocks): unsplit {judging_whole:.1f} s, slowest shard {judging_shards:.1f} s:"
          f" {judging_whole / judging_shards:.2f}x")
    print(f"  speed-up end to end: {t_whole / (t_shards + t_merge):.2f}x (2 machines); calls paid: unsplit {whole.usage.calls:,},"
          f" merged {merged.usage.calls:,}; cost ${whole.usage.cost_usd:.4f} vs ${merged.usage.cost_usd:.4f}")
    print(f"  leaderboards: max|d rating| {dr:.3g}, max|d CI| {dc:.3g}, max|d WR| {dw:.3g}, identical: {'yes' if same else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="exact,scale", help="exact, scale or both (comma-separated)")
    ap.add_argument("--delay", type=float, default=0.4, help="the loopback judge's seconds a call (scale)")
    ap.add_argument("--prompts", type=int, default=40, help="prompts of the synthetic pool (scale)")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as d:
        if "exact" in parts:
            exact(Path(d))
        if "scale" in parts:
            scale(Path(d), args.delay, args.prompts)


if __name__ == "__main__":
    main()
