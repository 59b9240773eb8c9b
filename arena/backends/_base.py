"""The one completion-backend base: requests, results, and the policy every backend shares.

Policy lives here, once: a concurrency limit per backend (an asyncio semaphore), an optional
rate limit in requests and tokens per minute, retries with exponential backoff and jitter that
honour `Retry-After` (and pause the whole backend on a 429), a timeout per call, and the call
cache in the store. A subclass only implements `_call` (one attempt) and may override
`_call_many` to batch.

`complete()` never raises for a failing call: after the last retry it returns a `Completion`
with `error` set to the reason.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field

from arena.callcache import CachedCall, CallCache, request_key
from arena.credentials import env_secrets, redact
from arena.errors import ArenaError

RETRY_AFTER_MAX_S = 120.0
_LIVE: weakref.WeakSet = weakref.WeakSet()  # backends alive in this process (for pauses and Ctrl-C)


def pause_left() -> float:
    """Seconds the longest backend pause (Retry-After or backoff) still has to run; 0 when none."""
    now = time.monotonic()
    return max([b._sleeping_until - now for b in list(_LIVE)] + [0.0])


def asked_pause_left() -> float:
    """Seconds the longest pause a provider asked for (a Retry-After header) still has to run; 0
    when none: a backoff after failures the provider sent no Retry-After for is not counted."""
    now = time.monotonic()
    return max([b._asked_until - now for b in list(_LIVE)] + [0.0])


def interrupt_pauses() -> int:
    """Cancel every backend task sleeping in a Retry-After pause or a backoff (Ctrl-C): nothing
    was paid for those calls, so their matches simply stay pending. Returns how many were cancelled."""
    n = 0
    for b in list(_LIVE):
        b._interrupted = True
        for t in list(b._sleepers):
            if not t.done():
                t.cancel()
                n += 1
    return n


# who registers calls in flight in the store: this process (unique even across hosts and pid reuse)
_OWNER = f"{os.getpid()}@{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
_INFLIGHT_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat completion. `params` are the sampling parameters (temperature, max_tokens, ...).

    `api_key_env` names the environment variable holding the key; the key itself is read at
    call time and never stored, logged or put in a cache key.
    """

    model: str
    messages: list[dict]
    params: dict = field(default_factory=dict)
    api_base: str | None = None
    api_key_env: str | None = None
    timeout: float = 120.0

    def key(self) -> str:
        """The call-cache key: sha256 of (model, messages, params, api_base); never the key itself."""
        return request_key(self.model, self.messages, self.params, self.api_base)


@dataclass(slots=True)
class Completion:
    """The result of one request after retries.

    `cost_usd` is the price of the call (None when the price is unknown); for a cached answer
    it is the price paid when it was first made, and `cached` is True, so a caller sums paid
    and saved money separately. `attempts` counts backend attempts (0 for a cache hit).
    `permanent` marks an error another attempt cannot fix (HTTP 400/401/403/404, context length
    exceeded, a missing key): re-running the same call would fail the same way.
    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0
    error: str | None = None
    cache_key: str | None = None  # the call-cache row holding this answer, when there is one
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class CallError(Exception):
    """One failed attempt. `retryable` says whether another attempt may succeed; `unreachable`,
    that no connection to the server could be made (refused, no route, DNS): nothing was sent."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None, status: int | None = None,
                 unreachable: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.unreachable = unreachable
        # a provider's header is untrusted: NaN, infinite or negative values count as absent
        # (either backend path: litellm's or the aiohttp fast path); the cap is applied in backoff
        ok = retry_after is not None and retry_after == retry_after and 0 <= retry_after < float("inf")
        self.retry_after = retry_after if ok else None
        self.status = status


