"""`arena tournament run | list | show`: attached to the `tournament` group by arena/cli/tournament.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, open_store, print_json, resolve_run


def _leaderboard_table(report: dict, title: str):
    from rich.table import Table

    t = Table(title=title)
    from arena.reports.text import battles_cell, pct

    cols = (("rank (UB)", "right"), ("model", "left"), ("rating", "right"), ("95% CI", "right"), ("win rate", "right"), ("W/L/T", "right"),
            ("battles", "right"), ("coverage", "right"))
    for col, just in cols:
        t.add_column(col, justify=just)
    for r in report["leaderboard"]:
        t.add_row(
            str(r["rank_ub"]),
            r["model"],
            f"{r['rating']:.0f}",
            f"{r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f}",
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
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default reports/<run_id>).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Games in flight (overrides the spec).", min=1)] = None,
    allow_unknown_price: Annotated[
        bool, typer.Option("--allow-unknown-price", help="Run with max_cost_usd although the judge's price is unknown (the cap is then not enforced).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Run a tournament: plan, estimate cost, judge, store, rate, report. Re-running resumes."""
    import asyncio
    import signal
    import sys

    from arena.dashboard import make_display
    from arena.errors import BadInput
    from arena.judges import load_judge, load_preset
    from arena.reports import build_report, write_reports
    from arena.runner import Runner, create_run, prepare_run
    from arena.tournaments import answered_from_outputs, load_spec, make_scheduler
    from arena.tournaments.plan import check_budget, plan_tournament

    con = console()
    tspec = load_spec(spec)
    if concurrency is not None:
        tspec = tspec.model_copy(update={"concurrency": concurrency})
    store = open_store(db)
    preset, _ = load_preset(tspec.judge)
    judge = load_judge(tspec.judge, store=store, no_cache=no_cache)
    prepared = prepare_run(store, tspec, preset, judge_fingerprint=judge.fingerprint(), new=new, create=False)
    scheduler = make_scheduler(tspec.scheduler, prepared.prompts, answered_from_outputs(prepared.outputs), prepared.models, tspec.seed)
    plan = plan_tournament(tspec, prepared.prompts, prepared.outputs, judge)
    p = plan.to_dict() if hasattr(plan, "to_dict") else dict(plan)
    check_budget(plan, tspec, allow_unknown_price=allow_unknown_price)
    verb = "Resuming" if prepared.resumed else "Starting"
    con.print(
        f"{verb} run [bold]{prepared.run_id}[/]: {len(prepared.models)} models, {len(prepared.prompts)} prompts,"
        f" {tspec.scheduler.kind}, judge {getattr(judge, 'description', judge.name)}"
    )
    con.print(
        f"Plan: {p.get('matches')} matches, {p.get('judge_calls')} judge calls (at most {p.get('judge_calls_worst')} with re-asks),"
        f" cost expected {_money(p.get('cost_usd_expected'))}, worst {_money(p.get('cost_usd_worst'))}"
    )
    for w in p.get("warnings") or []:
        if "input limit" in w:
            con.print(f"[yellow]Warning:[/] {w}")
    worst = p.get("cost_usd_worst")
    if not yes and (worst is None and judge.calls_per_match() > 0 or (worst or 0) > tspec.confirm_above_usd):
        if not sys.stdin.isatty():
            raise BadInput(
                f"the worst-case cost {_money(worst)} is above confirm_above_usd={tspec.confirm_above_usd}; pass --yes to run without asking"
            )
        typer.confirm(f"Worst case {_money(worst)}. Continue?", abort=True)
    create_run(store, prepared)

    display = make_display(True if plain else None, strong_weight=tspec.strong_weight)
    runner = Runner(store, prepared, judge, scheduler, on_event=display)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        interrupts = 0

        def on_sigint() -> None:
            nonlocal interrupts
            interrupts += 1
            runner.stop.set()
            if interrupts > 1:
                for t in asyncio.all_tasks(loop):
                    t.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
            pass
        try:
            await runner.run()
        finally:
            await judge.aclose()

    try:
        asyncio.run(main())
    finally:
        display.close()
    s = runner.stats
    if prepared.status == "interrupted":
        con.print(
            f"Stopped after the calls in flight: {s.matches_done} matches decided and saved."
            f" Run `arena tournament run {spec}` again to resume."
        )
        raise typer.Exit(130)
    report = build_report(store, prepared.run_id)
    out_dir = out or Path("reports") / prepared.run_id
    paths = write_reports(report, out_dir)
    con.print(_leaderboard_table(report, f"{tspec.name}: {len(report['leaderboard'])} models, {report['battles']} battles"))
    ref = report.get("reference")
    if ref:
        con.print(f"Spearman with the reference ({ref['column']}): {ref['spearman']:.3f}, Kendall {ref['kendall']:.3f}")
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
        con.print(f"[yellow]Warning:[/] {w}")
    con.print("Reports: " + ", ".join(str(p) for p in paths))
    if s.stop_reason and prepared.status != "stopped":
        reached = getattr(scheduler, "target_reached", None)
        con.print(f"Stopped: {s.stop_reason}" + ("" if reached is None else f"; target reached: {'yes' if reached else 'no'}"))
    if prepared.status == "stopped":
        con.print(f"Stopped early ({s.stop_reason}); raise the budget in the spec and run again to continue.")
    if prepared.status == "errors":
        js = report["judge_stats"]
        for reason, n in s.permanent_reasons.most_common():
            con.print(f"[red]Failed permanently:[/] {n} games: {reason} (retrying cannot fix this: fix the cause, then run again)")
        retryable = s.errors - s.permanent_errors
        if retryable or not s.permanent_errors:
            con.print(f"[red]Finished with errors:[/] {js['unresolved_matches']} matches unresolved after retries (see the report); run again to retry them.")
        else:
            con.print(f"[red]Finished with errors:[/] {js['unresolved_matches']} matches unresolved; no retryable failure remains.")
        raise typer.Exit(3)


