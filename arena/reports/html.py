"""The self-contained HTML report: one file, inline SVG plots, every piece of model text escaped."""

from __future__ import annotations

from pathlib import Path


def render_html(report: dict) -> str:
    import jinja2

    from arena.reports import plots

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )
    models = report.get("models", [])
    figs = {"ci": "", "winrate": "", "battles": ""}
    if report.get("leaderboard"):
        figs["ci"] = plots.ci_plot(report["leaderboard"])
        figs["winrate"] = plots.heatmap(models, report["matrices"]["win_rate"], "Observed win rate (row vs column)")
        figs["battles"] = plots.heatmap(models, report["matrices"]["battles"], "Battles (row vs column)", fmt="{:.0f}")
    ctx = {k: v for k, v in report.items() if not k.startswith("_")}
    ctx["plots"] = figs
    from arena.reports.text import settings_line

    ctx["settings"] = settings_line(report)
    cascade = (report.get("judge_stats") or {}).get("cascade")
    if cascade:
        from arena.cascade import report_lines

        ctx["cascade_lines"] = report_lines(cascade)
    return env.get_template("report.html.j2").render(**ctx)
