"""`arena report RUN` writes a run's reports; `arena report compare RUN_A RUN_B` compares two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, console, open_store, print_json, resolve_run
from arena.names import slug


def report(
    runs: Annotated[list[str], typer.Argument(help="RUN, or `compare RUN_A RUN_B`.", show_default=False)],
    format: Annotated[list[str] | None, typer.Option("--format", "-f", help="md, html, csv or json (repeatable; all by default). For compare: table or json.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the files (default reports/<run_id>).")] = None,
    bootstrap: Annotated[int | None, typer.Option("--bootstrap", help="Bootstrap replicates (default: the spec's).", min=0, max=100_000)] = None,
    reference: Annotated[Path | None, typer.Option("--reference", help="CSV of reference scores (a model column, numeric columns; empty = not measured). Default: the spec's.", show_default=False)] = None,
    reference_column: Annotated[list[str] | None, typer.Option("--reference-column", help="Reference column to compare with (repeatable; default every numeric column).", show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Write a run's reports (leaderboard.md, report.html, leaderboard.csv, run.json), or compare two runs.

    With --reference, the ranking is compared with every numeric column of the file (or the
    --reference-column ones) and with their aggregate: Spearman and Kendall with intervals over
    model subsets, and a z-score against the references' agreement with each other (BenchBench).
    """
    from arena.errors import BadInput

    store = open_store(db, readonly=True)
    if runs[0] == "compare":
        if len(runs) != 3:
            raise BadInput("compare: expected two runs: `arena report compare RUN_A RUN_B`")
        from arena.reports.compare import compare_runs

        fmt = (format or ["table"])[0]
        if fmt not in ("table", "json"):
            raise BadInput(f"--format: {fmt!r} for compare (expected table or json)")
        result = compare_runs(store, resolve_run(store, runs[1]), resolve_run(store, runs[2]), bootstrap=bootstrap)
        if fmt == "json":
            print_json(result)
        else:
            _print_compare(result)
        return
    if len(runs) != 1:
        raise BadInput("expected one RUN (or `compare RUN_A RUN_B`)")
    from arena.reports import FORMATS, build_report, write_reports

    formats = format or list(FORMATS)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise BadInput(f"--format: {bad[0]!r} is not a report format (expected one of {', '.join(FORMATS)})")
    if reference_column and reference is None:
        raise BadInput("--reference-column: give the reference file with --reference")
    data = build_report(store, resolve_run(store, runs[0]), bootstrap=bootstrap, reference=reference, reference_columns=reference_column)
    paths = write_reports(data, out or Path("reports") / slug(data["run"]["run_id"]), formats)
    for p in paths:
        typer.echo(str(p))


def _print_compare(result: dict) -> None:
    from rich.table import Table

    t = Table(title=f"{result['run_a']}  ->  {result['run_b']}")
    for col in ("model", "rating A", "rating B", "delta (95% CI)", "rank A", "rank B"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for r in result["models"]:
        delta = "" if r["delta"] is None else f"{r['delta']:+.0f} ({r['delta_ci_low']:+.0f} .. {r['delta_ci_high']:+.0f})"
        t.add_row(r["model"], _f(r["rating_a"]), _f(r["rating_b"]), delta, str(r["rank_a"] or "-"), str(r["rank_b"] or "-"))
    con = console()
    con.print(t)
    con.print(f"Spearman between the two rankings: {result['spearman']:.3f}" if result["spearman"] is not None else "")
    if result["flipped_pairs"]:
        con.print("Pairs that flipped: " + "; ".join(f"{a} vs {b}" for a, b in result["flipped_pairs"]))
    else:
        con.print("No pair of models changed order.")


def _f(x) -> str:
    return "-" if x is None else f"{x:.0f}"


def register(app: typer.Typer) -> None:
    app.command("report")(report)