def list_runs(
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """List tournament runs in the store, newest first."""
    store = open_store(db)
    rows = []
    for r in store.list_runs():
        s = r.get("summary") or {}
        t = s.get("totals") or s
        rows.append(
            {
                "run_id": r["run_id"],
                "name": r["name"],
                "status": r["status"],
                "started": r["started"],
                "matches": s.get("matches_done"),
                "calls": t.get("calls"),
                "cost_usd": t.get("cost_usd"),
                "invocations": s.get("invocations") or (1 if s else 0),
                "latest_calls": s.get("calls"),
                "latest_cost_usd": s.get("cost_usd"),
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
        t.add_row(r["run_id"], r["name"], r["status"], started, str(r["matches"] or 0), calls, cost)
    console().print(t if rows else "No runs yet: `arena tournament run`.")


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix or the spec name works).")],
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Status, progress and cost of one run."""
    store = open_store(db, create=False)
    r = store.get_run(resolve_run(store, run_id))
    rid = r["run_id"]
    counts = dict(store.db.execute("SELECT status, COUNT(*) FROM matches WHERE run_id = ? GROUP BY status", [rid]).fetchall())
    outcomes = dict(store.db.execute("SELECT outcome, COUNT(*) FROM verdicts WHERE run_id = ? GROUP BY outcome", [rid]).fetchall())
    from arena.judges._base import cached_part

    g = store.db.execute(
        "SELECT COUNT(*), SUM(calls * (1 - cached)), SUM(calls * cached), SUM(input_tokens), SUM(output_tokens),"
        " SUM(CASE WHEN cached = 0 THEN cost_usd END), SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) FROM games WHERE run_id = ?",
        [rid],
    ).fetchone()
    calls, cached_calls, cost = g[1] or 0, g[2] or 0, g[5] or 0.0
    partly = store.db.execute(  # games some of whose calls the cache served say so in their detail
        "SELECT cached, calls, cost_usd, detail FROM games WHERE run_id = ? AND cached = 0 AND instr(detail, 'cached_calls') > 0", [rid]
    ).fetchall()
    for row in partly:
        k, c = cached_part(dict(zip(("cached", "calls", "cost_usd", "detail"), row)))
        calls, cached_calls, cost = calls - k, cached_calls + k, cost - c
    info = {
        "run_id": rid,
        "name": r["name"],
        "status": r["status"],
        "seed": r["seed"],
        "matches": counts,
        "verdicts": outcomes,
        "games": g[0],
        "calls": calls,
        "cached_calls": cached_calls,
        "input_tokens": g[3] or 0,
        "output_tokens": g[4] or 0,
        "cost_usd": None if g[6] else round(max(0.0, cost), 6),
        "summary": r.get("summary"),
        "totals": (r.get("summary") or {}).get("totals"),
        "invocations": (r.get("summary") or {}).get("invocations"),
    }
    if format is OutFormat.json:
        print_json(info)
        return
    con = console()
    con.print(f"[bold]{rid}[/] ({r['name']}): {r['status']}, seed {r['seed']}")
    con.print("matches: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    con.print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
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
