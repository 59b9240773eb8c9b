"""`arena tournament run | list | show`: attached to the `tournament` group by arena/cli/tournament.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, open_store, print_json, store_exists
from arena.names import slug


def _leaderboard_table(report: dict, title: str):
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    t = Table(title=escape(title))
    for col, just in (("rank (UB)", "right"), ("model", "left"), ("rating", "right"), ("95% CI", "right"), ("win rate", "right"), ("battles", "right")):
        t.add_column(col, justify=just)
    for r in report["leaderboard"]:
        t.add_row(
            str(r["rank_ub"]),
            Text(str(r["model"])),  # a name is data, not rich markup
            f"{r['rating']:.0f}",
            f"{r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f}",
            f"{100 * r['win_rate']:.1f}%",
            str(r["battles"]),
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
    wait: Annotated[bool, typer.Option("--wait", help="If another process is running this run, wait for it to end, then resume.")] = False,
    db: DbOption = None,
) -> None:
    """Run a tournament: plan, estimate cost, judge, store, rate, report. Re-running resumes.

    One process at a time runs a given run (a lease in the store); a second one exits 2 naming
    the first, or waits with --wait."""
    from arena.judges import load_judge, load_preset
    from arena.runner import RunLease, prepare_run
    from arena.tournaments import load_spec

    con = console()
    tspec = load_spec(spec)
    if concurrency is not None:
        tspec = tspec.model_copy(update={"concurrency": concurrency})
    store = open_store(db)
    preset, _ = load_preset(tspec.judge_ref())
    judge = load_judge(tspec.judge_ref(), store=store, no_cache=no_cache)
    prepared = prepare_run(store, tspec, preset, judge_fingerprint=judge.fingerprint(), new=new, create=False)
    lease = RunLease(store, prepared.run_id)
    lease.acquire(wait=wait, on_wait=lambda holder: con.print(f"Waiting: {holder}"))
    try:
        _run_leased(con, store, spec, tspec, judge, prepared, lease, yes=yes, plain=plain, out=out)
    finally:
        lease.release()


def _run_leased(con, store, spec, tspec, judge, prepared, lease, *, yes, plain, out) -> None:
    """The body of `tournament run` once this process holds the run's lease."""
    import asyncio
    import signal
    import sys

    from arena.backends._base import interrupt_pauses
    from arena.dashboard import make_display
    from arena.errors import BadInput
    from arena.judges import check_env
    from arena.reports import build_report, write_reports
    from arena.runner import Runner, create_run
    from arena.tournaments import answered_from_outputs, make_scheduler
    from arena.tournaments.plan import plan_tournament

    scheduler = make_scheduler(tspec.scheduler, prepared.prompts, answered_from_outputs(prepared.outputs), prepared.models, tspec.seed)
    plan = plan_tournament(tspec, prepared.prompts, prepared.outputs, judge)
    p = plan.to_dict() if hasattr(plan, "to_dict") else dict(plan)
    verb = "Resuming" if prepared.resumed else "Starting"
    con.print(
        f"{verb} run [bold]{prepared.run_id}[/]: {len(prepared.models)} models, {len(prepared.prompts)} prompts,"
        f" {tspec.scheduler.kind}, judge {getattr(judge, 'description', judge.name)}"
    )
    con.print(
        f"Plan: {p.get('matches')} matches, {p.get('judge_calls')} judge calls, cost expected"
        f" {_money(p.get('cost_usd_expected'))}, worst {_money(p.get('cost_usd_worst'))}"
    )
    worst = p.get("cost_usd_worst")
    if not yes and (worst is None and judge.calls_per_match() > 0 or (worst or 0) > tspec.confirm_above_usd):
        if not sys.stdin.isatty():
            raise BadInput(
                f"the worst-case cost {_money(worst)} is above confirm_above_usd={tspec.confirm_above_usd}; pass --yes to run without asking"
            )
        typer.confirm(f"Worst case {_money(worst)}. Continue?", abort=True)
    check_env(judge, str(judge.preset_path or tspec.judge))  # before any call: one line naming the variable
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
            interrupt_pauses()  # a Retry-After pause or a backoff ends now (nothing paid for those calls)
            if interrupts > 1:
                for t in asyncio.all_tasks(loop):
                    t.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
            pass
        beat = asyncio.ensure_future(lease.keep())
        try:
            await runner.run()
        finally:
            beat.cancel()
            await judge.aclose()

    try:
        asyncio.run(main())
    finally:
        display.close()
    s = runner.stats
    if prepared.status == "interrupted":
        typer.echo(  # not rich: a terminal-wide wrap must not cut the command to copy
            f"Stopped after the calls in flight: {s.matches_done} matches decided and saved."
            f" Run `arena tournament run {spec}` again to resume."
        )
        raise typer.Exit(130)
    out_dir = out or Path("reports") / slug(prepared.run_id)
    try:
        report = build_report(store, prepared.run_id)
        paths = write_reports(report, out_dir)
    except KeyboardInterrupt:
        typer.echo(
            f"Interrupted while writing the reports: run {prepared.run_id} is {prepared.status} and stored."
            f" Write the reports again with `arena report {prepared.run_id}`."
        )
        raise typer.Exit(130) from None
    con.print(_leaderboard_table(report, f"{tspec.name}: {len(report['leaderboard'])} models, {report['battles']} battles"))
    ref = report.get("reference")
    if ref:
        con.print(f"Spearman with the reference ({ref['column']}): {ref['spearman']:.3f}, Kendall {ref['kendall']:.3f}")
    con.print(
        f"Calls: {s.calls} paid, {s.cached_calls} cached, {s.calls_saved} saved by resuming;"
        f" {s.errors} errors, {s.unparsed} unparsed; cost {_money(None if s.cost_unknown and not s.cost_usd else s.cost_usd)}"
    )
    for w in report.get("warnings", []):
        con.print(f"[yellow]Warning:[/] {w}")
    con.print("Reports: " + ", ".join(str(p) for p in paths))
    if prepared.status == "stopped":
        con.print(f"Stopped early ({s.stop_reason}); raise the budget in the spec and run again to continue.")
    if prepared.status == "errors":
        js = report["judge_stats"]
        con.print(f"[red]Finished with errors:[/] {js['unresolved_matches']} matches unresolved after retries (see the report); run again to retry them.")
        raise typer.Exit(3)


