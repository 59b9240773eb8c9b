"""Markdown and CSV leaderboards."""

from __future__ import annotations

import csv
import html
import io
import re


def leaderboard_markdown(report: dict) -> str:
    run = report["run"]
    lines = [f"# Leaderboard: {_md(run['name'])}", ""]
    lines.append(
        f"Run {_md(run['run_id'])} ({run['status']}), pool {_md(report.get('pool'))},"
        f" judge {_md(report['judge']['description'])}, seed {run['seed']}."
    )
    lines.append("")
    lines.append("| rank (UB) | model | rating | 95% CI | win rate vs field | battles |")
    lines.append("|---:|---|---:|---:|---:|---:|")
    for r in report["leaderboard"]:
        lines.append(
            f"| {r['rank_ub']} | {_md(r['model'])} | {r['rating']:.0f} | {r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f}"
            f" | {100 * r['win_rate']:.1f}% | {r['battles']} |"
        )
    ref = report.get("reference")
    if ref:
        lines += ["", f"Agreement with the reference ranking ({_md(ref['path'])}, {_md(ref['column'])}): Spearman {ref['spearman']:.3f}, Kendall {ref['kendall']:.3f}."]
    js = report["judge_stats"]
    lines += [
        "",
        f"Judge: {js['games']} games, {js['calls']} paid calls ({js['cached_calls']} cached), {js['errors']} errors,"
        f" {js['unparsed']} unparsed, {js['unresolved_matches']} unresolved matches, {js['forfeits']} forfeits;"
        f" cost {'unknown' if js['cost_usd'] is None else '$%.4f' % js['cost_usd']}.",
    ]
    for name, m in (js.get("member_agreement") or {}).items():
        if m["rate"] is not None:
            lines.append(f"- panel member {_md(name)}: agrees with the panel on {100 * m['rate']:.1f}% of {m['n']} games")
    if report.get("warnings"):
        lines += ["", "Warnings:", *[f"- {_md(w)}" for w in report["warnings"]]]
    lines.append("")
    lines.append("Rank (UB) is 1 + the number of models whose lower CI bound is above this model's upper bound.")
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text) -> str:
    """Untrusted text (names, descriptions) as literal Markdown: HTML escaped like the HTML
    report does, the punctuation that starts inline markup mid-line backslash-escaped, and
    line breaks flattened so a name cannot end a table row."""
    s = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def leaderboard_csv(report: dict) -> str:
    buf = io.StringIO()
    cols = ["rank_ub", "model", "rating", "ci_low", "ci_high", "win_rate", "pred_win_rate", "battles", "wins", "losses", "ties", "rank_lo", "rank_hi"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in report["leaderboard"]:
        w.writerow(r)
    return buf.getvalue()
