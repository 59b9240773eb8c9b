"""`arena surrogate`: train the offline surrogate judge on recorded verdicts, and check it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import OutFormat, console, esc, path_option, print_json

NAME = "surrogate"
app = typer.Typer(
    help="The offline surrogate judge (imitates GPT-4-Turbo): train it on recorded verdicts, evaluate it.",
    no_args_is_help=True,
)


FormatOption = Annotated[OutFormat, typer.Option("--format", "-f", help="Output: table (for people) or json (for programs).")]
DataOption = Annotated[
    Path,
    typer.Option("--data", help="Folder of recorded verdicts: <model>.jsonl[.gz] files (AlpacaEval layout), or its parent.", show_default=False),
]


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}%"


@app.command("train")
def train_cmd(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", parser=path_option("--out", "a weights file (.npz)"), metavar="<path>", help="Where to write the weights (.npz).", show_default=False)],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split of models into folds.", min=0)] = 0,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Folds over models for the held-out metrics.")] = 4,
    buckets: Annotated[int, typer.Option("--buckets", min=2, help="Size of the hashed n-gram space (a power of two; the shipped weights use 262144).")] = 1 << 18,
    cv: Annotated[bool, typer.Option("--cv/--no-cv", help="Cross-validate by model and record the held-out metrics (slower).")] = True,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Leave this model's verdicts out (repeatable).", show_default=False)] = None,
    date: Annotated[str | None, typer.Option("--date", help="Date to record in the provenance (default today); fix it to reproduce a file byte for byte.", show_default=False)] = None,
    format: FormatOption = OutFormat.table,
) -> None:
    """Train the surrogate on recorded verdicts and write its weights (deterministic: same data, seed and date, same file)."""
    from arena.errors import BadInput
    from arena.surrogate.data import load_judgments
    from arena.surrogate.train import TrainParams, train

    if buckets & (buckets - 1):
        raise BadInput(f"--buckets: expected a power of two, got {buckets}")
    from arena.outpaths import check_out
    from arena.surrogate.model import WEIGHTS_OUT

    check_out(out, "file", WEIGHTS_OUT)  # before reading and training
    pairs = load_judgments(data)
    params = TrainParams(seed=seed, folds=folds, n_buckets=buckets, exclude_models=tuple(exclude or ()))
    model = train(pairs, params, cv=cv, date=date)
    model.save(out)
    prov = model.provenance
    if format is OutFormat.json:
        print_json({"out": str(out), "bytes": out.stat().st_size, **prov})
        return
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {prov['rows']} verdicts, {len(prov['trained_on_models'])} models, fit {prov['fit']}")
    if "held_out" in prov:
        _print_held_out(prov["held_out"])


def _print_held_out(h: dict) -> None:
    typer.echo(
        f"held-out models ({h['folds']}-fold over models), {h['decisive_rows']} decisive verdicts: "
        f"surrogate {_pct(h['agreement'])}, longer answer wins {_pct(h['longer_wins_agreement'])}; "
        f"{h['shorter_won_rows']} rows the shorter answer won: surrogate {_pct(h['agreement_shorter_won'])}; "
        f"per-model win rate vs the judge's: Spearman {h.get('win_rate_spearman', float('nan')):.3f}"
    )


def _csv_columns(path: Path) -> list[str]:
    import csv

    try:
        with Path(path).open(encoding="utf-8") as fh:
            return next(csv.reader(fh), [])
    except OSError:
        return []


@app.command("eval")
def eval_cmd(
    data: DataOption,
    outputs: Annotated[Path | None, typer.Option("--outputs", help="Folder of model outputs (<model>.json[.gz]) for the round-robin ranking check.", show_default=False)] = None,
    reference: Annotated[Path | None, typer.Option("--reference", help="CSV with model and reference ratings (default: reference_rankings.csv beside --outputs).", show_default=False)] = None,
    column: Annotated[str, typer.Option("--column", help="Reference column to compare the ranking with.")] = "chatbot_arena_elo_2024_02_02",
    teacher_column: Annotated[
        str | None,
        typer.Option("--teacher-column", help="Column of the imitated judge's own scores of the models (default: alpacaeval2_winrate when the file has it).", show_default=False),
    ] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="Weights file (default: the shipped one).", show_default=False)] = None,
    length_control: Annotated[bool, typer.Option("--length-control/--no-length-control", help="Drop the length terms from the score.")] = False,
    cv: Annotated[bool, typer.Option("--cv", help="Re-run the cross-validation by model (re-trains; minutes) instead of reading the held-out figures stored with the weights.")] = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates for the ranking's intervals.")] = 200,
    format: FormatOption = OutFormat.table,
) -> None:
    """Print the surrogate's agreement with the recorded judge (held-out models, and on --data), vs "longer answer wins", and the ranking check."""
    from arena.surrogate.data import load_judgments, load_outputs, load_reference
    from arena.surrogate.evaluate import judgment_agreement, ranking_check
    from arena.surrogate.model import SurrogateModel

    model = SurrogateModel.load(weights, length_control=length_control)
    pairs = load_judgments(data)
    result: dict = {"weights": str(weights or "shipped"), "length_control": length_control, "provenance_date": model.provenance.get("date")}
    if cv:
        from arena.surrogate.train import TrainParams, cross_validate, featurise

        p = model.provenance.get("params", {})
        params = TrainParams(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in p.items()}) if p else TrainParams()
        result["held_out"] = cross_validate(featurise(pairs, params.n_buckets), params)
    else:
        result["held_out"] = model.provenance.get("held_out")
    result["on_data"] = judgment_agreement(model, pairs)
    if outputs is not None:
        outs = load_outputs(outputs)
        ref_path = reference or (Path(outputs).parent / "reference_rankings.csv" if (Path(outputs).parent / "reference_rankings.csv").exists() else Path(outputs) / "reference_rankings.csv")
        teacher = None
        tcol = teacher_column or "alpacaeval2_winrate"
        if teacher_column is not None or tcol in _csv_columns(ref_path):
            teacher = load_reference(ref_path, tcol)
        result["ranking"] = ranking_check(model, outs, load_reference(ref_path, column), teacher=teacher, bootstrap=bootstrap)
        result["ranking"]["reference"] = f"{ref_path}:{column}"
        if teacher is not None:
            result["ranking"]["teacher"] = f"{ref_path}:{tcol}"
    if format is OutFormat.json:
        result["held_out"] = {k: v for k, v in (result["held_out"] or {}).items()}
        print_json(result)
        return
    if result["held_out"]:
        _print_held_out(result["held_out"])
    else:
        typer.echo("held-out figures: none stored with these weights (use --cv)")
    d = result["on_data"]
    typer.echo(
        f"on --data ({d['decisive_rows']} decisive verdicts; in-sample if these weights were trained on them): "
        f"surrogate {_pct(d['agreement'])}, longer answer wins {_pct(d['longer_wins_agreement'])}, "
        f"shorter answer won ({d['shorter_won_rows']} rows): surrogate {_pct(d['agreement_shorter_won'])}"
    )
    if "ranking" in result:
        r = result["ranking"]
        from rich.table import Table

        t = Table("rank", "model", "rating", "95% CI", "reference", "mean chars", title=f"round-robin, {r['matches']} matches judged by the surrogate ({r['ties']} ties)")
        for i, row in enumerate(r["leaderboard"], 1):
            t.add_row(str(i), esc(row["model"]), f"{row['rating']:.0f}", f"{row['ci_low']:.0f}..{row['ci_high']:.0f}", "-" if row["reference"] is None else f"{row['reference']:g}", str(row["mean_chars"]))
        console().print(t)
        typer.echo(f"Spearman with {r['reference']}: {r['spearman']:.3f} (Kendall {r['kendall']:.3f}); ranking by mean answer length: {r['length_spearman']:.3f}")
        if "teacher" in r:
            typer.echo(
                f"the imitated judge's own ranking ({r['teacher']}): Spearman {r['teacher_reference_spearman']:.3f} with the reference; "
                f"the surrogate's ranking vs the judge's: Spearman {r['teacher_spearman']:.3f}"
            )
