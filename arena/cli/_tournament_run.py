"""`arena tournament run | list | show`: attached to the `tournament` group by arena/cli/tournament.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, esc, path_option, print_json, print_warning


def _leaderboard_table(report: dict, title: str):
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from arena.reports.text import vs_baseline_text

    t = Table(title=escape(title))
    from arena.reports.text import battles_cell, pct

    base = report.get("baseline")
    cols = [("rank (UB)", "right"), ("model", "left"), ("rating", "right"), ("95% CI", "right")]
    if base:
        cols.append((f"vs {escape(str(base))} (95% CI)", "right"))
    for col, just in (*cols, ("win rate", "right"), ("W/L/T", "right"), ("battles", "right"), ("coverage", "right")):
        t.add_column(col, justify=just)
    for r in report["leaderboard"]:
        t.add_row(
            str(r["rank_ub"]),
            Text(str(r["model"])),  # a name is data, not rich markup
            f"{r['rating']:.0f}",
            f"{r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f}",
            *([vs_baseline_text(r)] if base else []),
            pct(r["win_rate"]),
            f"{r['wins']}/{r['losses']}/{r['ties']}",
            battles_cell(r),
            pct(r.get("coverage"), 0),
        )
    return t


def _money(x) -> str:
    return "unknown" if x is None else f"${x:.4f}"


def run(
    spec: Annotated[str, typer.Argument(help="Tournament spec: a TOML path or a shipped name.")] = "demo",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending above the spec's confirm_above_usd.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Start a fresh run instead of resuming the last one of this spec.")] = False,
    plain: Annotated[bool, typer.Option("--plain", help="Plain progress lines instead of the live dashboard.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the judge call cache (calls are paid again).")] = False,
    out: Annotated[Path | None, typer.Option("--out", parser=path_option("--out", "a report folder"), metavar="<path>", help="Report folder (default reports/<run_id>).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Games in flight (overrides the spec).", min=1)] = None,
    ties: Annotated[str | None, typer.Option("--ties", help="half or davidson: how the ratings count ties (overrides the spec).")] = None,
    style: Annotated[bool | None, typer.Option("--style/--no-style", help="Style control in the ratings (overrides the spec).")] = None,
    anchor: Annotated[str | None, typer.Option("--anchor", "--baseline", help="Baseline model for the ratings and the win rate against it (overrides the spec).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="If another process is running this run, wait for it to end, then resume.")] = False,
    shard: Annotated[
        list[str] | None,
        typer.Option("--shard", help="K/N: run only shard K of N of the prompts, on its own store; combine the N stores with `arena run merge`.", show_default=False),
    ] = None,
    allow_unknown_price: Annotated[
        bool, typer.Option("--allow-unknown-price", help="Run with max_cost_usd although the judge's price is unknown (the cap is then not enforced).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Run a tournament: plan, estimate cost, judge, store, rate, report. Re-running resumes.

    One process at a time runs a given run (a lease in the store); a second one exits 2 naming
    the first, or waits with --wait. With --shard K/N (round-robin, anchored, single-elimination)
    each machine runs one shard of the prompts; `arena run merge OUT.db SHARD.db...` makes them one run."""
    from arena.api import run_tournament
    from arena.errors import Interrupted, RunFailed
    from arena.tournaments.shard import one_shard

    shard = one_shard(shard)  # type: ignore[assignment]

    con = console()
    sink = _RunScreen(con, plain)
    try:
        result = run_tournament(
            spec, db=db or None, on_event=sink, new=new, no_cache=no_cache, concurrency=concurrency, yes=yes,
            confirm=_confirm, report_dir=out, ties=ties, style=style, anchor=anchor, allow_unknown_price=allow_unknown_price,
            wait=wait, on_wait=lambda holder: typer.echo(f"Waiting: {holder}"), shard=shard,
        )
    finally:
        sink.close()
    s = result.stats
    if result.status == "interrupted":
        raise Interrupted(
            f"stopped after the calls in flight: {s.matches_done} matches decided and saved."
            f" Run `arena tournament run {spec}{f' --shard {shard}' if shard else ''}` again to resume."
        )
    report = result.report
    con.print(_leaderboard_table(report, f"{result.name}: {len(report['leaderboard'])} models, {report['battles']} battles"))
    ref = report.get("reference")
    if ref:
        from arena.reports.text import corr

        con.print(f"Spearman with the reference ({ref['column']}): {corr(ref['spearman'])}, Kendall {corr(ref['kendall'])}", markup=False)
        agr = report.get("agreement") or {}
        if len(agr.get("references", [])) > 1:
            z = "" if agr.get("z_score") is None else f", z-score {agr['z_score']:+.2f} against the references' agreement with each other"
            con.print(f"Spearman with the {agr['aggregate']['column']}: {corr(agr['aggregate']['spearman'])}{z}", markup=False)
    con.print(
        f"Calls: {s.calls} paid, {s.cached_calls} cached, {s.calls_saved} saved by resuming;"
        f" {s.errors} errors, {s.unparsed} unparsed; cost {_money(None if s.cost_unknown and not s.cost_usd else s.cost_usd)}"
    )
    summary = report.get("summary") or {}
    if (summary.get("invocations") or 1) > 1 and summary.get("totals"):
        t = summary["totals"]
        con.print(
            f"Run totals over {summary['invocations']} invocations: {t['calls']} paid calls, {t['cached_calls']} cached,"
            f" tokens {t['input_tokens']:,} in / {t['output_tokens']:,} out, cost {_money(t['cost_usd'])} (the line above is this invocation's share)"
        )
    js = report["judge_stats"]
    if js.get("first_slot_win_rate") is not None:
        from arena.reports.text import consistency, pct

        con.print(
            f"Judge: position consistency {consistency(js)}, first-slot win rate {pct(js['first_slot_win_rate'])}"
            f" (95% CI {pct(js.get('first_slot_ci_low'))} - {pct(js.get('first_slot_ci_high'))})"
        )
    for w in report.get("warnings", []):
        print_warning(con, w)
    cascade = report.get("judge_stats", {}).get("cascade")
    if cascade:
        from arena.cascade import report_lines

        for line in report_lines(cascade):
            con.print(line, markup=False, highlight=False)
    con.print("Reports: " + ", ".join(str(p) for p in result.report_paths), markup=False)
    if s.stop_reason and result.status not in ("stopped", "errors"):
        reached = report.get("target_reached")
        con.print(f"Stopped: {s.stop_reason}" + ("" if reached is None else f"; target reached: {'yes' if reached else 'no'}"), markup=False)
    if result.status == "stopped":
        con.print(f"Stopped early ({s.stop_reason}); raise the budget in the spec and run again to continue.", markup=False)
    if result.status == "errors":
        for reason, n in s.permanent_reasons.most_common():
            con.print(f"[red]Failed permanently:[/] {n} games: {esc(reason)} (retrying cannot fix this: fix the cause, then run again)")
        if s.errors - s.permanent_errors or not s.permanent_errors:
            last = f"; last error: {s.last_error}" if s.last_error else ""
            raise RunFailed(
                f"Finished with errors: {result.unresolved} matches unresolved after retries{last} (see the report); run again to retry them."
            )
        raise RunFailed(f"Finished with errors: {result.unresolved} matches unresolved; no retryable failure remains.")


