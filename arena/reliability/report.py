"""Result files (JSON) of a reliability evaluation, their tables, and the judge leaderboard.

A result file (schema "arena.judge-reliability/1"), as `arena judge eval` and `score --out` write it:

- `judge`: name, kind ("recorded" for `score`), model, description;
- `pairs`: path, format, n; `source`: "eval" or "score"; `run`: store run name and id (eval);
- `metrics`: {key: {value, lo, hi, n, title, definition}} for every key of `metrics.METRICS`
  (judgebench_score, accuracy, accuracy_ab, accuracy_ba, both_correct, agreement, kappa,
  consistency, order_kappa, first_slot, tie_rate, unparsed_rate, error_rate, length_bias,
  picks_longer, gold_longer); rates are fractions in [0, 1]; value None where undefined;
- `categories`: {category: {n, metrics: {key: {value, lo, hi, n}}}};
- `counts`, `usage` (calls, tokens and cost per pair, cost per 1,000 pairs), `time` (elapsed_s),
  `bootstrap` (replicates, seed, level).

A panel judge weighting members by measured reliability can read `metrics.accuracy.value` (or
`metrics.kappa.value`) of each member's result file.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from arena.errors import BadInput
from arena.reliability.formats import GameRecord, PairSet
from arena.reliability.metrics import (
    BOOTSTRAP_REPLICATES,
    CI_LEVEL,
    METRIC_BY_KEY,
    METRICS,
    by_category,
    counts,
    evaluate,
    observations,
    usage,
)
from arena.results import RESULT_SCHEMA, ResultFileError, read_result, write_result  # noqa: F401 (re-exported)

# Metrics shown per category in the table (all of them are in the JSON).
CATEGORY_COLUMNS = ("judgebench_score", "accuracy", "consistency", "first_slot")


def build_result(
    pairs: PairSet,
    games: Sequence[GameRecord],
    *,
    judge: dict,
    source: str,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    time_s: float | None = None,
    run: dict | None = None,
    verdicts_path: str | None = None,
) -> dict:
    """Every metric (with its definition and bootstrap interval), per category, usage and time."""
    o = observations(pairs.pairs, games)
    est = evaluate(o, replicates=replicates, seed=seed)
    cats = by_category(o, replicates=replicates, seed=seed)
    use = usage(o)
    return {
        "schema": RESULT_SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source,
        "judge": judge,
        "pairs": {"path": str(pairs.path), "format": pairs.format, "n": len(pairs.pairs), "limited": pairs.limited, "digest": pairs_digest(pairs)},
        "verdicts": verdicts_path,
        "run": run,
        "bootstrap": {"replicates": replicates, "seed": seed, "level": CI_LEVEL, "unit": "pair"},
        "metrics": {k: {**e.as_dict(), "title": METRIC_BY_KEY[k].title, "definition": METRIC_BY_KEY[k].definition} for k, e in est.items()},
        "categories": {c: {"n": int((o.category == c).sum()), "metrics": {k: e.as_dict() for k, e in m.items()}} for c, m in cats.items()},
        "counts": counts(o),
        "usage": use,
        "time": {
            "elapsed_s": time_s,
            "pairs_per_s": (len(pairs.pairs) / time_s) if time_s else None,
        },
    }


# -- formatting ------------------------------------------------------------------------------------


def fmt_metric(key: str, m: dict | None, *, ci: bool = True) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    kind = METRIC_BY_KEY[key].kind if key in METRIC_BY_KEY else "rate"

    def one(x: float) -> str:
        if kind == "kappa":
            return f"{x:.3f}"
        if kind == "diff":
            return f"{100 * x:+.1f} pp"
        return f"{100 * x:.1f}%"

    s = one(m["value"])
    if ci and m.get("lo") is not None and m.get("hi") is not None:
        lo, hi = m["lo"], m["hi"]
        if kind == "kappa":
            s += f" [{lo:.3f}, {hi:.3f}]"
        elif kind == "diff":
            s += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
        else:
            s += f" [{100 * lo:.1f}, {100 * hi:.1f}]"
    return s


def _money(x: float | None) -> str:
    if x is None:
        return "unknown"
    if x == 0:
        return "$0"
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def _secs(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.1f} s" if x < 600 else f"{x / 60:.1f} min"


def render_result(result: dict, console) -> None:
    """The report: every metric with its interval, the definitions, per category, usage."""
    from rich.table import Table

    j = result["judge"]
    p = result["pairs"]
    bs = result["bootstrap"]
    desc = j.get("description") or j.get("kind") or ""
    who = desc if str(desc).startswith(str(j.get("name"))) else f"{j.get('name')} ({desc})"
    console.print(
        f"[bold]Judge reliability[/bold]: {_esc(who)}\n"
        f"Pairs: {_esc(p['path'])} ({p['format']}, {p['n']} pairs)",
        highlight=False,
    )
    t = Table(title_justify="left")
    t.add_column("metric")
    t.add_column("value [95% CI]", justify="right")
    t.add_column("n", justify="right")
    for m in METRICS:
        v = result["metrics"].get(m.key)
        t.add_row(m.title, fmt_metric(m.key, v), str(v.get("n", "")) if v else "")
    console.print(t)
    console.print("Definitions:", highlight=False)
    for m in METRICS:
        console.print(f"  {m.title}: {m.definition}.", highlight=False)
    console.print(
        f"Intervals: percentile bootstrap, {bs['replicates']} resamples of the pairs, seed {bs['seed']}; "
        "n is the denominator (pairs or games).",
        highlight=False,
    )
    cats = result.get("categories") or {}
    if cats:
        ct = Table(title="Per category", title_justify="left")
        ct.add_column("category", overflow="fold", max_width=40)
        ct.add_column("pairs", justify="right")
        for k in CATEGORY_COLUMNS:
            ct.add_column(METRIC_BY_KEY[k].title, justify="right")
        for c, cm in cats.items():
            ct.add_row(_esc(c), str(cm["n"]), *(fmt_metric(k, cm["metrics"].get(k), ci=(k == "judgebench_score")) for k in CATEGORY_COLUMNS))
        console.print(ct)
    u = result["usage"]
    cn = result["counts"]
    g = cn["games_by_pick"]
    console.print(
        f"Games: {cn['games']} ({g['a']} a, {g['b']} b, {g['tie']} tie, {g['unparsed']} unparsed, {g['error']} error); "
        f"gold: {cn['gold']['a']} a, {cn['gold']['b']} b, {cn['gold']['tie']} tie.",
        highlight=False,
    )
    if result.get("source") == "score":
        console.print(f"Recorded verdicts from {result.get('verdicts')}: no judge was called.", highlight=False, markup=False)
        return
    console.print(
        f"Per pair: {u['calls_per_pair']:.2f} calls ({u['cached_calls']} of {u['calls']} calls from the cache), "
        f"{u['input_tokens_per_pair']:.0f} input + {u['output_tokens_per_pair']:.0f} output tokens, cost "
        f"{_money(u['cost_per_pair_usd'])} ({_money(u['cost_per_1000_pairs_usd'])} per 1,000 pairs); "
        f"time {_secs(result['time'].get('elapsed_s'))}.",
        highlight=False,
    )


def pairs_digest(pairs: PairSet) -> str:
    """sha256 (16 hex digits) of the pairs' ids, texts and gold labels: the dataset's identity."""
    import hashlib

    h = hashlib.sha256()
    for p in pairs.pairs:
        h.update(json.dumps([p.pair_id, p.prompt, p.a, p.b, str(p.gold), p.category], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


def dataset_of(result: dict) -> str:
    """A result's dataset, shown in `judge compare`: the pairs file's name, its size, and its digest
    (older result files without one: the file name and size)."""
    p = result.get("pairs") or {}
    name = Path(str(p.get("path") or "?")).name
    return f"{name} ({p.get('n')} pairs{', ' + p['digest'][:8] if p.get('digest') else ''})"


def _dataset_key(result: dict) -> tuple:
    p = result.get("pairs") or {}
    return (p.get("digest"), p.get("n")) if p.get("digest") else (Path(str(p.get("path") or "")).name, p.get("n"), p.get("format"))


def leaderboard(results: Sequence[dict], *, allow_mixed: bool = False) -> list[dict]:
    """One row per result, best JudgeBench score first; `good_enough`: its interval reaches the best's.

    Scores on different datasets are not comparable: results whose pairs differ (digest, or file
    name, size and format for older files) raise `BadInput` naming them, unless `allow_mixed`."""
    keys = {_dataset_key(r) for r in results}
    if len(keys) > 1 and not allow_mixed:
        shown = "; ".join(f"{r.get('_path') or r['judge'].get('name')}: {dataset_of(r)}" for r in results)
        raise BadInput(f"the results are on {len(keys)} different datasets ({shown}); pass --allow-mixed to rank them in one table anyway")
    rows = []
    for r in results:
        s = r["metrics"]["judgebench_score"]
        rows.append(
            {
                "judge": r["judge"].get("name"),
                "kind": r["judge"].get("kind"),
                "description": r["judge"].get("description"),
                "pairs": r["pairs"].get("path"),
                "dataset": dataset_of(r),
                "n": r["pairs"].get("n"),
                "score": s.get("value"),
                "score_lo": s.get("lo"),
                "score_hi": s.get("hi"),
                "accuracy": (r["metrics"].get("accuracy") or {}).get("value"),
                "consistency": (r["metrics"].get("consistency") or {}).get("value"),
                "first_slot": (r["metrics"].get("first_slot") or {}).get("value"),
                "cost_per_1000_pairs_usd": r["usage"].get("cost_per_1000_pairs_usd"),
                "calls_per_pair": r["usage"].get("calls_per_pair"),
                "time_s": r["time"].get("elapsed_s"),
                "file": r.get("_path"),
            }
        )
    rows.sort(key=lambda x: (-(x["score"] if x["score"] is not None else -1), x["cost_per_1000_pairs_usd"] or 0.0))
    best_lo = rows[0]["score_lo"] if rows else None
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
        row["good_enough"] = bool(best_lo is not None and row["score_hi"] is not None and row["score_hi"] >= best_lo)
    return rows


def _esc(value) -> str:
    """A user string (a judge, dataset, category or path) printed by rich as written, not as markup."""
    from rich.markup import escape

    return escape(str(value))


def render_leaderboard(rows: Sequence[dict], console) -> None:
    from rich.table import Table

    t = Table(title="Judge leaderboard", title_justify="left")
    for col, just in (
        ("#", "right"),
        ("judge", "left"),
        ("dataset", "left"),
        ("score [95% CI]", "right"),
        ("consist.", "right"),
        ("$/1k pairs", "right"),
        ("time", "right"),
        ("≈best", "center"),
    ):
        t.add_column(col, justify=just, overflow="fold", no_wrap=col.startswith("score"))  # type: ignore[arg-type]
    for r in rows:
        t.add_row(
            str(r["rank"]),
            _esc(r["judge"]),
            _esc(r["dataset"]),
            fmt_metric("judgebench_score", {"value": r["score"], "lo": r["score_lo"], "hi": r["score_hi"]}),
            fmt_metric("consistency", {"value": r["consistency"]}, ci=False),
            _money(r["cost_per_1000_pairs_usd"]).lstrip("$") if r["cost_per_1000_pairs_usd"] is not None else "unknown",
            _secs(r["time_s"]),
            "yes" if r["good_enough"] else "",
        )
    console.print(t)
    console.print(
        "score: JudgeBench score (pairs whose two games net agree with gold). ≈best: its interval reaches the best "
        "judge's; the cheapest such judge is good enough. `--format json` adds kind, accuracy, first-slot share, calls per pair.",
        highlight=False,
    )
