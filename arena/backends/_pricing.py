"""Prices from litellm's table (loaded lazily): for plans and cost estimates before any call."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=256)
def unit_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) for `model`, or None when it is not priced.

    `vllm/...` runs locally and costs 0. Anything litellm's table does not know stays unknown.
    """
    if model.startswith("vllm/"):
        return (0.0, 0.0)
    from arena.backends._litellm import _load

    litellm = _load()
    try:
        pin, pout = litellm.cost_per_token(model=model, prompt_tokens=1_000_000, completion_tokens=1_000_000)
    except Exception:
        return None
    if pin == 0 and pout == 0:
        # litellm prices some unknown or free-form models at 0; only trust a 0 listed in the table
        if not (litellm.model_cost.get(model) or litellm.model_cost.get(model.split("/", 1)[-1])):
            return None
    return (pin / 1_000_000, pout / 1_000_000)


def price(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """The USD cost of a call with these token counts, or None when the model is not priced."""
    unit = unit_prices(model)
    if unit is None:
        return None
    return input_tokens * unit[0] + output_tokens * unit[1]


def count_tokens(model: str, messages: list[dict]) -> int:
    """Prompt tokens of `messages` for `model` by litellm's token counter (4 characters a token
    when the model's tokenizer is unknown or unavailable)."""
    from arena.backends._litellm import _load

    try:
        return int(_load().token_counter(model=model.removeprefix("vllm/"), messages=messages))
    except Exception:
        return sum(len(str(m.get("content") or "")) for m in messages) // 4


@functools.lru_cache(maxsize=256)
def input_limit(model: str) -> int | None:
    """The most prompt tokens `model` accepts, from litellm's model information (offline), or None
    when unknown (a local or unlisted model)."""
    if model.startswith("vllm/"):
        return None
    from arena.backends._litellm import _load

    try:
        info = _load().get_model_info(model)
    except Exception:
        return None
    value = info.get("max_input_tokens") if isinstance(info, dict) else None
    return int(value) if value else None
