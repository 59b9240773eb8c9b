"""What a spec's `pool` names when a stored pool and a folder share a name (`arena.runner.choose_pool`):
`tournament plan` and `tournament run` agree, and no run drops answers the store holds; a report of a
run whose pool changed since says so (`arena.answers.pool_changed`)."""

from __future__ import annotations

import json
from pathlib import Path

import arena
from arena.store import Store

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
IDS = ["ae-001", "ae-002", "ae-004", "ae-012", "ae-013", "ae-016"]


def _folder(tmp_path: Path, models=("gpt4_0613", "Yi-34B-Chat", "zephyr-7b-beta")) -> Path:
    """A small native pool folder from the demo: 6 prompts, `models`."""
    d = tmp_path / "mydata"
    (d / "outputs").mkdir(parents=True)
    rows = [json.loads(x) for x in (DEMO / "prompts.jsonl").read_text().splitlines()]
    (d / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows if r["prompt_id"] in IDS))
    for m in models:
        out = [json.loads(x) for x in (DEMO / "outputs" / f"{m}.jsonl").read_text().splitlines()]
        (d / "outputs" / f"{m}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out if r["prompt_id"] in IDS))
    return d


def _extra_model(tmp_path: Path, model: str = "vicuna-7b-v1.5") -> Path:
    src = [json.loads(x) for x in (DEMO / "outputs" / f"{model}.jsonl").read_text().splitlines()]
    rows = [json.loads(x) for x in (DEMO / "prompts.jsonl").read_text().splitlines() if json.loads(x)["prompt_id"] in IDS]
    texts = {r["prompt_id"]: r["text"] for r in rows}
    path = tmp_path / "extra" / f"{model}.json"  # AlpacaEval's outputs file: prompts matched on their text
    path.parent.mkdir()
    path.write_text(json.dumps([{"instruction": texts[r["prompt_id"]], "output": r["output"], "generator": model} for r in src if r["prompt_id"] in IDS]))
    return path


def _spec(tmp_path: Path, pool: Path) -> Path:
    spec = tmp_path / "sc.toml"
    spec.write_text(f'name = "sc"\npool = "{pool}"\njudge = "surrogate"\nbootstrap = 20\n[scheduler]\nkind = "round-robin"\n')
    return spec


def _answers(db: Path, pool: str) -> int:
    s = Store(db, readonly=True)
    try:
        return len(s.outputs(pool))
    finally:
        s.close()


def _edit_folder(folder: Path) -> None:
    f = folder / "outputs" / "zephyr-7b-beta.jsonl"
    rows = [json.loads(x) for x in f.read_text().splitlines()]
    rows[0]["output"] = "(edited) " + rows[0]["output"]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_stored_pool_with_added_answers_wins_over_its_folder_in_plan_and_run(tmp_path):
    folder, db = _folder(tmp_path), tmp_path / "s.db"
    arena.import_pool("mydata", folder, db=db)
    before = _answers(db, "mydata")
    arena.import_pool("mydata", _extra_model(tmp_path), format="alpaca_eval", db=db)  # paid answers added to the stored pool
    n = _answers(db, "mydata")
    assert n > before
    spec = _spec(tmp_path, folder)
    plan = arena.plan(spec, db=db)
    assert plan.models == 4  # the stored pool's 4 models, not the folder's 3
    assert plan.warnings[0].startswith(f"pool 'mydata': the stored pool mydata (4 models, {n} answers) is used, not the folder")
    assert f"`arena pool import {folder} --name mydata --replace`" in plan.warnings[0]
    events = []
    result = arena.run_tournament(spec, db=db, write_reports=False, on_event=events.append)
    assert len(result.leaderboard) == 4 and _answers(db, "mydata") == n  # nothing dropped
    planned = next(e for e in events if e.kind == "planned")
    assert planned.planned.plan.matches == plan.matches and planned.planned.plan.warnings[0] == plan.warnings[0]
    _edit_folder(folder)  # a folder edit does not silently replace the stored pool either
    assert arena.plan(spec, db=db).models == 4
    arena.run_tournament(spec, db=db, write_reports=False)
    assert _answers(db, "mydata") == n


def test_a_pool_a_run_imported_is_imported_again_when_its_folder_changes_unless_answers_were_added(tmp_path):
    folder, db = _folder(tmp_path), tmp_path / "s.db"
    spec = _spec(tmp_path, folder)
    assert arena.plan(spec, db=db).models == 3  # no store yet: the files
    first = arena.run_tournament(spec, db=db, write_reports=False)
    assert arena.plan(spec, db=db).warnings == [] and arena.run_tournament(spec, db=db, write_reports=False).resumed
    _edit_folder(folder)
    second = arena.run_tournament(spec, db=db, write_reports=False)  # the documented re-import: a new run on the edited pool
    assert second.run_id != first.run_id and not second.resumed
    s = Store(db, readonly=True)
    assert any(o.text.startswith("(edited)") for o in s.outputs("mydata"))
    s.close()
    arena.import_pool("mydata", _extra_model(tmp_path), format="alpaca_eval", db=db)
    n = _answers(db, "mydata")
    _edit_folder(folder)  # edited again, but the stored pool now holds answers the folder lacks
    plan = arena.plan(spec, db=db)
    assert plan.models == 4 and plan.warnings[0].startswith(f"pool 'mydata': the stored pool mydata (4 models, {n} answers)")
    arena.run_tournament(spec, db=db, write_reports=False)
    assert _answers(db, "mydata") == n


def test_the_report_of_a_run_whose_pool_changed_since_says_so(tmp_path):
    folder, db = _folder(tmp_path), tmp_path / "s.db"
    arena.import_pool("mp", folder, db=db)
    spec = tmp_path / "mp.toml"
    spec.write_text('name = "mp"\npool = "mp"\njudge = "surrogate"\nbootstrap = 20\n[scheduler]\nkind = "round-robin"\n')
    run = arena.run_tournament(spec, db=db, write_reports=False)
    assert not [w for w in arena.load_run(run.run_id, db=db).report()["warnings"] if "changed since" in w]
    _edit_folder(folder)
    arena.import_pool("mp", folder, replace=True, db=db)
    warnings = arena.load_run(run.run_id, db=db).report()["warnings"]
    assert "pool 'mp' changed since this run (its answers are not those the judge saw): the sample, length-controlled win rates" \
           " and style counts use the pool's current texts" in warnings


def test_an_alpaca_eval_export_imports_back_into_its_pool_matched_on_the_prompt_texts(tmp_path):
    folder, db, db2 = _folder(tmp_path), tmp_path / "s.db", tmp_path / "t.db"
    arena.import_pool("mq", folder, db=db)
    spec = tmp_path / "mq.toml"
    spec.write_text('name = "mq"\npool = "mq"\njudge = "surrogate"\nbootstrap = 20\n[scheduler]\nkind = "round-robin"\n')
    run = arena.run_tournament(spec, db=db, write_reports=False)
    paths = arena.export_verdicts(run.run_id, "alpaca_eval", tmp_path / "ae.json", baseline="Yi-34B-Chat", db=db)
    out = paths[0]  # a folder: one file per model, each judged against the baseline
    arena.import_pool("mq", folder, db=db2)
    before = _answers(db2, "mq")
    got = arena.import_verdicts(out, "alpaca_eval", pool="mq", db=db2)  # AlpacaEval's file has no ids: its instructions are mq's prompts
    assert got.pool == "mq" and got.matches > 0
    s = Store(db2, readonly=True)
    try:
        ids = {p.prompt_id for p in s.prompts("mq")}
        assert {m.prompt_id for m in s.matches(got.run_id)} <= ids and len(ids) == len(s.prompt_ids("mq"))
        assert _answers(db2, "mq") == before  # the same answers: nothing added, nothing relabelled
    finally:
        s.close()


def test_a_folder_of_the_same_name_elsewhere_never_replaces_the_pool_a_run_imported(tmp_path):
    # breaker20 #2: dA/mydata and dB/mydata make the pool `mydata`; a run of B used to replace A's
    # import (dropping its answers) because only the digest was compared, not the source folder
    a = _folder(tmp_path / "dA")
    b = _folder(tmp_path / "dB", models=("gpt4_0613", "Yi-34B-Chat"))
    db = tmp_path / "s.db"
    spec_a = _spec(tmp_path / "dA", a)
    spec_b = tmp_path / "dB" / "sb.toml"
    spec_b.write_text(spec_a.read_text().replace(str(a), str(b)).replace('name = "sc"', 'name = "sb"'))
    first = arena.run_tournament(spec_a, db=db, write_reports=False)
    n = _answers(db, "mydata")
    plan = arena.plan(spec_b, db=db)
    assert plan.models == 3 and len(plan.warnings[0].splitlines()) == 1
    assert plan.warnings[0].startswith(f"pool 'mydata': the stored pool mydata (3 models, {n} answers) is used, not the folder {b} (2 models,")
    assert f"it was imported from {a.resolve()}" in plan.warnings[0] and "models only in the store: zephyr-7b-beta" in plan.warnings[0]
    result = arena.run_tournament(spec_b, db=db, write_reports=False)
    assert len(result.leaderboard) == 3 and _answers(db, "mydata") == n  # the stored pool, nothing dropped
    again = arena.run_tournament(spec_a, db=db, write_reports=False)
    assert again.resumed and again.run_id == first.run_id and arena.plan(spec_a, db=db).warnings == []


def _one_line(text: str, start: str) -> str:
    lines = [x for x in text.splitlines() if x.startswith(start)]
    assert len(lines) == 1, text
    return lines[0]


def test_the_pool_warning_says_what_differs_in_one_line(cli, tmp_path):
    # breaker20 #4: a folder that only adds a model, or changes one text, drops no stored answer:
    # the warning must not say it would, and it is one line (piped output is not wrapped)
    db = tmp_path / "s.db"
    arena.import_pool("mydata", _folder(tmp_path / "copy"), db=db)
    folder = _folder(tmp_path, models=("gpt4_0613", "Yi-34B-Chat", "zephyr-7b-beta", "vicuna-7b-v1.5"))
    spec = _spec(tmp_path, folder)
    w = arena.plan(spec, db=db).warnings[0]
    assert "models only in the folder: vicuna-7b-v1.5; 4 answers only in the folder;" in w
    assert w.endswith("makes the folder's content the pool (no stored answer is dropped)") and "only in the store" not in w
    r = cli("tournament", "plan", spec, "--db", db)
    assert r.code == 0 and _one_line(r.out, "Warning: pool 'mydata'") == f"Warning: {w}"
    r = cli("tournament", "run", spec, "--db", db, "--yes", "--out", tmp_path / "rep")
    assert r.code == 0 and _one_line(r.out, "Warning: pool 'mydata'") == f"Warning: {w}"
    _edit_folder(folder)
    w = arena.plan(spec, db=db).warnings[0]
    assert "; 1 answer with a different text;" in w and w.endswith("(no stored answer is dropped; texts are replaced)")


def test_report_prints_its_warnings_and_a_pool_that_only_gained_answers_has_not_changed(cli, tmp_path):
    folder, db = _folder(tmp_path), tmp_path / "s.db"
    arena.import_pool("mp", folder, db=db)
    spec = tmp_path / "mp.toml"
    spec.write_text('name = "mp"\npool = "mp"\njudge = "surrogate"\nbootstrap = 20\n[scheduler]\nkind = "round-robin"\n')
    run = arena.run_tournament(spec, db=db, write_reports=False)
    arena.import_pool("mp", _extra_model(tmp_path), format="alpaca_eval", db=db)  # another model's answers added
    assert not [w for w in arena.load_run(run.run_id, db=db).report()["warnings"] if "changed since" in w]
    _edit_folder(folder)
    arena.import_pool("mp", folder, replace=True, db=db)  # one of the run's answers changed
    r = cli("report", run.run_id, "--db", db, "--out", tmp_path / "rep", "-f", "csv")
    assert r.code == 0, r.err
    assert "Warning: pool 'mp' changed since this run (its answers are not those the judge saw)" in _one_line(r.err, "Warning: pool 'mp'")
