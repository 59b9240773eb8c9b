"""`arena simulate`: which schedule buys the most certainty per judge call, on synthetic arenas."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli._common import console, finite, print_json


def simulate_cmd(
    models: Annotated[int, typer.Option("--models", help="Models in each synthetic arena.", min=2, max=1000)] = 16,
    prompts: Annotated[int, typer.Option("--prompts", help="Prompts in the synthetic pool.", min=1, max=1_000_000)] = 5000,
    judge_accuracy: Annotated[
        float, typer.Option("--judge-accuracy", help="P(the judge picks the truly better answer) when position plays no part.", min=0, max=1, callback=finite)
    ] = 0.8,
    position_bias: Annotated[float, typer.Option("--position-bias", help="P(the judge picks whichever answer it sees first).", min=0, max=1, callback=finite)] = 0.1,
    schedulers: Annotated[
        list[str] | None,
        typer.Option(
            "--schedulers",
            "-s",
            help="Scheduler to compare, as KIND or KIND:key=value,key=value (repeat the option; default: all five).",
        ),
    ] = None,
    budgets: Annotated[
        str, typer.Option("--budgets", help="Comma-separated budgets in judge calls.")
    ] = "500,1000,2000,4000,8000",
    trials: Annotated[int, typer.Option("--trials", help="Synthetic arenas per scheduler.", min=1, max=10_000)] = 20,
    spread: Annotated[float, typer.Option("--spread", help="Elo points from the best true rating to the worst.", min=0, max=10_000, callback=finite)] = 300.0,
    orders: Annotated[int, typer.Option("--orders", help="Games per match: 2 (both orders) or 1.", min=1, max=2)] = 2,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates for CI width and coverage (0: skip).", min=0, max=100_000)] = 100,
    target: Annotated[float, typer.Option("--target", help="Mean Spearman whose judge-call cost is reported.", min=-1, max=1, callback=finite)] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.", min=0)] = 0,
    cheap_accuracy: Annotated[
        float | None, typer.Option("--cheap-accuracy", help="Add a cheap judge stage (a cascade) right this often on the matches it decides.", min=0, max=1, callback=finite)
    ] = None,
    cheap_confident: Annotated[
        float, typer.Option("--cheap-confident", help="Share of matches the cheap stage is confident enough to decide (the rest escalate).", min=0, max=1, callback=finite)
    ] = 0.7,
    format: Annotated[str, typer.Option("--format", "-f", help="Output format: table or json.")] = "table",
) -> None:
    """Compare schedulers on synthetic arenas before spending money on a real judge.

    Runs the real schedulers and rating code on arenas with known Bradley-Terry strengths and a
    noisy synthetic judge (see arena/tournaments/simulate.py), and prints per scheduler and budget
    (in judge calls) the mean Spearman and Kendall correlation with the true order, the mean 95% CI
    width and the CI coverage, then the calls each scheduler needs to reach the target Spearman.
    """
    from arena.errors import BadInput
    from arena.tournaments.simulate import DEFAULT_SCHEDULERS, simulate

    fmt = format.lower()
    if fmt not in ("table", "json"):
        raise BadInput(f"--format: expected table or json (got {format!r})")
    try:
        budget_list = [int(float(b)) for b in budgets.split(",") if b.strip()]
    except ValueError:
        raise BadInput(f"--budgets: expected comma-separated numbers of judge calls (got {budgets!r})") from None
    result = simulate(
        n_models=models,
        n_prompts=prompts,
        accuracy=judge_accuracy,
        position_bias=position_bias,
        schedulers=schedulers or DEFAULT_SCHEDULERS,
        budgets=budget_list,
        trials=trials,
        seed=seed,
        spread=spread,
        orders=orders,
        bootstrap=bootstrap,
        target=target,
        cheap_accuracy=cheap_accuracy,
        cheap_confident=cheap_confident,
    )
    if fmt == "json":
        print_json(result.to_dict())
        return
    print_result(result)


def print_result(result) -> None:
    from rich.table import Table

    p = result.params
    t = Table(
        title=(
            f"{p['models']} models, {p['spread']:.0f} Elo spread, judge accuracy {p['judge_accuracy']}, "
            f"position bias {p['position_bias']}, {p['trials']} trials"
            + (f"; cheap stage: accuracy {p['cheap_accuracy']} on {p['cheap_confident']:.0%} of matches (calls: expensive judge only)"
               if p.get("cheap_accuracy") is not None else "")
        ),
        title_justify="left",
    )
    for col in ("scheduler", "budget", "calls", "spearman", "kendall", "CI width", "coverage"):
        t.add_column(col, justify="left" if col == "scheduler" else "right", no_wrap=True)

    def f(x, spec=".3f"):
        return "-" if x is None or x != x else format(x, spec)

    for r in result.rows:
        t.add_row(r.scheduler, f"{r.budget:,}", f"{r.calls:,.0f}", f(r.spearman), f(r.kendall), f(r.ci_width, ".0f"), f(r.coverage, ".2f"))
    c = console()
    wide = max(len(r.scheduler) for r in result.rows) + 70
    if c.width < wide:  # keep one line per row: scheduler labels can be long
        from rich.console import Console

        c = Console(soft_wrap=False, width=wide)
    c.print(t)
    c.print(f"Judge calls to reach a mean Spearman of {result.target}:")
    for name, calls in result.reach.items():
        c.print(f"  {name}: {'not reached within the budgets' if calls is None else f'{calls:,.0f}'}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
