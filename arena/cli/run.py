"""`arena run merge OUT SHARD...`: the stores of a tournament's shards (`tournament run --shard K/N`) as one run."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli._common import OutFormat, console, print_json

NAME = "run"
app = typer.Typer(help="Work on stored runs as a whole: merge the shards of a tournament run on several machines.", no_args_is_help=True)


@app.command("merge")
def merge_cmd(
    out: Annotated[str, typer.Argument(help="The store to write the merged run into (created when missing; its folder must exist).", show_default=False)],
    shards: Annotated[list[str], typer.Argument(help="The shards' stores (SQLite files), every shard 1..N once.", show_default=False)],
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
) -> None:
    """Merge the shards of a tournament (each run with `arena tournament run SPEC --shard K/N` on its
    own store) into one run in OUT: pool, matches, games, verdicts, call cache and usage.

    The shards must be 1..N of one tournament (same spec, seed, pool and judge), each finished;
    anything else is refused with one line and OUT is left as it was. The merged run's
    leaderboard is the unsplit run's, and `arena tournament run SPEC --db OUT` resumes it
    without a paid call."""
    from arena.merge import merge_runs

    result = merge_runs(out, shards)
    if format is OutFormat.json:
        print_json(result.to_dict())
        return
    from arena.cli._tournament_run import _money

    con = console()
    parts = ", ".join(f"{s.index}/{s.count} from {s.path}" for s in result.shards)
    con.print(f"Merged {len(result.shards)} shards ({parts}) into {result.out} as run {result.run_id} ({result.status})", markup=False, highlight=False)
    u = result.usage
    con.print(
        f"{result.matches:,} matches, {result.verdicts:,} verdicts, {result.games:,} games, {result.cache_entries:,} call-cache entries read;"
        f" calls {u.calls:,} paid + {u.cached_calls:,} cached, tokens {u.input_tokens:,} in / {u.output_tokens:,} out, cost {_money(u.cost_usd)}",
        markup=False, highlight=False,
    )
    con.print(f"Report: arena report {result.run_id} --db {result.out}", markup=False, highlight=False)
    if result.status == "errors":
        con.print(f"Some matches are unresolved: `arena tournament run SPEC --db {result.out}` retries them.", markup=False, highlight=False)
