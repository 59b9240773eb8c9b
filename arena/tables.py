"""Score tables and rankings from files, for rank aggregation and agreement testing.

A **score table** is a CSV/TSV with a model column (named `model`, any case; otherwise the first
column) and numeric columns, one per task or benchmark, with empty cells where a model was not
measured (AlpacaEval's `benchmarks.csv` is one). A **rankings file** is JSON: an object mapping
each task to a list of models best first (or to an object model -> score), or a list of
`{"task": ..., "ranking": [...]}` objects. Errors name the file and line (or item) and what was
expected.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from arena.errors import BadInput
from arena.ratings import ScoreTable, table_from_scores


class TableError(BadInput):
    """A score table or rankings file is malformed (names the file and line or item)."""


def _read_text(path: Path) -> str:
    """The file's text through `arena.io` (UTF-8, BOM dropped, `.gz` read); errors are `TableError` lines."""
    from arena.errors import RecordError
    from arena.io import read_text

    try:
        return read_text(path, expected="a CSV score table or a JSON rankings file")
    except RecordError as e:
        raise TableError(str(e)) from None


def _number(path: Path, where: str, column: str, cell: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        raise TableError(f"{path}:{where}: column {column!r} must be numeric, got {cell!r} (name the score columns with --column, or --exclude this one)") from None
    if not math.isfinite(v):
        raise TableError(f"{path}:{where}: column {column!r} must be a finite number, got {cell!r}")
    return v


def read_score_table(path: str | Path, *, columns: Sequence[str] = (), exclude: Sequence[str] = (), lower_better: Sequence[str] = ()) -> ScoreTable:
    """A ScoreTable from a CSV/TSV score table or a JSON rankings file (module docstring).

    `columns`: the score columns to use (default every column but the model column and
    `exclude`); `lower_better`: columns where a smaller number is better (negated).
    Raises NotFound for a missing file and TableError (exit 2) for a non-numeric cell in a
    score column, a model named twice, an unknown column or a table without score columns."""
    p = Path(path)
    text = _read_text(p)
    if p.suffix.lower() in (".json", ".jsonl") or text.lstrip().startswith(("{", "[")):
        return _select_tasks(p, _read_rankings(p, text), columns, exclude)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise TableError(f"{p}:1: empty file (expected a header: a model column and score columns)")
    header = [h.strip() for h in header]
    mcol = next((k for k, h in enumerate(header) if h.lower() == "model"), 0)
    for c in (*columns, *exclude, *lower_better):
        if c not in header:
            raise TableError(f"{p}:1: no column {c!r} (columns: {', '.join(h for h in header if h)})")
    use = [k for k, h in enumerate(header) if k != mcol and h not in exclude and (not columns or h in columns)]
    if columns:
        use.sort(key=lambda k: list(columns).index(header[k]))
    if not use:
        raise TableError(f"{p}:1: expected at least one score column beside {header[mcol]!r}")
    models: list[str] = []
    rows: list[list[float]] = []
    first_line: dict[str, int] = {}
    for line, rec in enumerate(reader, 2):
        if not any(c.strip() for c in rec):
            continue
        if len(rec) > len(header):
            raise TableError(f"{p}:{line}: more fields than the header has")
        rec = rec + [""] * (len(header) - len(rec))
        model = rec[mcol].strip()
        if not model:
            raise TableError(f"{p}:{line}: empty model name in column {header[mcol]!r}")
        if model in first_line:
            raise TableError(f"{p}:{line}: model {model!r} appears twice (first on line {first_line[model]})")
        first_line[model] = line
        vals = []
        for k in use:
            cell = rec[k].strip()
            v = float("nan") if cell == "" else _number(p, str(line), header[k], cell)
            vals.append(-v if header[k] in lower_better else v)
        models.append(model)
        rows.append(vals)
    if not models:
        raise TableError(f"{p}: no model rows")
    return ScoreTable(models, [header[k] for k in use], np.array(rows, float).reshape(len(models), len(use)))


def _select_tasks(p: Path, table: ScoreTable, columns: Sequence[str], exclude: Sequence[str]) -> ScoreTable:
    if not columns and not exclude:
        return table
    keep = [t for t in (columns or table.tasks) if t not in exclude]
    missing = [t for t in keep if t not in table.tasks]
    if missing:
        raise TableError(f"{p}: no task {missing[0]!r} (tasks: {', '.join(table.tasks)})")
    idx = [table.tasks.index(t) for t in keep]
    return ScoreTable(table.models, keep, table.scores[:, idx])


def _task_scores(p: Path, where: str, v: object) -> dict[str, float]:
    """One task of a rankings file: a list of models best first, or an object model -> score."""
    if isinstance(v, list):
        if not all(isinstance(m, str) and m.strip() for m in v):
            raise TableError(f"{where}: a ranking must be a list of model names (non-empty strings), best first")
        if len(set(v)) != len(v):
            dup = next(m for m in v if v.count(m) > 1)
            raise TableError(f"{where}: ranking names model {dup!r} twice")
        return {m: float(-k) for k, m in enumerate(v)}
    if isinstance(v, dict):
        vals = {}
        for m, x in v.items():
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise TableError(f"{where}: score of {m!r} must be a finite number, got {x!r}")
            vals[str(m)] = float(x)
        return vals
    raise TableError(f"{where}: expected a list of models best first or an object model -> score")


def _read_rankings(p: Path, text: str) -> ScoreTable:
    from arena.errors import RecordError
    from arena.io import check_unicode, loads

    try:
        data = loads(text, p)
        check_unicode(data, str(p))
    except RecordError as e:
        raise TableError(str(e)) from None
    items: list[tuple[str, str, object]] = []
    if isinstance(data, dict):
        items = [(f"{p}: key {k!r}", str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        for n, rec in enumerate(data, 1):
            if not isinstance(rec, dict) or "ranking" not in rec:
                raise TableError(f"{p}:item {n}: expected an object with 'task' and 'ranking' (models best first)")
            items.append((f"{p}:item {n}", str(rec.get("task", f"task{n}")), rec["ranking"]))
    else:
        raise TableError(f"{p}:1: expected a JSON object task -> ranking, or a list of {{task, ranking}}")
    scored: dict[str, dict[str, float]] = {}
    for where, task, v in items:
        if task in scored:
            raise TableError(f"{where}: task {task!r} appears twice")
        scored[task] = _task_scores(p, where, v)
    if not scored:
        raise TableError(f"{p}: no rankings")
    return table_from_scores(scored)


def run_table(store, run_id: str, *, level: str = "category") -> ScoreTable:
    """A run's ratings as a ScoreTable: one task per category (`level="category"`; the run's
    per-category leaderboards) or its overall leaderboard (`"overall"`), tasks named `run:...`."""
    from arena.reports import build_report

    rep = build_report(store, run_id, bootstrap=0)
    rid = rep["run"]["run_id"]
    if level == "overall" or not rep.get("categories"):
        if not rep["leaderboard"]:
            raise TableError(f"run {rid}: no decided battles to rank")
        return table_from_scores({rid: {r["model"]: r["rating"] for r in rep["leaderboard"]}})
    return table_from_scores({f"{rid}:{c}": {r["model"]: r["rating"] for r in v["leaderboard"]} for c, v in rep["categories"].items()})


def merge_tables(tables: Sequence[tuple[str, ScoreTable]]) -> ScoreTable:
    """Several (prefix, table) into one: tasks named `prefix:task` (just `task` when the prefix is
    empty), models united; cells a table lacks are missing."""
    models: list[str] = []
    for _, t in tables:
        models += [m for m in t.models if m not in models]
    tasks = [f"{pre}:{task}" if pre else task for pre, t in tables for task in t.tasks]
    if len(set(tasks)) != len(tasks):
        dup = next(x for x in tasks if tasks.count(x) > 1)
        raise TableError(f"task {dup!r} appears in two inputs")
    s = np.full((len(models), len(tasks)), np.nan)
    k = 0
    for _, t in tables:
        rows = [models.index(m) for m in t.models]
        s[np.ix_(rows, range(k, k + len(t.tasks)))] = t.scores
        k += len(t.tasks)
    return ScoreTable(models, tasks, s)


def aggregate_inputs(
    paths: Sequence[str | Path] = (),
    *,
    runs: Sequence[str] = (),
    store=None,
    level: str = "category",
    columns: Sequence[str] = (),
    exclude: Sequence[str] = (),
    lower_better: Sequence[str] = (),
    bootstrap: int = 200,
    seed: int = 0,
    conf: float = 0.95,
):
    """Read score tables / rankings files and runs, and aggregate them into one ranking.

    Each file contributes its columns (or tasks) as tasks, each run its per-category
    leaderboards (or its overall one with `level="overall"`); with several inputs tasks are
    prefixed by the file's stem. Returns `arena.ratings.AggregateResult` (Kemeny, Borda and
    mean of normalised scores with a bootstrap over tasks). Raises TableError / NotFound for
    bad files, RatingError when fewer than 2 models or no task measuring two remain."""
    from arena.ratings import aggregate_rankings

    if not paths and not runs:
        raise TableError("aggregate: give at least one score table, rankings file or --run")
    several = len(paths) + len(runs) > 1
    tables = []
    for path in paths:
        t = read_score_table(path, columns=columns, exclude=exclude, lower_better=lower_better)
        tables.append((Path(path).stem if several else "", t))
    for run in runs:
        tables.append(("", run_table(store, run, level=level)))
    table = tables[0][1] if len(tables) == 1 else merge_tables(tables)
    return aggregate_rankings(table, bootstrap=bootstrap, level=conf, seed=seed)
