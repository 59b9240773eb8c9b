"""`arena judge`: list judge presets, measure a judge's reliability on labelled pairs, score recorded
verdicts, and compare judges in a leaderboard."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, esc, path_option, print_json

NAME = "judge"
app = typer.Typer(
    help="Judge presets and judge reliability (JudgeBench-style): eval, score, compare, list.",
    no_args_is_help=True,
)


class InputFormat(str, Enum):
    judgebench = "judgebench"
    llmbar = "llmbar"
    pandalm = "pandalm"
    jsonl = "jsonl"


FormatOption = Annotated[OutFormat, typer.Option("--format", "-f", help="Output: table (for people) or json (for programs).")]
InputFormatOption = Annotated[
    InputFormat | None,
    typer.Option("--input-format", help="Format of the pairs file (detected from its keys when omitted).", show_default=False),
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Use only the first N pairs.", show_default=False)]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resampling.", min=0)]
ReplicatesOption = Annotated[int, typer.Option("--replicates", min=10, help="Bootstrap resamples for the 95% intervals.")]

SURROGATE_DESCRIPTION = "surrogate (imitates {imitates}; offline)"


def describe_preset(name: str, preset: dict) -> str:
    """A preset's description; an offline surrogate is always called what it is."""
    if preset.get("kind") == "surrogate":
        return SURROGATE_DESCRIPTION.format(imitates=preset.get("imitates") or "GPT-4-Turbo")
    desc = preset.get("description")
    return str(desc) if desc else name


def _default_out(judge: str, pairs: Path) -> Path:
    return Path(f"reliability-{Path(judge).stem}-{pairs.stem}.json")


@app.command("list")
def list_cmd(format: FormatOption = OutFormat.table) -> None:
    """List the shipped judge presets with their kind, model and description."""
    from arena.judges import list_presets

    rows = [
        {
            "name": name,
            "kind": preset.get("kind"),
            "model": preset.get("model"),
            "description": describe_preset(name, preset),
            "path": str(path),
        }
        for name, preset, path in list_presets()
    ]
    if format is OutFormat.json:
        print_json(rows)
        return
    from rich.table import Table

    t = Table("preset", "kind", "model", "description")
    for r in rows:
        t.add_row(esc(r["name"]), esc(r["kind"]), esc(r["model"] or "-"), esc(r["description"]))
    console().print(t)
    if not rows:
        console().print("No shipped judge presets found.")


