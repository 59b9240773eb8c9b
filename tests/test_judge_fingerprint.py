"""A run's identity covers the files its judge read: editing a panel member's preset, a template or
the surrogate's weights starts a fresh run instead of resuming one judged by the old judge."""

from __future__ import annotations

import shutil

from arena.judges import load_judge, load_preset
from arena.runner import prepare_run
from arena.surrogate.model import WEIGHTS_FILE
from arena.tournaments import spec_from_dict

POOL = """[{"instruction": "Say hi.", "output": "hi", "generator": "m1"},
 {"instruction": "Say hi.", "output": "hello there", "generator": "m2"}]"""


def _llm(path, model: str, template: str | None = None) -> None:
    extra = f'template = "{template}"\n' if template else ""
    path.write_text(f'kind = "llm"\nmodel = "openai/{model}"\napi_base = "http://127.0.0.1:9/v1"\napi_key_env = "ARENA_TEST_KEY"\n{extra}')


def _run_id(store, tmp_path, judge_path, *, name="fp"):
    spec = spec_from_dict({"name": name, "pool": str(tmp_path / "pool.json"), "judge": str(judge_path), "scheduler": {"kind": "round-robin"}})
    preset, _ = load_preset(judge_path)
    judge = load_judge(judge_path)
    return prepare_run(store, spec, preset, judge_fingerprint=judge.fingerprint()).run_id


def test_editing_a_panel_members_preset_starts_a_fresh_run(store, tmp_path):
    (tmp_path / "pool.json").write_text(POOL)
    _llm(tmp_path / "one.toml", "judge-one")
    _llm(tmp_path / "two.toml", "judge-two")
    (tmp_path / "jury.toml").write_text('kind = "panel"\nmembers = ["one", "two"]\n')
    first = _run_id(store, tmp_path, tmp_path / "jury.toml")
    assert _run_id(store, tmp_path, tmp_path / "jury.toml") == first  # nothing changed: resumes
    _llm(tmp_path / "two.toml", "judge-three")  # the panel file is untouched, a member changed
    assert _run_id(store, tmp_path, tmp_path / "jury.toml") != first


def test_editing_a_template_starts_a_fresh_run(store, tmp_path):
    from arena.resources import resolve

    (tmp_path / "pool.json").write_text(POOL)
    shutil.copy(resolve("prompts", "pairwise", ".j2"), tmp_path / "mine.j2")
    _llm(tmp_path / "j.toml", "judge-one", template="mine.j2")
    first = _run_id(store, tmp_path, tmp_path / "j.toml")
    assert _run_id(store, tmp_path, tmp_path / "j.toml") == first
    with (tmp_path / "mine.j2").open("a") as fh:
        fh.write("\n{# edited #}\n")
    assert _run_id(store, tmp_path, tmp_path / "j.toml") != first


def test_retrained_surrogate_weights_start_a_fresh_run(store, tmp_path):
    (tmp_path / "pool.json").write_text(POOL)
    shutil.copy(WEIGHTS_FILE, tmp_path / "w.npz")
    (tmp_path / "s.toml").write_text('kind = "surrogate"\nweights = "w.npz"\n')
    first = _run_id(store, tmp_path, tmp_path / "s.toml")
    assert _run_id(store, tmp_path, tmp_path / "s.toml") == first
    from arena.surrogate.model import SurrogateModel

    m = SurrogateModel.load(tmp_path / "w.npz")
    m.w_dense = m.w_dense * 1.01  # "retrained": other weights, same preset
    m.save(tmp_path / "w.npz")
    assert _run_id(store, tmp_path, tmp_path / "s.toml") != first
