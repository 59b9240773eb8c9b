"""Several deployments of one judge behind litellm's Router: a fleet of vLLM servers, or one model
at several providers or keys.

A judge preset lists `deployments` (each an `api_base`, the name of its key's environment
variable, `rpm` / `tpm`, a `weight`) and a `routing_strategy`. Each attempt of a call:

1. picks a deployment with litellm's `Router` (`Router.select`: the deployments not cooling down,
   then the strategy: "simple-shuffle", litellm's default, draws one weighted by `weight`, else
   `rpm`, else `tpm`; "least-busy" takes the one with the fewest calls in flight from this
   process, counted here: litellm's own least-busy counts through its call logging, which arena's
   direct calls do not go through). When every deployment is cooling down, the attempt waits for
   the first to come back, unless every one refused its last connection (nobody listening: a
   server that is down, not a busy one): then the attempt goes at once to the one refused longest
   ago (a probe, which fails in a millisecond if it is still down).
2. waits for room under that deployment's rate limits, which are shared by every backend of the
   process calling the same deployment with the same key variable (`arena.backends._limits`);
3. sends the request to it, on the fast path for OpenAI-compatible servers (`openai/...`,
   `hosted_vllm/...` with `api_base`) or through litellm, exactly as a single-deployment preset
   would (same body, same price look-up, same usage);
4. on a failure (connection refused, 5xx, timeout, 429, 401/403/404) tells the Router, which cools
   the deployment down for `cooldown` seconds once it failed more than `allowed_fails` times in a
   minute (a 429 with Retry-After cools it for that long instead). The next attempt goes to another
   deployment at once, without the backoff, while one is available; only when none is does the
   usual exponential backoff apply, and none when every deployment refused its last connection
   (nobody listening anywhere: a wait buys nothing, unlike after a 429 or a 5xx). A fleet that is
   wholly down therefore ends each call as a recorded error within milliseconds of its first
   refusal, after its `max_retries` + 1 attempts as usual (run again to retry them). A 401/403/404 is final only when the fleet has one deployment.

Everything else is the shared policy of `arena.backends._base`: the call cache (keyed by the
preset's model, messages and parameters, not by the deployment that answered, so a resumed run
replays answers whichever server gave them), the store's registry of calls in flight (no call is
paid twice), retries, timeouts, the concurrency limit (the fleet's total).

The Router never sees a key: deployments are registered with their model and `api_base` only,
and the key is read from its variable at call time, per attempt. One Router serves each distinct
fleet in the process, so two presets (or panel members) naming the same deployments share their
cooldowns. litellm is imported when the first call is prepared, not before.

Source: litellm's Router (https://docs.litellm.ai/docs/routing): `select`, `health().record_failure`
and its cooldown rules (a 429, a 401/404/408 or a 5xx cools a deployment down).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, replace

from arena.backends._base import CallError, CompletionRequest
from arena.backends._limits import deployment_key, shared_limiter
from arena.backends._openai_compat import OpenAICompatBackend

STRATEGIES = ("simple-shuffle", "least-busy")
_FLEET_FINAL = {401, 403, 404}  # final for one server, but another deployment may answer
_ROUTERS: dict[tuple, object] = {}  # fleet identity -> litellm Router (process-wide: shared cooldowns)
_IN_FLIGHT: Counter = Counter()  # deployment id -> calls in flight from this process (least-busy)
_UNREACHABLE: dict[str, float] = {}  # deployment id -> when its last attempt found nobody listening (monotonic)
_LAST_FAILED: ContextVar[str | None] = ContextVar("arena_router_last_failed", default=None)  # per call (task)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One server (or provider account) serving the judge model.

    `model`: the litellm model string sent to it; `api_base`: its URL (None: the provider's own);
    `api_key_env`: the name of the environment variable holding its key (read at call time, never
    stored); `rpm` / `tpm`: its limits in requests / tokens per minute (None: none);
    `weight`: its share of the calls under simple-shuffle (None: by rpm, else tpm, else equal)."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    rpm: float | None = None
    tpm: float | None = None
    weight: float | None = None

    @property
    def id(self) -> str:
        """A stable id from (model, api_base, key variable name): 16 hex digits, no secret inside."""
        return hashlib.sha256("\x1f".join(deployment_key(self.model, self.api_base, self.api_key_env)).encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """How messages name it: its api_base, else its model and key variable."""
        return self.api_base or f"{self.model} ({self.api_key_env or 'default key'})"


class RouterBackend(OpenAICompatBackend):
    """A backend that spreads one judge's calls over several deployments (see the module doc).

    `deployments`: at least one; `strategy`: one of STRATEGIES; `cooldown`: seconds a failing
    deployment rests; `allowed_fails`: failures a minute before it rests (0: at the first).
    Raises ValueError for an empty fleet, an unknown strategy or a deployment listed twice."""

    name = "router"

    def __init__(self, deployments: list[Deployment], *, strategy: str = "simple-shuffle", cooldown: float = 10.0, allowed_fails: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not deployments:
            raise ValueError("a router backend needs at least one deployment")
        if strategy not in STRATEGIES:
            raise ValueError(f"routing strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        ids = [d.id for d in deployments]
        if len(set(ids)) != len(ids):
            raise ValueError("the same deployment (model, api_base, api_key_env) is listed twice")
        self.deployments = list(deployments)
        self.strategy = strategy
        self.cooldown = float(cooldown)
        self.allowed_fails = int(allowed_fails)
        self._by_key = {deployment_key(d.model, d.api_base, d.api_key_env): d for d in deployments}
        self._ids = ids
        # the fleet's identity: its deployments and the rules that cool them down
        self._fleet = (tuple(sorted(ids)), strategy, self.cooldown, self.allowed_fails)
        self.group = "arena-fleet-" + hashlib.sha256(repr(self._fleet).encode()).hexdigest()[:12]
        self.calls_by_deployment: Counter = Counter()  # attempts sent, by deployment label
        self.failures_by_deployment: Counter = Counter()  # failed attempts, by deployment label
        self._router = None

    # -- the Router ----------------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Build (or reuse) the process's litellm Router for this fleet."""
        try:
            self._router = _router_for(self)
        except Exception as e:  # litellm refused the fleet: every call of it fails the same way
            raise CallError(f"litellm Router: {type(e).__name__}: {e}", retryable=False) from None

    def _cooling(self) -> set[str]:
        """Ids of this fleet's deployments cooling down now."""
        cooldowns = self._router.health().cooldowns
        return {model_id for model_id, _ in cooldowns.get_active_cooldowns(self._ids, None)}

    async def _pick(self, req: CompletionRequest) -> Deployment | None:
        """The deployment for the next attempt, or None when every one is cooling down. A retry
        avoids the deployment its call just failed on while another one is available."""
        cooling = self._cooling()
        if len(cooling) == len(self._ids):
            return None
        avoid = _LAST_FAILED.get()
        if self.strategy == "least-busy":
            ready = [d for d in self.deployments if d.id not in cooling]
            ready = [d for d in ready if d.id != avoid] or ready
            low = min(_IN_FLIGHT[d.id] for d in ready)
            return random.choice([d for d in ready if _IN_FLIGHT[d.id] == low])
        dep = None
        for _ in range(4):  # litellm's weighted draw, drawn again when it lands on the one to avoid
            try:
                picked = await self._router.select(self.group, {}, messages=req.messages)
            except Exception:  # litellm found none available (a cooldown began since): wait, then ask again
                return None
            model_id = (picked.get("model_info") or {}).get("id") if isinstance(picked, dict) else None
            dep = next((d for d in self.deployments if d.id == model_id), None)
            if dep is None or dep.id != avoid:
                return dep
        others = [d for d in self.deployments if d.id not in cooling and d.id != avoid]
        return random.choice(others) if others else dep  # four draws on the one to avoid: another

    # -- the policy hooks ------------------------------------------------------------------------------
    async def _admit(self, req: CompletionRequest) -> CompletionRequest:
        """Pick a deployment (waiting while all cool down), wait for room under its shared limits,
        and return the request as it goes to that deployment."""
        while True:
            dep = await self._pick(req)
            if dep is not None:
                break
            dep = self._probe()
            if dep is not None:
                break
            cooldowns = self._router.health().cooldowns
            await self._sleep(max(0.01, min(cooldowns.get_min_cooldown(self._ids, None), self.cooldown)))
        if dep.rpm or dep.tpm:
            from arena.backends._base import estimate_tokens

            await shared_limiter(dep.model, dep.api_base, dep.api_key_env, dep.rpm, dep.tpm).acquire(estimate_tokens(req))
        _IN_FLIGHT[dep.id] += 1
        self.calls_by_deployment[dep.label] += 1
        return replace(req, model=dep.model, api_base=dep.api_base, api_key_env=dep.api_key_env)

    def _probe(self) -> Deployment | None:
        """When every deployment refused its last connection: the one refused longest ago (worth
        a probe now rather than a wait for its cooldown), else None."""
        if not all(i in _UNREACHABLE for i in self._ids):
            return None
        return min(self.deployments, key=lambda d: _UNREACHABLE.get(d.id, 0.0))

    async def _call(self, req: CompletionRequest, timeout: float):
        dep = self._by_key[deployment_key(req.model, req.api_base, req.api_key_env)]
        try:
            raw = await super()._call(req, timeout)
        finally:
            _IN_FLIGHT[dep.id] -= 1
        _UNREACHABLE.pop(dep.id, None)
        _LAST_FAILED.set(None)  # the task's next call (a re-ask) may use any deployment again
        return raw

    def _attempt_failed(self, sent: CompletionRequest, error: CallError) -> bool:
        """Tell the Router which deployment failed and how (it may cool it down); never pause the
        whole fleet. Returns whether another attempt may succeed (on another deployment)."""
        dep = self._by_key[deployment_key(sent.model, sent.api_base, sent.api_key_env)]
        self.failures_by_deployment[dep.label] += 1
        _LAST_FAILED.set(dep.id)
        if error.unreachable:
            _UNREACHABLE[dep.id] = time.monotonic()
        else:
            _UNREACHABLE.pop(dep.id, None)
        status = error.status or 503  # a refused connection or an unclassified failure: unavailable
        if status not in (400, 413, 422):  # a bad request fails on every deployment alike
            health = self._router.health()
            if status == 429 and error.retry_after:
                rest = min(error.retry_after, self.policy.retry_after_max)
                health.cooldowns.add_deployment_to_cooldown(dep.id, _litellm_error(status, str(error), dep), status, rest)
            else:
                health.record_failure(dep.id, _litellm_error(status, str(error), dep), status)
        if not error.retryable and status in _FLEET_FINAL and len(self.deployments) > 1:
            return True
        return error.retryable

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """No wait while a deployment other than the one that just failed is available (fail over
        at once); else the usual backoff."""
        if self._router is not None and set(self._ids) - self._cooling() - {_LAST_FAILED.get()}:
            return 0.0
        if retry_after is None and self._probe() is not None:  # nobody listening anywhere: waiting buys nothing
            return 0.0
        return super().backoff(attempt, retry_after)


