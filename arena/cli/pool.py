"""`arena pool`: import model outputs into a named pool, show its coverage, list and export pools."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, esc, open_store, path_option, print_json, store_exists

NAME = "pool"
app = typer.Typer(help="Prompt pools: import model outputs, show coverage, list, export, curate, compare.", no_args_is_help=True)


class PoolFormat(str, Enum):
    native = "native"
    alpaca_eval = "alpaca_eval"
    arena_hard = "arena_hard"
    mt_bench = "mt_bench"
    varco = "varco"
    jsonl = "jsonl"


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to read.", show_default=False)],
    name: Annotated[str, typer.Option("--name", "-n", help="Pool name in the store.")],
    format: Annotated[
        PoolFormat | None, typer.Option("--format", "-f", help="Input format (detected from the path when omitted).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop the pool's prompts and answers first.")] = False,
    allow_partial: Annotated[
        bool, typer.Option("--allow-partial", help="Import a model that answers fewer than half of the pool's prompts.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Read model outputs into a named pool (one transaction: all or nothing).

    Prints each model's overlap with the pool's prompts; a model matching fewer than half of
    them is refused (its prompt texts probably differ) unless --allow-partial.
    """
    from arena.api import import_pool
    from arena.store import default_db_path

    path = db or default_db_path()
    data = import_pool(name, paths, format=format.value if format else None, replace=replace, allow_partial=allow_partial, db=path)
    typer.echo(
        f"Imported {len(data.outputs)} answers from {len(data.models)} models"
        f" ({len(data.prompts)} new prompts) into pool {name!r} in {path}"
    )
    for o in data.overlap:
        typer.echo(f"  {o.line()}")


@app.command("list")
def list_(
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """List the pools in the store."""
    rows = open_store(db, readonly=True).list_pools() if store_exists(db) else []
    if format is OutFormat.json:
        print_json([r.to_dict() for r in rows])
        return
    from rich.table import Table

    table = Table("pool", "format", "prompts", "models", "answers")
    for r in rows:
        table.add_row(esc(r.pool), esc(r.format), str(r.prompts), str(r.models), str(r.outputs))
    console().print(table if rows else "No pools yet: `arena pool import PATH --name NAME`.")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Pool name.")],
    format: Annotated[OutFormat, typer.Option("--format", "-f")] = OutFormat.table,
    limit: Annotated[int, typer.Option(help="Prompts to list (0 for none).", min=0)] = 10,
    reasons: Annotated[bool, typer.Option("--reasons", help="With the listed prompts, each criterion's answer and reason (curated pools).")] = False,
    db: DbOption = None,
) -> None:
    """Print a pool's prompts, categories, models and a coverage table (and a curation's criteria and clusters)."""
    from collections import Counter

    from arena.pools import coverage, turn_counts

    store = open_store(db, readonly=True)
    prompts = store.prompts(name)
    outputs = store.outputs(name)
    cov = coverage(prompts, outputs)
    categories = Counter(p.category or "(none)" for p in prompts)
    turns = turn_counts(prompts)
    notes = _prompt_notes(store, name)
    if format is OutFormat.json:
        print_json(
            {
                "pool": name,
                "prompts": len(prompts),
                "categories": dict(categories.most_common()),
                "turns": {str(k): v for k, v in turns.items()},
                "models": [c.model for c in cov],
                "coverage": [
                    {"model": c.model, "answers": c.answers, "missing": c.missing, "empty": c.empty} for c in cov
                ],
                "prompt_list": [
                    {"prompt_id": p.prompt_id, "category": p.category, "turns": p.n_turns, **notes.get(p.prompt_id, {})}
                    for p in prompts[:limit]
                ],
            }
        )
        return
    from rich.table import Table

    con = console()
    con.print(f"[bold]Pool {esc(name)}[/bold]: {len(prompts)} prompts, {len(cov)} models, {len(outputs)} answers")
    con.print("Categories: " + ", ".join(f"{k} ({v})" for k, v in categories.most_common()), markup=False)
    con.print("Turns per prompt: " + ", ".join(f"{k} ({v})" for k, v in turns.items())
              + ("; a conversation counts as answered only when every turn is" if max(turns, default=1) > 1 else ""), highlight=False, markup=False)
    table = Table("model", "answers", "missing", "empty", "missing prompts", title="Coverage")
    for c in cov:
        missing = ", ".join(c.missing[:5]) + (" ..." if len(c.missing) > 5 else "")
        table.add_row(esc(c.model), str(c.answers), str(len(c.missing)), str(len(c.empty)), esc(missing))
    con.print(table)
    if notes:
        statuses = Counter(n.get("status", "not annotated") for n in notes.values())
        con.print("Annotations: " + ", ".join(f"{k} ({v})" for k, v in statuses.most_common()), highlight=False, markup=False)
    if limit:
        has_cluster = any("cluster" in n for n in notes.values())
        has_criteria = any("status" in n for n in notes.values())
        has_turns = any(p.is_conversation for p in prompts)
        cols = ["prompt_id", "category"] + ["turns"] * has_turns + ["cluster"] * has_cluster + ["criteria met"] * has_criteria + ["text"]
        pt = Table(*cols, title=f"First {min(limit, len(prompts))} prompts")
        for p in prompts[:limit]:
            text = p.text.replace("\n", " ")
            n = notes.get(p.prompt_id, {})
            extra = [_cluster_cell(n)] * has_cluster + [_criteria_cell(n)] * has_criteria
            pt.add_row(esc(p.prompt_id), esc(p.category or ""), *[str(p.n_turns)] * has_turns, *map(esc, extra), esc(text[:80] + ("..." if len(text) > 80 else "")))
        con.print(pt)
        if reasons:
            for p in prompts[:limit]:
                crit = notes.get(p.prompt_id, {}).get("criteria")
                if crit:
                    con.print(f"{p.prompt_id}:", highlight=False, markup=False)
                    for k, v in crit.items():
                        con.print(f"  {k}: {'yes' if v['met'] else 'no'} | {v['reason']}", highlight=False, markup=False)