def _confirm(plan) -> bool:
    """Ask before spending more than the spec allows without asking (never when stdin is not a terminal)."""
    import sys

    if not sys.stdin.isatty():
        return False
    return typer.confirm(f"Worst case {_money(plan.cost_usd_worst)}. Continue?", abort=True)


class _RunScreen:
    """The run's event sink on a terminal: the plan lines, then the dashboard (opened once the run starts)."""

    def __init__(self, con, plain: bool) -> None:
        self.con, self.plain, self.display, self.strong_weight = con, plain, None, 3.0

    def __call__(self, event) -> None:
        if event.kind == "planned":
            p, plan = event.planned, event.planned.plan
            self.con.print(
                f"{'Resuming' if p.resumed else 'Starting'} run [bold]{esc(p.run_id)}[/]: {p.models} models, {p.prompts} prompts,"
                f" {esc(p.scheduler)}, judge {esc(p.judge)}"
            )
            self.con.print(
                f"Plan: {plan.matches} matches, {plan.judge_calls} judge calls (at most {plan.judge_calls_worst} with re-asks),"
                f" cost expected {_money(plan.cost_usd_expected)}, worst {_money(plan.cost_usd_worst)}"
            )
            if p.abandoned_calls:
                self.con.print(
                    f"{p.abandoned_calls} calls in flight in a process that is gone (killed) are asked again now"
                    " (their answers never reached the call cache)"
                )
            for w in plan.warnings:
                if "input limit" in w or w.startswith("pool "):  # the others are the plan's own (`tournament plan` shows them)
                    print_warning(self.con, w)
            self.strong_weight = p.strong_weight
            return
        if self.display is None:
            from arena.dashboard import make_display

            self.display = make_display(True if self.plain else None, strong_weight=self.strong_weight)
        self.display(event)

    def close(self) -> None:
        if self.display is not None:
            self.display.close()


