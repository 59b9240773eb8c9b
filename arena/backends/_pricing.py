"""Prices and token counts for plans and cost estimates before any call, without importing litellm.

`import litellm` takes 3-4 s, the larger part of a run's start-up; plans and the fast path need
only two things from it, both read from the files the installed litellm ships:

- prices: its price table (`model_prices_and_context_window_backup.json`, the one litellm uses
  with LITELLM_LOCAL_MODEL_COST_MAP=True), looked up once per model; models the plain look-up
  cannot settle (other providers' aliases, tiered prices) go to `litellm.cost_per_token`;
- token counts: tiktoken with the encodings litellm bundles, by litellm's message formula (3
  tokens a message, each string field, 3 to prime the reply); o200k_base for the GPT-4o, 4.1,
  5 and o-series families, cl100k_base otherwise, which is what `litellm.token_counter` falls back
  to for models without a bundled tokenizer. Against `litellm.token_counter` the counts agree
  within 1% (tests/test_pricing_fast.py; litellm extrapolates long texts from chunks, ours is
  tiktoken's exact count); models that litellm counts with a Hugging Face tokenizer (Llama,
  DeepSeek; which needs a download, retried for about 20 s when offline) get the tiktoken count.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
from pathlib import Path

_O200K = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o\d)", re.IGNORECASE)
# table keys that mean the plain per-token price is not the whole story
_TIERED = ("_above_", "tiered_pricing")
# providers whose unknown models are unknown to litellm too (no aliases to resolve)
_DIRECT_PREFIXES = ("openai/", "hosted_vllm/")


def _litellm_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


_TABLE_KEYS = ("litellm_provider", "input_cost_per_token", "output_cost_per_token", "input_cost_per_token_batches",
               "output_cost_per_token_batches", "max_input_tokens")
"""What arena reads of a price-table entry; `_tiered` marks an entry with tiered prices (see `_TIERED`)."""


@functools.cache
def _table() -> dict | None:
    """litellm's bundled price table (the keys in `_TABLE_KEYS` of each entry), or None when litellm
    should be asked (a remote table wanted). The 3.5 MB JSON file is parsed once per litellm
    release and kept in `cache_dir()` (`_cached`): about 5 ms to read instead of 50-100 ms."""
    if os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "True").lower() not in ("true", "1"):
        return None
    d = _litellm_dir()
    path = d / "model_prices_and_context_window_backup.json" if d else None
    if path is None or not path.exists():
        return None

    def parse() -> dict:
        with open(path, encoding="utf-8") as f:
            full = json.load(f)
        table = {}
        for model, entry in full.items():
            if isinstance(entry, dict):
                table[model] = {k: entry[k] for k in _TABLE_KEYS if k in entry}
                if any(t in k for k in entry for t in _TIERED):
                    table[model]["_tiered"] = True
        return table

    st = path.stat()
    return _cached(f"litellm-prices-{st.st_size}-{st.st_mtime_ns}", parse, _valid_table)


_NUMBER_KEYS = frozenset(_TABLE_KEYS) - {"litellm_provider", "max_input_tokens"}


def _valid_table(table) -> bool:
    """Whether a cached price table has the shape `_table` builds: a non-empty dict of model name ->
    entry, each entry a dict of `_TABLE_KEYS` (prices numbers, the provider a string, the input
    limit a number or string as litellm's file has it) and `_tiered` (True). A cache file replaced
    by anything else is rebuilt, never trusted (an empty table would price every model unknown)."""
    if not isinstance(table, dict) or not table:
        return False
    for model, entry in table.items():
        if not isinstance(model, str) or not isinstance(entry, dict):
            return False
        for k, v in entry.items():
            if k in _NUMBER_KEYS:
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    return False
            elif k == "litellm_provider":
                if not isinstance(v, str):
                    return False
            elif k == "max_input_tokens":
                if not isinstance(v, (int, float, str)) and v is not None:
                    return False
            elif k != "_tiered" or v is not True:
                return False
    return True


def _cached(key: str, build, valid):
    """`build()`, kept in `cache_dir()/<key>.marshal` (marshal holds only plain values and never runs
    code): read back when the file is there and `valid(value)`, else built and written atomically.
    A missing, damaged or unwritable cache only costs the build."""
    import marshal

    path = cache_dir() / f"{key}.marshal"
    try:
        with open(path, "rb") as f:
            value = marshal.loads(f.read())  # marshal.load(f) reads in small pieces: 5x slower
        if valid(value):
            return value
    except (OSError, ValueError, EOFError, TypeError):
        pass
    value = build()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            marshal.dump(value, f)
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()
    return value


_ASK_LITELLM = object()


def _entry(table: dict, model: str) -> dict | None:
    """The table's entry for `model`, by its full name or by its name without the provider prefix
    when the entry belongs to that provider."""
    prefix, _, bare = model.partition("/") if "/" in model else ("", "", model)
    entry = table.get(model)
    if entry is None and prefix:
        cand = table.get(bare)
        if cand is not None and cand.get("litellm_provider") == prefix:
            entry = cand
    return entry


def _from_table(model: str):
    """(in, out) USD per token from the table, None for a model litellm cannot price either, or
    _ASK_LITELLM when the plain look-up cannot settle it."""
    table = _table()
    if table is None:
        return _ASK_LITELLM
    entry = _entry(table, model)
    if entry is None:
        return None if model.startswith(_DIRECT_PREFIXES) else _ASK_LITELLM
    if entry.get("_tiered") or "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
        return _ASK_LITELLM
    return (float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"]))


@functools.lru_cache(maxsize=256)
def unit_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) for `model`, or None when it is not priced.

    `vllm/...` runs locally and costs 0. Anything litellm's table does not know stays unknown.
    """
    if model.startswith("vllm/"):
        return (0.0, 0.0)
    got = _from_table(model)
    if got is not _ASK_LITELLM:
        return got  # type: ignore[return-value]
    return litellm_unit_prices(model)


def litellm_unit_prices(model: str) -> tuple[float, float] | None:
    """`unit_prices` as litellm computes it (imports litellm): the reference for the table look-up."""
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


BATCH_DISCOUNT = 0.5
"""The Batch API's price as a share of the normal one where litellm's table lists no batch price:
OpenAI's published discount for its Batch API (50%), which other providers' batch APIs match."""


@functools.lru_cache(maxsize=256)
def batch_unit_prices(model: str) -> tuple[tuple[float, float] | None, str]:
    """((USD per input token, USD per output token) of a call through the Batch API, or None when
    the model is not priced; where the rate comes from). litellm's table lists batch prices
    (`input_cost_per_token_batches`, `output_cost_per_token_batches`) for some models; for the
    others it is BATCH_DISCOUNT of the normal rate, and the second value says so."""
    table = _table()
    entry = _entry(table, model) if table is not None else None
    if entry and "input_cost_per_token_batches" in entry and "output_cost_per_token_batches" in entry:
        return (float(entry["input_cost_per_token_batches"]), float(entry["output_cost_per_token_batches"])), "litellm's batch price"
    unit = unit_prices(model)
    if unit is None:
        return None, "unknown"
    return (unit[0] * BATCH_DISCOUNT, unit[1] * BATCH_DISCOUNT), f"{BATCH_DISCOUNT:.0%} of the normal rate (litellm lists no batch price)"


def price(model: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float | None:
    """The USD cost of a call with these token counts, or None when the model is not priced.
    `batch`: the call goes through the Batch API, priced at `batch_unit_prices`."""
    unit = batch_unit_prices(model)[0] if batch else unit_prices(model)
    if unit is None:
        return None
    return input_tokens * unit[0] + output_tokens * unit[1]


def cache_dir() -> Path:
    """arena's cache folder for files it can rebuild: `ARENA_CACHE_DIR`, else `$XDG_CACHE_HOME/arena`,
    else `~/.cache/arena`."""
    if os.environ.get("ARENA_CACHE_DIR"):
        return Path(os.environ["ARENA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "arena"


_ENCODING_KEYS = {"name": str, "pat_str": str, "mergeable_ranks": dict, "special_tokens": dict}


@functools.cache
def _encoding(name: str):
    """tiktoken's encoding `name`. Its BPE table is parsed once (about 0.2 s: 100,000 base64 lines)
    and kept in `cache_dir()` as a `marshal` file of the encoding's constructor arguments (read in
    about 20 ms; marshal holds only str, bytes, int and dict, and never runs code); a missing,
    unreadable or malformed cache file is rebuilt, an unwritable folder only costs the parse."""
    d = _litellm_dir()
    if d is not None and (d / "litellm_core_utils" / "tokenizers").is_dir():
        # litellm's offline copies of tiktoken's files (it sets the same variable when imported)
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(d / "litellm_core_utils" / "tokenizers"))
    import tiktoken
    from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS

    constructor = ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        return tiktoken.get_encoding(name)

    def valid(kwargs) -> bool:
        return isinstance(kwargs, dict) and kwargs.get("name") == name and all(isinstance(kwargs.get(k), t) for k, t in _ENCODING_KEYS.items())

    return tiktoken.Encoding(**_cached(f"tiktoken-{tiktoken.__version__}-{name}", constructor, valid))


def count_tokens(model: str, messages: list[dict]) -> int:
    """Prompt tokens of `messages` for `model` (see the module docstring for the method and its
    agreement with litellm); 4 characters a token when tiktoken is unavailable."""
    bare = model.removeprefix("vllm/").rsplit("/", 1)[-1]
    try:
        enc = _encoding("o200k_base" if _O200K.match(bare) else "cl100k_base")
    except Exception:
        return sum(len(str(m.get("content") or "")) for m in messages) // 4
    n = 3
    for m in messages:
        n += 3
        for k, v in m.items():
            if isinstance(v, str):
                n += len(enc.encode_ordinary(v)) + (1 if k == "name" else 0)
    return n


@functools.lru_cache(maxsize=256)
def input_limit(model: str) -> int | None:
    """The most prompt tokens `model` accepts, from litellm's model information (offline), or None
    when unknown (a local or unlisted model)."""
    if model.startswith("vllm/"):
        return None
    table = _table()
    if table is not None and model.startswith(_DIRECT_PREFIXES):  # no litellm import for these
        entry = _entry(table, model) or {}
        value = entry.get("max_input_tokens")
        return int(value) if value else None
    from arena.backends._litellm import _load

    try:
        info = _load().get_model_info(model)
    except Exception:
        return None
    value = info.get("max_input_tokens") if isinstance(info, dict) else None
    return int(value) if value else None
