"""Markdown and CSV leaderboards."""

from __future__ import annotations

import csv
import io


def vs_baseline_text(r: dict) -> str:
    if "win_rate_vs_baseline" not in r:
        return ""
    return (
        f"{100 * r['win_rate_vs_baseline']:.1f}% ({100 * r['win_rate_vs_baseline_low']:.1f}"
        f" .. {100 * r['win_rate_vs_baseline_high']:.1f})"
    )


def _table(rows: list[dict], baseline: str | None) -> list[str]:
    vs = baseline is not None
    head = "| rank (UB) | model | rating | 95% CI |" + (f" win rate vs {_md(baseline)} (95% CI) |" if vs else "") + " win rate vs field | battles |"
    lines = [head, "|---:|---|---:|---:|" + ("---:|" if vs else "") + "---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['rank_ub']} | {_md(r['model'])} | {r['rating']:.0f} | {r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f} |"
            + (f" {vs_baseline_text(r)} |" if vs else "")
            + f" {100 * r['win_rate']:.1f}% | {r['battles']} |"
        )
    return lines


def settings_line(report: dict) -> str:
    """One sentence naming the baseline, the strong-win weight and the rating options of a report."""
    base = report.get("baseline")
    parts = [f"Baseline: {base} (rating 1000; win rates against it from the Bradley-Terry fit)" if base else "Baseline: none (the mean rating is 1000)"]
    parts.append(f"a strong verdict (A>>B) counts as {report.get('strong_weight', 3.0):g} wins")
    if report.get("battle_unit") == "game":
        parts.append("every game is a battle (Arena-Hard-Auto's counting)")
    if report.get("ties") == "davidson":
        parts.append("ties by Davidson's model" + (f" (nu = {report['tie_param']:.3f})" if report.get("tie_param") is not None else ""))
    if report.get("style"):
        coefs = report.get("style_coefs") or {}
        parts.append("style control (length and markdown held equal" + (": " + ", ".join(f"{k} {v['coef']:+.3f}" for k, v in coefs.items()) if coefs else "") + ")")
    return "; ".join(parts) + "."


def leaderboard_markdown(report: dict) -> str:
    run = report["run"]
    lines = [f"# Leaderboard: {_md(run['name'])}", ""]
    lines.append(f"Run `{run['run_id']}` ({run['status']}), pool `{report.get('pool')}`, judge {_md(report['judge']['description'])}, seed {run['seed']}.")
    lines.append("")
    lines.append(settings_line(report))
    lines.append("")
    lines += _table(report["leaderboard"], report.get("baseline"))
    for cat, data in (report.get("categories") or {}).items():
        lines += ["", f"## Category: {_md(cat)} ({data['battles']} battles)", ""]
        lines += _table(data["leaderboard"], report.get("baseline") if any("win_rate_vs_baseline" in r for r in data["leaderboard"]) else None)
    lc = report.get("length_controlled")
    if lc:
        lines += ["", f"## AlpacaEval length-controlled win rate vs {_md(lc['baseline'])}", "",
                  "| model | LC win rate | SE | win rate | SE |", "|---|---:|---:|---:|---:|"]
        for r in lc["models"]:
            lines.append(f"| {_md(r['model'])} | {r['lc_win_rate']:.1f}% | {r['lc_standard_error']:.2f} | {r['win_rate']:.1f}% | {r['standard_error']:.2f} |")
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
    for name, m in (js.get("member_agreement") or {}).items():
        if m["rate"] is not None:
            lines.append(f"- panel member {name}: agrees with the panel on {100 * m['rate']:.1f}% of {m['n']} games")
    if js.get("cascade"):
        from arena.cascade import report_lines

        lines += [""] + [f"- {_md(x)}" for x in report_lines(js["cascade"])]
    if report.get("warnings"):
        lines += ["", "Warnings:", *[f"- {w}" for w in report["warnings"]]]
    lines.append("")
    lines.append("Rank (UB) is 1 + the number of models whose lower CI bound is above this model's upper bound.")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def leaderboard_csv(report: dict) -> str:
    """The leaderboard as CSV: the overall rows (`category` empty), then each category's rows;
    `win_rate_vs_baseline` and its bounds are filled for runs with a baseline (named in `baseline`)."""
    buf = io.StringIO()
    cols = ["rank_ub", "model", "rating", "ci_low", "ci_high", "win_rate", "pred_win_rate", "battles", "wins", "losses", "ties",
            "rank_lo", "rank_hi", "baseline", "win_rate_vs_baseline", "win_rate_vs_baseline_low", "win_rate_vs_baseline_high",
            "lc_win_rate", "lc_standard_error", "strong_weight", "category"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    extra = {"baseline": report.get("baseline") or "", "strong_weight": report.get("strong_weight", 3.0)}
    for r in report["leaderboard"]:
        w.writerow({**r, **extra, "category": ""})
    for cat, data in (report.get("categories") or {}).items():
        for r in data["leaderboard"]:
            w.writerow({**r, **extra, "category": cat})
    return buf.getvalue()