@app.command("eval")
def eval_cmd(
    judge: Annotated[str, typer.Option("--judge", "-j", help="Judge preset: a shipped name (see `arena judge list`) or a TOML path.")],
    pairs: Annotated[Path, typer.Option("--pairs", "-p", help="Labelled pairs: judgebench, llmbar, pandalm or native jsonl.")],
    input_format: InputFormatOption = None,
    limit: LimitOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", parser=path_option("--out", "a result file (JSON)"), metavar="<path>", help="Result file (JSON) to write (default: reliability-JUDGE-PAIRS.json in the current folder).", show_default=False)] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Pairs judged at once.")] = 16,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not answer calls from the store's call cache.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the estimated calls, tokens and cost; call nothing.")] = False,
    seed: SeedOption = 0,
    replicates: ReplicatesOption = 1000,
    format: FormatOption = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Run a judge on labelled pairs in both orders, store the games, print and write the reliability report.

    Re-running the same command resumes: pairs already decided are read back from the store.
    """
    from arena.api import evaluate_judge
    from arena.reliability import read_pairs, render_result, write_result

    fmt = input_format.value if input_format else None
    if dry_run:
        _print_plan(judge, read_pairs(pairs, fmt, limit=limit), format)
        return
    from arena.outpaths import check_out
    from arena.results import RESULT_FILE

    out = check_out(out or _default_out(judge, pairs), "file", RESULT_FILE)  # before any judge call
    result = evaluate_judge(
        judge, pairs, format=fmt, limit=limit, db=db, concurrency=concurrency, no_cache=no_cache, replicates=replicates, seed=seed
    )
    run = result["run"]
    path = write_result(result, out)
    if format is OutFormat.json:
        print_json(result)
    else:
        c = console()
        render_result(result, c)
        c.print(f"Run {run['name']} ({run['run_id']}): {run['judged']} pairs judged, {run['resumed']} read back. Result written to {path}.", highlight=False, markup=False)
    failed = result["counts"]["games_by_pick"]["error"]
    if failed:
        from arena.errors import RunFailed

        raise RunFailed(
            f"{failed} of {result['counts']['games']} games failed after retries (counted in the error rate); "
            "run the same command again to retry them"
        )


def _print_plan(judge: str, pairset, format: OutFormat) -> None:
    import asyncio

    from arena.judges import load_judge
    from arena.reliability.run import plan_eval

    j = load_judge(judge)
    try:
        plan = {"judge": j.name, "description": j.description, "pairs_file": str(pairset.path), **plan_eval(j, pairset)}
    finally:
        asyncio.run(j.aclose())
    if format is OutFormat.json:
        print_json(plan)
        return
    cost = plan["cost_usd_expected"]
    console().print(
        f"Plan: {plan['judge']} ({plan['description']}) on {plan['pairs_file']}: {plan['pairs']} pairs x "
        f"{plan['calls_per_pair']} calls = {plan['calls']} calls, ~{plan['input_tokens']:,} input and "
        f"~{plan['output_tokens_expected']:,} output tokens (at most {plan['output_tokens_max']:,}), "
        f"expected cost {'unknown' if cost is None else f'${cost:,.2f}'}; before the cache answers any. "
        f"Note: {plan['note']}.",
        highlight=False, markup=False,
    )


@app.command("score")
def score_cmd(
    verdicts: Annotated[Path, typer.Option("--verdicts", "-v", help="Verdicts recorded elsewhere (llmbar, pandalm, judgebench outputs or native jsonl).")],
    pairs: Annotated[Path, typer.Option("--pairs", "-p", help="The labelled pairs those verdicts are about.")],
    input_format: InputFormatOption = None,
    verdicts_format: Annotated[
        InputFormat | None, typer.Option("--verdicts-format", help="Format of the verdicts file (detected when omitted).", show_default=False)
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Judge name in the report (default: the verdicts file's name).", show_default=False)] = None,
    limit: LimitOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", parser=path_option("--out", "a result file (JSON)"), metavar="<path>", help="Also write the result file (JSON) here, for `arena judge compare`.", show_default=False)] = None,
    seed: SeedOption = 0,
    replicates: ReplicatesOption = 1000,
    format: FormatOption = OutFormat.table,
) -> None:
    """Score verdicts recorded elsewhere against the pairs' gold labels, without calling any judge."""
    from arena.outpaths import check_out
    from arena.reliability import build_result, read_pairs, read_verdicts, render_result, write_result
    from arena.results import RESULT_FILE

    if out is not None:
        check_out(out, "file", RESULT_FILE)  # before reading and scoring
    pairset = read_pairs(pairs, input_format.value if input_format else None, limit=limit)
    games = read_verdicts(verdicts, pairset, verdicts_format.value if verdicts_format else None)
    judge_name = name or verdicts.stem
    result = build_result(
        pairset,
        games,
        judge={"name": judge_name, "kind": "recorded", "model": None, "description": f"verdicts recorded in {verdicts.name}"},
        source="score",
        replicates=replicates,
        seed=seed,
        verdicts_path=str(verdicts),
    )
    if out is not None:
        write_result(result, out)
    if format is OutFormat.json:
        print_json(result)
        return
    render_result(result, console())


@app.command("compare")
def compare_cmd(
    results: Annotated[list[Path], typer.Argument(help="Result files written by `arena judge eval` (or `score --out`).", show_default=False)],
    format: FormatOption = OutFormat.table,
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="Rank results from different datasets in one table.")] = False,
) -> None:
    """A judge leaderboard: each result's dataset, score with its 95% CI, consistency, cost per 1,000 pairs and time."""
    from arena.reliability import leaderboard, read_result, render_leaderboard

    rows = leaderboard([read_result(p) for p in results], allow_mixed=allow_mixed)
    if format is OutFormat.json:
        print_json(rows)
        return
    render_leaderboard(rows, console())
