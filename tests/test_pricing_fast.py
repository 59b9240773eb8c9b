"""Prices and token counts read from litellm's files without importing litellm agree with litellm."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arena.backends._pricing import count_tokens, litellm_unit_prices, unit_prices

MODELS = [
    "openai/gpt-4o-mini",
    "gpt-4o",
    "openai/gpt-4-turbo",
    "gpt-3.5-turbo",
    "openai/o3-mini",
    "openai/not-a-real-model",
    "hosted_vllm/Qwen/Qwen2.5-7B-Instruct",
    "hosted_vllm/loopback",
    "anthropic/claude-3-haiku-20240307",
    "gemini/gemini-1.5-flash",
]


@pytest.mark.parametrize("model", MODELS)
def test_table_prices_equal_litellms(model):
    got, ref = unit_prices(model), litellm_unit_prices(model)
    if ref is None:
        assert got is None
    else:
        assert got == pytest.approx(ref, rel=1e-12, abs=0)


MESSAGES = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "You are a fair judge."}, {"role": "user", "content": "Compare these two answers.\n\n" * 40}],
    [{"role": "user", "content": "héllo wörld 😀 " * 30}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "再来一次"}],
    [{"role": "user", "content": "def f(x):\n    return x ** 2  # code\n" * 20, "name": "alice"}],
]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "gpt-4o", "openai/gpt-4-turbo", "hosted_vllm/Qwen/Qwen2.5-7B-Instruct", "openai/o3-mini"])
def test_token_counts_equal_litellms(model):
    import litellm

    for m in MESSAGES:
        ours, ref = count_tokens(model, m), litellm.token_counter(model=model, messages=m)
        # litellm extrapolates the count of a long text from chunks; ours is tiktoken's exact count
        assert abs(ours - ref) <= max(1, 0.01 * ref), (ours, ref)
    assert count_tokens(model, MESSAGES[0]) == litellm.token_counter(model=model, messages=MESSAGES[0])


def test_plans_and_fast_path_prices_do_not_import_litellm():
    code = (
        "import sys; from arena.backends._pricing import unit_prices, count_tokens;"
        "assert unit_prices('openai/gpt-4o-mini')[0] > 0 and unit_prices('hosted_vllm/x/y') is None;"
        "assert count_tokens('openai/gpt-4o-mini', [{'role': 'user', 'content': 'hello'}]) > 0;"
        "print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai/gpt-4-turbo", "openai/not-a-real-model", "hosted_vllm/Qwen/Qwen2.5-7B-Instruct"])
def test_table_input_limits_equal_litellms(model):
    import litellm

    from arena.backends._pricing import input_limit

    try:
        ref = litellm.get_model_info(model).get("max_input_tokens")
    except Exception:
        ref = None
    assert input_limit(model) == (int(ref) if ref else None)


TEXTS = ["Compare these two answers.", "héllo wörld 😀 再来一次", "def f(x):\n    return x ** 2  # code\n" * 5, "<|endoftext|> is text here"]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_encoding_cache_gives_tiktokens_encoding(name, tmp_path, monkeypatch):
    """The BPE table kept in the cache folder (marshal) makes the same encoding as tiktoken's own
    loader; a damaged cache file is rebuilt; an unwritable folder only costs the parse."""
    import tiktoken

    from arena.backends import _pricing

    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path / "cache"))
    _pricing._encoding.cache_clear()
    built = _pricing._encoding(name)  # parsed, then written (and litellm's offline tokenizer files set for tiktoken)
    reference = tiktoken.get_encoding(name)
    files = list((tmp_path / "cache").glob(f"tiktoken-*-{name}.marshal"))
    assert len(files) == 1 and files[0].stat().st_size > 100_000
    _pricing._encoding.cache_clear()
    cached = _pricing._encoding(name)  # read back from the file
    for enc in (built, cached):
        assert enc.n_vocab == reference.n_vocab
        for t in TEXTS:
            assert enc.encode_ordinary(t) == reference.encode_ordinary(t)
    files[0].write_bytes(b"\x00not marshal")  # damaged: rebuilt, and rewritten whole
    _pricing._encoding.cache_clear()
    assert _pricing._encoding(name).encode_ordinary(TEXTS[1]) == reference.encode_ordinary(TEXTS[1])
    assert files[0].stat().st_size > 100_000
    files[0].unlink()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ARENA_CACHE_DIR", str(blocker / "cache"))  # cannot be made
    _pricing._encoding.cache_clear()
    assert _pricing._encoding(name).encode_ordinary(TEXTS[0]) == reference.encode_ordinary(TEXTS[0])
    _pricing._encoding.cache_clear()


def test_price_table_cache_gives_the_same_prices(tmp_path, monkeypatch):
    """litellm's price table, reduced to what arena reads and kept in the cache folder, prices and
    limits every model as the parsed JSON does; a damaged cache file is rebuilt."""
    from arena.backends import _pricing

    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path))

    def fresh():
        for f in (_pricing._table, _pricing.unit_prices, _pricing.batch_unit_prices, _pricing.input_limit):
            f.cache_clear()

    fresh()
    parsed = [(_pricing.unit_prices(m), _pricing.batch_unit_prices(m), _pricing.input_limit(m)) for m in MODELS]
    (cache,) = tmp_path.glob("litellm-prices-*.marshal")
    fresh()
    assert [(_pricing.unit_prices(m), _pricing.batch_unit_prices(m), _pricing.input_limit(m)) for m in MODELS] == parsed
    assert _pricing._table()["gpt-4o"]["max_input_tokens"] > 0
    cache.write_bytes(b"junk")
    fresh()
    assert [(_pricing.unit_prices(m), _pricing.batch_unit_prices(m), _pricing.input_limit(m)) for m in MODELS] == parsed
    assert cache.stat().st_size > 10_000
    fresh()


@pytest.mark.parametrize("bad", [{}, {"gpt-4o-mini": 5}, {"gpt-4o-mini": {"input_cost_per_token": "cheap"}},
                                 {"gpt-4o-mini": {"litellm_provider": 3}}, {"gpt-4o-mini": {"surprise": 1.0}}, {1: {}}])
def test_a_cached_price_table_of_the_wrong_shape_is_rebuilt(bad, tmp_path, monkeypatch):
    """A cache file that unmarshals to something other than the table `_table` builds (an empty dict,
    an entry that is not a dict, a price that is not a number) prices as the JSON does and is
    rewritten, never trusted, never a traceback."""
    import marshal

    from arena.backends import _pricing

    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path))

    def fresh():
        for f in (_pricing._table, _pricing.unit_prices, _pricing.batch_unit_prices, _pricing.input_limit):
            f.cache_clear()

    fresh()
    parsed = [(_pricing.unit_prices(m), _pricing.input_limit(m)) for m in MODELS]
    (cache,) = tmp_path.glob("litellm-prices-*.marshal")
    cache.write_bytes(marshal.dumps(bad))
    fresh()
    try:
        assert [(_pricing.unit_prices(m), _pricing.input_limit(m)) for m in MODELS] == parsed
        assert _pricing.unit_prices("openai/gpt-4o-mini") is not None
        assert marshal.loads(cache.read_bytes()) != bad  # rebuilt in place
    finally:
        fresh()
