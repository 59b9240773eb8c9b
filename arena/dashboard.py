"""Displays of runner events: a rich Live dashboard for terminals, plain progress lines otherwise.

The runner emits `RunEvent`s; a display keeps what it needs (battles for the live leaderboard,
the latest verdicts) and redraws at a bounded rate. Only this module and the CLI print.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Protocol

from arena.records import Battle
from arena.runner import BATCH_IN_FLIGHT, RunEvent, RunStats


class Display(Protocol):
    def __call__(self, event: RunEvent) -> None: ...
    def close(self) -> None: ...


def _eta(stats: RunStats) -> str:
    done = stats.matches_done - stats.matches_resumed
    left = max(0.0, stats.expected_matches - stats.matches_done)
    if done <= 0 or stats.elapsed <= 0:
        return "-"
    secs = left / (done / stats.elapsed)
    return f"{secs:.0f}s" if secs < 120 else f"{secs / 60:.1f}min"


def _pause_note(stats: RunStats) -> str:
    if stats.paused_s <= 0:
        return ""
    if stats.paused_asked_s <= 0:  # no Retry-After was sent: arena's own backoff after failed calls
        return f"; paused {stats.paused_s:.0f} s more: backing off before retrying failed calls"
    cap = f" (Retry-After capped at {stats.paused_cap_s:.0f} s)" if stats.paused_cap_s else ""
    return f"; paused {stats.paused_s:.0f} s more: the provider asked to wait{cap}"


def _batches_note(stats: RunStats) -> str:
    """`batch batch_abc in_progress (72 calls)` for each pending Batch API job, "" when none."""
    return ", ".join(f"batch {ref} {status} ({calls} calls)" for ref, status, calls in stats.batches)


def _money(stats: RunStats) -> str:
    if stats.cost_unknown and not stats.cost_usd:
        return "unknown"
    return f"${stats.cost_usd:.4f}" + (" + unknown" if stats.cost_unknown else "")


def _projected(stats: RunStats) -> str:
    done = stats.matches_done - stats.matches_resumed - stats.forfeits
    if stats.cost_unknown and not stats.cost_usd:
        return "unknown"
    if done <= 0:
        return "-"
    per = stats.cost_usd / done
    return f"${stats.cost_usd + per * max(0.0, stats.expected_matches - stats.matches_done):.4f}"


class _Battles:
    """Collects battles from decided matches and refits a quick leaderboard on demand."""

    def __init__(self, strong_weight: float = 3.0) -> None:
        self.battles: list[Battle] = []
        self.strong_weight = strong_weight
        self.board = None
        self.fitted_at = 0.0
        self.fitted_n = -1

    def add(self, event: RunEvent) -> None:
        d = event.decided
        if d is None or d.verdict.outcome not in ("a", "b", "tie"):
            return
        w = self.strong_weight if d.verdict.strength >= 2 else 1.0
        self.battles.append(Battle(d.match.prompt_id, d.match.model_a, d.match.model_b, d.verdict.outcome, w))

    def refit(self, every: float = 2.0, force: bool = False):
        now = time.monotonic()
        if (force or now - self.fitted_at >= every) and len(self.battles) != self.fitted_n and self.battles:
            from arena.ratings import fit_ratings

            try:
                self.board = fit_ratings(self.battles, bootstrap=100, seed=0)
            except Exception:  # a live view must never stop the run  # noqa: BLE001
                pass
            self.fitted_at = now
            self.fitted_n = len(self.battles)
        return self.board


class PlainDisplay:
    """One progress line every few seconds, and at the start and the end."""

    def __init__(self, stream=None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.last = 0.0
        self.paused = False

    def __call__(self, event: RunEvent) -> None:
        if event.kind == "planned":  # before the run starts: the caller prints the plan
            return
        s = event.stats
        now = time.monotonic()
        was_paused, self.paused = self.paused, s.paused_s > 0
        if s.paused_s > 0 and not was_paused:  # a pause is news: say it at once
            self.last = 0.0
        if event.kind == "started":
            print(f"run {s.run_id}: pool {s.pool}, {s.scheduler}, judge {s.judge}, seed {s.seed}", file=self.stream, flush=True)
        elif event.kind == "finished" or now - self.last >= self.every:
            self.last = now
            print(
                f"[{s.elapsed:6.1f}s] matches {s.matches_done}/{s.expected_matches:.0f} games {s.games}"
                f" in flight {s.in_flight}/{_cap(s.concurrency)} matches, calls {s.calls} (cached {s.cached_calls}, saved {s.calls_saved})"
                f" retries {s.retries} errors {s.errors} unparsed {s.unparsed} cost {_money(s)} eta {_eta(s)}"
                + _pause_note(s)
                + (f"; pending: {_batches_note(s)}" if s.batches else ""),
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        pass


class RichDisplay:
    """The live dashboard: header, progress with ETA, throughput, failures, spend, leaderboard, latest verdicts."""

    def __init__(self, console=None, refresh_per_second: float = 4.0, strong_weight: float = 3.0) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=False)
        self.battles = _Battles(strong_weight)
        self.latest: deque = deque(maxlen=6)
        self.stats: RunStats | None = None
        self.rate_window: deque = deque(maxlen=200)
        self.live = Live(console=self.console, refresh_per_second=refresh_per_second, auto_refresh=False, transient=False)
        self.min_interval = 1.0 / refresh_per_second
        self.drawn = 0.0
        self.live.start()

    def __call__(self, event: RunEvent) -> None:
        if event.kind == "planned":
            return
        self.stats = event.stats
        if event.decided is not None:
            self.battles.add(event)
            if not event.decided.resumed:
                self.rate_window.append(time.monotonic())
            self.latest.appendleft(event.decided)
        now = time.monotonic()
        if event.kind in ("started", "finished") or now - self.drawn >= self.min_interval:
            self.drawn = now
            self.live.update(self.render(force_fit=event.kind == "finished"), refresh=True)

    def games_per_second(self) -> float:
        w = self.rate_window
        if len(w) < 2:
            return 0.0
        span = w[-1] - w[0]
        return (len(w) - 1) / span if span > 0 else 0.0

    def render(self, force_fit: bool = False):
        from rich.console import Group
        from rich.markup import escape
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        s = self.stats
        if s is None:
            return Panel("starting ...")
        header = Table.grid(padding=(0, 2))
        header.add_row(f"[bold]run[/] {escape(s.run_id)}", f"[bold]pool[/] {escape(s.pool)}", f"[bold]scheduler[/] {s.scheduler}")
        header.add_row(f"[bold]judge[/] {escape(s.judge)}", f"[bold]seed[/] {s.seed}", f"[bold]models[/] {len(s.models)}")

        prog = Table.grid(padding=(0, 2))
        total = max(s.expected_matches, 1)
        prog.add_row(
            "matches",
            ProgressBar(total=total, completed=min(s.matches_done, total), width=40),
            f"{s.matches_done}/{s.expected_matches:.0f}  eta {_eta(s)}",
        )
        if len(s.rounds_released) > 1 or s.scheduler == "single-elimination":
            rounds = "  ".join(f"r{r}: {s.rounds[r]}/{s.rounds_released[r]}" for r in sorted(s.rounds_released))
            prog.add_row("rounds", rounds, "")
        prog.add_row(
            "games",
            f"{s.games} done, {s.in_flight}/{_cap(s.concurrency)} matches in flight, {self.games_per_second():.1f} matches/s",
            f"resumed {s.matches_resumed}, forfeits {s.forfeits}",
        )
        prog.add_row(
            "calls",
            f"{s.calls} paid, {s.cached_calls} cached, {s.calls_saved} saved by resume",
            f"retries {s.retries}  errors {s.errors}  unparsed {s.unparsed}  inconsistent {s.inconsistent}",
        )
        if s.paused_s > 0:
            prog.add_row("[yellow]paused[/]", _pause_note(s).strip("; "), "Ctrl-C stops now; run again to resume")
        for ref, status, calls in s.batches:  # Batch API jobs being polled: the provider's id and status
            prog.add_row("batch", f"{escape(ref)} {escape(status)}", f"{calls} calls, polled until it ends")
        prog.add_row("spend", f"{s.input_tokens:,} in / {s.output_tokens:,} out tokens", f"{_money(s)} so far, {_projected(s)} projected")

        board = self.battles.refit(force=force_fit)
        lb = Table(title="leaderboard (live, 95% CI)", expand=False)
        for col in ("rank", "model", "rating", "95% CI", "battles"):
            lb.add_column(col, justify="right" if col != "model" else "left")
        if board is not None:
            for r in board.rows:
                lb.add_row(f"{r.rank_ub}", escape(r.model), f"{r.rating:.0f}", f"{r.ci_low:.0f} .. {r.ci_high:.0f}", str(r.battles))
        latest = Table(title="latest verdicts", expand=False)
        for col in ("prompt", "A", "B", "verdict"):
            latest.add_column(col)
        for d in self.latest:
            latest.add_row(escape(d.match.prompt_id), escape(d.match.model_a), escape(d.match.model_b), d.verdict.label + (" (resumed)" if d.resumed else ""))
        body = Table.grid(padding=(0, 2))
        body.add_row(lb, latest)
        return Panel(Group(header, "", prog, "", body), title="arena", border_style="cyan")

    def close(self) -> None:
        self.live.stop()


def make_display(plain: bool | None = None, strong_weight: float = 3.0) -> Display:
    """Rich when stdout is a terminal (unless `plain`), plain lines otherwise."""
    if plain is None:
        plain = not sys.stdout.isatty()
    return PlainDisplay() if plain else RichDisplay(strong_weight=strong_weight)


def _cap(concurrency: int) -> str:
    """The in-flight cap as shown: `all` for a Batch API judge (every released match is in flight)."""
    return "all" if concurrency >= BATCH_IN_FLIGHT else str(concurrency)
