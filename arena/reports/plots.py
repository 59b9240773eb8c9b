"""Plots as inline SVG, drawn by matplotlib (Agg backend, no display needed)."""

from __future__ import annotations

import io


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype so it inlines


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["text.parse_math"] = False  # names are data: `$`, `\\` and `_` drawn as typed
    import matplotlib.pyplot as plt

    return plt


def ci_plot(leaderboard: list[dict]) -> str:
    plt = _plt()
    rows = list(reversed(leaderboard))
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.2))
    y = range(len(rows))
    ratings = [r["rating"] for r in rows]
    lo = [r["rating"] - r["ci_low"] for r in rows]
    hi = [r["ci_high"] - r["rating"] for r in rows]
    ax.errorbar(ratings, list(y), xerr=[lo, hi], fmt="o", color="#1f77b4", ecolor="#555", capsize=3)
    ax.set_yticks(list(y), [r["model"] for r in rows])
    ax.set_xlabel("rating (Elo scale) with 95% CI")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def heatmap(models: list[str], matrix: list[list[float]], title: str, fmt: str = "{:.2f}", mask_diagonal: bool = True) -> str:
    import numpy as np

    plt = _plt()
    m = np.array(matrix, dtype=float)
    if mask_diagonal:
        m = m.copy()
        np.fill_diagonal(m, np.nan)
    n = len(models)
    fig, ax = plt.subplots(figsize=(0.7 * n + 2.5, 0.6 * n + 1.5))
    im = ax.imshow(m, cmap="RdBu" if "win" in title.lower() else "Greens", vmin=0 if "win" in title.lower() else None, vmax=1 if "win" in title.lower() else None)
    ax.set_xticks(range(n), models, rotation=45, ha="right")
    ax.set_yticks(range(n), models)
    for i in range(n):
        for j in range(n):
            if not np.isnan(m[i, j]):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel("opponent")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _svg(fig)