def _router_for(backend: RouterBackend):
    """The process's litellm Router for `backend`'s fleet, built on first use. Deployments are
    registered without keys: litellm routes, arena calls."""
    router = _ROUTERS.get(backend._fleet)
    if router is None:
        from arena.backends._litellm import _load

        litellm = _load()
        model_list = []
        for d in backend.deployments:
            params = {"model": d.model}
            for k in ("api_base", "rpm", "tpm", "weight"):
                if getattr(d, k) is not None:
                    params[k] = getattr(d, k)
            model_list.append({"model_name": backend.group, "litellm_params": params, "model_info": {"id": d.id}})
        known = set(litellm.model_cost)
        router = litellm.Router(
            model_list=model_list,
            routing_strategy="simple-shuffle",
            num_retries=0,  # arena's policy retries, and fails over through `select`
            allowed_fails=backend.allowed_fails,
            cooldown_time=backend.cooldown,
        )
        # the Router registers its deployments' models in litellm's price table without prices,
        # which would make litellm price an unpriced model at 0.0 from then on, process-wide:
        # unknown must stay unknown (picks do not read the table)
        for name in set(litellm.model_cost) - known:
            litellm.model_cost.pop(name, None)
        _ROUTERS[backend._fleet] = router
    return router


def _litellm_error(status: int, message: str, dep: Deployment) -> Exception:
    """The litellm exception litellm's cooldown rules expect for an HTTP status (they read its type)."""
    from arena.backends._litellm import _load

    litellm = _load()
    provider = dep.model.split("/", 1)[0]
    kinds = {
        429: litellm.RateLimitError,
        401: litellm.AuthenticationError,
        404: litellm.NotFoundError,
        408: litellm.Timeout,
    }
    kind = kinds.get(status, litellm.ServiceUnavailableError)
    try:
        return kind(message, llm_provider=provider, model=dep.model)
    except TypeError:  # a signature that differs between litellm versions
        return litellm.ServiceUnavailableError(message, llm_provider=provider, model=dep.model)


def fleet(cfg) -> list[Deployment]:
    """The deployments of a judge preset's settings (`BackendSettings`): each entry's model, key
    variable and limits default to the preset's own."""
    return [
        Deployment(
            model=d.model or cfg.model,
            api_base=d.api_base,
            api_key_env=d.api_key_env or cfg.api_key_env,
            rpm=d.rpm if d.rpm is not None else cfg.rpm,
            tpm=d.tpm if d.tpm is not None else cfg.tpm,
            weight=d.weight,
        )
        for d in cfg.deployments
    ]
