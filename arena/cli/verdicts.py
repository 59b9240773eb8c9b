"""`arena verdicts`: import the peers' recorded judgments as runs, export runs in their formats."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, path_option, print_json

NAME = "verdicts"
app = typer.Typer(
    help="Recorded judgments in and out: Arena-Hard, AlpacaEval, MT-Bench, Chatbot Arena, JudgeBench, jsonl.",
    no_args_is_help=True,
)


class ImportFormat(str, Enum):
    arena_hard = "arena_hard"
    alpaca_eval = "alpaca_eval"
    mt_bench = "mt_bench"
    chatbot_arena = "chatbot_arena"
    judgebench = "judgebench"
    jsonl = "jsonl"


class ExportFormat(str, Enum):
    battles = "battles"
    arena_hard = "arena_hard"
    alpaca_eval = "alpaca_eval"
    mt_bench = "mt_bench"
    jsonl = "jsonl"


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A judgment file, or a folder of them (e.g. model_judgment/<judge>/).", show_default=False)],
    format: Annotated[ImportFormat, typer.Option("--format", "-f", help="The peer format of the file.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Run name (default: <format>-<file name>).")] = None,
    pool: Annotated[str | None, typer.Option("--pool", help="Pool for the texts in the file (default: the run name), or an existing pool.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="The baseline model (Arena-Hard v0.1 rows do not name it).")] = None,
    strong_weight: Annotated[float, typer.Option("--strong-weight", min=1.0, help="Wins a strong verdict (A>>B) counts for (Arena-Hard: 3).")] = 3.0,
    format_out: Annotated[str, typer.Option("--output", help="table or json.")] = "table",
    db: DbOption = None,
) -> None:
    """Import recorded judgments as a finished run; `arena report RUN` then works on it."""
    from arena.api import import_verdicts

    s = import_verdicts(path, format.value, name=name, pool=pool, baseline=baseline, strong_weight=strong_weight, db=db or None)
    if format_out == "json":
        print_json(s.to_dict())
        return
    typer.echo(
        f"Imported run {s.run_id}: {s.matches} matches, {s.games} games, {len(s.models)} models"
        f"{f', baseline {s.baseline}' if s.baseline else ''}; judges: {', '.join(s.judges) or 'unnamed'};"
        f" skipped {s.skipped_self} rows pitting a model against itself"
        f"{f'; texts in pool {s.pool!r}' if s.pool else ''}"
    )


@app.command("export")
def export(
    run: Annotated[str, typer.Argument(help="Run id, unique prefix or name.", show_default=False)],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="battles (file), arena_hard (folder), alpaca_eval (folder), mt_bench (folder or .jsonl), jsonl (file).")],
    out: Annotated[Path, typer.Option("--out", "-o", parser=path_option("--out", "a file or folder"), metavar="<path>", help="File (battles: .jsonl/.json/.csv; jsonl) or folder.")],
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline for arena_hard / alpaca_eval (default: the run's).")] = None,
    per: Annotated[str | None, typer.Option("--per", help="battles: one row per verdict or per game (default: as the run's ratings count them).")] = None,
    db: DbOption = None,
) -> None:
    """Write a run's judgments in a peer's format (import reads every one of them back)."""
    from arena.api import export_verdicts

    paths = export_verdicts(run, format.value, out, baseline=baseline, per=per, db=db or None)
    typer.echo(f"Wrote {len(paths)} file{'s' if len(paths) != 1 else ''} to {out}")
