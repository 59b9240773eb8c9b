"""The fast path for OpenAI-compatible servers against the litellm path, on one loopback server:
the same request bodies, verdicts, stored usage and costs, the same retry policy, and litellm
as the fallback for what the fast path does not cover."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from loopback import Reply

from arena.backends import CompletionRequest, Policy, make_backend
from arena.backends._litellm import LiteLLMBackend
from arena.backends._openai_compat import OpenAICompatBackend, fast_path_eligible
from arena.judges.llm import build
from arena.records import MatchContext
from arena.store import Store

ROOT = Path(__file__).resolve().parent.parent
KEY_ENV = "ARENA_TEST_KEY"


def judge_for(loopback, store, client: str, model: str):
    preset = {
        "kind": "llm", "model": model, "api_base": loopback.api_base, "api_key_env": KEY_ENV, "template": "pairwise",
        "max_tokens": 256, "concurrency": 8, "timeout": 5, "max_retries": 3, "client": client, "extra_params": {"seed": 7},
    }
    return build(preset, name="judge", base_dir=ROOT / "judges", store=store, backoff_base=0.005, backoff_max=0.05)


def contexts(n: int) -> list[MatchContext]:
    out = []
    for i in range(n):
        qa, qb = (i * 7) % 5, (i * 3) % 5
        tail = " NO-LABEL" if i % 4 == 0 else ""  # the hook answers these without a label: a re-ask
        out.append(MatchContext(f"m{i}", f"p{i}", f"Question {i}?", "alpha", "beta",
                                f"Alpha on {i}. <!-- quality={qa} -->{tail}", f"Beta on {i}. <!-- quality={qb} -->"))
    return out


def no_label_once(req):
    """A judge reply without a label for answers marked NO-LABEL (the re-ask then gets the rule's answer)."""
    if "NO-LABEL" in req.text and req.messages[-1]["content"].find("NO-LABEL") >= 0:
        return Reply(text="I cannot decide between them.", input_tokens=123, output_tokens=9)
    return None


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "hosted_vllm/Qwen/Qwen2.5-7B-Instruct"])
def test_fast_path_matches_the_litellm_path(loopback, tmp_path, model):
    loopback.hook = no_label_once
    results = {}
    for client in ("litellm", "auto"):
        store = Store(tmp_path / f"{client}.db")
        judge = judge_for(loopback, store, client, model)
        assert isinstance(judge.backend, OpenAICompatBackend) == (client == "auto")
        store.create_run("r", "r", {}, "h", 0)
        loopback.reset_counts()

        async def go(judge=judge, store=store):
            for r in await asyncio.gather(*(judge.judge(c) for c in contexts(12))):
                store.record_verdict("r", r.verdict, r.games)
            await judge.aclose()

        asyncio.run(go())
        if client == "auto":
            assert judge.backend.fast_calls == loopback.requests  # every call took the fast path
        games = sorted(
            (g.match_id, g.order, g.label, g.parse_status, g.input_tokens, g.output_tokens, g.cost_usd, g.calls)
            for g in store.games("r")
        )
        verdicts = sorted((v.match_id, v.outcome, v.strength, v.consistent) for v in store.verdicts("r"))
        cache = sorted(store.db.execute("SELECT key, response, input_tokens, output_tokens, cost_usd FROM call_cache").fetchall())
        bodies = sorted(repr(sorted(b.items())) for b in loopback.bodies)
        results[client] = (bodies, games, verdicts, cache)
        store.close()
    fast, slow = results["auto"], results["litellm"]
    assert fast[0] == slow[0]  # request bodies
    assert fast[1] == slow[1]  # games: labels, tokens, cost
    assert fast[2] == slow[2]  # verdicts
    assert fast[3] == slow[3]  # the call cache: keys, answers, usage, cost
    assert any(g[3] == "retried" for g in fast[1])  # the re-ask path was exercised
    costs = {g[6] for g in fast[1]}
    if model.startswith("openai/"):
        assert None not in costs and min(costs) > 0  # priced from litellm's table
    else:
        assert costs == {None}  # unknown stays unknown, as on the litellm path


