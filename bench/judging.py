"""Judging throughput: the full LLM-judge path against a bare `litellm.acompletion` loop.

Both talk to the same loopback OpenAI-compatible server (tests/loopback.py, in its own
process, answering after 20 ms) at the same concurrency, in the same run:

- bare:   N calls of `litellm.acompletion` with pre-rendered judge prompts, a semaphore of C;
- full:   N/2 matches through `LLMJudge.judge` (both orders: N games) with a temp-file Store:
          prompt rendering with fences, call-cache lookups and writes, retries policy, label
          parsing, and `Store.record_verdict` per match;
- cached: the same matches again, all answered from the call cache (no requests).

Prints games/s of each and full/bare (the target is >= 0.80).

    .venv/bin/python bench/judging.py            # 2,000 games at concurrency 32
    .venv/bin/python bench/judging.py --quick    # 400 games
"""

from __future__ import annotations

import argparse
import asyncio
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

MODEL = "openai/bench-judge"
KEY_ENV = "ARENA_BENCH_KEY"


def start_server(delay: float = 0.0, max_concurrency: int | None = None) -> tuple[subprocess.Popen, int]:
    """A loopback OpenAI-compatible server (tests/loopback.py) in its own process: (process, port).
    `max_concurrency`: requests it serves at once (None: no cap). Shared by the judge-path benches."""
    cap = [] if max_concurrency is None else ["--max-concurrency", str(max_concurrency)]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "loopback.py"), "--delay", str(delay), *cap],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"loopback server did not start: {line!r}")
    return proc, int(line.split()[1])


def contexts(n_matches: int, tag: str):
    from arena.records import MatchContext

    out = []
    for i in range(n_matches):
        qa, qb = (i * 7) % 10, (i * 3) % 10
        out.append(
            MatchContext(
                match_id=f"{tag}-m{i}",
                prompt_id=f"p{i}",
                prompt=f"[{tag}] Explain topic number {i} to a curious student in three short paragraphs.",
                model_a="alpha",
                model_b="beta",
                answer_a=f"Alpha's answer to {i}. " + "It explains the idea carefully. " * 20 + f"<!-- quality={qa} -->",
                answer_b=f"Beta's answer to {i}. " + "It covers the basics quickly. " * 20 + f"<!-- quality={qb} -->",
            )
        )
    return out


def expected(c) -> str:
    i = int(c.match_id.rsplit("m", 1)[1])
    qa, qb = (i * 7) % 10, (i * 3) % 10
    return "a" if qa > qb else "b" if qa < qb else "tie"


