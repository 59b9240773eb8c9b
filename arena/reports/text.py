"""Markdown and CSV leaderboards."""

from __future__ import annotations

import csv
import io

INSUFFICIENT = "insufficient data"


def pct(x, digits: int = 1) -> str:
    """A share as a percentage, `-` when unknown (None)."""
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def consistency(js: dict) -> str:
    """A judge's position consistency, or why there is none."""
    c = js.get("position_consistency")
    return "n/a (one game per match)" if c is None else pct(c)


def battles_cell(row: dict) -> str:
    """The battles count, marked when below the minimum (`arena.ratings.MIN_BATTLES`)."""
    return f"{row['battles']} ({INSUFFICIENT})" if row.get("insufficient_data") else str(row["battles"])


def leaderboard_markdown(report: dict) -> str:
    run = report["run"]
    lines = [f"# Leaderboard: {run['name']}", ""]
    lines.append(f"Run `{run['run_id']}` ({run['status']}), pool `{report.get('pool')}`, judge {report['judge']['description']}, seed {run['seed']}.")
    lines.append("")
    lines.append("| rank (UB) | model | rating | 95% CI | win rate vs field | W / L / T | battles | coverage |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in report["leaderboard"]:
        lines.append(
            f"| {r['rank_ub']} | {_md(r['model'])} | {r['rating']:.0f} | {r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f}"
            f" | {pct(r['win_rate'])} | {r['wins']} / {r['losses']} / {r['ties']} | {battles_cell(r)} | {pct(r.get('coverage'), 0)} |"
        )
    if report.get("stop_reason") or report.get("target_reached") is not None:
        reached = {True: "yes", False: "no", None: "no target"}[report.get("target_reached")]
        lines += ["", f"Stopped: {report.get('stop_reason') or 'schedule complete'}; target reached: {reached}."]
    ref = report.get("reference")
    if ref:
        lines += ["", f"Agreement with the reference ranking (`{ref['path']}`, {ref['column']}): Spearman {ref['spearman']:.3f}, Kendall {ref['kendall']:.3f}."]
    js = report["judge_stats"]
    lines += [
        "",
        f"Judge: {js['games']} games, {js['calls']} paid calls ({js['cached_calls']} cached), {js['errors']} errors,"
        f" {js['unparsed']} unparsed, {js['unresolved_matches']} unresolved matches, {js['forfeits']} forfeits;"
        f" cost {'unknown' if js['cost_usd'] is None else '$%.4f' % js['cost_usd']}.",
    ]
    lines.append(
        f"Position consistency {consistency(js)}, first-slot win rate {pct(js.get('first_slot_win_rate'))}"
        f" (95% CI {pct(js.get('first_slot_ci_low'))} - {pct(js.get('first_slot_ci_high'))})."
    )
    summary = report.get("summary") or {}
    t = summary.get("totals")
    if t and (summary.get("invocations") or 1) > 1:
        money = lambda x: "unknown" if x is None else f"${x:.4f}"  # noqa: E731
        lines.append(
            f"Run totals over {summary.get('invocations')} invocations: {t['calls']} paid calls, {t['cached_calls']} cached,"
            f" tokens {t['input_tokens']:,} in / {t['output_tokens']:,} out, cost {money(t['cost_usd'])};"
            f" latest invocation: {summary.get('calls')} paid calls, cost {money(summary.get('cost_usd'))}."
        )
    for name, m in (js.get("member_agreement") or {}).items():
        if m["rate"] is not None:
            lines.append(f"- panel member {name}: agrees with the panel on {100 * m['rate']:.1f}% of {m['n']} games")
    if report.get("warnings"):
        lines += ["", "Warnings:", *[f"- {w}" for w in report["warnings"]]]
    lines.append("")
    lines.append("Rank (UB) is 1 + the number of models whose lower CI bound is above this model's upper bound.")
    lines.append(
        "W / L / T count battles; win rate weighs strong wins. Rows with fewer battles than the minimum are marked"
        f" \"{INSUFFICIENT}\"; coverage is the share of the run's prompts the model answered (a missing answer is a forfeit)."
    )
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def leaderboard_csv(report: dict) -> str:
    buf = io.StringIO()
    cols = ["rank_ub", "model", "rating", "ci_low", "ci_high", "win_rate", "pred_win_rate", "battles", "wins", "losses", "ties", "score",
            "rank_lo", "rank_hi", "coverage", "insufficient_data"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in report["leaderboard"]:
        w.writerow(r)
    return buf.getvalue()