def list_runs(
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """List tournament runs in the store, newest first."""
    from arena.api import list_runs as _list_runs

    rows = []
    for run in _list_runs(db=db):
        s = run.summary
        t = (s.totals or s.to_dict()) if s is not None else {}
        rows.append(
            {
                "run_id": run.run_id,
                "name": run.name,
                "status": run.status,
                "started": run.record.started,
                "matches": s.matches_done if s is not None else None,
                "calls": t.get("calls"),
                "cost_usd": t.get("cost_usd"),
                "invocations": s.invocations if s is not None else 0,
                "latest_calls": s.calls if s is not None else None,
                "latest_cost_usd": s.cost_usd if s is not None else None,
            }
        )
    if format is OutFormat.json:
        print_json(rows)
        return
    from datetime import datetime, timezone

    from rich.table import Table

    t = Table("run", "name", "status", "started (UTC)", "matches", "calls (latest)", "cost (latest)")
    for r in rows:
        started = datetime.fromtimestamp(r["started"], timezone.utc).strftime("%Y-%m-%d %H:%M") if r["started"] else ""
        latest = r["invocations"] > 1
        calls = f"{r['calls'] or 0}" + (f" ({r['latest_calls'] or 0})" if latest else "")
        cost = _money(r["cost_usd"]) + (f" ({_money(r['latest_cost_usd'])})" if latest else "")
        t.add_row(esc(r["run_id"]), esc(r["name"]), str(r["status"]), started, str(r["matches"] or 0), calls, cost)
    console().print(t if rows else "No runs yet: `arena tournament run`.")


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix or the spec name works).")],
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Status, progress and cost of one run."""
    from arena.api import load_run

    r = load_run(run_id, db=db or None)
    if r.chosen_by != "exact id":
        typer.echo(f"Run: {r.run_id} ({r.chosen_by})", err=True)
    rid = r.run_id
    counts, outcomes = r.matches, r.verdicts
    summary = r.summary.to_dict() if r.summary is not None else None
    info = {
        "run_id": rid,
        "name": r.name,
        "status": r.status,
        "seed": r.record.seed,
        "matches": counts,
        "verdicts": outcomes,
        "games": r.games,
        **r.usage.to_dict(),
        "summary": summary,
        "totals": r.summary.totals if r.summary is not None else None,
        "invocations": (summary or {}).get("invocations"),
        "shard": r.record.spec.get("shard"),
        "merged": r.record.spec.get("merged"),
    }
    if format is OutFormat.json:
        print_json(info)
        return
    con = console()
    con.print(f"[bold]{esc(rid)}[/] ({esc(r.name)}): {r.status}, seed {r.record.seed}")
    shard, merged = r.record.spec.get("shard"), r.record.spec.get("merged")
    if isinstance(shard, dict):
        con.print(f"shard {shard.get('index')}/{shard.get('count')} of the prompts ({shard.get('prompts')}); merge the shards with `arena run merge`", markup=False)
    if isinstance(merged, dict):
        con.print("merged from shards: " + ", ".join(f"{m.get('index')}/{merged.get('count')} {m.get('run_id')} ({m.get('db')})" for m in merged.get("shards", [])),
                  markup=False, highlight=False)
    con.print("matches: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), markup=False)
    con.print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())), markup=False)
    con.print(f"games {info['games']}, calls {info['calls']} paid + {info['cached_calls']} cached, tokens {info['input_tokens']:,} in / {info['output_tokens']:,} out, cost {_money(info['cost_usd'])}")
    t = info["totals"]
    if t:
        latest = info["summary"] or {}
        con.print(
            f"over {info['invocations']} invocations: calls {t['calls']} paid + {t['cached_calls']} cached, tokens {t['input_tokens']:,} in /"
            f" {t['output_tokens']:,} out, cost {_money(t['cost_usd'])}; latest invocation: calls {latest.get('calls')}, cost {_money(latest.get('cost_usd'))}"
        )


def attach(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("list")(list_runs)
    app.command("show")(show)
