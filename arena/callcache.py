"""The call cache's protocol: what a completion backend needs of a store, so that backends do not
import the store. `arena.store.Store` implements it (table `call_cache`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol


def request_key(model: str, messages: list[dict], params: dict, api_base: str | None = None) -> str:
    """sha256 of everything that can change a reply: model, messages, every sampling parameter and
    the deployment (`api_base`; two servers behind one model name do not share answers)."""
    parts = [model, messages, params] if api_base is None else [model, messages, params, {"api_base": api_base.rstrip("/")}]
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedCall:
    """A kept completion: the reply text, its tokens and its cost in US dollars (None when unknown)."""

    key: str
    model: str
    response: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


class CallCache(Protocol):
    """Paid completions kept by request key, so that no call is paid twice."""

    def cache_get(self, key: str) -> CachedCall | None:
        """The kept completion of request `key`, or None."""

    def cache_put(
        self, key: str, model: str, response: str, input_tokens: int, output_tokens: int, cost_usd: float | None
    ) -> None:
        """Keep a completion (cost in US dollars, None when unknown)."""

    def cache_forget(self, key: str) -> None:
        """Drop a kept completion (a reply that held no verdict is asked again, not replayed)."""

    def claim_call(self, key: str, owner: str, timeout_s: float) -> bool:
        """Register call `key` as being made by `owner`; False while another live owner has it
        (the caller then waits for its answer in the cache instead of paying for it again)."""

    def release_call(self, key: str, owner: str) -> None:
        """The call `key` is no longer in flight (answered and cached, or failed)."""