def list_runs(
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """List tournament runs in the store, newest first."""
    rows = []
    for r in open_store(db, readonly=True).list_runs() if store_exists(db) else []:
        s = r.get("summary") or {}
        rows.append(
            {
                "run_id": r["run_id"],
                "name": r["name"],
                "status": r["status"],
                "started": r["started"],
                "matches": s.get("matches_done"),
                "calls": s.get("calls"),
                "cost_usd": s.get("cost_usd"),
            }
        )
    if format is OutFormat.json:
        print_json(rows)
        return
    from datetime import datetime, timezone

    from rich.table import Table

    t = Table("run", "name", "status", "started (UTC)", "matches", "calls", "cost")
    for r in rows:
        started = datetime.fromtimestamp(r["started"], timezone.utc).strftime("%Y-%m-%d %H:%M") if r["started"] else ""
        t.add_row(r["run_id"], r["name"], r["status"], started, str(r["matches"] or 0), str(r["calls"] or 0), _money(r["cost_usd"]))
    console().print(t if rows else "No runs yet: `arena tournament run`.")


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix or the spec name works).")],
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Status, progress and cost of one run."""
    store = open_store(db, readonly=True)
    r = store.get_run(run_id)
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
    }
    if format is OutFormat.json:
        print_json(info)
        return
    con = console()
    con.print(f"[bold]{rid}[/] ({r['name']}): {r['status']}, seed {r['seed']}")
    con.print("matches: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    con.print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    con.print(f"games {info['games']}, calls {info['calls']} paid + {info['cached_calls']} cached, tokens {info['input_tokens']:,} in / {info['output_tokens']:,} out, cost {_money(info['cost_usd'])}")


def attach(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("list")(list_runs)
    app.command("show")(show)
