"""Several deployments of one judge through litellm's Router, against real loopback servers:
failover and cooldown when a server dies or answers 429, limits shared across presets, the same
verdicts and usage as one deployment, no call paid twice, no key stored."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from conftest import run_engine
from loopback import LoopbackServer, Reply
from test_fast_path import contexts
from test_network_judge_e2e import MODELS

from arena.backends._limits import shared_limiter
from arena.backends._router import RouterBackend
from arena.errors import SpecError
from arena.judges import load_judge
from arena.judges.llm import build
from arena.store import Store
from arena.tournaments import spec_from_dict

ROOT = Path(__file__).resolve().parent.parent
KEY_ENV = "ARENA_TEST_KEY"


@pytest.fixture
def servers(monkeypatch, litellm_loaded):
    """Four loopback servers, each serving 2 requests at once with a 20 ms delay."""
    monkeypatch.setenv(KEY_ENV, "sk-router-test-0123456789")
    started = [LoopbackServer(delay_s=0.02, max_concurrency=2, retry_after_s=30).start() for _ in range(4)]
    yield started
    for s in started:
        s.stop()


def fleet_preset(servers, **keys) -> dict:
    return {
        "kind": "llm", "model": "hosted_vllm/Qwen/Qwen2.5-7B-Instruct", "api_key_env": KEY_ENV, "template": "pairwise",
        "max_tokens": 256, "concurrency": 16, "timeout": 5, "max_retries": 4,
        "deployments": [{"api_base": s.api_base} for s in servers], **keys,
    }


def judge_of(preset: dict, store):
    return build(preset, name="fleet", base_dir=ROOT / "judges", store=store, backoff_base=0.005, backoff_max=0.05)


def run_games(judge, ctxs):
    async def go():
        try:
            return await asyncio.gather(*(judge.judge(c) for c in ctxs))
        finally:
            await judge.aclose()

    return asyncio.run(go())


def test_a_fleet_gives_the_verdicts_and_usage_of_one_deployment(servers, tmp_path):
    ctxs = contexts(12)
    single = {**fleet_preset(servers[:1]), "api_base": servers[0].api_base}
    del single["deployments"]
    rows = {}
    for name, preset in (("single", single), ("one", fleet_preset(servers[:1])), ("four", fleet_preset(servers))):
        store = Store(tmp_path / f"{name}.db")
        judge = judge_of(preset, store)
        assert isinstance(judge.backend, RouterBackend) == (name != "single")
        results = run_games(judge, ctxs)
        rows[name] = [(g.match_id, g.order, g.label, g.input_tokens, g.output_tokens, g.cost_usd, g.calls) for r in results for g in r.games]
        store.close()
    assert rows["single"] == rows["one"] == rows["four"]
    assert all(s.requests > 0 for s in servers)  # the four-server fleet used every server
    from arena.backends import load_litellm  # the Router left litellm's price table as it was:

    assert "hosted_vllm/Qwen/Qwen2.5-7B-Instruct" not in load_litellm().model_cost  # unpriced stays unknown


def test_a_server_killed_mid_run_every_match_ends_and_no_call_is_paid_twice(servers, tmp_path, loop_judge):
    """A tournament on four servers; one is killed after its third request. Every match ends as a
    verdict or a recorded error; no request is answered (paid) twice across the fleet; the dead
    server is cooled down instead of being asked again and again; a resumed run replays the cache."""
    victim = servers[1]

    killer = threading.Thread(target=victim.stop)  # not from the server's own thread

    def kill_after_three(req):
        if req.index == 2:
            killer.start()
        return None

    victim.hook = kill_after_three
    pool = loop_judge.pool(MODELS, 16)
    preset_path = tmp_path / "fleet.toml"
    preset_path.write_text(_toml(fleet_preset(servers, cooldown=30)))
    spec = spec_from_dict({"name": "fleet", "pool": str(pool), "judge": str(preset_path), "scheduler": {"kind": "round-robin"}, "seed": 1, "concurrency": 8})
    store = Store(tmp_path / "run.db")

    def run_once():
        return run_engine(store, spec, preset_path, backoff_base=0.005, backoff_max=0.05)

    prepared, judge, stats = run_once()
    n_matches = 16 * 3  # 16 prompts x 3 pairs of models
    verdicts = store.verdicts(prepared.run_id)
    errors = {g.match_id for g in store.games(prepared.run_id) if g.error}
    decided = {v.match_id for v in verdicts if v.outcome != "unresolved"}
    assert len(decided | errors) == n_matches and prepared.status == "done"
    assert len(decided) == n_matches  # three healthy servers carry every match
    for v in verdicts:  # and the verdicts are the quality rule's
        better = v.model_a if MODELS[v.model_a] > MODELS[v.model_b] else v.model_b
        assert (v.model_a if v.outcome == "a" else v.model_b) == better
    paid = sum((s.answered for s in servers), start=type(servers[0].answered)())
    assert paid and max(paid.values()) == 1  # no call answered twice across the fleet
    assert sum(paid.values()) == stats.calls == 2 * n_matches
    killer.join(10)
    failed = judge.backend.failures_by_deployment[victim.api_base]
    sent = judge.backend.calls_by_deployment[victim.api_base]
    # it failed the calls in flight when it died, and was refused at most the run's concurrency (8)
    # more before it rested: without the cooldown, about a quarter of the calls left would be sent
    # to it and refused
    assert 1 <= failed and sent - failed == victim.answered.total() and sent - victim.requests <= 8

    before = sum(s.requests for s in servers)
    prepared, judge, stats = run_once()  # resuming the finished run: nothing to ask
    assert sum(s.requests for s in servers) == before and stats.calls == 0
    store.close()


def test_a_429_cools_one_deployment_down_not_the_fleet(servers, tmp_path):
    servers[0].hook = lambda req: Reply(status=429, headers={"Retry-After": "30"})
    judge = judge_of(fleet_preset(servers[:2]), Store(tmp_path / "s.db"))
    ctxs = contexts(16)

    async def go():
        try:
            first = await asyncio.gather(*(judge.judge(c) for c in ctxs[:8]))
            asked = servers[0].requests  # the calls picked for it before its first 429 came back
            second = await asyncio.gather(*(judge.judge(c) for c in ctxs[8:]))
            return first + second, asked
        finally:
            await judge.aclose()

    results, asked = asyncio.run(go())
    assert all(g.error is None for r in results for g in r.games)
    assert 1 <= asked <= 16 and servers[0].requests == asked  # cooling down: not asked again
    assert servers[1].answered.total() == 32  # the other one answered every call
    assert judge.backend.stats.rate_limited == asked and judge.backend._pause_until == 0  # the fleet never paused


def test_a_deployment_refusing_the_key_is_left_for_the_others(servers, tmp_path):
    servers[0].hook = lambda req: Reply(status=401, error="invalid api key")
    judge = judge_of(fleet_preset(servers[:2]), Store(tmp_path / "s.db"))
    results = run_games(judge, contexts(4))
    assert all(g.error is None for r in results for g in r.games)
    # with a single deployment the same 401 is final (another attempt cannot fix it)
    judge = judge_of(fleet_preset(servers[:1]), Store(tmp_path / "t.db"))
    servers[0].reset_counts()
    [r] = run_games(judge, contexts(2)[1:2])
    assert all(g.error and "401" in g.error for g in r.games) and servers[0].requests == 2


def test_rate_limits_are_shared_per_key_and_deployment_across_presets(servers, tmp_path):
    """Two presets (say two panel members: one a fleet, one a plain preset) calling the same
    server with the same key variable draw on one limiter; the stricter limit holds; another key
    variable has its own."""
    store = Store(tmp_path / "s.db")
    a = judge_of(fleet_preset(servers[:1], rpm=1000), store)
    plain = {k: v for k, v in fleet_preset(servers[:1], rpm=500, orders="random").items() if k != "deployments"}
    b = judge_of({**plain, "api_base": servers[0].api_base}, store)
    assert not isinstance(b.backend, RouterBackend)

    async def go():
        try:
            await asyncio.gather(*(a.judge(c) for c in contexts(3)), *(b.judge(c) for c in contexts(5)[3:]))
            limiter = shared_limiter("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", servers[0].api_base + "/", KEY_ENV, None, None)
            other = shared_limiter("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", servers[0].api_base, "OTHER_KEY", None, None)
            return limiter, other
        finally:
            await a.aclose()
            await b.aclose()

    limiter, other = asyncio.run(go())
    assert len(limiter._events) == 3 * 2 + 2 * 1 == servers[0].requests  # both presets' calls, one window
    assert limiter.rpm == 500 and not other._events
    store.close()


def test_no_key_in_the_router_the_store_or_an_error(servers, tmp_path, monkeypatch):
    secret = "sk-router-test-0123456789"
    servers[0].hook = lambda req: Reply(status=500, error=f"upstream said Bearer {secret}")
    servers[1].stop()
    store = Store(tmp_path / "s.db")
    judge = judge_of(fleet_preset(servers[:3]), store)
    results = run_games(judge, contexts(4))
    assert all(g.error is None for r in results for g in r.games)
    assert secret not in repr(judge.backend._router.get_model_list())
    assert secret not in str(judge.backend.stats.last_error) and judge.backend.stats.last_error
    store.close()
    assert secret.encode() not in (tmp_path / "s.db").read_bytes()


def test_the_presets_concurrency_caps_the_whole_fleets_calls(servers, tmp_path, loop_judge, monkeypatch):
    """A fleet preset with `concurrency = 3` over four servers, in a tournament whose spec lets 16
    matches (32 calls) be in flight: at most 3 calls are in flight at once over the whole fleet,
    and the cap is reached."""
    now, peak = [0], [0]
    call = RouterBackend._call

    async def counted(self, req, timeout):
        now[0] += 1
        peak[0] = max(peak[0], now[0])
        try:
            return await call(self, req, timeout)
        finally:
            now[0] -= 1

    monkeypatch.setattr(RouterBackend, "_call", counted)
    pool = loop_judge.pool(MODELS, 6)
    preset_path = tmp_path / "fleet.toml"
    preset_path.write_text(_toml(fleet_preset(servers, concurrency=3)))
    spec = spec_from_dict({"name": "cap", "pool": str(pool), "judge": str(preset_path), "scheduler": {"kind": "round-robin"}, "seed": 1, "concurrency": 16})
    store = Store(tmp_path / "run.db")
    _, _, stats = run_engine(store, spec, preset_path)
    store.close()
    assert stats.calls == 2 * 6 * 3 and peak[0] == 3


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"api_base": "http://127.0.0.1:9/v1"}, "key 'deployments': each deployment has its own api_base"),
        ({"routing_strategy": "fastest"}, "key 'routing_strategy'"),
        ({"deployments": [{"api_base": "http://a/v1"}, {"api_base": "http://a/v1/"}]}, "two deployments name the same"),
        ({"deployments": [{"api_base": "http://a/v1", "rpm": 0}]}, "key 'deployments.0.rpm'"),
        ({"deployments": [{"url": "http://a/v1"}]}, "key 'deployments.0.url' is not a deployment setting (expected one of: api_base,"),
        ({"deployments": [{"api_base": "http://u:sk-secret@a/v1"}]}, "key 'api_base': the URL carries a user name"),
        ({"deployments": [{"api_base": "not a url"}]}, "key 'deployments.0.api_base': expected an http(s) URL"),
        ({"deployments": [{"api_base": "http://a/v1"}, {"api_base": "ftp://b/v1"}]}, "key 'deployments.1.api_base': expected an http(s) URL"),
    ],
)
def test_bad_fleet_presets_are_one_line_errors(tmp_path, keys, expected):
    preset = {"kind": "llm", "model": "hosted_vllm/m", "deployments": [{"api_base": "http://a/v1"}], **keys}
    path = tmp_path / "bad.toml"
    path.write_text(_toml(preset))
    with pytest.raises(Exception) as e:
        load_judge(path)
    assert isinstance(e.value, SpecError) or type(e.value).__name__ == "BadInput"
    assert str(e.value).startswith(str(path)) and expected in str(e.value) and "\n" not in str(e.value)


def _toml(preset: dict) -> str:
    lines, tables = [], []
    for k, v in preset.items():
        if k == "deployments":
            for d in v:
                tables.append("[[deployments]]\n" + "".join(f"{dk} = {json.dumps(dv)}\n" for dk, dv in d.items()))
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n\n" + "\n".join(tables)


def test_the_shipped_fleet_preset_builds_a_router(store):
    judge = load_judge("vllm-fleet", store=store)
    backend = judge.backend
    assert isinstance(backend, RouterBackend) and backend.strategy == "least-busy" and backend.cooldown == 30
    assert [d.api_base for d in backend.deployments] == ["http://localhost:8000/v1", "http://localhost:8001/v1"]
    assert all(d.model == judge.model for d in backend.deployments)


def test_a_retry_goes_to_another_deployment_before_any_cooldown(servers, tmp_path):
    """allowed_fails = 5: a failing server is not cooled down yet, but a call that failed on it
    retries on another one at once (no call needs a third attempt)."""
    servers[0].hook = lambda req: Reply(status=500, error="worker died")
    judge = judge_of(fleet_preset(servers[:2], allowed_fails=5), Store(tmp_path / "s.db"))
    results = run_games(judge, contexts(8))
    games = [g for r in results for g in r.games]
    assert all(g.error is None for g in games) and max(g.attempts for g in games) <= 2
    assert judge.backend.stats.retries == servers[0].requests >= 1


def test_a_deployments_unset_key_variable_is_refused_before_the_plan(cli, db_path, tmp_path, loop_judge, monkeypatch):
    """One Error line naming `deployments.1.api_key_env`, exit 2, before `Starting run` or the
    plan is printed, and no run in the store."""
    monkeypatch.delenv("NO_SUCH_VAR_X", raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-router-test-0123456789")
    preset = fleet_preset([], deployments=[{"api_base": "http://127.0.0.1:9/v1"}, {"api_base": "http://127.0.0.1:10/v1", "api_key_env": "NO_SUCH_VAR_X"}])
    path = tmp_path / "fleet.toml"
    path.write_text(_toml(preset))
    spec = loop_judge.spec(path, loop_judge.pool(MODELS, 2), name="nokey", seed=1)
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code == 2 and r.out == "", r.out + r.err
    line = r.err.strip()
    assert "\n" not in line and line.startswith(f"Error: {path}: key 'deployments.1.api_key_env': the environment variable NO_SUCH_VAR_X is not set")
    assert json.loads(cli("tournament", "list", "--format", "json").out) == []


def _ports_nobody_listens_on(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))  # bound, never listening: a connection to it is refused
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_a_fleet_whose_every_deployment_refuses_connections_fails_each_call_without_waiting(tmp_path, monkeypatch, litellm_loaded):
    """breaker18 #4: every deployment down (connection refused) took 2 min 20 s to fail 144 calls
    (each attempt waited out a cooldown, then a backoff). Once every deployment refused its last
    connection, an attempt neither waits for a cooldown nor backs off; the retry limit holds and
    each call ends as a recorded error."""
    monkeypatch.setenv(KEY_ENV, "sk-router-test-0123456789")
    bases = [f"http://127.0.0.1:{p}/v1" for p in _ports_nobody_listens_on(2)]
    preset = {"kind": "llm", "model": "hosted_vllm/judge", "api_key_env": KEY_ENV, "template": "pairwise", "max_tokens": 64,
              "concurrency": 8, "timeout": 5, "max_retries": 2, "cooldown": 60, "deployments": [{"api_base": b} for b in bases]}
    judge = build(preset, name="fleet", base_dir=ROOT / "judges", store=Store(tmp_path / "s.db"))  # the default 1 s backoff
    backend = judge.backend
    assert isinstance(backend, RouterBackend)
    slept: list[float] = []
    sleep = backend._sleep

    async def recorded(seconds, **kw):
        slept.append(seconds)
        await sleep(seconds, **kw)

    backend._sleep = recorded
    results = run_games(judge, contexts(12))
    games = [g for r in results for g in r.games]
    assert len(games) == 24 and all(g.label == "error" and g.attempts == 3 for g in games)
    assert all("APIConnectionError" in g.error and "(after 3 attempts)" in g.error for g in games), games[0].error
    assert sum(s for s in slept if s > 0) == 0, slept  # no cooldown wait, no backoff: a wait buys nothing here
    assert sum(backend.failures_by_deployment.values()) == 72 and set(backend.failures_by_deployment) == set(bases)
    assert backend.stats.errors == 24 and backend.stats.retries == 48


def test_a_refused_connection_is_told_apart_on_both_paths(litellm_loaded):
    """The fast path (aiohttp) and litellm's (httpx under the openai SDK) both mark a connection
    that could not be made as `unreachable`; an answer with an error status is not."""
    from arena.backends import CompletionRequest
    from arena.backends._base import CallError
    from arena.backends._litellm import LiteLLMBackend
    from arena.backends._openai_compat import OpenAICompatBackend

    (port,) = _ports_nobody_listens_on(1)
    down = CompletionRequest("hosted_vllm/judge", [{"role": "user", "content": "hi"}], {"max_tokens": 8}, api_base=f"http://127.0.0.1:{port}/v1")

    async def attempt(backend, req):
        try:
            await backend._call(req, 5.0)
        except CallError as e:
            return e
        finally:
            await backend.aclose()

    fast = asyncio.run(attempt(OpenAICompatBackend(), down))
    slow = asyncio.run(attempt(LiteLLMBackend(), down))
    assert fast.unreachable and fast.retryable and slow.unreachable and slow.retryable, (fast, slow)
    srv = LoopbackServer().start()
    try:
        srv.hook = lambda req: Reply(status=503)
        up = CompletionRequest("hosted_vllm/judge", [{"role": "user", "content": "hi"}], {"max_tokens": 8}, api_base=srv.api_base)
        assert not asyncio.run(attempt(OpenAICompatBackend(), up)).unreachable
        assert not asyncio.run(attempt(LiteLLMBackend(), up)).unreachable
    finally:
        srv.stop()
