"""Backend concurrency: 200 calls in flight at once against serial calls, in the same run.

The loopback OpenAI-compatible server (tests/loopback.py) answers after 0.3 s. The reference is
the mean latency of 10 calls made one at a time; 200 calls at concurrency 200 should take far
less than 200 x that. Prints the speed-up (serial estimate / measured); the target is >= 7.5
(the former unit-test bound: 200 x 0.3 s = 60 s serial, under 8 s concurrent).

    .venv/bin/python bench/backend_concurrency.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from loopback import LoopbackServer  # noqa: E402

from arena.backends import CompletionRequest, Policy, make_backend  # noqa: E402

TARGET = 7.5


def main() -> int:
    os.environ["ARENA_BENCH_KEY"] = "sk-bench"
    server = LoopbackServer().start()
    server.delay_s = 0.3
    try:
        def req(i: int) -> CompletionRequest:
            return CompletionRequest(
                model="openai/loopback", messages=[{"role": "user", "content": f"c{i}"}],
                params={"temperature": 0, "max_tokens": 32}, api_base=server.api_base, api_key_env="ARENA_BENCH_KEY", timeout=30.0,
            )

        serial = make_backend("openai/loopback", policy=Policy(concurrency=1, max_retries=0), seed=1)
        asyncio.run(serial.complete_many([req(-100)]))  # warm-up: imports litellm
        t0 = time.perf_counter()
        asyncio.run(serial.complete_many([req(-i - 1) for i in range(10)]))
        per_call = (time.perf_counter() - t0) / 10
        many = make_backend("openai/loopback", policy=Policy(concurrency=200, max_retries=0), seed=1)
        t0 = time.perf_counter()
        out = asyncio.run(many.complete_many([req(i) for i in range(200)]))
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
    ok = sum(c.ok for c in out)
    speedup = 200 * per_call / elapsed
    print(f"serial {per_call:.3f} s/call; 200 calls at concurrency 200: {elapsed:.2f} s ({ok} ok, max in flight {server.max_in_flight})")
    print(f"speed-up {speedup:.1f}x (target >= {TARGET})")
    return 0 if ok == 200 and speedup >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
