"""Preset and spec keys whose type is a union (`turn`, a spec's `models`): a bad value is one line
naming the key and every allowed value, never pydantic's internals (`literal[...]`, `Input should`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.errors import SpecError

PAIRS = Path(__file__).resolve().parent / "fixtures" / "reliability" / "llmbar_natural.json"


def _llm(turn):
    from arena.judges._base import parse_settings
    from arena.judges.llm import LLMPreset

    return parse_settings(LLMPreset, {"kind": "llm", "model": "openai/x", "turn": turn}, {}, where="j.toml", what="an llm judge")[0]


@pytest.mark.parametrize("turn", ["last", "all", "each", 1, 2, 7])
def test_llm_turn_accepts_the_choices_and_a_turn_number(turn):
    assert _llm(turn).turn == turn


@pytest.mark.parametrize("turn", [True, False, 1.5, 2.0, "third", 0, -1, "2", "", [1], {"n": 1}, None])
def test_llm_turn_refuses_anything_else_naming_the_key_and_every_allowed_value(turn):
    with pytest.raises(SpecError) as e:
        _llm(turn)
    msg = str(e.value)
    assert msg.startswith("j.toml: key 'turn': expected \"last\", \"all\", \"each\" or a turn number from 1 (an integer), got ")
    assert "\n" not in msg and "literal" not in msg and "Input should" not in msg and "Value error" not in msg
    if turn == "2":  # refused, not read as 2: a TOML string is not a number (and would be another run identity)
        assert msg.endswith("(a turn number is an integer: turn = 2, not a string)")


def test_recorded_turn_names_its_own_choices():
    from arena.judges import build_judge

    with pytest.raises(SpecError, match=r"key 'turn': expected \"last\", \"each\" or a turn number from 1 \(an integer\), got \"all\"$"):
        build_judge({"kind": "recorded", "format": "mt_bench", "files": ["x.jsonl"], "turn": "all"}, name="r", base_dir=Path("."))


def test_cli_turn_mistake_is_one_line_exit_2(cli, tmp_path):
    preset = tmp_path / "j.toml"
    preset.write_text('kind = "llm"\nmodel = "openai/x"\nturn = true\n')
    r = cli("judge", "eval", "--judge", preset, "--pairs", PAIRS, "--dry-run")
    assert r.code == 2
    assert r.err == f'Error: {preset}: key \'turn\': expected "last", "all", "each" or a turn number from 1 (an integer), got true\n'


def test_a_union_key_of_a_spec_names_every_allowed_form():
    from arena.tournaments.spec import spec_from_dict

    with pytest.raises(SpecError) as e:
        spec_from_dict({"name": "s", "pool": "p", "judge": "gpt-4o-mini", "models": 5}, "s.toml")
    assert str(e.value) == "s.toml: key 'models': expected a valid list or one of 'all' (got 5)"


def test_a_union_key_of_a_preset_names_every_allowed_form():
    from typing import Literal

    from pydantic import BaseModel, ValidationError

    from arena.judges._base import preset_error

    class P(BaseModel):
        k: Literal["a", "b"] | int

    with pytest.raises(ValidationError) as e:
        P(k="z")
    msg = str(preset_error("p.toml", e.value, "a test", P.model_fields))
    assert msg == "p.toml: key 'k': expected one of 'a' or 'b' or a valid integer, unable to parse string as an integer (got 'z')"
