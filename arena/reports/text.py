"""Markdown and CSV leaderboards."""

from __future__ import annotations

import csv
import html
import io
import re

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


def vs_baseline_text(r: dict) -> str:
    if "win_rate_vs_baseline" not in r:
        return ""
    return (
        f"{100 * r['win_rate_vs_baseline']:.1f}% ({100 * r['win_rate_vs_baseline_low']:.1f}"
        f" .. {100 * r['win_rate_vs_baseline_high']:.1f})"
    )


def _table(rows: list[dict], baseline: str | None) -> list[str]:
    vs = baseline is not None
    head = ("| rank (UB) | model | rating | 95% CI |" + (f" win rate vs {_md(baseline)} (95% CI) |" if vs else "")
            + " win rate vs field | W / L / T | battles | coverage |")
    lines = [head, "|---:|---|---:|---:|" + ("---:|" if vs else "") + "---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['rank_ub']} | {_md(r['model'])} | {r['rating']:.0f} | {r['ci_low'] - r['rating']:+.0f} / {r['ci_high'] - r['rating']:+.0f} |"
            + (f" {vs_baseline_text(r)} |" if vs else "")
            + f" {pct(r['win_rate'])} | {r['wins']} / {r['losses']} / {r['ties']} | {battles_cell(r)} | {pct(r.get('coverage'), 0)} |"
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
    lines.append(
        f"Run {_md(run['run_id'])} ({run['status']}), pool {_md(report.get('pool'))},"
        f" judge {_md(report['judge']['description'])}, seed {run['seed']}."
    )
    lines.append("")
    lines.append(settings_line(report))
    lines.append("")
    lines += _table(report["leaderboard"], report.get("baseline"))
    if report.get("stop_reason") or report.get("target_reached") is not None:
        reached = {True: "yes", False: "no", None: "no target"}[report.get("target_reached")]
        lines += ["", f"Stopped: {report.get('stop_reason') or 'schedule complete'}; target reached: {reached}."]
    for what, groups in (("Category: ", report.get("categories")), ("Conversation ", report.get("turns"))):
        for cat, data in (groups or {}).items():
            lines += ["", f"## {what}{_md(cat)} ({data['battles']} battles)", ""]
            lines += _table(data["leaderboard"], report.get("baseline") if any("win_rate_vs_baseline" in r for r in data["leaderboard"]) else None)
    lc = report.get("length_controlled")
    if lc:
        lines += ["", f"## AlpacaEval length-controlled win rate vs {_md(lc['baseline'])}", "",
                  "| model | LC win rate | SE | win rate | SE |", "|---|---:|---:|---:|---:|"]
        for r in lc["models"]:
            lines.append(f"| {_md(r['model'])} | {100 * r['lc_win_rate']:.1f}% | {100 * r['lc_standard_error']:.2f} | {100 * r['win_rate']:.1f}%"
                         f" | {100 * r['standard_error']:.2f} |")  # AlpacaEval's percent points; fractions in run.json
    ref = report.get("reference")
    if ref:
        lines += ["", f"Agreement with the reference ranking ({_md(ref['path'])}, {_md(ref['column'])}): Spearman {corr(ref['spearman'])}, Kendall {corr(ref['kendall'])}."]
    lines += agreement_markdown(report.get("agreement"))
    lines += cross_category_markdown(report.get("cross_category"))
    lines += variance_markdown(report)
    lines += variance_sources_markdown(report.get("variance_sources"))
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
            lines.append(f"- panel member {_md(name)}: agrees with the panel on {100 * m['rate']:.1f}% of {m['n']} games")
    if js.get("cascade"):
        from arena.cascade import report_lines

        lines += [""] + [f"- {_md(x)}" for x in report_lines(js["cascade"])]
    if report.get("warnings"):
        lines += ["", "Warnings:", *[f"- {_md(w)}" for w in report["warnings"]]]
    lines.append("")
    lines.append("Rank (UB) is 1 + the number of models whose lower CI bound is above this model's upper bound.")
    lines.append(
        "W / L / T count battles; win rate weighs strong wins. Rows with fewer battles than the minimum are marked"
        f" \"{INSUFFICIENT}\"; coverage is the share of the run's prompts the model answered (a missing answer is a forfeit)."
    )
    return "\n".join(lines) + "\n"


def corr(x) -> str:
    """A correlation for people: three decimals, or why it is undefined (never `nan`)."""
    return "undefined (all tied)" if x is None or x != x else f"{x:.3f}"


def _ci(e: dict, key: str) -> str:
    ci = e.get(f"{key}_ci")
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def agreement_markdown(agr: dict | None) -> list[str]:
    """Agreement with every reference column, their aggregate and the z-score (BenchBench)."""
    if not agr:
        return []
    lines = ["", "## Agreement with the references", ""]
    sizes = {e.get("subset_size") for e in [*agr["references"], agr["aggregate"]] if e.get("subset_size")}
    note = f" (intervals: 95% range over random subsets of the shared models, sizes {', '.join(map(str, sorted(sizes)))})" if sizes else ""
    lines += [f"{_md(agr['path'])}{note}:", "", "| reference | models | Spearman | Kendall |", "|---|---:|---:|---:|"]
    for e in [*agr["references"], agr["aggregate"]]:
        lines.append(f"| {_md(e['column'])} | {e['n_models']} | {corr(e['spearman'])}{_ci(e, 'spearman')} | {corr(e['kendall'])}{_ci(e, 'kendall')} |")
    if agr.get("z_score") is not None:
        ra = agr["references_agreement"]
        lines += ["", f"z-score of the run's agreement with the aggregate against the references' agreement with each other"
                  f" (mean {ra['mean']:.3f}, sd {ra['sd']:.3f} over {ra['n']}): {agr['z_score']:+.2f}."]
    elif agr.get("z_note"):
        lines += ["", f"No z-score: {agr['z_note']}."]
    return lines


def cross_category_markdown(cc: dict | None) -> list[str]:
    """The run's categories aggregated into one ranking (Kemeny, Borda, mean of z-scores)."""
    if not cc:
        return []
    lines = ["", f"## Across categories ({len(cc['tasks'])} category leaderboards aggregated)", "",
             "| model | Kemeny | Borda | mean z | Kemeny rank kept over category bootstrap |", "|---|---:|---:|---:|---:|"]
    for r in cc["rows"]:
        kept = f"{100 * r['p_same']['kemeny']:.0f}%" if r["p_same"] else ""
        lines.append(f"| {_md(r['model'])} | {r['ranks']['kemeny']} | {r['ranks']['borda']} | {r['ranks']['mean_normalised']} | {kept} |")
    if cc["disagreements"]:
        lines += ["", "Methods disagree on: " + "; ".join(f"{_md(d['model_a'])} vs {_md(d['model_b'])}" for d in cc["disagreements"]) + "."]
    return lines


def variance_markdown(report: dict) -> list[str]:
    """Prompts needed to separate adjacent pairs; checkpoint monotonicity."""
    lines = []
    sep = report.get("separation") or []
    if sep:
        lines += ["", "## How many prompts separate each adjacent pair (95%, from the prompt bootstrap)", "",
                  "| pair | difference | sd | separated now | prompts needed |", "|---|---:|---:|---|---:|"]
        for p in sep:
            need = "-" if p["prompts_needed"] is None else str(p["prompts_needed"])
            lines.append(f"| {_md(p['model_a'])} > {_md(p['model_b'])} | {p['difference']:.1f} | {p['sd']:.1f} | {'yes' if p['separated'] else 'no'} | {need} |")
    ck = report.get("checkpoints")
    if ck:
        p = "" if ck.get("p_monotone") is None else f"; in {100 * ck['p_monotone']:.0f}% of bootstrap replicates"
        ci = f" [{ck['spearman_ci'][0]:.2f}, {ck['spearman_ci'][1]:.2f}]" if ck.get("spearman_ci") else ""
        lines += ["", "## Checkpoints", "", f"{' < '.join(_md(m) for m in ck['series'])}: ranked in training order: {'yes' if ck['monotone'] else 'no'}{p};"
                  f" Spearman of rating with step {corr(ck['spearman'])}{ci}."]
        for s in ck["steps"]:
            pi = "" if s["p_improves"] is None else f" (P(improves) {s['p_improves']:.2f})"
            lines.append(f"- {_md(s['from'])} -> {_md(s['to'])}: {s['change']:+.1f}{pi}")
    return lines


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def variance_sources_markdown(sources: list | None) -> list[str]:
    """The judge's self-agreement and each rating's variance split into prompt sampling and judge noise."""
    lines: list[str] = []
    for e in sources or []:
        a = e["agreement"]
        lines += ["", f"## Where the variance comes from (re-judged: {e['replayed']} matches, {e['setting']})", ""]
        if a["rate"] is None:
            lines.append(f"No re-judged match decided yet ({e['failed']} failed; re-judge again to retry them).")
            continue
        u = e["usage"]
        cost = "unknown" if u["cost_usd"] is None else f"${u['cost_usd']:.4f}"
        lines.append(f"Self-agreement: the replay's verdict equals the run's on {a['agree']} of {a['n']} matches,"
                     f" {100 * a['rate']:.1f}% [{100 * a['ci'][0]:.1f}%, {100 * a['ci'][1]:.1f}%] (95% Wilson)."
                     f" Replays: {u['calls']} paid calls ({u['cached_calls']} cached), cost {cost}.")
        if e.get("deterministic"):
            lines.append("The judge made no completion call (offline, deterministic): a replay reproduces its verdict, so judge noise is zero.")
        if "kappa" not in e:
            lines.append(f"Variance not split: {e.get('note', 'no bootstrap replicates')}.")
            continue
        ci = e.get("kappa_ci")
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        lines += [f"Judge noise as a share of the Bernoulli variance the ratings imply: kappa = {e['kappa']:.3f}{ci_text}."
                  " Variance in Elo points squared; total = the prompt bootstrap's, judge noise from the replays"
                  " (sandwich over the Bradley-Terry score equations), prompt sampling = total - judge noise.", "",
                  "| model | total var | prompt sampling | judge noise | judge share |", "|---|---:|---:|---:|---:|"]
        for r in e["models"]:
            lines.append(f"| {_md(r['model'])} | {r['total_var']:.1f} | {r['prompt_var']:.1f} | {r['judge_var']:.1f} | {_pct(r['judge_share'])} |")
        if e["pairs"]:
            lines += ["", "| adjacent pair | difference | judge share of its variance | prompts needed with a noiseless judge |", "|---|---:|---:|---:|"]
            for p in e["pairs"]:
                need = "-" if p["prompts_needed_noiseless_judge"] is None else str(p["prompts_needed_noiseless_judge"])
                lines.append(f"| {_md(p['model_a'])} > {_md(p['model_b'])} | {p['difference']:.1f} | {_pct(p['judge_share'])} | {need} |")
    return lines


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text) -> str:
    """Untrusted text (names, descriptions) as literal Markdown: HTML escaped like the HTML
    report does, the punctuation that starts inline markup mid-line backslash-escaped, and
    line breaks flattened so a name cannot end a table row."""
    s = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def leaderboard_csv(report: dict) -> str:
    """The leaderboard as CSV: the overall rows (`category` and `turn` empty), then each category's rows,
    then each judged conversation turn's (`turn` = N, `category` empty);
    `win_rate_vs_baseline` and its bounds are filled for runs with a baseline (named in `baseline`)."""
    buf = io.StringIO()
    cols = ["rank_ub", "model", "rating", "ci_low", "ci_high", "win_rate", "pred_win_rate", "battles", "wins", "losses", "ties", "score",
            "rank_lo", "rank_hi", "baseline", "win_rate_vs_baseline", "win_rate_vs_baseline_low", "win_rate_vs_baseline_high",
            "lc_win_rate", "lc_standard_error", "strong_weight", "category", "turn", "coverage", "insufficient_data"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    extra = {"baseline": report.get("baseline") or "", "strong_weight": report.get("strong_weight", 3.0)}
    for r in report["leaderboard"]:
        w.writerow({**r, **extra, "category": ""})
    for cat, data in (report.get("categories") or {}).items():
        for r in data["leaderboard"]:
            w.writerow({**r, **extra, "category": cat})
    for name, data in (report.get("turns") or {}).items():
        for r in data["leaderboard"]:
            w.writerow({**r, **extra, "category": "", "turn": name.removeprefix("turn ")})
    return buf.getvalue()
