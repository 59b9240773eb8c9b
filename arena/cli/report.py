"""`arena report RUN` writes a run's reports; `arena report compare RUN_A RUN_B` compares two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, console, esc, open_store, path_option, print_json, resolve_run
from arena.cli._tournament_run import _money
from arena.names import slug


def report(
    runs: Annotated[list[str], typer.Argument(help="RUN, or `compare RUN_A RUN_B`.", show_default=False)],
    format: Annotated[list[str] | None, typer.Option("--format", "-f", help="md, html, csv or json (repeatable; all by default). For compare: table or json.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", parser=path_option("--out", "a report folder"), metavar="<path>", help="Folder for the files (default reports/<run_id>).")] = None,
    bootstrap: Annotated[int | None, typer.Option("--bootstrap", help="Bootstrap replicates (default: the spec's).", min=0, max=100_000)] = None,
    anchor: Annotated[str | None, typer.Option("--anchor", "--baseline", help="Baseline model fixed at 1000; adds the win rate against it (default: the run's baseline).")] = None,
    ties: Annotated[str | None, typer.Option("--ties", help="half or davidson (default: the spec's, else half).")] = None,
    style: Annotated[bool | None, typer.Option("--style/--no-style", help="Style control: length and markdown covariates (default: the spec's).")] = None,
    lc: Annotated[bool | None, typer.Option("--lc/--no-lc", help="AlpacaEval's length-controlled win rate against the baseline (default: when the run has a baseline and answer texts).")] = None,
    reference: Annotated[Path | None, typer.Option("--reference", help="CSV of reference scores (a model column, numeric columns; empty = not measured). Default: the spec's.", show_default=False)] = None,
    reference_column: Annotated[list[str] | None, typer.Option("--reference-column", help="Reference column to compare with (repeatable; default every numeric column).", show_default=False)] = None,
    rejudge: Annotated[int | None, typer.Option("--rejudge", help="First re-judge N of the run's decided matches (planned and priced first; resumable) to split the intervals into prompt sampling and judge noise.", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature of the replays (an llm judge; default: the judge as run).", show_default=False)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before re-judging above the spec's confirm_above_usd.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --rejudge: print the plan (calls, tokens, cost) and stop.")] = False,
    db: DbOption = None,
) -> None:
    """Write a run's reports (leaderboard.md, report.html, leaderboard.csv, run.json), or compare two runs.

    With --reference, the ranking is compared with every numeric column of the file (or the
    --reference-column ones) and with their aggregate: Spearman and Kendall with intervals over
    model subsets, and a z-score against the references' agreement with each other (BenchBench).

    With --rejudge N, N matches are judged again first (kept apart from the run's verdicts) and
    the report shows the judge's self-agreement and how much of each rating's variance is judge
    noise and how much prompt sampling.
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
    if ties is not None and ties not in ("half", "davidson"):
        raise BadInput(f"--ties: {ties!r} (expected half or davidson)")
    if reference_column and reference is None:
        raise BadInput("--reference-column: give the reference file with --reference")
    if rejudge is None and (temperature is not None or dry_run):
        raise BadInput(f"{'--temperature' if temperature is not None else '--dry-run'}: only with --rejudge N")
    run_id, out = _run_and_folder(store, runs[0], out)
    failed = 0
    if rejudge is not None:
        store.close()
        failed = _rejudge(run_id, rejudge, temperature, yes, dry_run, db)
        if dry_run:
            return
        store = open_store(db, readonly=True)
    data = build_report(store, run_id, bootstrap=bootstrap, anchor=anchor, ties=ties, style=style, lc=lc,
                        reference=reference, reference_columns=reference_column)
    _print_written(data, write_reports(data, out, formats))
    if failed:
        from arena.errors import RunFailed

        raise RunFailed(f"{failed} re-judged matches failed after retries (left out of the report); run the same command again to retry them")


def _print_written(data: dict, paths) -> None:
    """The files written (stdout), the report's warnings (stderr, one line each: they are in the
    files too, but one such as "the pool changed since this run" must not go unseen) and the
    variance sources."""
    for p in paths:
        typer.echo(str(p))
    for w in data.get("warnings", []):
        typer.echo(f"Warning: {' '.join(str(w).split())}", err=True)
    for e in data.get("variance_sources", []):
        _print_sources(e)


def _run_and_folder(store, ref: str, out: Path | None) -> tuple[str, Path]:
    """(run id, report folder), the folder checked (`arena.outpaths`) before any re-judging or rating."""
    from arena.outpaths import check_out
    from arena.reports import REPORT_FOLDER

    if out is not None:
        check_out(out, "folder", REPORT_FOLDER)  # before the "Run: ..." line: a mistake is one line
    run_id = resolve_run(store, ref)
    return run_id, check_out(out or Path("reports") / slug(run_id), "folder", REPORT_FOLDER)


def _rejudge(run: str, n: int, temperature: float | None, yes: bool, dry_run: bool, db) -> int:
    """Plan, then re-judge; returns how many replays failed after retries."""
    from arena.api import plan_rejudge
    from arena.api import rejudge as _rejudge_matches

    plan = plan_rejudge(run, n, temperature=temperature, db=db or None)
    typer.echo(
        f"Re-judge plan for {plan.run_id} ({plan.setting}): {plan.requested} matches, {plan.done} already re-judged,"
        f" {plan.matches} to judge: {plan.judge_calls} judge calls, cost expected {_money(plan.cost_usd_expected)},"
        f" worst {_money(plan.cost_usd_worst)}" + (" (offline, deterministic judge)" if plan.deterministic else ""),
        err=True,
    )
    if dry_run:
        return 0
    result = _rejudge_matches(run, n, temperature=temperature, db=db or None, yes=yes, confirm=_confirm)
    u = result.usage
    typer.echo(f"Re-judged {result.judged} matches ({result.failed} failed): {u.calls} paid calls, {u.cached_calls} cached, cost {_money(u.cost_usd)}", err=True)
    return result.failed


def _confirm(plan) -> bool:
    import sys

    if not sys.stdin.isatty():
        return False
    return typer.confirm(f"Re-judging costs at worst {_money(plan.cost_usd_worst)}. Continue?", abort=True)


def _print_sources(e: dict) -> None:
    a = e["agreement"]
    if a["rate"] is None:
        typer.echo(f"Re-judged ({e['setting']}): no decided replay yet ({e['failed']} failed)")
        return
    if "kappa" not in e:
        typer.echo(f"Self-agreement ({e['setting']}): {100 * a['rate']:.1f}% of {a['n']} re-judged matches; {e.get('note', '')}")
        return
    share = e.get("judge_share_mean")
    typer.echo(
        f"Self-agreement ({e['setting']}): {100 * a['rate']:.1f}% [{100 * a['ci'][0]:.1f}%, {100 * a['ci'][1]:.1f}%] of {a['n']} re-judged matches;"
        f" judge noise {'-' if share is None else f'{100 * share:.0f}%'} of the rating variance on average, prompt sampling the rest"
        f" (kappa {e['kappa']:.3f})"
    )


def _print_compare(result: dict) -> None:
    from rich.table import Table

    t = Table(title=esc(f"{result['run_a']}  ->  {result['run_b']}"))
    for col in ("model", "rating A", "rating B", "delta (95% CI)", "rank A", "rank B"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for r in result["models"]:
        delta = "" if r["delta"] is None else f"{r['delta']:+.0f} ({r['delta_ci_low']:+.0f} .. {r['delta_ci_high']:+.0f})"
        t.add_row(esc(r["model"]), _f(r["rating_a"]), _f(r["rating_b"]), delta, str(r["rank_a"] or "-"), str(r["rank_b"] or "-"))
    con = console()
    con.print(t)
    con.print(f"Spearman between the two rankings: {result['spearman']:.3f}" if result["spearman"] is not None else "")
    if result["flipped_pairs"]:
        con.print("Pairs that flipped: " + "; ".join(f"{a} vs {b}" for a, b in result["flipped_pairs"]), markup=False)
    else:
        con.print("No pair of models changed order.")


def _f(x) -> str:
    return "-" if x is None else f"{x:.0f}"


def register(app: typer.Typer) -> None:
    app.command("report")(report)