_SHORT = {"specificity": "spec", "domain_knowledge": "domain", "complexity": "complex", "problem_solving": "problem",
          "creativity": "creative", "technical_accuracy": "technical", "real_world": "real-world"}


def _prompt_notes(store, pool: str) -> dict[str, dict]:
    """prompt_id -> {cluster, cluster_name, score, status, criteria (with reasons), annotator} from a curation."""
    notes: dict[str, dict] = {}
    for pid, (c, cname) in store.clusters(pool).items():
        notes[pid] = {"cluster": c, "cluster_name": cname}
    seen = set()
    for r in store.annotations(pool):  # latest first
        if r.prompt_id in seen:
            continue
        seen.add(r.prompt_id)
        notes.setdefault(r.prompt_id, {}).update({"score": r.score, "status": r.status, "criteria": r.criteria, "annotator": r.annotator})
    return notes


def _cluster_cell(n: dict) -> str:
    return "" if "cluster" not in n else f"{n['cluster']} ({n['cluster_name']})" if n.get("cluster_name") else str(n["cluster"])


def _criteria_cell(n: dict) -> str:
    if "status" not in n:
        return ""
    if not n.get("criteria"):
        return n["status"]
    met = [_SHORT.get(k, k) for k, v in n["criteria"].items() if v["met"]]
    return f"{n['score']}/7 " + " ".join(met)


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Pool name.")],
    format: Annotated[str, typer.Option("--format", "-f", help="jsonl (one prompt a line), native, arena_hard, mt_bench or alpaca_eval (a folder).")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", "-o", parser=path_option("--out", "a file or folder"), metavar="<path>", help="File (jsonl) or folder (native, arena_hard, mt_bench, alpaca_eval); stdout if omitted.")] = None,
    db: DbOption = None,
) -> None:
    """Export a pool; `arena pool import --format jsonl` (or native) reads it back."""
    from arena.errors import BadInput
    from arena.outpaths import check_out, write_atomic, writing
    from arena.pools import export_jsonl, write_native

    if format not in ("jsonl", "native", "arena_hard", "alpaca_eval", "mt_bench"):
        raise BadInput(f"--format: {format!r} is not an export format (expected jsonl, native, arena_hard, mt_bench or alpaca_eval)")
    if out is None and format != "jsonl":
        raise BadInput(f"--out: a folder is needed for --format {format}")
    if out is not None and format in ("jsonl", "native"):  # peers' formats check theirs in export_pool_peer
        kind, expected = ("file", "a JSON lines file") if format == "jsonl" else ("folder", "a folder (prompts.jsonl, outputs/)")
        check_out(out, kind, expected)  # before reading the pool
    store = open_store(db, readonly=True)
    prompts, outputs = store.prompts(name), store.outputs(name)
    if format == "jsonl":
        if out is None:
            for line in export_jsonl(prompts, outputs):
                typer.echo(line)
        else:
            with writing(out, kind, expected):
                write_atomic(out, "".join(line + "\n" for line in export_jsonl(prompts, outputs)))
            typer.echo(f"Wrote {len(prompts)} prompts to {out}", err=True)
    elif format == "native":
        with writing(out, kind, expected):
            write_native(out, prompts, outputs)
        typer.echo(f"Wrote pool {name!r} to {out}/", err=True)
    else:
        from arena.verdicts.export import export_pool_peer

        paths = export_pool_peer(store, name, format, out)
        typer.echo(f"Wrote pool {name!r} as {format} ({len(paths)} files) to {out}/", err=True)


try:  # answer generation comes with the backends
    from arena.cli._generate import generate as _generate
except ImportError:  # pragma: no cover
    _generate = None
if _generate is not None:
    app.command("generate")(_generate)

from arena.cli._curate import compare as _compare
from arena.cli._curate import curate as _curate

app.command("curate")(_curate)
app.command("compare")(_compare)
