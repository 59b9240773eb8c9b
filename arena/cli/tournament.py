"""`arena tournament ...`: plan (and, from the runner, run / list / show) tournaments."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli._common import DbOption, console, esc, print_json, print_warning

NAME = "tournament"
app = typer.Typer(
    help="Plan and run tournaments: schedules of matches between models' answers, decided by a judge.",
    no_args_is_help=True,
)

FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output format: table or json.", case_sensitive=False)]
SpecArgument = Annotated[
    str,
    typer.Argument(help="A tournament spec: a path to a TOML file or the name of a shipped one (default: demo)."),
]


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in ("table", "json"):
        from arena.errors import BadInput

        raise BadInput(f"--format: expected table or json (got {fmt!r})")
    return fmt


@app.command("plan")
def plan_cmd(
    spec: SpecArgument = "demo",
    format: FormatOption = "table",
    shard: Annotated[list[str] | None, typer.Option("--shard", help="K/N: plan only shard K of N of the prompts (see `tournament run --shard`).", show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Show what a tournament will cost before any judge call: matches, judge calls, tokens, dollars."""
    from arena.api import plan as plan_tournament
    from arena.tournaments.shard import one_shard

    fmt = _check_format(format)
    plan = plan_tournament(spec, db=db, shard=one_shard(shard))
    if fmt == "json":
        print_json(plan.to_dict())
        return
    print_plan(plan)


def print_plan(plan) -> None:
    """The plan as a small table (used by `plan` and, before it starts, by `run`)."""
    from rich.table import Table

    from arena.tournaments.plan import format_cost

    def num(x) -> str:
        return "-" if x is None else f"{x:,.0f}"

    shard = getattr(plan, "shard", None)
    t = Table(title=f"Plan: {esc(plan.name)}" + (f", shard {shard} of the prompts" if shard else ""), show_header=False, title_justify="left")
    t.add_column("", style="bold")
    t.add_column("")
    t.add_row("pool", f"{esc(plan.pool)} ({plan.prompts:,} prompts, {plan.models} models)")
    t.add_row("scheduler", esc(plan.scheduler))
    t.add_row("judge", f"{esc(plan.judge)} ({plan.calls_per_match} call{'s' if plan.calls_per_match != 1 else ''} a match"
              + (f"; {esc(', '.join(plan.judge_models))}" if plan.judge_models else "") + ")")
    if plan.matches_exact is not None:
        t.add_row("matches", f"{plan.matches_exact:,} (exact)")
    else:
        t.add_row("matches", f"{plan.matches_expected:,.0f} expected, {plan.matches_worst:,} at most")
    if plan.forfeits:
        t.add_row("forfeits", f"{plan.forfeits:,} (no judge call)")
    t.add_row("judge calls", f"{plan.judge_calls:,} expected, {plan.judge_calls_worst:,} at most (re-asks included)")
    if plan.over_input_limit:
        t.add_row("too long", f"~{plan.over_input_limit:,} calls above the input limit (largest prompt {plan.largest_input_tokens:,} tokens)")
    margin = f" (± {num(plan.input_tokens_error)} at 95%: {plan.sampled_matches} matches token-counted)" if plan.input_tokens_error else ""
    t.add_row("input tokens", f"{num(plan.input_tokens)} expected{margin}, {num(plan.input_tokens_worst)} at most")
    t.add_row("output tokens", f"{num(plan.output_tokens_expected)} expected, {num(plan.output_tokens_worst)} at most")
    t.add_row("cost", f"{format_cost(plan.cost_usd_expected)} expected, {format_cost(plan.cost_usd_worst)} at most")
    for model, rate in (plan.batch_rates or {}).items():
        t.add_row("batch price", esc(f"{model}: {rate}"))
    if plan.cascade:
        cas = plan.cascade
        t.add_row("cascade", f"{esc(' -> '.join(cas['stages']))}; pilot {cas['pilot']:,} matches judged by every stage; final stage on "
                  f"{cas['final_stage_matches_expected']:,.0f} matches expected, {cas['final_stage_matches_worst']:,.0f} at most "
                  f"(target agreement {cas['agreement']:.0%}, delta {cas['delta']})")
    c = console()
    c.print(t)
    if plan.cascade:
        c.print(f"note: {plan.cascade['assumption']}", markup=False)
    for w in plan.warnings:
        print_warning(c, w)


# run, list and show live in arena/cli/_tournament_run.py (the runner's commands)
from arena.cli._tournament_run import attach as _attach  # noqa: E402

_attach(app)
