"""A refusal raised through the Python API names the Python argument (`yes=True`); the CLI names
its option (`--yes`) for the same refusal (`arena.errors.naming_options`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.errors import BadInput, naming_options

DEMO = Path(__file__).parent.parent / "data" / "demo"


def test_naming_options_reads_as_the_api_or_the_cli():
    e = naming_options(BadInput, "cost above the limit; pass <yes>", yes=("yes=True", "--yes"))
    assert str(e) == "cost above the limit; pass yes=True"
    assert e.cli_message == "cost above the limit; pass --yes"


def test_run_tournament_needing_confirmation_names_yes_true(db_path, tmp_path, monkeypatch):
    from arena.api import run_tournament

    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-the-run-stops-before-any-call")  # the key is checked first

    spec = tmp_path / "paid.toml"
    spec.write_text(f'name = "paid"\npool = "{DEMO}"\njudge = "gpt-4o-mini"\nconfirm_above_usd = 0.5\n')
    with pytest.raises(BadInput) as e:
        run_tournament(spec, db=db_path, report_dir=tmp_path / "r")
    assert str(e.value).endswith("pass yes=True to run without asking") and "--yes" not in str(e.value)


def test_the_cli_says_yes_for_the_same_refusal(cli, db_path, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-the-run-stops-before-any-call")  # the key is checked first
    spec = tmp_path / "paid.toml"
    spec.write_text(f'name = "paid"\npool = "{DEMO}"\njudge = "gpt-4o-mini"\nconfirm_above_usd = 0.5\n')
    r = cli("tournament", "run", spec, "--out", tmp_path / "r")
    assert r.code == 2 and r.err.strip().endswith("pass --yes to run without asking") and "yes=True" not in r.err


def test_export_without_a_baseline_names_the_argument(store, tmp_path, cli, db_path):
    from arena.api import export_verdicts

    f = tmp_path / "b.csv"
    f.write_text("question_id,model_a,model_b,winner\nq1,a,b,model_a\nq2,a,b,model_b\n")
    assert cli("verdicts", "import", f, "--format", "chatbot_arena", "--name", "nb").code == 0
    with pytest.raises(BadInput, match=r"^format='arena_hard': run nb-\S+ has no baseline \(pass baseline=\"NAME\"\)$"):
        export_verdicts("nb", "arena_hard", tmp_path / "o", db=db_path)
    r = cli("verdicts", "export", "nb", "--format", "arena_hard", "--out", tmp_path / "o")
    assert r.code == 2 and r.err.rstrip().endswith("(pass --baseline NAME)") and r.err.startswith("Error: --format arena_hard: run nb-")
    assert not (tmp_path / "o").exists()  # the folder it would have created is not left behind