@dataclass(slots=True)
class RawResult:
    """What one successful attempt returns to the policy layer."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


@dataclass(slots=True)
class BackendStats:
    """Running totals a dashboard or report can read at any moment."""

    requests: int = 0  # complete() calls
    cache_hits: int = 0
    attempts: int = 0  # backend attempts (calls that reached the provider)
    retries: int = 0
    errors: int = 0  # requests that failed after the last retry
    rate_limited: int = 0  # 429s seen
    timeouts: int = 0
    in_flight: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # paid in this process
    cost_saved_usd: float = 0.0  # price of answers served from the cache
    cost_unknown: int = 0  # calls whose price is unknown
    last_error: str | None = None  # the most recent failed attempt's reason

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class Policy:
    """Limits and retry settings of one backend (from a judge preset or the CLI)."""

    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    max_retries: int = 4
    timeout: float | None = None  # overrides the request's timeout when set
    backoff_base: float = 1.0  # first retry waits about this long
    backoff_max: float = 60.0
    # A provider's Retry-After (a 429 may say 3600) is honoured up to this many seconds; the
    # pause shows in the dashboard and Ctrl-C ends it at once (see `interrupt_pauses`).
    retry_after_max: float = RETRY_AFTER_MAX_S

    @classmethod
    def from_options(cls, options: dict) -> Policy:
        known = {k: options[k] for k in cls.__slots__ if k in options and options[k] is not None}  # type: ignore[attr-defined]
        return cls(**known)


class RateLimiter:
    """Requests and tokens per minute over a sliding 60 s window. `acquire` waits for room."""

    WINDOW = 60.0

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if self.tpm is not None:
            tokens = min(tokens, int(self.tpm))  # a request bigger than the budget still goes, alone
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                while self._events and self._events[0][0] <= now - self.WINDOW:
                    self._tokens -= self._events.popleft()[1]
                fits_r = self.rpm is None or len(self._events) < self.rpm
                fits_t = self.tpm is None or self._tokens + tokens <= self.tpm
                if fits_r and fits_t:
                    self._events.append((now, tokens))
                    self._tokens += tokens
                    return
                wait = self._events[0][0] + self.WINDOW - now if self._events else 0.01
                await asyncio.sleep(max(wait, 0.001))


def estimate_tokens(req: CompletionRequest) -> int:
    """A cheap upper-ish estimate of a request's tokens for the tpm limiter (4 characters a token)."""
    chars = sum(len(str(m.get("content") or "")) for m in req.messages)
    return chars // 4 + int(req.params.get("max_tokens") or 512)


