"""`arena ratings`: Bradley-Terry leaderboards with bootstrap intervals from a battle file."""

from __future__ import annotations

import csv
import io
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, console, esc, finite, open_store, print_json
from arena.errors import BadInput

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
    anchor_rating: Annotated[float, typer.Option("--anchor-rating", help="Rating of the anchor (or of the mean).", min=-1e6, max=1e6, callback=finite)] = 1000.0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", "-b", min=0, help="Bootstrap replicates (0: no intervals).")] = 1000,
    by: Annotated[ByOption, typer.Option("--by", help="Resample prompts (clustered) or battles.")] = ByOption.prompt,
    ties: Annotated[TiesOption, typer.Option("--ties", help="Ties as half wins, or Davidson's tie model.")] = TiesOption.half,
    style: Annotated[bool, typer.Option("--style", help="Style control: length and markdown covariates.")] = False,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.", min=0)] = 0,
    prior: Annotated[float | None, typer.Option("--prior", min=0.0, help="Virtual draws per model vs an average model (keeps ratings finite).")] = None,
    strong_weight: Annotated[float, typer.Option("--strong-weight", min=1.0, help="Wins a strong `label` (A>>B) counts for (Arena-Hard: 3).")] = 3.0,
) -> None:
    """Fit Bradley-Terry ratings with bootstrap confidence intervals and rank intervals.

    Each record needs model_a, model_b and either winner (model_a, model_b, tie, tie (bothbad))
    or outcome (a, b, tie) or a five-way label (A>>B .. B>>A; a strong one counts --strong-weight
    wins); optional question_id (or prompt_id), weight (multiplies). With --style, records
    also need Chatbot Arena's conv_metadata, answer_a/answer_b texts, or per-answer counts.

    Sample-level measurements instead (records sample_id, model, score or correct/pass; or
    sample_id, ranking: models best first) are fitted by Plackett-Luce over the comparisons each
    sample implies, with intervals resampling samples; missing cells are fine.
    """
    from arena.battle_file import is_sample_file, read_battle_file
    from arena.ratings import DEFAULT_PRIOR, fit_ratings

    if is_sample_file(battles):
        if style or ties is not TiesOption.half or anchor or by is not ByOption.prompt:
            raise BadInput(f"{battles}: --style, --ties, --anchor and --by apply to battle files, not to sample-level measurements")
        _fit_samples(battles, format=format, bootstrap=bootstrap, level=level, seed=seed, prior=prior)
        return
    skipped: dict = {}
    arrays, feats = read_battle_file(battles, style=style, strong_weight=strong_weight, skipped=skipped)
    if skipped.get("self"):
        typer.echo(f"Skipped {skipped['self']} rows pitting a model against itself.", err=True)
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
        _echo_csv(records)
        return
    from rich.table import Table

    pct = f"{level * 100:g}%"
    title = (
        f"Bradley-Terry ratings: {len(arrays)} battles, {bootstrap} {by.value} bootstrap replicates, {pct} CI;"
        f" a strong label counts {strong_weight:g} wins" + (f"; baseline {esc(anchor)}" if anchor else "")
    )
    table = Table(title=title)
    table.add_column("rank (UB)", justify="right")
    table.add_column("model", overflow="fold")
    table.add_column("rating", justify="right")
    table.add_column(f"{pct} CI", justify="right", no_wrap=True)
    table.add_column("ranks", justify="right", no_wrap=True)
    if anchor:
        table.add_column(f"vs {esc(anchor)} % ({pct} CI)", justify="right", no_wrap=True)
    table.add_column("battles", justify="right")
    table.add_column("win %", justify="right")
    for r in lb.rows:
        vs = [f"{_fmt(100 * r.vs_baseline)} ({_fmt(100 * r.vs_baseline_low)}-{_fmt(100 * r.vs_baseline_high)})"] if anchor else []
        table.add_row(
            str(r.rank_ub),
            esc(r.model),
            _fmt(r.rating),
            f"-{_fmt(r.rating - r.ci_low, 0)}/+{_fmt(r.ci_high - r.rating, 0)}",
            f"{r.rank_lo}-{r.rank_hi}" if r.rank_lo != r.rank_hi else str(r.rank_lo),
            *vs,
            f"{r.battles} (insufficient data)" if r.insufficient_data else str(r.battles),
            _fmt(r.win_rate * 100),
        )
    out = console()
    out.print(table)
    if lb.style_coefs:
        parts = []
        for name, c in lb.style_coefs.items():
            ci = f" [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]" if "ci_low" in c else ""
            parts.append(f"{name} {c['coef']:+.3f}{ci}")
        out.print("Style coefficients (log-odds per standard deviation): " + "; ".join(parts), markup=False)
    if lb.tie_param is not None:
        out.print(f"Davidson tie parameter nu = {lb.tie_param:.3f}")


def _echo_csv(records: list[dict]) -> None:
    """Leaderboard records as CSV on stdout, header from the first record's keys."""
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    wr.writeheader()
    wr.writerows(records)
    typer.echo(buf.getvalue(), nl=False)


