"""A judge fleet behind litellm's Router: throughput with four deployments over one, and a server
killed mid-run (issue 18).

Four loopback OpenAI-compatible servers (tests/loopback.py, each its own process), each capped
like a GPU server whose batch is full: `--max-concurrency` requests at once, `--delay` seconds
each, the rest queued, so one server makes at most max_concurrency / delay calls a second.
arena's LLM judge (`hosted_vllm/...`, `deployments = [...]`, the fast path per deployment, the
call cache in a SQLite file, `Store.record_verdict` per match) judges the same number of matches
with a fleet of one deployment and with a fleet of four, in alternating rounds, at a client
concurrency that keeps four servers full, under each routing strategy. Prints calls/s of each
and four/one (target >= 3.5x, for "least-busy", the strategy the README advises for a fleet of
equal servers; "simple-shuffle" draws at random, so one server's queue runs longer).

Then a run on the four with one server killed (its process ended) a third of the way through:
every match must end as a verdict or a recorded error, and no call is paid twice (the calls that
got an answer equal the new rows of the call cache, two per decided match).

The machine's 2 cores are shared with other work, and the client's CPU is part of what is
measured: at load 10 the judge path's own work (prompt, cache, parse, store: a few ms a call on
a loaded core) starts to limit four servers above ~60 calls/s, so the default cap is 10 calls/s a
server (a real judge call of ~600 output tokens takes seconds, not 0.4 s). Measured at load 10:
3.78x with `--delay 0.4`, 3.49x with `--delay 0.2`. Run it when `uptime` shows a low load, and
more than once.

    .venv/bin/python bench/router.py                     # 400 calls a contender, 0.4 s a call, 4 at once
    .venv/bin/python bench/router.py --calls 2000 --delay 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from judging import contexts, start_server  # noqa: E402  (the loopback server and synthetic matches of bench/judging.py)

MODEL = "hosted_vllm/bench-judge"
KEY_ENV = "ARENA_BENCH_KEY"


def preset(bases: list[str], concurrency: int, strategy: str) -> dict:
    return {"kind": "llm", "model": MODEL, "api_key_env": KEY_ENV, "template": "pairwise", "max_tokens": 1024,
            "concurrency": concurrency, "timeout": 30, "max_retries": 4, "cooldown": 60, "routing_strategy": strategy,
            "deployments": [{"api_base": b} for b in bases]}


async def judge_all(judge, store, run_id: str, ctxs) -> tuple[float, int, int]:
    """(seconds, decided matches, matches ending in a recorded error)."""
    decided = errors = 0

    async def one(c):
        nonlocal decided, errors
        r = await judge.judge(c)
        store.record_verdict(run_id, r.verdict, r.games)
        if r.verdict.outcome != "unresolved":
            decided += 1
        elif any(g.error for g in r.games):
            errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in ctxs))
    return time.perf_counter() - t0, decided, errors


async def run_bench(args, store, servers, build, cap: float, per_round: int) -> None:
    bases = [b for _, b in servers]
    concurrency = 4 * args.max_concurrency * 2  # enough to keep four servers' slots full
    judges = []

    def fleet(name: str, n: int, strategy: str):
        judge = build(preset(bases[:n], concurrency, strategy), name=name, base_dir=ROOT / "judges", store=store)
        judges.append(judge)
        return judge

    try:
        n = 2 * per_round * args.rounds
        print(f"judge fleet: loopback servers capped at {args.max_concurrency} calls at once x {args.delay:g} s "
              f"(<= {cap:,.0f} calls/s each), client concurrency {concurrency}, {n:,} calls each in {args.rounds} alternating rounds:")
        for strategy in ("least-busy", "simple-shuffle"):
            one, four = fleet(f"one-{strategy}", 1, strategy), fleet(f"four-{strategy}", 4, strategy)
            totals = {"one": 0.0, "four": 0.0}
            await judge_all(one, store, "bench", contexts(8, f"warm-1-{strategy}"))
            await judge_all(four, store, "bench", contexts(8, f"warm-4-{strategy}"))
            for r in range(args.rounds):
                for k, judge in (("one", one), ("four", four)):
                    dt, decided, _ = await judge_all(judge, store, "bench", contexts(per_round, f"{k}-{r}-{strategy}"))
                    assert decided == per_round
                    totals[k] += dt
            rate = {k: n / v for k, v in totals.items()}
            ratio = rate["four"] / rate["one"]
            target = strategy == "least-busy"
            print(f"  {strategy}: one deployment {rate['one']:,.1f} calls/s ({rate['one'] / cap:.0%} of its cap), "
                  f"four {rate['four']:,.1f} calls/s ({rate['four'] / (4 * cap):.0%} of theirs), calls each {sorted(four.backend.calls_by_deployment.values())}")
            print(f"  {strategy}: four / one = {ratio:.2f}x" + (f"  (target >= 3.5x) {'PASS' if ratio >= 3.5 else 'FAIL'}" if target else ""))

        # -- a server killed a third of the way through -------------------------------------------
        killed = fleet("killed", 4, "least-busy")
        ctxs = contexts(per_round * 2, "kill")
        victim = servers[1][0]

        async def kill_later():
            await asyncio.sleep(len(ctxs) * 2 / (4 * cap) / 3)
            victim.kill()

        rows_before = store.db.execute("SELECT COUNT(*) FROM call_cache").fetchone()[0]
        killer = asyncio.create_task(kill_later())
        dt, decided, errors = await judge_all(killed, store, "bench", ctxs)
        await killer
        s = killed.backend.stats
        answered = s.requests - s.cache_hits - s.errors  # calls that got an answer (paid)
        cached = store.db.execute("SELECT COUNT(*) FROM call_cache").fetchone()[0] - rows_before
        print(f"one of four servers killed a third of the way through {len(ctxs)} matches ({2 * len(ctxs)} calls, least-busy):")
        print(f"  {decided} verdicts + {errors} recorded errors = {decided + errors} of {len(ctxs)} matches "
              f"{'PASS' if decided + errors == len(ctxs) else 'FAIL'}; {len(ctxs) * 2 / dt:,.1f} calls/s")
        print(f"  failed attempts by deployment: {dict(killed.backend.failures_by_deployment)}; calls answered {answered}, "
              f"new cache rows {cached} {'PASS' if answered == cached == 2 * decided else 'FAIL'} (each call paid once)")
    finally:
        for j in judges:
            await j.aclose()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400, help="judge calls per contender (2 per match)")
    ap.add_argument("--delay", type=float, default=0.4, help="seconds each server takes per call")
    ap.add_argument("--max-concurrency", type=int, default=4, help="calls each server serves at once")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-key")

    from arena.backends._litellm import _load
    from arena.judges.llm import build
    from arena.store import Store

    _load()
    servers = [(proc, f"http://127.0.0.1:{port}/v1") for proc, port in (start_server(args.delay, args.max_concurrency) for _ in range(4))]
    cap = args.max_concurrency / args.delay
    per_round = max(1, args.calls // args.rounds // 2)  # matches a round
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.db")
            store.create_run("bench", "bench", {}, "h", 0)
            asyncio.run(run_bench(args, store, servers, build, cap, per_round))
            store.close()
    finally:
        for proc, _ in servers:
            if proc.poll() is None:
                proc.stdin.close()
                proc.wait(10)


if __name__ == "__main__":
    main()
