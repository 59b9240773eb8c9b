"""The call cache's protocol: what a completion backend needs of a store, so that backends do not
import the store. `arena.store.Store` implements it (table `call_cache`)."""

from __future__ import annotations

import hashlib
import json
from typing import Protocol


def request_key(model: str, messages: list[dict], params: dict) -> str:
    """sha256 of (model, messages, sampling parameters): the call cache's key."""
    blob = json.dumps([model, messages, params], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CallCache(Protocol):
    """Paid completions kept by request key, so that no call is paid twice."""

    def cache_get(self, key: str) -> dict | None:
        """The stored row (`response`, `input_tokens`, `output_tokens`, `cost_usd`) or None."""

    def cache_put(
        self, key: str, model: str, response: str, input_tokens: int, output_tokens: int, cost_usd: float | None
    ) -> None:
        """Keep a completion (cost in US dollars, None when unknown)."""

    def claim_call(self, key: str, owner: str, timeout_s: float) -> bool:
        """Register call `key` as being made by `owner`; False while another live owner has it
        (the caller then waits for its answer in the cache instead of paying for it again)."""

    def release_call(self, key: str, owner: str) -> None:
        """The call `key` is no longer in flight (answered and cached, or failed)."""