def req(loopback, model="openai/loopback", **kw) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[{"role": "user", "content": "hello"}],
                             params=kw.pop("params", {"temperature": 0, "max_tokens": 16}), api_base=kw.pop("api_base", loopback.api_base),
                             api_key_env=KEY_ENV, timeout=kw.pop("timeout", 5.0))


def backend(client="auto", **policy):
    policy = {"backoff_base": 0.005, "backoff_max": 0.05, **policy}
    return make_backend("openai/loopback", policy=Policy(**policy), seed=1, client=client)


@pytest.mark.parametrize("client", ["auto", "litellm"])
def test_same_retry_policy_on_both_paths(loopback, client):
    loopback.hook = lambda r: Reply(fault="429") if r.index < 2 else (Reply(status=500) if r.index == 2 else None)
    b = backend(client, max_retries=4)
    c = asyncio.run(b.complete(req(loopback)))
    assert c.ok and c.attempts == 4 and b.stats.rate_limited == 2 and b.stats.retries == 3
    loopback.hook = lambda r: Reply(status=400)
    loopback.reset_counts()
    c = asyncio.run(backend(client).complete(req(loopback)))
    assert not c.ok and c.attempts == 1 and "BadRequestError" in c.error and loopback.requests == 1
    loopback.hook = None
    loopback.set_faults(malformed=1.0)
    c = asyncio.run(backend(client, max_retries=1).complete(req(loopback)))
    assert not c.ok and c.attempts == 2


def test_a_key_echoed_in_an_error_body_is_masked():
    from arena.backends._openai_compat import _http_error

    e = _http_error(401, b'{"error": {"message": "Incorrect API key provided: sk-very-secret-123"}}', {}, "sk-very-secret-123")
    assert "AuthenticationError" in str(e) and "sk-very-secret-123" not in str(e) and "***" in str(e) and not e.retryable
    e = _http_error(429, b"not json", {"Retry-After": "2.5"}, None)
    assert e.status == 429 and e.retry_after == 2.5 and e.retryable


def test_a_missing_key_variable_is_a_permanent_error(loopback, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    c = asyncio.run(backend().complete(req(loopback)))
    assert not c.ok and c.attempts == 1 and f"environment variable {KEY_ENV} is not set" in c.error and loopback.requests == 0


def test_what_the_fast_path_leaves_to_litellm(loopback):
    base = loopback.api_base
    assert fast_path_eligible(req(loopback))
    assert fast_path_eligible(req(loopback, model="hosted_vllm/meta/llama"))
    assert not fast_path_eligible(req(loopback, api_base=None))  # OpenAI itself: litellm maps its parameters
    assert not fast_path_eligible(req(loopback, model="openai/o3-mini"))  # reasoning model: litellm rewrites max_tokens
    assert not fast_path_eligible(req(loopback, params={"response_format": {"type": "json_object"}}))
    assert not fast_path_eligible(req(loopback, model="anthropic/claude-3-haiku"))
    assert isinstance(make_backend("anthropic/claude-3-haiku"), LiteLLMBackend)
    assert not isinstance(make_backend("anthropic/claude-3-haiku"), OpenAICompatBackend)
    # an ineligible request in a fast backend goes through litellm, and still works
    b = backend()
    c = asyncio.run(b.complete(CompletionRequest(model="openai/loopback", messages=[{"role": "user", "content": "x"}],
                                                 params={"max_tokens": 8, "response_format": {"type": "text"}}, api_base=base,
                                                 api_key_env=KEY_ENV)))
    assert c.ok and b.fast_calls == 0 and loopback.requests == 1


def test_a_backend_reused_under_a_new_event_loop(loopback):
    b = backend()
    for _ in range(3):
        assert asyncio.run(b.complete(req(loopback))).ok
    asyncio.run(b.aclose())
    assert b.fast_calls == 3
