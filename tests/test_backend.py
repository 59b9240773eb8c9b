"""The backend policy (retries, Retry-After, timeouts, limits, cache) and the backend choice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from loopback import Reply

from arena.backends import CompletionRequest, Policy, RateLimiter, make_backend
from arena.backends._litellm import LiteLLMBackend

KEY_ENV = "ARENA_TEST_KEY"


def req(loopback, text="hello", **kw) -> CompletionRequest:
    return CompletionRequest(
        model=kw.pop("model", "openai/loopback"),
        messages=[{"role": "user", "content": text}],
        params=kw.pop("params", {"temperature": 0, "max_tokens": 32}),
        api_base=loopback.api_base,
        api_key_env=KEY_ENV,
        timeout=kw.pop("timeout", 5.0),
    )


def backend(store=None, **policy):
    policy.setdefault("backoff_base", 0.005)
    policy.setdefault("backoff_max", 0.05)
    return make_backend("openai/loopback", store=store, policy=Policy(**policy), seed=1)


def test_plain_call(loopback):
    c = asyncio.run(backend().complete(req(loopback, "say hi")))
    assert c.ok and c.text == "Loopback answer to: say hi" and c.attempts == 1 and not c.cached
    assert c.input_tokens > 0 and c.output_tokens > 0 and c.latency_s > 0


def test_retry_after_is_honoured_and_counted(loopback):
    def hook(r):
        if r.index < 2:
            return Reply(fault="429")
        return None

    loopback.hook = hook
    loopback.retry_after_s = 0.15
    b = backend(max_retries=4)
    t0 = time.perf_counter()
    c = asyncio.run(b.complete(req(loopback)))
    elapsed = time.perf_counter() - t0
    assert c.ok and c.attempts == 3
    assert elapsed >= 0.3  # two waits of at least Retry-After, though the backoff alone is ~10 ms
    assert b.stats.rate_limited == 2 and b.stats.retries == 2 and loopback.requests == 3


def test_a_429_pauses_the_whole_backend(loopback):
    def hook(r):
        return Reply(fault="429") if r.index == 0 else None

    loopback.hook = hook
    loopback.retry_after_s = 0.3
    b = backend(concurrency=1)

    async def go():
        first = asyncio.create_task(b.complete(req(loopback, "first")))
        await asyncio.sleep(0.05)  # the first call has been rate limited by now
        t0 = time.perf_counter()
        second = await b.complete(req(loopback, "second"))
        return await first, second, time.perf_counter() - t0

    first, second, waited = asyncio.run(go())
    assert first.ok and second.ok and waited >= 0.2


def test_gives_up_after_max_retries_with_the_reason(loopback):
    loopback.set_faults(**{"500": 1.0})
    b = backend(max_retries=2)
    c = asyncio.run(b.complete(req(loopback)))
    assert not c.ok and c.attempts == 3 and loopback.requests == 3
    assert "InternalServerError" in c.error and "after 3 attempts" in c.error
    assert b.stats.errors == 1


@pytest.mark.parametrize("kind, words", [("malformed", ""), ("empty", "empty response")])
def test_malformed_and_empty_are_retried(loopback, kind, words):
    loopback.hook = lambda r: Reply(fault=kind) if r.index == 0 else None
    c = asyncio.run(backend().complete(req(loopback)))
    assert c.ok and c.attempts == 2
    loopback.hook = lambda r: Reply(fault=kind)
    c = asyncio.run(backend(max_retries=1).complete(req(loopback)))
    assert not c.ok and c.attempts == 2 and words in c.error


def test_timeout_per_call(loopback):
    loopback.set_faults(hang=1.0)
    b = backend(max_retries=1, timeout=0.3)
    t0 = time.perf_counter()
    c = asyncio.run(b.complete(req(loopback)))
    assert not c.ok and "timed out" in c.error and c.attempts == 2
    assert 0.6 <= time.perf_counter() - t0 < 3.0
    assert b.stats.timeouts == 2


def test_client_errors_are_not_retried(loopback):
    loopback.hook = lambda r: Reply(status=400)
    c = asyncio.run(backend().complete(req(loopback)))
    assert not c.ok and c.attempts == 1 and "BadRequest" in c.error


def test_concurrency_limit(loopback):
    loopback.delay_s = 0.05
    b = backend(concurrency=3)

    async def go():
        return await b.complete_many([req(loopback, f"q{i}") for i in range(12)])

    out = asyncio.run(go())
    assert [c.text for c in out] == [f"Loopback answer to: q{i}" for i in range(12)]  # in order
    assert loopback.max_in_flight == 3


def test_cache_hit_and_no_cache(loopback, store):
    b = backend(store)
    first = asyncio.run(b.complete(req(loopback, "x")))
    second = asyncio.run(backend(store).complete(req(loopback, "x")))
    assert loopback.requests == 1 and second.cached and second.attempts == 0 and second.text == first.text
    other_params = asyncio.run(backend(store).complete(req(loopback, "x", params={"temperature": 0.7, "max_tokens": 32})))
    assert not other_params.cached and loopback.requests == 2
    nc = make_backend("openai/loopback", store=store, no_cache=True)
    assert not asyncio.run(nc.complete(req(loopback, "x"))).cached and loopback.requests == 3


def test_errors_are_not_cached(loopback, store):
    loopback.set_faults(**{"500": 1.0})
    assert not asyncio.run(backend(store, max_retries=0).complete(req(loopback))).ok
    loopback.set_faults(0)
    c = asyncio.run(backend(store).complete(req(loopback)))
    assert c.ok and not c.cached


def test_backoff_is_exponential_with_jitter_and_respects_retry_after():
    b = make_backend("openai/x", policy=Policy(backoff_base=1.0, backoff_max=8.0), seed=3)
    for attempt, expo in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        waits = [b.backoff(attempt, None) for _ in range(50)]
        assert all(expo * 0.5 <= w <= expo for w in waits)
        assert len(set(waits)) > 1  # jitter
    assert b.backoff(1, 30.0) == 30.0
    assert b.backoff(1, 10_000.0) == b.policy.retry_after_max


def test_rate_limiter_rpm_and_tpm():
    class Fast(RateLimiter):
        WINDOW = 0.3

    async def go(limiter, n, tokens):
        t0 = time.perf_counter()
        for _ in range(n):
            await limiter.acquire(tokens)
        return time.perf_counter() - t0

    assert asyncio.run(go(Fast(rpm=3, tpm=None), 3, 1)) < 0.1
    assert asyncio.run(go(Fast(rpm=3, tpm=None), 4, 1)) >= 0.25  # the 4th waits for the window
    assert asyncio.run(go(Fast(rpm=None, tpm=100), 2, 50)) < 0.1
    assert asyncio.run(go(Fast(rpm=None, tpm=100), 3, 50)) >= 0.25


def test_missing_key_variable_is_one_clear_error(loopback, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    c = asyncio.run(backend().complete(req(loopback)))
    assert not c.ok and c.attempts == 1 and f"environment variable {KEY_ENV} is not set" in c.error
    assert loopback.requests == 0


def test_backend_choice_by_model_string():
    assert isinstance(make_backend("openai/gpt-4o-mini"), LiteLLMBackend)
    assert isinstance(make_backend("hosted_vllm/x"), LiteLLMBackend)
    from arena.backends._vllm import VLLMBackend

    v = make_backend("vllm/Qwen/Qwen2.5-0.5B-Instruct")
    assert isinstance(v, VLLMBackend) and v.model_path == "Qwen/Qwen2.5-0.5B-Instruct" and v.policy.concurrency == 256


def test_importing_arena_does_not_import_litellm_or_vllm():
    code = (
        "import sys, arena, arena.cli, arena.backends, arena.judges, arena.judges.llm, arena.generate;"
        "bad = [m for m in ('litellm', 'vllm', 'torch', 'openai') if m in sys.modules];"
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_price_table_for_plans():
    from arena.backends import price

    assert price("openai/gpt-4o-mini", 1_000_000, 0) > 0
    assert price("openai/gpt-4o-mini", 1000, 1000) > price("openai/gpt-4o-mini", 1000, 0)
    assert price("hosted_vllm/some-local-model", 1000, 1000) is None  # unknown stays unknown
    assert price("vllm/any", 10**6, 10**6) == 0.0


def test_one_backend_serves_several_event_loops(loopback):
    b = backend(concurrency=2, rpm=1000)
    for i in range(3):  # e.g. a library user calling asyncio.run per batch
        out = asyncio.run(b.complete_many([req(loopback, f"loop{i}-{j}") for j in range(4)]))
        assert all(c.ok for c in out)
    assert loopback.requests == 12


def test_loopback_server_takes_200_calls_in_flight(loopback):
    loopback.delay_s = 1.0  # long enough for 100 calls to be in flight together on a loaded machine
    b = backend(concurrency=200, max_retries=0)
    out = asyncio.run(b.complete_many([req(loopback, f"c{i}") for i in range(200)]))
    assert all(c.ok for c in out)
    assert loopback.max_in_flight >= 100 and loopback.requests == 200
    # its wall-clock bound (under 8 s) moved to bench/backend_concurrency.py (a ratio against serial calls)


def test_loopback_fault_mix_is_counted(loopback):
    loopback.set_faults(f429=0.5, empty=0.5)
    b = backend(max_retries=0)
    out = asyncio.run(b.complete_many([req(loopback, f"f{i}") for i in range(20)]))
    assert not any(c.ok for c in out)
    assert loopback.counts["429"] + loopback.counts["empty"] == 20 and loopback.counts["429"] > 0 and loopback.counts["empty"] > 0
    assert b.stats.errors == 20 and b.stats.rate_limited == loopback.counts["429"]
