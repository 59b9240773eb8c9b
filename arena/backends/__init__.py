"""Completion backends: litellm (any API or OpenAI-compatible server) and vllm in process.

`make_backend(model, ...)` picks one from the model string: `vllm/<model>` runs vllm in this
process (optional extra `arena[vllm]`); anything else goes through litellm. Neither library is
imported until the first call.
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
from arena.backends._pricing import count_tokens, input_limit, price, unit_prices


def load_litellm():
    """The litellm module, imported on first use (with the local price table unless told otherwise)."""
    from arena.backends._litellm import _load

    return _load()


__all__ = [
    "load_litellm",
    "Backend",
    "BackendStats",
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


def make_backend(model: str, *, store=None, no_cache: bool = False, policy: Policy | None = None, **options) -> Backend:
    """The backend for `model`. `options` may hold Policy fields (concurrency, rpm, tpm, max_retries,
    timeout, backoff_base, backoff_max), `seed` (jitter) and, for vllm, `engine_options`."""
    defaults = policy is None
    if policy is None:
        policy = Policy.from_options(options)
    seed = options.get("seed")
    if model.startswith("vllm/"):
        from arena.backends._vllm import VLLMBackend

        if defaults and "concurrency" not in options:
            policy.concurrency = 256
        return VLLMBackend(model, store=store, no_cache=no_cache, policy=policy, seed=seed, engine_options=options.get("engine_options"))
    from arena.backends._litellm import LiteLLMBackend

    return LiteLLMBackend(store=store, no_cache=no_cache, policy=policy, seed=seed)


def backend_for_preset(cfg, runtime: dict, *, store=None, no_cache: bool = False) -> Backend:
    """The backend a judge preset asks for: `runtime["backend"]` when a test or caller passes one,
    else `make_backend` with the preset's policy keys (concurrency, rpm, tpm, max_retries, timeout)."""
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
    return make_backend(cfg.model, store=store, no_cache=no_cache, policy=policy, seed=runtime.get("seed"))