def _fit_samples(path: Path, *, format: OutFormat, bootstrap: int, level: float, seed: int, prior: float | None) -> None:
    from arena.battle_file import read_samples
    from arena.ratings import PL_PRIOR, fit_plackett_luce

    res = fit_plackett_luce(read_samples(path), bootstrap=bootstrap, level=level, seed=seed, prior=PL_PRIOR if prior is None else prior)
    for msg in res.warnings:
        typer.echo(f"Warning: {msg}", err=True)
    records = res.to_records()
    if format is OutFormat.json:
        print_json({"method": "plackett-luce", "samples": res.n_samples, "dropped_samples": res.dropped_samples, "choices": res.n_choices,
                    "components": res.components, "warnings": res.warnings, "leaderboard": records})
        return
    if format is OutFormat.csv:
        _echo_csv(records)
        return
    from rich.table import Table

    pct = f"{level * 100:g}%"
    table = Table(title=f"Plackett-Luce ratings: {res.n_samples} samples ({res.dropped_samples} all tied), {res.n_choices} choices, {bootstrap} sample bootstrap replicates, {pct} CI")
    for col, just in (("rank", "right"), ("model", "left"), ("rating", "right"), (f"{pct} CI", "right"), ("samples", "right"), ("won / choices", "right")):
        table.add_column(col, justify=just, overflow="fold" if col == "model" else "ellipsis")
    for r in res.rows:
        table.add_row(str(r.rank), esc(r.model), _fmt(r.rating), f"-{_fmt(r.rating - r.ci_low, 0)}/+{_fmt(r.ci_high - r.rating, 0)}", str(r.samples), f"{r.won} / {r.choices}")
    console().print(table)


@app.command("elo")
def elo(
    battles: Annotated[Path, typer.Argument(help="Battle file: .csv/.tsv, .jsonl or .json.", show_default=False)],
    k: Annotated[float, typer.Option("--k", help="Elo K factor.", min=0, max=1000, callback=finite)] = 4.0,
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
            table.add_row(esc(r["model"]), f"{r['elo']:.1f}")
        console().print(table)


class LevelOption(str, Enum):
    category = "category"
    overall = "overall"


class AggFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("aggregate")
def aggregate(
    inputs: Annotated[list[Path] | None, typer.Argument(help="Score tables (.csv/.tsv: a model column and numeric columns, empty = missing) or rankings files (.json).", show_default=False)] = None,
    run: Annotated[list[str] | None, typer.Option("--run", help="A run in the store whose per-category leaderboards are tasks (repeatable).", show_default=False)] = None,
    level: Annotated[LevelOption, typer.Option("--level", help="From a run: its per-category leaderboards or its overall one.")] = LevelOption.category,
    column: Annotated[list[str] | None, typer.Option("--column", "-c", help="Score column to use (repeatable; default all but the model column).", show_default=False)] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", "-x", help="Column to leave out (repeatable).", show_default=False)] = None,
    lower_better: Annotated[list[str] | None, typer.Option("--lower-better", help="Column where smaller is better (repeatable).", show_default=False)] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", "-b", min=0, help="Replicates of the bootstrap over tasks (0: none).")] = 200,
    level_ci: Annotated[float, typer.Option("--ci-level", min=0.5, max=0.999, help="Level of the rank intervals.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    format: Annotated[AggFormat, typer.Option("--format", "-f", help="Output format.")] = AggFormat.table,
    db: DbOption = None,
) -> None:
    """One ranking from several rankings or score tables: Kemeny-Young, Borda, mean of normalised scores.

    Each column (benchmark, task, category) ranks the models it measured; the rankings are
    aggregated by Kemeny-Young consensus (exact up to 12 systems, local search beyond) and Borda
    count, beside the mean of z-scored columns. A bootstrap over tasks gives each model's rank
    interval and the share of replicates keeping its rank; pairs the methods order differently are listed.
    """
    from arena.tables import aggregate_inputs

    store = open_store(db, readonly=True) if run else None
    res = aggregate_inputs(
        inputs or [], runs=run or [], store=store, level=level.value, columns=column or [], exclude=exclude or [],
        lower_better=lower_better or [], bootstrap=bootstrap, seed=seed, conf=level_ci,
    )
    for msg in res.warnings:
        typer.echo(f"Warning: {msg}", err=True)
    if format is AggFormat.json:
        print_json(res.to_dict())
        return
    print_aggregate(res)


def _rank_cell(row, method: str) -> str:
    r = row.ranks[method]
    if method in row.rank_lo:
        lo, hi = int(row.rank_lo[method]), int(row.rank_hi[method])
        span = f"{lo}-{hi}" if lo != hi else f"{lo}"
        return f"{r} ({span}, {100 * row.p_same[method]:.0f}%)"
    return str(r)


def print_aggregate(res) -> None:
    """The aggregate ranking as a rich table, then the pairs the methods disagree on."""
    from rich.table import Table

    exact = "exact" if res.kemeny_exact else "local search"
    boot = f"; rank (interval over {res.bootstrap} task replicates, share keeping the rank)" if res.bootstrap else ""
    t = Table(title=f"Aggregate of {len(res.tasks)} tasks, {len(res.rows)} models (Kemeny {exact}, agrees with {100 * res.kemeny_agreement:.1f}% of task preferences){boot}")
    t.add_column("model", overflow="fold")
    t.add_column("tasks", justify="right")
    t.add_column("Kemeny", justify="right", no_wrap=True)
    t.add_column("Borda", justify="right", no_wrap=True)
    t.add_column("Borda score", justify="right")
    t.add_column("mean z", justify="right", no_wrap=True)
    t.add_column("z", justify="right")
    for r in res.rows:
        t.add_row(
            esc(r.model), str(r.tasks), _rank_cell(r, "kemeny"), _rank_cell(r, "borda"), f"{r.values['borda']:.3f}",
            _rank_cell(r, "mean_normalised"), f"{r.values['mean_normalised']:+.2f}",
        )
    con = console()
    con.print(t)
    if res.disagreements:
        con.print(f"Methods disagree on {len(res.disagreements)} pair(s):")
        for a, b, o in res.disagreements:
            parts = ", ".join(f"{m} {'>' if v == 'a' else '<' if v == 'b' else '='}" for m, v in o.items())
            con.print(f"  {a} vs {b}: {parts}", markup=False)
    else:
        con.print("The three methods order every pair the same way.")
