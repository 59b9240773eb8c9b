"""Reports of a run: Markdown, self-contained HTML with plots, CSV and JSON; and run comparison."""

from __future__ import annotations

from pathlib import Path

from arena.reports._data import build_report, read_reference, to_json
from arena.reports.text import leaderboard_csv, leaderboard_markdown

FORMATS = ("md", "html", "csv", "json")
FILES = {"md": "leaderboard.md", "html": "report.html", "csv": "leaderboard.csv", "json": "run.json"}

__all__ = ["FORMATS", "build_report", "leaderboard_csv", "leaderboard_markdown", "read_reference", "render", "to_json", "write_reports"]


def render(report: dict, fmt: str) -> str:
    if fmt == "md":
        return leaderboard_markdown(report)
    if fmt == "csv":
        return leaderboard_csv(report)
    if fmt == "json":
        return to_json(report)
    if fmt == "html":
        from arena.reports.html import render_html

        return render_html(report)
    raise ValueError(fmt)


def write_reports(report: dict, out_dir: Path, formats=FORMATS) -> list[Path]:
    """Write each format atomically (a temp file renamed into place); returns the paths. Raises
    `BadInput` `<out_dir>: expected a report folder ...` when it cannot be written (nothing left
    behind: see `arena.outpaths`)."""
    from arena.outpaths import write_atomic, writing

    paths = []
    with writing(out_dir, "folder", REPORT_FOLDER) as out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            paths.append(write_atomic(out_dir / FILES[fmt], render(report, fmt)))
    return paths


REPORT_FOLDER = "a report folder"
