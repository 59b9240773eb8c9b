"""Tournament specs: the shipped demo, validation messages naming the key, prompt and model selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.errors import NotFound, SpecError
from arena.records import Prompt
from arena.tournaments import SchedulerSpec, load_spec, select_models, select_prompts, spec_from_dict


def write(tmp_path, text: str, name: str = "t.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_the_shipped_demo_spec_loads_by_name():
    spec = load_spec("demo")
    assert spec.name == "demo"
    assert spec.pool == "data/demo"
    assert spec.scheduler.kind == "single-elimination"
    assert spec.judge == "surrogate"
    assert spec.seed == 0
    # resolved when the spec is read (against its folder, else shipped data), so every command agrees
    assert spec.reference.endswith("data/demo/reference_rankings.csv") and Path(spec.reference).is_absolute()
    assert spec.path is not None and spec.path.name == "demo.toml"
    ref = spec.resolve_path(spec.reference)
    assert ref is not None and ref.name == "reference_rankings.csv"


def test_a_full_spec_with_scheduler_parameters(tmp_path):
    p = write(
        tmp_path,
        """
name = "rr"
pool = "mypool"
models = ["a", "b", "c"]
prompts = { sample = 10, categories = ["coding"] }
judge = "judges/x.toml"
seed = 7
concurrency = 4
max_calls = 100
max_cost_usd = 2.5

[scheduler]
kind = "round_robin"
pairs_per_prompt = 2
""",
    )
    spec = load_spec(p)
    assert spec.scheduler == SchedulerSpec(kind="round-robin", pairs_per_prompt=2)
    assert spec.scheduler.params == {"pairs_per_prompt": 2}
    assert spec.prompts.sample == 10 and spec.prompts.categories == ["coding"]
    assert (spec.models, spec.seed, spec.concurrency, spec.max_calls, spec.max_cost_usd) == (["a", "b", "c"], 7, 4, 100, 2.5)
    assert spec.strong_weight == 3.0 and spec.reference is None


def test_name_defaults_to_the_file_name(tmp_path):
    assert load_spec(write(tmp_path, 'pool = "p"\n', "nightly.toml")).name == "nightly"


@pytest.mark.parametrize(
    "body, message",
    [
        ('[scheduler]\nkind = "knockout"', "key 'scheduler.kind': expected one of single-elimination, round-robin, anchored, swiss or adaptive (got 'knockout')"),
        ('[scheduler]\nkind = "round-robin"\npairs = 3', "key 'scheduler.pairs': unknown key for a round-robin scheduler (its keys: pairs_per_prompt, sampling)"),
        ('[scheduler]\nkind = "round-robin"\npairs_per_prompt = 0', "key 'scheduler.pairs_per_prompt': input should be greater than or equal to 1 (got 0)"),
        ('[scheduler]\nkind = "swiss"\nrounds = "many"', "key 'scheduler.rounds': input should be a valid integer, unable to parse string as an integer (got 'many')"),
        ('seed = "a"', "key 'seed': input should be a valid integer, unable to parse string as an integer (got 'a')"),
        ("colour = 1", "key 'colour': unknown key"),
        ('prompts = "some"', "key 'prompts': expected \"all\", a sample size, or a table with sample / categories (got 'some')"),
        ('models = ["a"]', "key 'models': expected at least 2 models, or \"all\""),
        ('models = ["a", "b", "a"]', "key 'models': listed twice: a"),
        ("concurrency = 0", "key 'concurrency': input should be greater than or equal to 1 (got 0)"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, body, message):
    p = write(tmp_path, f'name = "t"\npool = "p"\n{body}\n')
    with pytest.raises(SpecError) as e:
        load_spec(p)
    assert str(e.value) == f"{p}: {message}"
    assert "\n" not in str(e.value)


def test_missing_pool_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match=r"t.toml: key 'pool': is missing$"):
        load_spec(write(tmp_path, 'name = "x"\n'))
    with pytest.raises(SpecError, match=r"t.toml: not valid TOML"):
        load_spec(write(tmp_path, "name = \n"))
    with pytest.raises(NotFound, match="no shipped tournament of that name"):
        load_spec("no-such-spec")


def test_error_count_is_mentioned():
    with pytest.raises(SpecError, match=r"key 'seed': .* \(and 1 more problem\)$"):
        spec_from_dict({"name": "x", "pool": "p", "colour": 1, "seed": "s"}, "s.toml")


def test_select_models_and_prompts():
    spec = spec_from_dict({"name": "x", "pool": "p", "models": ["b", "zz"]})
    with pytest.raises(SpecError, match=r"key 'models': zz not in pool 'p' \(it has: a, b, c\)"):
        select_models(spec, ["c", "a", "b"])
    assert select_models(spec_from_dict({"name": "x", "pool": "p"}), ["c", "a", "b"]) == ["a", "b", "c"]

    prompts = [Prompt(f"q{i}", "t", "coding" if i % 2 else "chat") for i in range(20)]
    s1 = spec_from_dict({"name": "x", "pool": "p", "prompts": 5, "seed": 1})
    got = select_prompts(s1, prompts)
    assert len(got) == 5 and got == select_prompts(s1, prompts)
    assert [p.prompt_id for p in got] == sorted((p.prompt_id for p in got), key=lambda x: int(x[1:]))  # pool order kept
    assert got != select_prompts(spec_from_dict({"name": "x", "pool": "p", "prompts": 5, "seed": 2}), prompts)
    only = select_prompts(spec_from_dict({"name": "x", "pool": "p", "prompts": ["coding"]}), prompts)
    assert len(only) == 10 and {p.category for p in only} == {"coding"}
    with pytest.raises(SpecError, match=r"key 'prompts.categories': math not in the pool \(categories: chat, coding\)"):
        select_prompts(spec_from_dict({"name": "x", "pool": "p", "prompts": {"categories": ["math"]}}), prompts)
