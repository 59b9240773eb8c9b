"""The fast path for OpenAI-compatible servers: `openai/...` and `hosted_vllm/...` with `api_base`.

vLLM, SGLang, llama.cpp's server, ollama's `/v1` and OpenAI itself all speak the same
`POST {api_base}/chat/completions`. For those the request goes out through one pooled aiohttp
session per event loop, with the body litellm would send (model name without its provider
prefix, the messages, the sampling parameters as given); the shared policy of
`arena.backends._base` (cache, retries, Retry-After, rate limits, timeouts) is unchanged.

Why not litellm or the `openai` SDK here: against a zero-latency loopback server at concurrency
64 on 2 cores (bench/throughput.py), `litellm.acompletion` made about 210 calls/s (it runs its
synchronous path on a thread pool and builds a logging payload and a price lookup per call),
the `openai` SDK's AsyncOpenAI about 420 (pydantic models and httpx per call), and a bare
aiohttp client about 5,000. Prices are litellm's table, looked up once per model (read from the
file litellm ships, without importing litellm: `arena.backends._pricing`), not once per call.

Anything else (another provider, no `api_base`, an OpenAI reasoning model whose parameters
litellm rewrites) goes through litellm, the fallback, in the same backend.
"""

from __future__ import annotations

import asyncio
import json
import os
import re

from arena.backends._base import CallError, CompletionRequest, RawResult, _one_line, api_key, never_connected
from arena.backends._litellm import LiteLLMBackend
from arena.backends._pricing import price

PREFIXES = ("openai/", "hosted_vllm/")
# sampling parameters sent as they are; anything else (tools, response_format, ...) takes the litellm path
PASSTHROUGH = frozenset({"temperature", "max_tokens", "top_p", "seed", "stop", "n", "presence_penalty", "frequency_penalty", "logit_bias", "user"})
# OpenAI reasoning models: litellm rewrites their parameters (max_completion_tokens, no temperature)
_REASONING = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)
_FATAL_STATUS = {400, 401, 403, 404, 413, 422}
_KEY_ENV = {"openai/": "OPENAI_API_KEY", "hosted_vllm/": "HOSTED_VLLM_API_KEY"}



def fast_path_eligible(req: CompletionRequest) -> bool:
    """Whether `req` can skip litellm: an `openai/` or `hosted_vllm/` model with an `api_base`,
    not an OpenAI reasoning model, and only parameters sent verbatim (PASSTHROUGH)."""
    if not req.api_base or not req.model.startswith(PREFIXES):
        return False
    name = req.model.split("/", 1)[1]
    if req.model.startswith("openai/") and _REASONING.match(name):
        return False
    return all(k in PASSTHROUGH for k in req.params)


def request_body(req: CompletionRequest) -> dict:
    """The JSON body of `POST {api_base}/chat/completions` for `req`: what litellm sends for it
    (model without the provider prefix, messages, parameters; None-valued parameters left out)."""
    body = {"model": req.model.split("/", 1)[1], "messages": req.messages}
    body.update({k: v for k, v in req.params.items() if v is not None})
    return body


class OpenAICompatBackend(LiteLLMBackend):
    """litellm's backend with a direct aiohttp path for OpenAI-compatible endpoints (see module doc)."""

    name = "openai-compat"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._session = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self.fast_calls = 0  # attempts that took the fast path (the rest went through litellm)

    async def prepare(self) -> None:
        """Nothing to load up front: litellm is imported only when a request needs it (the fallback)."""

    # -- the session ------------------------------------------------------------------------------
    def _client(self):
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            import aiohttp

            if self._session is not None and not self._session.closed:
                _abandon(self._session)  # its loop has ended (a second asyncio.run): drop its sockets

            connector = aiohttp.TCPConnector(limit=max(1, int(self.policy.concurrency)), limit_per_host=0, ttl_dns_cache=300)
            # the policy layer times each attempt out; aiohttp's own timer would cost ~0.15 ms a call
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
            self._session = aiohttp.ClientSession(connector=connector, json_serialize=json.dumps, timeout=timeout)
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._session_loop is asyncio.get_running_loop():
            await session.close()

    # -- one attempt ------------------------------------------------------------------------------
    async def _call(self, req: CompletionRequest, timeout: float) -> RawResult:
        if not fast_path_eligible(req):
            return await super()._call(req, timeout)
        self.fast_calls += 1
        key = api_key(req)
        if key is None:
            prefix = req.model.split("/", 1)[0] + "/"
            key = os.environ.get(_KEY_ENV[prefix])
            if key is None and prefix == "openai/":
                raise CallError(
                    "AuthenticationError: Missing credentials: set api_key_env in the preset (or OPENAI_API_KEY)", retryable=False
                )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = req.api_base.rstrip("/") + "/chat/completions"
        import aiohttp

        try:
            # not `async with`: its exit awaits the connection's close, and a run cancelled there
            # would lose an answer already paid for; read() releases the connection itself
            resp = await self._client().post(url, json=request_body(req), headers=headers)
            try:
                raw = await resp.read()
            except BaseException:
                resp.release()
                raise
            if resp.status != 200:
                raise _http_error(resp.status, raw, resp.headers, key)
        except CallError:
            raise
        except (aiohttp.ClientError, OSError) as e:
            raise CallError(f"APIConnectionError: {_scrub(_one_line(str(e) or type(e).__name__), key)}", unreachable=never_connected(e)) from None
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise CallError(f"malformed response: {type(e).__name__}: {_one_line(str(e), 120)}") from None
        usage = data.get("usage") or {}
        tin = int(usage.get("prompt_tokens") or 0)
        tout = int(usage.get("completion_tokens") or 0)
        # no await between the answer and the call cache: a cancelled run loses no paid call
        return RawResult(text=text, input_tokens=tin, output_tokens=tout, cost_usd=price(req.model, tin, tout))


def _abandon(session) -> None:
    """Close a session whose event loop is gone, without that loop (aiohttp would warn at exit)."""
    try:
        session.connector._close()  # synchronous: closes the pooled transports
    except Exception:
        pass


def _scrub(message: str, key: str | None) -> str:
    return message.replace(key, "***") if key else message


def _http_error(status: int, raw: bytes, headers, key: str | None) -> CallError:
    """A CallError for a non-200 answer: 429 with its Retry-After, 4xx that another attempt cannot fix, else retryable."""
    try:
        detail = json.loads(raw).get("error") or {}
        message = detail.get("message") if isinstance(detail, dict) else str(detail)
    except (ValueError, AttributeError):
        message = raw[:200].decode("utf-8", "replace")
    message = _scrub(_one_line(f"{_STATUS_NAMES.get(status, 'APIError')}: HTTP {status}: {message}"), key)
    if status == 429:
        return CallError(f"rate limited (429): {message}", retry_after=_retry_after(headers), status=429)
    if status in _FATAL_STATUS:
        return CallError(message, retryable=False, status=status)
    return CallError(message, retry_after=_retry_after(headers), status=status)


# the names litellm gives these statuses, so an error reads the same on either path
_STATUS_NAMES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    413: "BadRequestError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


def _retry_after(headers) -> float | None:
    for name, scale in (("Retry-After", 1.0), ("retry-after-ms", 0.001)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None
