"""`arena pool curate` and `arena pool compare` (registered by arena/cli/pool.py)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, esc, open_store, print_json


class Balance(str, Enum):
    none = "none"
    clusters = "clusters"


def _money(x) -> str:
    return "unknown" if x is None else f"${x:.4f}"


def curate(
    pool: Annotated[str, typer.Argument(help="Pool to curate.", show_default=False)],
    size: Annotated[int, typer.Option("--size", "-n", help="Prompts in the new pool.", show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Name of the new pool.", show_default=False)],
    annotator: Annotated[str | None, typer.Option("--annotator", "-a", help="Judge preset (kind llm) whose model annotates the prompts.", show_default=False)] = None,
    pilot: Annotated[str | None, typer.Option("--pilot", help="A run on this pool: take first the prompts on which its models differ most.", show_default=False)] = None,
    threshold: Annotated[int, typer.Option("--threshold", "-t", help="Keep prompts meeting at least this many of the 7 criteria.")] = 6,
    balance: Annotated[Balance, typer.Option("--balance", help="Sample evenly across topic clusters, or uniformly.")] = Balance.none,
    clusters: Annotated[int | None, typer.Option("--clusters", "-k", help="Topic clusters (default: about 20 prompts each).", show_default=False)] = None,
    embedding_model: Annotated[str | None, typer.Option("--embedding-model", help="Cluster on embeddings from this litellm embedding model (default: offline TF-IDF).", show_default=False)] = None,
    embedding_api_base: Annotated[str | None, typer.Option("--embedding-api-base", help="Server URL for the embedding model.", show_default=False)] = None,
    embedding_key_env: Annotated[str | None, typer.Option("--embedding-key-env", help="Environment variable holding the embedding API key.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the clustering and the sampling.")] = 0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending more than $1 (or an unknown amount).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and its cost, make no call.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite the pool named by --out.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not answer from the call cache.")] = False,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Output: table or json.")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Build a new pool from a pool's best prompts, BenchBuilder-style: an LLM annotator answers seven yes/no criteria per prompt, prompts meeting --threshold of them are kept up to --size (planned and priced before any call; cached, resumable); --pilot RUN takes first the prompts on which that run's models differ most."""
    import sys

    from arena.api import curate_pool
    from arena.errors import BadInput

    store = open_store(db, create=False)
    con = console()
    progress = {"total": 0, "done": 0, "unparsed": 0, "failed": 0}

    def on_record(rec) -> None:
        progress["done"] += 1
        progress["unparsed"] += rec.status == "unparsed"
        progress["failed"] += rec.status == "error"
        step = max(1, progress["total"] // 10)
        if progress["done"] % step == 0 or progress["done"] == progress["total"]:
            typer.echo(
                f"annotated {progress['done']}/{progress['total']} ({progress['unparsed']} unparsed, {progress['failed']} failed)",
                err=True,
            )

    def on_plan(plan) -> None:
        progress["total"] = plan.to_annotate
        typer.echo(
            f"Plan: annotate {plan.to_annotate} of {plan.prompts} prompts of pool {plan.pool!r} with {plan.model}"
            f" ({plan.cached} answered by the call cache): {plan.calls} calls, about {plan.input_tokens} input tokens;"
            f" cost expected {_money(plan.cost_expected_usd)}, worst {_money(plan.cost_worst_usd)}"
            + (f" at the Batch API rate, {plan.batch_rate}" if plan.batch_rate else ""),
            err=format is OutFormat.json,
        )
        if dry_run:
            raise typer.Exit(0)
        worst = plan.cost_worst_usd
        if not yes and plan.calls and (worst is None or worst > 1.0):
            if not sys.stdin.isatty():
                raise BadInput(f"--yes: the worst-case cost {_money(worst)} is above $1.00 (or unknown); pass --yes to run without asking")
            typer.confirm(f"Worst case {_money(worst)}. Continue?", abort=True)

    res = curate_pool(
        pool, out, size=size, annotator=annotator, pilot=pilot, threshold=threshold, balance=balance.value, clusters=clusters,
        seed=seed, embedding_model=embedding_model, embedding_api_base=embedding_api_base, embedding_key_env=embedding_key_env,
        replace=replace, no_cache=no_cache, db=store, on_plan=on_plan, on_record=on_record,
    )
    if format is OutFormat.json:
        from dataclasses import asdict

        print_json(asdict(res))
        return
    c = res.counts
    if annotator is not None:
        con.print(
            f"Annotated {sum(c.values())} prompts: {c['ok']} ok, {c['retried']} after a re-ask, {c['unparsed']} unparsed;"
            f" {res.calls_paid} calls paid, {res.calls_cached} from the cache, cost {_money(res.cost_usd)}",
            highlight=False,
        )
        con.print("Criteria met (prompts): " + ", ".join(f"{k}: {v}" for k, v in res.score_histogram.items()), highlight=False)
        con.print(f"{res.eligible} prompts meet {res.threshold} of 7", highlight=False)
    how = "even across clusters" if res.balance == "clusters" else "uniformly" if pilot is None else "highest spread first"
    con.print(
        f"{res.clusters} topic clusters ({res.cluster_method}); kept {len(res.kept)} ({how}) in pool {res.out!r}",
        highlight=False,
    )
    for w in res.warnings:
        con.print(f"Warning: {w}", highlight=False, markup=False)


def compare(
    pool_a: Annotated[str, typer.Argument(help="First pool.", show_default=False)],
    pool_b: Annotated[str, typer.Argument(help="Second pool.", show_default=False)],
    runs: Annotated[tuple[str, str], typer.Option("--runs", help="RUN_A RUN_B: a run of the same models on each pool.", show_default=False)],
    reference: Annotated[Path | None, typer.Option("--reference", help="Reference ranking CSV (model, score); default: the runs' spec reference.", show_default=False)] = None,
    replicates: Annotated[int, typer.Option("--replicates", help="Outer bootstrap replicates for the metrics' intervals.", min=2)] = 50,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Inner bootstrap replicates for the ratings' intervals.", min=10)] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Output: table or json.")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Benchmark quality of two pools side by side, with 95% intervals: separability, agreement with a reference ranking, Brier score, Spearman, mean CI width and that width at 1,000 judge calls."""
    from arena.api import compare_pools

    res = compare_pools(pool_a, pool_b, runs[0], runs[1], reference=reference, replicates=replicates, bootstrap=bootstrap, seed=seed, db=open_store(db, create=False))
    if format is OutFormat.json:
        print_json(res)
        return
    from rich.table import Table

    from arena.ratings import QUALITY_METRICS

    qa, qb = res["quality"]
    t = Table("metric", esc(f"{pool_a} ({qa['run'][:24]})"), esc(f"{pool_b} ({qb['run'][:24]})"), title="Benchmark quality (95% intervals)")
    titles = {
        "separability": "separability (pairs with disjoint CIs)",
        "agreement_with_confidence": "agreement with confidence",
        "brier": "Brier score (lower is better)",
        "spearman": "Spearman with the reference",
        "mean_ci_width": "mean 95% CI width (Elo)",
        "ci_width_at_1000_calls": "CI width at 1,000 judge calls",
    }
    for k in QUALITY_METRICS:
        t.add_row(titles[k], _est(qa["metrics"][k], k), _est(qb["metrics"][k], k))
    t.add_row("prompts / battles / judge calls", f"{qa['prompts']} / {qa['battles']} / {qa['judge_calls']}", f"{qb['prompts']} / {qb['battles']} / {qb['judge_calls']}")
    con = console()
    con.print(t)
    con.print(f"{len(res['models'])} models in both runs; reference: {res['reference'] or 'none (agreement, Brier and Spearman need --reference)'}", highlight=False, markup=False)
    if res["dropped_models"]:
        con.print("Left out (rated in one run only): " + ", ".join(res["dropped_models"]), highlight=False, markup=False)


def _est(e: dict, key: str) -> str:
    if e["value"] is None:
        return "-"
    f = (lambda x: f"{x:.1f}") if "width" in key else (lambda x: f"{x:.3f}")
    if e["low"] is None:
        return f(e["value"])
    return f"{f(e['value'])} [{f(e['low'])}, {f(e['high'])}]"