class Backend(ABC):
    """A completion backend with the shared policy. Subclasses implement `_call`."""

    name: str = "backend"

    def __init__(self, *, store: CallCache | None = None, no_cache: bool = False, policy: Policy | None = None, seed: int | None = None) -> None:
        self.store = store
        self.no_cache = no_cache
        self.policy = policy or Policy()
        self.stats = BackendStats()
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pause_until = 0.0
        self._rng = random.Random(seed)
        self._prepared = False
        self._prepare_lock: asyncio.Lock | None = None
        self._sleepers: set[asyncio.Task] = set()
        self._sleeping_until = 0.0
        self._asked_until = 0.0  # the part of the pauses a provider's Retry-After asked for
        self._interrupted = False
        self.owner = _OWNER  # this process, in the store's registry of calls in flight
        _LIVE.add(self)

    async def _sleep(self, seconds: float, *, asked: bool = False) -> None:
        """A pause that Ctrl-C (`interrupt_pauses`) cancels at once; `asked`: a provider's
        Retry-After asked for it (the progress line says so only then)."""
        if seconds <= 0:
            return
        task = asyncio.current_task()
        if self._interrupted:
            raise asyncio.CancelledError
        self._sleepers.add(task)
        self._sleeping_until = max(self._sleeping_until, time.monotonic() + seconds)
        if asked:
            self._asked_until = max(self._asked_until, time.monotonic() + seconds)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._sleepers.discard(task)
            if not self._sleepers:
                self._sleeping_until = self._asked_until = 0.0

    # -- the public surface -----------------------------------------------------------------
    async def complete(self, req: CompletionRequest) -> Completion:
        """Answer one request: from the cache, or by calling with retries. Never raises for a failing call."""
        self.stats.requests += 1
        key = None
        claimed = False
        if self.store is not None and not self.no_cache:
            key = req.key()
            hit = self.store.cache_get(key)
            if hit is not None:
                return self._from_cache(hit, key)
        too_long = self.over_input_limit(req)
        if too_long is not None:  # never sent: it cannot succeed
            self.stats.errors += 1
            return Completion(text="", attempts=0, error=too_long, permanent=True)
        if key is not None:
            # another process (a second run needing the same call) may be making it right now:
            # the store's in-flight registry lets us wait for its answer instead of paying twice
            timeout = self.policy.timeout if self.policy.timeout is not None else req.timeout
            claimed = self.store.claim_call(key, self.owner, timeout * (self.policy.max_retries + 1))
            while not claimed:
                await asyncio.sleep(_INFLIGHT_POLL_S)
                hit = self.store.cache_get(key)
                if hit is not None:
                    return self._from_cache(hit, key)
                claimed = self.store.claim_call(key, self.owner, timeout * (self.policy.max_retries + 1))
        try:
            result = await self._with_policy(req)
            if result.error is None and self.store is not None:
                # --no-cache bypasses reads, but a fresh answer is still worth keeping
                result.cache_key = key or req.key()
                self.store.cache_put(
                    result.cache_key, req.model, result.text, result.input_tokens, result.output_tokens, result.cost_usd
                )
        finally:
            if claimed:
                self.store.release_call(key, self.owner)
        return result

    def over_input_limit(self, req: CompletionRequest) -> str | None:
        """Why `req` cannot be sent (its prompt is longer than the model's input limit from litellm's
        model information), or None (it fits, or the limit is unknown)."""
        from arena.backends._pricing import count_tokens, input_limit

        limit = input_limit(req.model)
        if limit is None:
            return None
        n = count_tokens(req.model, req.messages)
        if n <= limit:
            return None
        return f"context length exceeded: the prompt has {n:,} tokens, above {req.model}'s input limit of {limit:,} (not sent)"

    def forget(self, req: CompletionRequest) -> None:
        """Drop `req`'s answer from the call cache: a reply that held no verdict is asked again on
        the next run instead of being replayed."""
        if self.store is not None:
            self.store.cache_forget(req.key())

    async def complete_many(self, reqs: list[CompletionRequest]) -> list[Completion]:
        """Answer many requests concurrently (within the backend's limits), in order."""
        return list(await asyncio.gather(*(self.complete(r) for r in reqs)))

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or engines."""

    # -- policy --------------------------------------------------------------------------------
    def _from_cache(self, row: CachedCall, key: str | None = None) -> Completion:
        self.stats.cache_hits += 1
        cost = row.cost_usd
        if cost is not None:
            self.stats.cost_saved_usd += cost
        return Completion(
            text=row.response,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=cost,
            latency_s=0.0,
            cached=True,
            attempts=0,
            cache_key=key,
        )

    def _semaphore(self) -> asyncio.Semaphore:
        # asyncio primitives belong to one event loop: a backend reused under a new loop
        # (a second asyncio.run) gets fresh ones
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:
            self._loop = loop
            self._sem = asyncio.Semaphore(max(1, int(self.policy.concurrency)))
            self._prepare_lock = None
        return self._sem

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1`: exponential with jitter, at least Retry-After."""
        p = self.policy
        expo = min(p.backoff_max, p.backoff_base * (2 ** (attempt - 1)))
        delay = expo * (0.5 + 0.5 * self._rng.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, p.retry_after_max))
        return delay

    async def _with_policy(self, req: CompletionRequest) -> Completion:
        p = self.policy
        timeout = p.timeout if p.timeout is not None else req.timeout
        sem = self._semaphore()
        if not self._prepared:
            failure = await self._prepare_once()
            if failure is not None:
                self.stats.errors += 1
                return Completion(text="", attempts=0, error=failure, permanent=True)
        secrets = env_secrets([req.api_key_env])  # redacted from every error text before it is cut
        attempts = 0
        last_error = "no attempt made"
        start = time.perf_counter()
        while True:
            attempts += 1
            retry_after: float | None = None
            async with sem:
                pause = self._pause_until - time.monotonic()
                if pause > 0:
                    await self._sleep(pause, asked=True)  # only a 429's Retry-After sets _pause_until
                sent = await self._admit(req)  # the request this attempt sends (a router's: one deployment's)
                self.stats.attempts += 1
                self.stats.in_flight += 1
                t0 = time.perf_counter()
                try:
                    async with asyncio.timeout(timeout):  # no extra task per call, unlike wait_for
                        raw = await self._call(sent, timeout)
                    if not (raw.text or "").strip():
                        raise CallError("empty response from the model", retryable=True)
                except CallError as e:
                    last_error = _one_line(redact(str(e), secrets), 600)
                    retry_after = e.retry_after
                    if e.status == 429:
                        self.stats.rate_limited += 1
                    retryable = self._attempt_failed(sent, e)
                except (TimeoutError, asyncio.TimeoutError):
                    self.stats.timeouts += 1
                    last_error = f"timed out after {timeout:g} s"
                    retryable = self._attempt_failed(sent, CallError(last_error, status=408))
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # a backend bug or an unclassified failure: retry, then report
                    last_error = f"{type(e).__name__}: {_one_line(redact(str(e), secrets))}"
                    retryable = self._attempt_failed(sent, CallError(last_error))
                else:
                    latency = time.perf_counter() - t0
                    self._account(raw)
                    return Completion(
                        text=redact(raw.text, secrets, patterns=False) if secrets else raw.text,
                        input_tokens=raw.input_tokens,
                        output_tokens=raw.output_tokens,
                        cost_usd=raw.cost_usd,
                        latency_s=latency,
                        cached=False,
                        attempts=attempts,
                    )
                finally:
                    self.stats.in_flight -= 1
            self.stats.last_error = last_error
            if not retryable or attempts > p.max_retries:
                self.stats.errors += 1
                return Completion(
                    text="",
                    latency_s=time.perf_counter() - start,
                    attempts=attempts,
                    error=f"{last_error} (after {attempts} attempt{'s' if attempts != 1 else ''})",
                    permanent=not retryable,
                )
            self.stats.retries += 1
            await self._sleep(self.backoff(attempts, retry_after), asked=retry_after is not None)

    async def _admit(self, req: CompletionRequest) -> CompletionRequest:
        """Wait for room under the rate limits of `req`'s deployment and return the request to send.
        The limits are shared by every backend of this process calling the same deployment with the
        same key variable (`arena.backends._limits`). A router backend picks a deployment here."""
        if self.policy.rpm or self.policy.tpm:
            from arena.backends._limits import shared_limiter

            await shared_limiter(req.model, req.api_base, req.api_key_env, self.policy.rpm, self.policy.tpm).acquire(estimate_tokens(req))
        return req

    def _attempt_failed(self, sent: CompletionRequest, error: CallError) -> bool:
        """After a failed attempt: pause the whole backend for a 429's Retry-After; returns whether
        another attempt may succeed. A router backend cools the failed deployment down instead."""
        if error.status == 429 and error.retry_after:
            self._pause_until = max(self._pause_until, time.monotonic() + min(error.retry_after, self.policy.retry_after_max))
        return error.retryable

    def _account(self, raw: RawResult) -> None:
        s = self.stats
        s.input_tokens += raw.input_tokens
        s.output_tokens += raw.output_tokens
        if raw.cost_usd is None:
            s.cost_unknown += 1
        else:
            s.cost_usd += raw.cost_usd

    async def _prepare_once(self) -> str | None:
        """Run `prepare()` once (imports, engine start), outside every call's timeout; a failure is returned."""
        if self._prepare_lock is None:
            self._prepare_lock = asyncio.Lock()
        async with self._prepare_lock:
            if not self._prepared:
                try:
                    await self.prepare()
                except CallError as e:
                    return str(e)
                except ArenaError as e:
                    return str(e)
                self._prepared = True
        return None

    # -- what a backend implements ---------------------------------------------------------------
    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Load the client library or engine before the first call (not counted in its timeout)."""

    @abstractmethod
    async def _call(self, req: CompletionRequest, timeout: float) -> RawResult:
        """One attempt. Raise CallError (retryable or not) for a failure."""


def api_key(req: CompletionRequest) -> str | None:
    """The key from the environment variable the request names (read now, never kept)."""
    if not req.api_key_env:
        return None
    value = os.environ.get(req.api_key_env)
    if not value:
        raise CallError(f"environment variable {req.api_key_env} is not set (it should hold the API key)", retryable=False)
    return value


# exception types (by name, anywhere in an exception's cause chain) of a connection never made:
# aiohttp's, httpx's (under litellm and the openai SDK) and the OS's
_CONNECT_ERRORS = frozenset({"ClientConnectorError", "ClientConnectorDNSError", "ClientConnectorCertificateError", "ConnectError",
                             "ConnectionRefusedError", "gaierror"})


def never_connected(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) says no connection could be made, so
    the request was never sent: connection refused, no route, a name that does not resolve."""
    seen = 0
    while exc is not None and seen < 8:
        if type(exc).__name__ in _CONNECT_ERRORS:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"

