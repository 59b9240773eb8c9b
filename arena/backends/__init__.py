"""Completion backends: litellm (any API), a fast path for OpenAI-compatible servers, vllm in process.

`make_backend(model, ...)` picks one from the model string: `vllm/<model>` runs vllm in this
process (optional extra `arena[vllm]`); `openai/...` and `hosted_vllm/...` get the fast path
(direct HTTP when the request has an `api_base`, litellm otherwise; `client="litellm"` forces
litellm); anything else goes through litellm. Neither library is imported until the first call.
"""

from __future__ import annotations

from arena.backends._base import (
    Backend,
    BackendStats,
    CallError,
    Completion,
    CompletionRequest,
    Policy,
    RateLimiter,
    RawResult,
)
from arena.backends._pricing import batch_unit_prices, count_tokens, input_limit, price, unit_prices


def load_litellm():
    """The litellm module, imported on first use (with the local price table unless told otherwise)."""
    from arena.backends._litellm import _load

    return _load()


__all__ = [
    "load_litellm",
    "Backend",
    "BackendStats",
    "batch_unit_prices",
    "count_tokens",
    "input_limit",
    "CallError",
    "Completion",
    "CompletionRequest",
    "Policy",
    "RateLimiter",
    "RawResult",
    "make_backend",
    "price",
    "unit_prices",
]


def make_backend(
    model: str, *, store=None, no_cache: bool = False, policy: Policy | None = None, client: str = "auto", **options
) -> Backend:
    """The backend for `model`. `options` may hold Policy fields (concurrency, rpm, tpm, max_retries,
    timeout, backoff_base, backoff_max), `seed` (jitter) and, for vllm, `engine_options`.
    `client` is "auto" (the fast path for OpenAI-compatible endpoints where it applies) or "litellm"."""
    defaults = policy is None
    if policy is None:
        policy = Policy.from_options(options)
    seed = options.get("seed")
    if model.startswith("vllm/"):
        from arena.backends._vllm import VLLMBackend

        if defaults and "concurrency" not in options:
            policy.concurrency = 256
        return VLLMBackend(model, store=store, no_cache=no_cache, policy=policy, seed=seed, engine_options=options.get("engine_options"))
    if client not in ("auto", "litellm"):
        raise ValueError(f"client must be 'auto' or 'litellm', got {client!r}")
    from arena.backends._openai_compat import PREFIXES, OpenAICompatBackend

    if client == "auto" and model.startswith(PREFIXES):
        return OpenAICompatBackend(store=store, no_cache=no_cache, policy=policy, seed=seed)
    from arena.backends._litellm import LiteLLMBackend

    return LiteLLMBackend(store=store, no_cache=no_cache, policy=policy, seed=seed)


def backend_for_preset(cfg, runtime: dict, *, store=None, no_cache: bool = False) -> Backend:
    """The backend a judge preset asks for: `runtime["backend"]` when a test or caller passes one,
    the Batch API backend for `mode = "batch"`, a `RouterBackend` over the preset's `deployments`
    when it lists some, else `make_backend` with the preset's policy keys (concurrency, rpm, tpm,
    max_retries, timeout)."""
    backend = runtime.get("backend")
    if backend is not None:
        return backend
    policy = Policy(
        concurrency=cfg.concurrency,
        rpm=cfg.rpm,
        tpm=cfg.tpm,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout,
        backoff_base=runtime.get("backoff_base", 1.0),
        backoff_max=runtime.get("backoff_max", 60.0),
    )
    if getattr(cfg, "mode", "sync") == "batch":
        from arena.backends._batch import BatchBackend

        return BatchBackend(store=store, no_cache=no_cache, policy=policy, seed=runtime.get("seed"),
                            poll_s=getattr(cfg, "batch_poll_s", 30.0), settle_s=runtime.get("batch_settle_s", 0.2))
    client = runtime.get("client") or getattr(cfg, "client", "auto")
    if getattr(cfg, "deployments", None):
        from arena.backends._router import RouterBackend, fleet

        return RouterBackend(
            fleet(cfg), strategy=cfg.routing_strategy, cooldown=cfg.cooldown, allowed_fails=cfg.allowed_fails,
            store=store, no_cache=no_cache, policy=policy, seed=runtime.get("seed"),
        )
    return make_backend(cfg.model, store=store, no_cache=no_cache, policy=policy, seed=runtime.get("seed"), client=client)
