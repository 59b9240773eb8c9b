"""`arena ratings`: Bradley-Terry leaderboards with bootstrap intervals from a battle file."""

from __future__ import annotations

import csv
import io
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import console, print_json

NAME = "ratings"
app = typer.Typer(
    help="Fit ratings from battle files (CSV, JSONL, JSON; Chatbot Arena's battle format included).",
    no_args_is_help=True,
)


class OutFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ByOption(str, Enum):
    prompt = "prompt"
    battle = "battle"


class TiesOption(str, Enum):
    half = "half"
    davidson = "davidson"


def _fmt(x: float, nd: int = 1) -> str:
    return "nan" if x != x else f"{x:.{nd}f}"


@app.command("fit")
def fit(
    battles: Annotated[Path, typer.Argument(help="Battle file: .csv/.tsv, .jsonl or .json.", show_default=False)],
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    anchor: Annotated[str | None, typer.Option("--anchor", help="Model fixed at 1000 (default: mean 1000).")] = None,
    anchor_rating: Annotated[float, typer.Option("--anchor-rating", help="Rating of the anchor (or of the mean).")] = 1000.0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", "-b", min=0, help="Bootstrap replicates (0: no intervals).")] = 1000,
    by: Annotated[ByOption, typer.Option("--by", help="Resample prompts (clustered) or battles.")] = ByOption.prompt,
    ties: Annotated[TiesOption, typer.Option("--ties", help="Ties as half wins, or Davidson's tie model.")] = TiesOption.half,
    style: Annotated[bool, typer.Option("--style", help="Style control: length and markdown covariates.")] = False,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    prior: Annotated[float | None, typer.Option("--prior", min=0.0, help="Virtual draws per model vs an average model (keeps ratings finite).")] = None,
) -> None:
    """Fit Bradley-Terry ratings with bootstrap confidence intervals and rank intervals.

    Each record needs model_a, model_b and either winner (model_a, model_b, tie, tie (bothbad))
    or outcome (a, b, tie); optional question_id (or prompt_id), weight. With --style, records
    also need Chatbot Arena's conv_metadata, answer_a/answer_b texts, or per-answer counts.
    """
    from arena.battle_file import read_battle_file
    from arena.ratings import DEFAULT_PRIOR, fit_ratings

    arrays, feats = read_battle_file(battles, style=style)
    lb = fit_ratings(
        arrays,
        anchor=anchor,
        bootstrap=bootstrap,
        by=by.value,
        ties=ties.value,
        level=level,
        seed=seed,
        style=feats,
        prior=DEFAULT_PRIOR if prior is None else prior,
        anchor_rating=anchor_rating,
    )
    for msg in lb.warnings:
        typer.echo(f"Warning: {msg}", err=True)
    records = lb.to_records()
    if format is OutFormat.json:
        print_json(records)
        return
    if format is OutFormat.csv:
        buf = io.StringIO()
        wr = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        wr.writeheader()
        wr.writerows(records)
        typer.echo(buf.getvalue(), nl=False)
        return
    from rich.table import Table

    pct = f"{level * 100:g}%"
    title = f"Bradley-Terry ratings: {len(arrays)} battles, {bootstrap} {by.value} bootstrap replicates, {pct} CI"
    table = Table(title=title)
    table.add_column("rank (UB)", justify="right")
    table.add_column("model", overflow="fold")
    table.add_column("rating", justify="right")
    table.add_column(f"{pct} CI", justify="right", no_wrap=True)
    table.add_column("ranks", justify="right", no_wrap=True)
    table.add_column("battles", justify="right")
    table.add_column("win %", justify="right")
    for r in lb.rows:
        table.add_row(
            str(r.rank_ub),
            r.model,
            _fmt(r.rating),
            f"-{_fmt(r.rating - r.ci_low, 0)}/+{_fmt(r.ci_high - r.rating, 0)}",
            f"{r.rank_lo}-{r.rank_hi}" if r.rank_lo != r.rank_hi else str(r.rank_lo),
            str(r.battles),
            _fmt(r.win_rate * 100),
        )
    out = console()
    out.print(table)
    if lb.style_coefs:
        parts = []
        for name, c in lb.style_coefs.items():
            ci = f" [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]" if "ci_low" in c else ""
            parts.append(f"{name} {c['coef']:+.3f}{ci}")
        out.print("Style coefficients (log-odds per standard deviation): " + "; ".join(parts))
    if lb.tie_param is not None:
        out.print(f"Davidson tie parameter nu = {lb.tie_param:.3f}")


@app.command("elo")
def elo(
    battles: Annotated[Path, typer.Argument(help="Battle file: .csv/.tsv, .jsonl or .json.", show_default=False)],
    k: Annotated[float, typer.Option("--k", help="Elo K factor.")] = 4.0,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
) -> None:
    """Online Elo ratings over the battles in file order (a second view next to Bradley-Terry)."""
    from arena.battle_file import read_battle_file
    from arena.ratings import elo_online

    arrays, _ = read_battle_file(battles)
    ratings = elo_online(arrays, k=k)
    rows = [{"model": m, "elo": round(v, 2)} for m, v in sorted(ratings.items(), key=lambda kv: -kv[1])]
    if format is OutFormat.json:
        print_json(rows)
    elif format is OutFormat.csv:
        typer.echo("model,elo\n" + "".join(f"{r['model']},{r['elo']}\n" for r in rows), nl=False)
    else:
        from rich.table import Table

        table = Table("model", "elo", title=f"Online Elo (K={k:g}, {len(arrays)} battles)")
        for r in rows:
            table.add_row(r["model"], f"{r['elo']:.1f}")
        console().print(table)
