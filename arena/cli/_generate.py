"""`arena pool generate`: a model answers every prompt of a pool (registered by arena/cli/pool.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli._common import DbOption, OutFormat, console, finite, open_store, print_json


def generate(
    model: Annotated[str, typer.Option("--model", "-m", help="Model as litellm names it (openai/gpt-4o-mini, hosted_vllm/..., ollama/...), or vllm/<model> for vllm in process.", show_default=False)],
    pool: Annotated[str, typer.Option("--pool", "-p", help="Pool whose prompts to answer.", show_default=False)],
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens per answer.", min=1)] = 2048,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature.", min=0, max=2, callback=finite)] = 0.0,
    name: Annotated[str | None, typer.Option("--name", help="Store answers under this model name (default: --model).", show_default=False)] = None,
    system: Annotated[str | None, typer.Option("--system", help="A system message for every prompt.", show_default=False)] = None,
    api_base: Annotated[str | None, typer.Option("--api-base", help="Server URL, e.g. http://localhost:8000/v1 for vllm serve.", show_default=False)] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Environment variable that holds the API key (the key is never stored).", show_default=False)] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Calls in flight.", min=1)] = 8,
    rpm: Annotated[float | None, typer.Option("--rpm", help="Requests per minute limit.", show_default=False, min=0.001, callback=finite)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per call.", min=0.1, max=86_400, callback=finite)] = 300.0,
    limit: Annotated[int | None, typer.Option("--limit", help="Answer at most this many prompts.", show_default=False, min=1)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Answer again prompts this model already answered.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not answer from the call cache.")] = False,
    batch: Annotated[bool, typer.Option("--batch", help="Through the provider's Batch API (openai/..., hosted_vllm/...): one batch per turn, at the batch price; a killed run resumes polling.")] = False,
    poll: Annotated[float, typer.Option("--poll", help="With --batch: seconds between status checks of a pending batch.", min=0.01, max=86_400, callback=finite)] = 30.0,
    plain: Annotated[bool, typer.Option("--plain", help="Plain progress lines on stderr instead of a live bar.")] = False,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Output: table or json.")] = OutFormat.table,
    db: DbOption = None,
) -> None:
    """Fill a pool with a model's answers, through the same backends, cache, limits and cost accounting as judging.

    Prompts the model already answered are skipped (resumable); conversations are answered turn by
    turn (the model sees its own earlier answers), each turn cached; progress goes to stderr.
    Exit code 3 when some answers failed after retries.
    """
    from arena.errors import RunFailed
    from arena.generate import generate_answers

    store = open_store(db, create=False)  # generate_answers refuses a blank or unknown pool and a blank model before any call
    callbacks, close = _progress(plain)
    try:
        res = generate_answers(
            store, pool, model, name=name, max_tokens=max_tokens, temperature=temperature, system=system,
            api_base=api_base, api_key_env=api_key_env, concurrency=concurrency, rpm=rpm, timeout=timeout,
            limit=limit, overwrite=overwrite, no_cache=no_cache, batch=batch, poll_s=poll, **callbacks,
        )
    finally:
        close()
    if format is OutFormat.json:
        print_json(res.as_dict())
    else:
        cost = "unknown" if res.cost_usd is None else f"${res.cost_usd:.4f}"
        console().print(
            f"{res.model}: wrote {res.written} answers ({res.turns} turns, {res.cached_turns} from the cache) to pool {res.pool!r} ({res.cached} wholly from the cache, "
            f"{res.skipped} already there, {len(res.errors)} failed); tokens in {res.input_tokens}, out {res.output_tokens}; "
            f"cost {cost} (saved ${res.cost_saved_usd:.4f} by the cache); {res.seconds:.1f} s",
            highlight=False, markup=False,
        )
        for e in res.errors[:5]:
            console().print(f"  {e['prompt_id']}: {e['error']}", highlight=False, markup=False)
    if res.errors:
        raise RunFailed(f"{len(res.errors)} of {len(res.errors) + res.written} answers failed after retries; run the same command again to retry them")


def _progress(plain: bool) -> tuple[dict, object]:
    """`on_start`/`on_turn` callbacks showing turns done, cached and failed on stderr: a live rich
    bar on a terminal, else (or with --plain) a line at every tenth of the work."""
    import sys
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    state = {"total": 0, "done": 0, "cached": 0, "failed": 0, "next": 0, "t0": time.monotonic()}
    live = not plain and sys.stderr.isatty()
    bar = Progress(TextColumn("generating"), BarColumn(), TextColumn("{task.completed}/{task.total} turns {task.description}"),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True) if live else None
    task = None

    def on_start(total: int) -> None:
        nonlocal task
        state["total"] = total
        if bar is not None:
            bar.start()
            task = bar.add_task("", total=total)
        else:
            typer.echo(f"Generating {total} answer turns", err=True)

    def on_turn(prompt_id: str, turn: int, c) -> None:
        state["done"] += 1
        state["cached"] += bool(c.cached)
        state["failed"] += c.error is not None
        note = f"({state['cached']} cached, {state['failed']} failed)"
        if bar is not None:
            bar.update(task, advance=1, description=note)
        elif state["done"] >= state["next"] or state["done"] == state["total"]:
            state["next"] = state["done"] + max(1, state["total"] // 10)
            typer.echo(f"  {state['done']}/{state['total']} turns {note}, {time.monotonic() - state['t0']:.1f} s", err=True)

    def close() -> None:
        if bar is not None and task is not None:
            bar.stop()

    return {"on_start": on_start, "on_turn": on_turn}, close
