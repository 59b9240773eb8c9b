"""Judge cascades with a guaranteed agreement: calibrating each cheap stage's confidence threshold.

A cascade is an ordered list of judges (stages). A match is decided by the first stage whose
confidence reaches that stage's threshold; the last stage always decides. The thresholds come
from a pilot sample of matches judged by every stage: for a non-final stage, the threshold is the
lowest confidence on a fixed grid at which the stage's agreement with the final stage is at least
`target` with confidence 1 - delta, by a one-sided Clopper-Pearson lower bound, found by
fixed-sequence testing down the grid from the most confident end (stop at the first failure).
Because the tests are taken in a fixed order, each at level delta, the family-wise error is at
most delta (no multiplicity correction needed).

Source: Jung, Brahman, Choi, "Trust or Escalate: LLM Judges with Provable Guarantees for Human
Agreement", ICLR 2025 (cascaded selective evaluation; thresholds by fixed-sequence testing).

The guarantee, as stated in reports: with probability at least 1 - delta over the pilot draw, on
matches drawn like the pilot, the matches a cheap stage decides agree with the final stage at
least `target` of the time. It is about agreement with the final stage, not with humans, and
only for matches exchangeable with the pilot (a random sample of the same plan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

# confidences live in [0.5, 1] for every shipped kind; the grid is fixed before seeing the pilot
DEFAULT_GRID = tuple(round(1.0 - 0.005 * i, 3) for i in range(101))
NEVER = float("inf")  # the threshold of a stage that certified nothing: it escalates every match


def clopper_pearson_lower(k: int, n: int, delta: float) -> float:
    """One-sided (1 - delta) Clopper-Pearson lower bound on a binomial proportion, k successes of n.

    Returns 0.0 when k == 0 or n == 0. Exact (scipy's Beta quantile): Clopper & Pearson (1934).
    """
    from scipy.stats import beta

    if n <= 0 or k <= 0:
        return 0.0
    return float(beta.ppf(delta, k, n - k + 1))


def clopper_pearson_upper(k: int, n: int, delta: float) -> float:
    """One-sided (1 - delta) Clopper-Pearson upper bound on a binomial proportion, k successes of n.

    Returns 1.0 when k == n or n == 0. Exact (scipy's Beta quantile): Clopper & Pearson (1934).
    """
    from scipy.stats import beta

    if n <= 0 or k >= n:
        return 1.0
    return float(beta.ppf(1 - delta, k + 1, n - k))


def clopper_pearson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 - alpha) Clopper-Pearson interval for k of n; (nan, nan) when n == 0."""
    from scipy.stats import beta

    if n <= 0:
        return float("nan"), float("nan")
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class StageCalibration:
    """One non-final stage's calibrated threshold and its pilot evidence.

    threshold: the confidence at or above which the stage decides (`inf`: never, nothing certified).
    kept / agreed: pilot matches at or above the threshold, and how many agree with the final stage.
    lower: the one-sided (1 - delta) Clopper-Pearson lower bound on that agreement.
    interval: the two-sided 95% interval on the same agreement (for reports).
    """

    stage: str
    threshold: float
    pilot: int
    kept: int
    agreed: int
    lower: float
    interval: tuple[float, float]
    certified: bool
    changed: int = 0  # pilot matches at or above the threshold whose win-rate score differs from the final stage's
    changed_upper: float | None = None  # one-sided (1 - delta) Clopper-Pearson upper bound on changed / pilot
    escalated: tuple[str, ...] = ()  # models whose matches always escalate (`flag_strata`)

    @property
    def agreement(self) -> float:
        return self.agreed / self.kept if self.kept else float("nan")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["threshold"] = None if self.threshold == NEVER else self.threshold
        d["interval"] = list(self.interval)
        d["escalated"] = list(self.escalated)
        d["agreement"] = self.agreement if self.kept else None  # JSON has no NaN (SQLite's JSON functions refuse it)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StageCalibration:
        t = d.get("threshold")
        up = d.get("changed_upper")
        return cls(d["stage"], NEVER if t is None else float(t), int(d["pilot"]), int(d["kept"]), int(d["agreed"]),
                   float(d["lower"]), tuple(d["interval"]), bool(d["certified"]),  # type: ignore[arg-type]
                   int(d.get("changed", 0)), None if up is None else float(up), tuple(d.get("escalated") or ()))


@dataclass(frozen=True)
class Calibration:
    """The calibration of a whole cascade: one `StageCalibration` per non-final stage."""

    target: float
    delta: float
    pilot: int
    stages: list[StageCalibration] = field(default_factory=list)
    win_rate_error: float | None = None  # the bound on the share of matches a cheap stage changes (None: not asked)

    def guarantee(self) -> str:
        """The guarantee in one sentence (what reports print)."""
        certified = [s.stage for s in self.stages if s.certified]
        wre = "" if self.win_rate_error is None else f" and the win-rate error it causes is at most {100 * self.win_rate_error:.1f} points"
        if not certified:
            return (f"no threshold certified: the pilot ({self.pilot} matches) is too small to show agreement >= {self.target:.0%}{wre} "
                    f"with confidence {1 - self.delta:.0%}; every match escalates to the final stage")
        bound = "" if self.win_rate_error is None else (
            f", and the matches where they change a verdict are at most {100 * self.win_rate_error:.1f}% of all matches, so the models' "
            f"win rates (averaged with their match counts) are off by at most {100 * self.win_rate_error:.1f} points each stage")
        return (f"with probability >= {1 - self.delta:.0%} over the pilot draw, the matches decided by "
                f"{', '.join(certified)} agree with the final stage >= {self.target:.0%} of the time{bound} "
                f"(one-sided Clopper-Pearson, fixed-sequence testing; Jung et al., ICLR 2025)")

    def to_dict(self) -> dict:
        return {"target": self.target, "delta": self.delta, "pilot": self.pilot, "win_rate_error": self.win_rate_error,
                "stages": [s.to_dict() for s in self.stages], "guarantee": self.guarantee()}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        wre = d.get("win_rate_error")
        return cls(float(d["target"]), float(d["delta"]), int(d["pilot"]), [StageCalibration.from_dict(s) for s in d["stages"]],
                   None if wre is None else float(wre))


def calibrate_threshold(confidence: np.ndarray, agree: np.ndarray, *, target: float, delta: float,
                        grid: Sequence[float] = DEFAULT_GRID, stage: str = "", win_rate_error: float | None = None) -> StageCalibration:
    """The lowest grid threshold whose pilot agreement is certified >= `target` at level `delta`.

    confidence: (n,) the stage's confidence per pilot match; agree: (n,) bool, the stage's verdict
    equals the final stage's. Tests go down `grid` (descending) and stop at the first threshold whose
    one-sided Clopper-Pearson lower bound falls below `target` (fixed-sequence testing). A threshold
    whose set is too small to pass with agreement halfway between the target and 1 is skipped, not
    failed (else one early miss among the first few dozen most confident matches ends the sequence
    before any test had power): which tests run then depends on the confidences alone, so the
    level-delta guarantee (conditional on them) holds.

    `win_rate_error` (a share, e.g. 0.01 for one point) adds a second test at each threshold, in
    the manner of Learn-then-Test (Angelopoulos et al., 2021): the one-sided Clopper-Pearson upper
    bound on the share of ALL pilot matches that the stage keeps and gets wrong must be at most it.
    A model's win rate changes by at most 1 per such match (0.5 for a tie against a win), so the
    match-weighted mean of the models' absolute win-rate errors is at most that share: a bound on
    the ranking's input, not only on per-match agreement (which lets 5% of kept matches be wrong
    however many are kept). A threshold passes when both tests pass (an intersection-union test,
    still level delta), and the sequence stops at the first that does not.
    None passed: threshold `inf`.
    Raises ValueError when the two arrays differ in length, target is outside (0.5, 1) or
    win_rate_error is outside (0, 1).
    """
    confidence = np.asarray(confidence, dtype=float)
    agree = np.asarray(agree, dtype=bool)
    if confidence.shape != agree.shape:
        raise ValueError(f"confidence {confidence.shape} and agree {agree.shape} differ in shape")
    if not 0.5 < target < 1:
        raise ValueError(f"target {target} is outside (0.5, 1)")
    if win_rate_error is not None and not 0 < win_rate_error < 1:
        raise ValueError(f"win_rate_error {win_rate_error} is outside (0, 1)")
    total = len(agree)
    best: StageCalibration | None = None
    for lam in sorted(set(float(g) for g in grid), reverse=True):
        sel = confidence >= lam
        n = int(sel.sum())
        if n == 0 or clopper_pearson_lower(n - int((1 - target) / 2 * n), n, delta) < target:
            continue  # too few matches to certify at agreement (1 + target) / 2: no test (the order depends on confidences only)
        k = int(agree[sel].sum())
        lower = clopper_pearson_lower(k, n, delta)
        upper = clopper_pearson_upper(n - k, total, delta) if win_rate_error is not None else None
        if lower < target or (upper is not None and upper > win_rate_error):
            break
        best = StageCalibration(stage, lam, total, n, k, lower, clopper_pearson_interval(k, n), True, n - k, upper)
    if best is not None:
        return best
    k = int(agree.sum())
    return StageCalibration(stage, NEVER, total, 0, 0, 0.0, clopper_pearson_interval(k, total), False)


def flag_strata(confidence: np.ndarray, agree: np.ndarray, strata: Sequence[Sequence[str]], *, threshold: float,
                target: float, delta: float) -> tuple[str, ...]:
    """Stratified escalation: the strata (models) on which the stage is shown worse than the target.

    confidence, agree: (n,) per pilot match as in `calibrate_threshold`; strata: per pilot match
    the models it involves. For each model, among its pilot matches at or above `threshold`, k
    disagreements of n: it is flagged when the one-sided (1 - delta) Clopper-Pearson lower bound on
    its disagreement rate exceeds 1 - target, i.e. the pilot shows the stage misjudges that model
    (a model the cheap judge never learnt to read: another language, a copied answer, an unusual
    style). Models are flagged one at a time, the most clearly misjudged first, each time over the
    matches not involving a model already flagged (so a baseline that meets every model is not
    flagged for one bad opponent's disagreements). A flagged model's matches always go to the next
    stage. Escalating more only removes matches from what the stage decides, so the
    `win_rate_error` bound (a share of all matches changed) still holds; it guards the per-model
    errors a pooled threshold cannot see. Returns the flagged models, sorted.
    """
    confidence = np.asarray(confidence, dtype=float)
    agree = np.asarray(agree, dtype=bool)
    rows = [(bool(ok), set(models)) for keep, ok, models in zip(confidence >= threshold, agree, strata) if keep]
    flagged: set[str] = set()
    while True:
        counts: dict[str, list[int]] = {}
        for ok, models in rows:
            if models & flagged:
                continue
            for m in models:
                c = counts.setdefault(m, [0, 0])
                c[0] += int(not ok)
                c[1] += 1
        worst = max(((clopper_pearson_lower(k, n, delta), m) for m, (k, n) in counts.items()), default=(0.0, ""))
        if worst[0] <= 1 - target:
            return tuple(sorted(flagged))
        flagged.add(worst[1])


def pilot_size(win_rate_error: float, delta: float, changed: float | None = None) -> int:
    """The smallest pilot that can certify a cheap stage changing a share `changed` of the verdicts
    (default: half of `win_rate_error`) under the bound: the least n with the one-sided (1 - delta)
    Clopper-Pearson upper bound on round(changed * n) of n at most `win_rate_error`. With
    changed = 0 it is the pilot below which nothing can ever be certified (log delta / log(1 - e)).
    Raises ValueError when `changed` is not below `win_rate_error`."""
    c = win_rate_error / 2 if changed is None else changed
    if not 0 <= c < win_rate_error < 1:
        raise ValueError(f"changed {c} must be in [0, win_rate_error {win_rate_error})")
    n = max(1, int(np.ceil(np.log(delta) / np.log1p(-win_rate_error))))
    while clopper_pearson_upper(int(round(c * n)), n, delta) > win_rate_error:
        n += 1
    return n


def route(confidences: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Which stage decides each match: confidences (n, S-1) of the non-final stages, thresholds
    (S-1,); returns (n,) stage indices in 0..S-1 (S-1: the final stage, which always decides)."""
    c = np.asarray(confidences, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    ok = c >= t[None, :]
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), len(t))
    return first


def pilot_indices(n: int, pilot: int, seed: int) -> np.ndarray:
    """The pilot sample: `pilot` distinct indices of 0..n-1 drawn with `seed` (sorted)."""
    if pilot > n:
        raise ValueError(f"pilot {pilot} is larger than the plan ({n} matches)")
    return np.sort(np.random.default_rng(seed).choice(n, size=pilot, replace=False))


def report_lines(stats: dict) -> list[str]:
    """A cascade run's figures as plain sentences (Markdown report, HTML, dashboard, summary), from
    the report's `judge_stats.cascade` (`arena.judges.cascade.report_extras`)."""
    total = stats["matches"]
    per = ", ".join(f"{name} {n:,}" for name, n in stats["decided_per_stage"].items())
    lines = [
        f"Cascade: {total:,} matches decided per stage: {per} (pilot {stats['pilot_matches']:,}, judged by every stage).",
        f"Final-stage verdicts used {stats['final_stage_verdicts']:,} of {total:,} "
        f"({100 * stats['final_stage_verdicts'] / total if total else 0:.1f}%); saved {stats['final_stage_saved']:,} against an all-final-stage run.",
    ]
    if "calls_per_stage" in stats:
        calls = ", ".join(f"{name} {n:,} (${stats['cost_usd_per_stage'].get(name, 0.0):.4f})" for name, n in stats["calls_per_stage"].items())
        lines.append(f"Calls (cost) per stage: {calls}; final-stage calls saved about {stats['final_stage_calls_saved']:,}.")
    for st in (stats.get("calibration") or {}).get("stages", []):
        if st.get("escalated"):
            lines.append(f"Stage {st['stage']}: always escalates the matches of {', '.join(st['escalated'])} "
                         f"(its pilot shows it misjudges them: stratified escalation).")
    for name, a in stats["pilot_agreement"].items():
        lo, hi = a["interval_95"]
        rate = "n/a" if a["rate"] is None else f"{100 * a['rate']:.1f}%"
        cal = next((s for s in (stats.get("calibration") or {}).get("stages", []) if s["stage"] == name), {})
        thr, up = cal.get("threshold"), cal.get("changed_upper")
        changed = "" if up is None else f"; verdicts it would change: {cal.get('changed', 0)} of the pilot, at most {100 * up:.2f}% of all matches (upper bound)"
        lines.append(f"Stage {name}: pilot agreement with the final stage {rate} of {a['n']} (95% CI {100 * lo:.1f}-{100 * hi:.1f}%); "
                     f"threshold {'none (escalates everything)' if thr is None else f'{thr:.3f}'}{changed}.")
    lines.append(f"Guarantee: {stats['guarantee']}.")
    return lines