async def bare_loop(litellm, api_base: str, messages: list[list[dict]], concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    key = os.environ[KEY_ENV]

    async def one(m):
        async with sem:
            r = await litellm.acompletion(
                model=MODEL, messages=m, api_base=api_base, api_key=key, temperature=0, max_tokens=1024,
                timeout=60, num_retries=0, max_retries=0,
            )
            return r.choices[0].message.content

    t0 = time.perf_counter()
    out = await asyncio.gather(*(one(m) for m in messages))
    dt = time.perf_counter() - t0
    assert all(out)
    return dt


async def full_path(judge, store, run_id: str, ctxs) -> tuple[float, list]:
    async def one(c):
        r = await judge.judge(c)
        store.record_verdict(run_id, r.verdict, r.games)
        return r

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(c) for c in ctxs))
    return time.perf_counter() - t0, results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.02, help="server answer delay, seconds")
    ap.add_argument("--rounds", type=int, default=None, help="alternating bare/full rounds (default: 100 games a side per round)")
    ap.add_argument("--quick", action="store_true", help="400 games")
    args = ap.parse_args(argv)
    games = 400 if args.quick else args.games
    matches = games // 2
    args.rounds = args.rounds or max(2, games // 100)
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-key")

    proc, port = start_server(args.delay)
    api_base = f"http://127.0.0.1:{port}/v1"
    try:
        t = time.perf_counter()
        import litellm

        from arena.backends._litellm import _load
        from arena.judges.llm import build
        from arena.records import Match
        from arena.store import Store

        _load()
        print(f"import litellm: {time.perf_counter() - t:.1f} s")
        preset = {"kind": "llm", "model": MODEL, "api_base": api_base, "api_key_env": KEY_ENV, "template": "pairwise",
                  "max_tokens": 1024, "concurrency": args.concurrency, "timeout": 60, "max_retries": 2}
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.db")
            judge = build(preset, name="bench", base_dir=ROOT / "judges", store=store)

            async def run_all():
                # warm-up: connections, litellm's first-call paths
                warm = contexts(32, "warm")
                await bare_loop(litellm, api_base, [judge.messages(c, "AB") for c in warm], args.concurrency)
                await full_path(judge, store, "warm", warm)
                store.create_run("bench", "bench", {}, "h", 0)
                t_bare = t_full = 0.0
                results = []
                ratios = []
                # alternate bare and full in rounds, so drifting load on a shared machine hits both alike
                per_round = matches // args.rounds
                for r in range(args.rounds):
                    ctx_bare = contexts(per_round, f"bare{r}")
                    msgs = [judge.messages(c, o) for c in ctx_bare for o in ("AB", "BA")]
                    ctx_full = contexts(per_round, f"full{r}")
                    store.add_matches("bench", [Match(c.match_id, c.prompt_id, c.model_a, c.model_b) for c in ctx_full])
                    if r % 2 == 0:
                        db = await bare_loop(litellm, api_base, msgs, args.concurrency)
                        dt, res = await full_path(judge, store, "bench", ctx_full)
                    else:
                        dt, res = await full_path(judge, store, "bench", ctx_full)
                        db = await bare_loop(litellm, api_base, msgs, args.concurrency)
                    t_bare += db
                    t_full += dt
                    ratios.append(db / dt)
                    results += res
                all_full = [c for r in range(args.rounds) for c in contexts(per_round, f"full{r}")]
                hits_before = judge.backend.stats.cache_hits
                t_cached, _ = await full_path(judge, store, "bench", all_full)
                return t_bare, t_full, t_cached, results, judge.backend.stats.cache_hits - hits_before, all_full, ratios

            t_bare, t_full, t_cached, results, hits, all_full, ratios = asyncio.run(run_all())
            games = 2 * len(results)
            n_games = sum(len(r.games) for r in results)
            bad = [g for r in results for g in r.games if g.label in ("error", "unparsed")]
            rows = store.db.execute("SELECT COUNT(*) FROM games WHERE run_id = 'bench'").fetchone()[0]
            wrong = sum(1 for c, r in zip(all_full, results) if r.verdict.outcome != expected(c))
            store.close()
    finally:
        proc.stdin.close()
        proc.wait(10)

    bare_rate = games / t_bare
    full_rate = n_games / t_full
    print(f"games: {n_games} each way ({len(results)} matches, both orders), concurrency {args.concurrency}, "
          f"server delay {args.delay * 1000:.0f} ms, {args.rounds} alternating rounds")
    print(f"bare litellm.acompletion loop: {bare_rate:8.1f} calls/s  ({t_bare:.2f} s)")
    print(f"full judge path:               {full_rate:8.1f} games/s  ({t_full:.2f} s; {rows} game rows stored, {len(bad)} error/unparsed, {wrong} wrong verdicts)")
    print(f"cached re-run:                 {n_games / t_cached:8.1f} games/s  ({t_cached:.2f} s; {hits} cache hits)")
    ratio = full_rate / bare_rate
    import statistics

    print(f"per-round ratios: {' '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f})")
    print(f"ratio full/bare: {ratio:.2f} (target >= 0.80: {'PASS' if ratio >= 0.8 else 'FAIL'})")


if __name__ == "__main__":
    main()
