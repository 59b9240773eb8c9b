"""Rate limits shared by every backend of the process, per provider key and deployment.

A provider counts requests and tokens per key (and model, and server): two judge presets, or two
panel members, that call the same deployment with the same key draw on one budget. So the
limiter of a call is looked up here by (model, api_base, name of the key's environment
variable), never by the key itself, and every backend of the process calling that deployment
waits on the same one. Where presets declare different limits for one deployment, the strictest
holds (a limit only ever tightens).

Limiters hold asyncio primitives, which belong to one event loop: each running loop gets its own
set (a second `asyncio.run` starts fresh windows).
"""

from __future__ import annotations

import asyncio
import weakref

from arena.backends._base import RateLimiter

_BY_LOOP: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {deployment key: RateLimiter}


def deployment_key(model: str, api_base: str | None, api_key_env: str | None) -> tuple[str, str, str]:
    """The identity the limits are counted under: (model, api_base without its trailing slash, key
    variable name). Holds no secret: the key is named, not read."""
    return (model, (api_base or "").rstrip("/"), api_key_env or "")


def shared_limiter(model: str, api_base: str | None, api_key_env: str | None, rpm: float | None, tpm: float | None) -> RateLimiter:
    """The process-wide limiter of one deployment in the running event loop, created on first use.

    `rpm` / `tpm`: requests / tokens per minute this caller allows (None: no limit from it); a
    later caller with a lower figure lowers the shared limit, a higher one leaves it.
    Must be called with an event loop running."""
    loop = asyncio.get_running_loop()
    limiters = _BY_LOOP.get(loop)
    if limiters is None:
        limiters = _BY_LOOP[loop] = {}
    key = deployment_key(model, api_base, api_key_env)
    limiter = limiters.get(key)
    if limiter is None:
        limiter = limiters[key] = RateLimiter(rpm, tpm)
    else:
        limiter.rpm = _stricter(limiter.rpm, rpm)
        limiter.tpm = _stricter(limiter.tpm, tpm)
    return limiter


def _stricter(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
