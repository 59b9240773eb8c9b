"""User strings in rich output are data, not markup: a spec, pool, model, prompt or category whose
name holds `[bold]` or `[/]` is printed as written by every table and line of `tournament plan`,
`tournament run`, `tournament list` / `show`, `pool list` / `show`, `ratings` and `judge list`
(never styled, never dropped, never a MarkupError traceback). The CLI in process, the loopback
judge, a real SQLite file."""

from __future__ import annotations

import re

from arena.records import Output, Prompt

SPEC = "[bold]tricky[/bold] spec"
POOL = "pool [red]x[/red]"
MODELS = {"[bold]alpha": 9, "bravo[/]": 2, "[link=http://evil.example]charlie[/link]": 5}
CATEGORY = "cat [/i]"
PROMPT = "Explain [/] and [bold]this[/bold]"


def _store_pool(db) -> None:
    from arena.store import Store

    s = Store(db)
    prompts = [Prompt(f"q[{i}]", f"{PROMPT} {i}", CATEGORY) for i in range(2)]
    outputs = [Output(p.prompt_id, m, f"Answer of {m} to {p.prompt_id}. <!-- quality={q} -->") for p in prompts for m, q in MODELS.items()]
    s.write_pool(POOL, prompts, outputs, source="tests", format="native")
    s.close()


def _spec(loop_judge):
    judge = loop_judge.preset("judge [b].toml")
    return loop_judge.spec(judge, POOL, name=SPEC, seed=1, bootstrap=20, concurrency=4)  # a pool in the store, by name


def test_tournament_plan_run_list_and_show_print_names_as_written(cli, db_path, loop_judge):
    _store_pool(db_path)
    spec = _spec(loop_judge)

    r = cli("tournament", "plan", spec)
    assert r.code == 0, r.err
    assert f"Plan: {SPEC}" in r.out  # the table's title
    assert f"{POOL} (2 prompts, 3 models)" in r.out and "judge [b]" in r.out

    r = cli("tournament", "run", spec, "--yes", "--plain", "--out", loop_judge.folder / "rep")
    assert r.code == 0, r.out + r.err
    for m in MODELS:
        assert m in r.out, m  # the leaderboard rows
    assert "Warning: never won a battle (not even a tie): bravo[/]" in r.out  # a warning naming a model
    run_id = re.search(r"Starting run (\S+):", r.out).group(1)

    rows = cli("tournament", "list").out
    assert SPEC in rows
    shown = cli("tournament", "show", run_id)
    assert shown.code == 0 and f"{run_id} ({SPEC}): done" in shown.out


def test_pool_show_and_list_print_prompts_models_and_categories_as_written(cli, db_path):
    _store_pool(db_path)
    r = cli("pool", "list")
    assert r.code == 0 and POOL in r.out
    r = cli("pool", "show", POOL, "--limit", "2")
    assert r.code == 0, r.err
    assert f"Pool {POOL}: 2 prompts, 3 models" in r.out
    assert f"{CATEGORY} (2)" in r.out and "q[0]" in r.out and "Explain [/] and [bold]this[/bold] 0" in r.out
    for m in MODELS:
        assert m in r.out, m


def test_ratings_print_model_names_as_written(cli, tmp_path):
    battles = tmp_path / "b.csv"
    rows = ["model_a,model_b,winner"] + [f"{a},{b},model_a" for a, b in (("[bold]alpha", "bravo[/]"), ("bravo[/]", "c[i]"), ("[bold]alpha", "c[i]"))] * 3
    rows += ["c[i],[bold]alpha,model_a", "bravo[/],[bold]alpha,model_a", "c[i],bravo[/],model_a"]
    battles.write_text("\n".join(rows) + "\n")
    for cmd in (("ratings", "fit", battles, "--bootstrap", "20", "--anchor", "c[i]"), ("ratings", "elo", battles)):
        r = cli(*cmd)
        assert r.code == 0, r.err
        assert "[bold]alpha" in r.out and "bravo[/]" in r.out and "c[i]" in r.out, r.out
