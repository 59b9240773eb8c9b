"""`arena ratings fit` / `arena ratings elo` on battle files, and their one-line errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parent / "fixtures" / "ratings"


def test_help_for_every_ratings_command(cli):
    for args in (["ratings", "--help"], ["ratings", "fit", "--help"], ["ratings", "elo", "--help"]):
        r = cli(*args)
        assert r.code == 0 and "Usage" in r.out
    assert "--bootstrap" in cli("ratings", "fit", "--help").out


@pytest.mark.parametrize("name", ["battles.csv", "arena_battles.jsonl", "arena_battles.json"])
def test_fit_json_output_from_each_format(cli, name):
    r = cli("ratings", "fit", FIX / name, "--format", "json", "--bootstrap", "200")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [row["model"] for row in rows][0] == "gpt-4o"
    for row in rows:
        assert {"model", "rating", "ci_low", "ci_high", "rank_ub", "battles", "win_rate"} <= set(row)
        assert row["ci_low"] <= row["rating"] <= row["ci_high"]
    assert sum(row["battles"] for row in rows) == 2 * 400
    assert abs(sum(row["rating"] for row in rows) / len(rows) - 1000) < 0.01


def test_all_formats_give_the_same_ratings(cli):
    outs = [json.loads(cli("ratings", "fit", FIX / n, "-f", "json", "-b", "50").out) for n in
            ("battles.csv", "arena_battles.jsonl", "arena_battles.json")]
    assert outs[0] == outs[1] == outs[2]


def test_tie_bothbad_counts_as_a_tie(cli, tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("model_a,model_b,winner\nx,y,tie (bothbad)\nx,y,model_a\ny,x,model_a\n")
    rows = {r["model"]: r for r in json.loads(cli("ratings", "fit", p, "-f", "json", "-b", "0").out)}
    assert rows["x"]["ties"] == 1 and rows["x"]["wins"] == 1 and rows["x"]["losses"] == 1
    assert rows["x"]["rating"] == rows["y"]["rating"] == 1000


def test_fit_csv_and_table_output(cli):
    r = cli("ratings", "fit", FIX / "battles.csv", "--format", "csv", "-b", "50", "--anchor", "gemma-2b", "--by", "battle")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert rows[-1]["model"] == "gemma-2b" and float(rows[-1]["rating"]) == 1000
    r2 = cli("ratings", "fit", FIX / "battles.csv", "-f", "json", "-b", "0", "--anchor", "gemma-2b", "--anchor-rating", "1200")
    shifted = {x["model"]: x["rating"] for x in json.loads(r2.out)}
    assert shifted["gemma-2b"] == 1200 and shifted["gpt-4o"] == pytest.approx(float(rows[0]["rating"]) + 200, abs=0.02)
    t = cli("ratings", "fit", FIX / "battles.csv", "-b", "50", "--ties", "davidson")
    assert t.code == 0 and "gpt-4o" in t.out and "Davidson tie parameter" in t.out


def test_fit_with_style_control_reports_coefficients(cli):
    r = cli("ratings", "fit", FIX / "arena_battles.jsonl", "--style", "-b", "50")
    assert r.code == 0, r.err
    assert "Style coefficients" in r.out and "length" in r.out
    j = cli("ratings", "fit", FIX / "arena_battles.json", "--style", "-b", "0", "-f", "json")
    assert j.code == 0 and json.loads(j.out)[0]["model"]


def test_style_needs_style_data(cli):
    r = cli("ratings", "fit", FIX / "battles.csv", "--style")
    assert r.code == 2
    assert r.err.startswith(f"Error: {FIX / 'battles.csv'}:2: --style needs per-battle style data")


def test_elo_command(cli):
    r = cli("ratings", "elo", FIX / "battles.csv", "--format", "json", "--k", "8")
    assert r.code == 0
    rows = json.loads(r.out)
    assert rows[0]["model"] == "gpt-4o" and abs(sum(x["elo"] for x in rows) - 5000) < 0.1


def test_warnings_go_to_stderr(cli, tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "z", "model_b": "w", "winner": "model_b"}\n')
    r = cli("ratings", "fit", p, "-f", "json", "-b", "20")
    assert r.code == 0
    assert "Warning: the comparison graph is not connected (2 components: {w, z} | {x, y})" in r.err
    assert len(json.loads(r.out)) == 4


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.csv", "model_a,model_b,winner\nx,y,model_a\nx,y,draw\n",
         "{p}:3: winner must be model_a, model_b, tie or 'tie (bothbad)', got 'draw'"),
        ("bad.csv", "model_a,winner\nx,model_a\n", "{p}:2: missing model_a or model_b"),
        ("bad.csv", "model_a,model_b\nx,y\n", "{p}:2: missing winner (model_a|model_b|tie|tie (bothbad)) or outcome (a|b|tie)"),
        ("bad.csv", "model_a,model_b,outcome,weight\nx,y,a,heavy\n", "{p}:2: weight must be a number, got 'heavy'"),
        ("bad.csv", "model_a,model_b,outcome\nx,x,a\n", "{p}:2: model_a and model_b are both 'x'"),
        ("bad.csv", "model_a,model_b,outcome\nx,y,a,extra\n", "{p}:2: more fields than the header has"),
        ("bad.jsonl", '{"model_a": "x", "model_b": "y", "outcome": "a"}\n{"model_a": "x",\n', "{p}:2: invalid JSON (Expecting property name enclosed in double quotes at column 17)"),
        ("bad.jsonl", '{"model_a": "x", "model_b": "y", "outcome": "a"}\n[1, 2]\n', "{p}:2: expected a JSON object, got list"),
        ("bad.json", '[{"model_a": "x", "model_b": "y", "outcome": "q"}]', "{p}:item 1: outcome must be a, b or tie, got 'q'"),
        ("bad.json", '{"a": 1}', "{p}:1: expected a JSON list of battle objects (or an object with a 'battles' list)"),
        ("empty.csv", "", "{p}: empty file, expected a CSV header and rows"),
        ("empty.jsonl", "\n", "{p}: empty file, expected JSON lines"),
    ],
)
def test_bad_files_give_one_line_errors(cli, tmp_path, name, text, message):
    p = tmp_path / name
    p.write_text(text)
    r = cli("ratings", "fit", p)
    assert r.code == 2
    assert r.err == "Error: " + message.format(p=p) + "\n"


def test_missing_file_and_unknown_anchor(cli, tmp_path):
    r = cli("ratings", "fit", tmp_path / "nope.csv")
    assert r.code == 2 and r.err == f"Error: {tmp_path / 'nope.csv'}: no such battle file\n"
    r = cli("ratings", "fit", FIX / "battles.csv", "--anchor", "gpt-5", "-b", "0")
    assert r.code == 2 and r.err.startswith("Error: anchor model 'gpt-5' has no battles")
    assert "Traceback" not in r.err


def test_cli_import_stays_light():
    import subprocess
    import sys

    code = "import sys, arena.cli.ratings; print(any(m in sys.modules for m in ('scipy', 'litellm', 'matplotlib', 'torch', 'choix')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
