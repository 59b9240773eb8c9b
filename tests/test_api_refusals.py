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


PEERS = Path(__file__).parent / "fixtures" / "peers"


def _alpaca(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text(json.dumps(rows))
    return path


def test_pool_import_refusals_name_the_argument_through_the_api_and_the_option_in_the_cli(tmp_path, cli, db_path):
    """left18 (5): arena/pools.py named --replace, --allow-partial, --format and --out to Python callers."""
    from arena.api import import_pool

    qs = ["What is 2+2?", "Name a colour.", "Say hi.", "Spell cat."]
    a = _alpaca(tmp_path / "a.json", [{"instruction": q, "output": "x", "generator": "model-a"} for q in qs])
    assert cli("pool", "import", a, "--name", "p").code == 0
    again = _alpaca(tmp_path / "a2.json", [{"instruction": q, "output": "z", "generator": "model-a"} for q in qs])
    with pytest.raises(BadInput, match=r"model 'model-a' is already in the pool \(use replace=True to re-import the pool\)$"):
        import_pool("p", [again], db=db_path)
    r = cli("pool", "import", again, "--name", "p")
    assert r.code == 2 and r.err.rstrip().endswith("(use --replace to re-import the pool)") and "replace=True" not in r.err

    folder = tmp_path / "mixed"
    folder.mkdir()
    _alpaca(folder / "a.json", [{"instruction": q, "output": "x", "generator": "model-a"} for q in qs])
    _alpaca(folder / "b.json", [{"instruction": q, "output": "y", "generator": "model-b"} for q in ["Where is Paris?", "A poem.", "Count.", qs[3]]])
    with pytest.raises(BadInput, match=r"or pass allow_partial=True to import it anyway$"):
        import_pool("m", [folder], db=db_path)
    r = cli("pool", "import", folder, "--name", "m")
    assert r.code == 2 and r.err.rstrip().endswith("or pass --allow-partial to import it anyway") and "allow_partial" not in r.err

    with pytest.raises(BadInput, match=r"^format: 'nope' is not a pool format"):
        import_pool("n", [a], format="nope", db=db_path)
    odd = tmp_path / "odd.txt"
    odd.write_text("hello\n")
    with pytest.raises(BadInput, match=r"cannot tell its format; pass format= one of "):
        import_pool("n", [odd], db=db_path)
    r = cli("pool", "import", odd, "--name", "n")
    assert r.code == 2 and "cannot tell its format; pass --format one of " in r.err


def test_verdict_import_refusals_name_the_argument_through_the_api_and_the_option_in_the_cli(tmp_path, cli, db_path):
    """left18 (5): arena/verdicts/formats.py named --baseline and --format to Python callers."""
    from arena.api import import_verdicts

    judge = PEERS / "model_judgment" / "gpt-4-1106-preview"
    with pytest.raises(BadInput, match=r"do not name the baseline: pass baseline=\"NAME\" \(v0\.1 used gpt-4-0314\)$") as e:
        import_verdicts(judge, "arena_hard", db=db_path)
    assert "--baseline" not in str(e.value)
    r = cli("verdicts", "import", judge, "--format", "arena_hard")
    assert r.code == 2 and "do not name the baseline: pass --baseline NAME (v0.1 used gpt-4-0314)" in r.err and "baseline=" not in r.err

    with pytest.raises(BadInput, match=r"^format: 'nope' is not a judgment format"):
        import_verdicts(judge, "nope", db=db_path)
    r = cli("verdicts", "import", judge, "--format", "nope")
    assert r.code == 2 and "Error: " in r.err and "'nope'" in r.err

    battles = PEERS / "battles_llama3-70b-judge.jsonl.gz"
    with pytest.raises(BadInput, match=r"it looks like chatbot_arena \(use format='chatbot_arena'\)|it looks like \w+ \(use format='\w+'\)") as e:
        import_verdicts(battles, "alpaca_eval", db=db_path)
    assert "--format" not in str(e.value)
    r = cli("verdicts", "import", battles, "--format", "alpaca_eval")
    assert r.code == 2 and "(use --format " in r.err and "format=" not in r.err


def test_verdict_export_and_import_options_are_named_as_the_caller_passes_them(tmp_path, cli, db_path):
    from arena.api import export_verdicts, import_verdicts

    f = tmp_path / "b.csv"
    f.write_text("question_id,model_a,model_b,winner\nq1,a,b,model_a\nq2,a,b,model_b\n")
    with pytest.raises(BadInput, match=r"^strong_weight: expected a number >= 1, got 0\.5$"):
        import_verdicts(f, "chatbot_arena", strong_weight=0.5, db=db_path)
    r = cli("verdicts", "import", f, "--format", "chatbot_arena", "--strong-weight", "0.5")
    assert r.code == 2 and "--strong-weight" in r.err and "strong_weight:" not in r.err
    with pytest.raises(BadInput, match=r"^baseline: 'zz' is in none of the imported matches"):
        import_verdicts(f, "chatbot_arena", baseline="zz", db=db_path)
    r = cli("verdicts", "import", f, "--format", "chatbot_arena", "--baseline", "zz")
    assert r.code == 2 and r.err.startswith("Error: --baseline: 'zz' is in none of the imported matches")
    assert cli("verdicts", "import", f, "--format", "chatbot_arena", "--name", "nb").code == 0
    with pytest.raises(BadInput, match=r"^per: 'x' \(expected verdict or game\)$"):
        export_verdicts("nb", "battles", tmp_path / "o.jsonl", per="x", db=db_path)
    with pytest.raises(BadInput, match=r"^format: 'nope' is not an export format"):
        export_verdicts("nb", "nope", tmp_path / "o.jsonl", db=db_path)


def test_shard_simulate_and_curate_refusals_name_the_python_arguments(tmp_path, db_path):
    """Through the API a refusal names `shard=`, `n_models=`, `schedulers=`, `size=`...; the CLI its options (tests of each command)."""
    import arena
    from arena.tournaments.simulate import simulate

    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "s"\npool = "{DEMO}"\njudge = "surrogate"\n[scheduler]\nkind = "swiss"\n')
    with pytest.raises(BadInput, match=r"^shard: expected K/N") as e:
        arena.plan(spec, shard="0/2")
    assert e.value.cli_message.startswith("--shard: expected K/N")
    with pytest.raises(BadInput, match=r"^shard: a swiss tournament cannot be split by prompt"):
        arena.plan(spec, shard="1/2")
    with pytest.raises(BadInput, match=r"^n_models: need at least 2 models$"):
        simulate(n_models=1, trials=1)
    with pytest.raises(BadInput, match=r"^schedulers 'ladder': expected one of") as e:
        simulate(n_models=3, trials=1, schedulers=["ladder"])
    assert e.value.cli_message.startswith("--schedulers 'ladder'")
    with pytest.raises(BadInput, match=r"^accuracy must be in \[0, 1\] and position_bias in \[0, 1\)$"):
        simulate(accuracy=2.0)
    arena.import_pool("base", DEMO, db=db_path)
    with pytest.raises(BadInput, match=r"^size: expected 1 to 101 \(the prompts in pool 'base'\), got 500$") as e:
        arena.curate_pool("base", "cur", size=500, pilot="x", db=db_path)
    assert e.value.cli_message.startswith("--size: expected 1 to 101")
    with pytest.raises(BadInput, match=r"^annotator: expected an annotator preset, a pilot run, or both$"):
        arena.curate_pool("base", "cur", size=5, db=db_path)
