"""The litellm backend: any provider string litellm knows (`openai/...`, `anthropic/...`,
`ollama/...`, `hosted_vllm/...` for a `vllm serve` server), with `api_base` and the key's
environment variable per request. litellm is imported on the first call, and its own retries
(and the OpenAI client's) are off so every 429 reaches our policy.
"""

from __future__ import annotations

from arena.backends._base import Backend, CallError, CompletionRequest, RawResult, _one_line, api_key, never_connected
from arena.credentials import redact

_litellm = None

# litellm exception class names that another attempt cannot fix
_FATAL = {
    "AuthenticationError",
    "PermissionDeniedError",
    "BadRequestError",
    "NotFoundError",
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
    "UnsupportedParamsError",
    "UnprocessableEntityError",
    "InvalidRequestError",
}
_FATAL_STATUS = {400, 401, 403, 404, 413, 422}  # HTTP statuses another attempt cannot fix
_FATAL_TEXT = ("Missing credentials", "api_key client option must be set", "LLM Provider NOT provided")


def _load():
    """Import litellm once, on the first call that needs it.

    Prices come from the table shipped with the installed litellm (reproducible, and no network
    fetch with retries at import); set LITELLM_LOCAL_MODEL_COST_MAP=False to fetch the newest.
    """
    global _litellm
    if _litellm is None:
        import os

        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.drop_params = True  # a provider that lacks a parameter ignores it instead of failing
        _litellm = litellm
    return _litellm


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds from a Retry-After header carried by a litellm / OpenAI exception, if any."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name in ("retry-after", "Retry-After", "retry-after-ms"):
        value = headers.get(name) if hasattr(headers, "get") else None
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return None
        return seconds / 1000.0 if name.endswith("-ms") else seconds
    return None


class LiteLLMBackend(Backend):
    name = "litellm"

    async def prepare(self) -> None:
        _load()  # 3-4 s on first use: outside any call's timeout

    async def _call(self, req: CompletionRequest, timeout: float) -> RawResult:
        litellm = _load()
        key = api_key(req)
        kwargs = dict(req.params)
        if req.api_base:
            kwargs["api_base"] = req.api_base
        if key is not None:
            kwargs["api_key"] = key
        try:
            resp = await litellm.acompletion(
                model=req.model,
                messages=req.messages,
                timeout=timeout,
                num_retries=0,
                max_retries=0,
                **kwargs,
            )
        except Exception as e:
            raise _classify(e, key) from None
        try:
            text = resp.choices[0].message.content or ""
        except (AttributeError, IndexError) as e:
            raise CallError(f"malformed response: {e}") from None
        usage = getattr(resp, "usage", None)
        tin = int(getattr(usage, "prompt_tokens", 0) or 0)
        tout = int(getattr(usage, "completion_tokens", 0) or 0)
        return RawResult(text=text, input_tokens=tin, output_tokens=tout, cost_usd=_cost(litellm, resp))


def _cost(litellm, resp) -> float | None:
    """Price from litellm's table, as litellm computed it for this response; None when the model
    is not priced (unknown stays unknown). Computing it again would cost ~1 ms a call."""
    hidden = getattr(resp, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return float(cost) if cost is not None else None


def _classify(e: Exception, key: str | None) -> CallError:
    name = type(e).__name__
    status = getattr(e, "status_code", None)
    message = _one_line(redact(str(e), [key]))  # redact first: a cut must not leave part of a key
    if name == "RateLimitError" or status == 429:
        return CallError(f"rate limited (429): {message}", retry_after=retry_after_of(e), status=429)
    if name == "Timeout" or "timed out" in message.lower():
        return CallError(f"timed out: {message}", status=status if isinstance(status, int) else None)
    if name in _FATAL or status in _FATAL_STATUS or any(t in message for t in _FATAL_TEXT):
        return CallError(f"{name}: {message}", retryable=False, status=status if isinstance(status, int) else None)
    return CallError(f"{name}: {message}", retry_after=retry_after_of(e), status=status if isinstance(status, int) else None,
                     unreachable=never_connected(e))
