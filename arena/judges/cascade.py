"""Judge kind `cascade`: ordered stages (judge presets); a match is decided by the first stage whose
confidence reaches that stage's calibrated threshold; the last stage always decides.

Confidence each kind reports with its verdict (`confidence(judge, result)`, in [0.5, 1] except a
panel's vote share, which can be lower):
- surrogate: max(P, 1 - P), P its probability that A is better; with `confidence =
  "length_consistent"` in its preset the smaller of that and the same margin without the length
  terms, 0.5 when the two views pick different winners (two views that must agree, as an llm
  judge's two orders);
- llm: label strength and the agreement of its two orders: a strong verdict 1.0, a plain one 0.75,
  a tie 0.5; orders that disagree 0.5; one order only: halfway between 0.5 and that value;
- panel: its vote share (members whose verdict equals the panel's / members who voted);
- network: 0.5 + 0.5 * tanh(|statistic|), its score margin between the two answers;
- recorded: 1 (the verdicts are final).

Thresholds: calibrated on a pilot (`arena.cascade`, Jung, Brahman, Choi, ICLR 2025): `pilot`
matches drawn with the run's seed from the matches the scheduler releases (`arrange`: for a fixed
schedule a uniform sample of the whole plan, for an adaptive one of its first waves) are judged
by every stage (their verdict is the final stage's) and go first; when they are done each
non-final stage's threshold is the lowest grid confidence whose agreement with the final stage is
>= `agreement` with confidence 1 - `delta` (one-sided Clopper-Pearson, fixed-sequence testing).
A stage that certifies nothing escalates every match. Stratified escalation: a model whose pilot
matches above the threshold show the stage disagreeing with the final one significantly more
than 1 - `agreement` has all its matches escalated (`arena.cascade.flag_strata`). Other matches
wait for the calibration.
Used outside a runner (no `arrange` call), the first `pilot` matches judged are the pilot. Every game's detail carries
`cascade = {stage, confidence, pilot}`; games after the calibration carry it too (report hook).

Preset keys:
    kind = "cascade"
    stages = ["surrogate", "recorded"]   # presets (shipped names or paths relative to this file), cheap first
    agreement = 0.95                     # target agreement with the final stage, in (0.5, 1)
    delta = 0.1                          # 1 - the confidence of the guarantee, in (0, 0.5)
    pilot = 300                          # matches judged by every stage (at least 1, at most the plan)
    win_rate_error = 0.01                # optional: also bound the share of matches a cheap stage changes
                                         # (the match-weighted mean win-rate error), a share in (0, 1)
    assume_escalation = 0.35             # what `tournament plan` assumes escalates at each stage
    description = "..."
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arena.errors import SpecError
from arena.judges._base import CallEstimate, Judge, JudgeResult, preset_error
from arena.records import Game, Match, MatchContext

kind = "cascade"
CONFIDENT_KINDS = ("surrogate", "llm", "panel", "network", "recorded")


class CascadeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    stages: list[str] = Field(min_length=2)
    agreement: float = Field(default=0.95, gt=0.5, lt=1.0)
    delta: float = Field(default=0.1, gt=0.0, lt=0.5)
    pilot: int = Field(default=300, ge=1)
    win_rate_error: float | None = Field(default=None, gt=0.0, lt=1.0)
    assume_escalation: float = Field(default=0.35, ge=0.0, le=1.0)
    description: str = ""


def confidence(judge: Judge, result: JudgeResult) -> float | None:
    """The confidence `judge` reports with `result`'s verdict (see the module docstring), or None
    for a kind that reports none or an unresolved verdict."""
    v = result.verdict
    if v.outcome not in ("a", "b", "tie"):
        return None
    k = getattr(judge, "kind", None)
    if k == "recorded":
        return 1.0
    if k == "surrogate":
        p, q = result.extra.get("p_a"), result.extra.get("p_a_no_length")
        if p is None:
            return None
        if q is None:
            return max(float(p), 1.0 - float(p))
        if (p - 0.5) * (q - 0.5) <= 0:  # the two views pick different winners: the verdict hangs on length
            return 0.5
        return min(max(float(p), 1.0 - float(p)), max(float(q), 1.0 - float(q)))
    if k == "llm":
        base = {0: 0.5, 1: 0.75, 2: 1.0}.get(int(v.strength), 0.5)
        if v.consistent is False:
            return 0.5
        decided = [g for g in result.games if g.label in ("A>>B", "A>B", "A=B", "B>A", "B>>A")]
        return base if len(decided) >= 2 else (0.5 + base) / 2
    if k == "panel":
        members = result.extra.get("members") or {}
        votes = [m for m in members.values() if m.get("agrees") is not None]
        return sum(bool(m["agrees"]) for m in votes) / len(votes) if votes else None
    if k == "network":
        s = result.extra.get("statistic")
        return None if s is None else 0.5 + 0.5 * math.tanh(abs(float(s)))
    return None


class CascadeJudge(Judge):
    kind = "cascade"

    def __init__(self, name: str, cfg: CascadeSettings, stages: list[Judge]) -> None:
        super().__init__(name, cfg.description or "cascade: " + " -> ".join(s.name for s in stages))
        self.cfg = cfg
        self.stages = stages
        self.pilot_started = 0
        self._pilot_finished_ids: set[str] = set()
        self.pilot_rows: list[tuple[list[float | None], list[bool], tuple[str, ...]]] = []  # confidences, agreements, models
        self.pilot_ids: set[str] | None = None  # the seeded pilot sample once `arrange` has drawn it
        self.calibration = None
        self._calibrated = asyncio.Event()

    def fingerprint(self) -> dict:
        """Each stage's name, own preset and fingerprint: changing a stage changes the run's identity."""
        return {"stages": [{"name": s.name, "preset": s.preset, **s.fingerprint()} for s in self.stages]}

    def conversation_refusal(self) -> str | None:
        """None when every stage judges conversations; else the first refusing stage's reason."""
        for s in self.stages:
            why = s.conversation_refusal()
            if why is not None:
                return f"its stage {s.name!r} ({s.kind}) cannot: {why}"
        return None

    def turn_choice(self) -> str | int | None:
        """The stages' common `turn` (checked by `check_prompts` on a pool of conversations)."""
        return next((c for c in (s.turn_choice() for s in self.stages) if c is not None), None)

    def check_prompts(self, prompts, where: str) -> None:
        """Every stage's checks, and the same `turn` for every stage on a pool of conversations: a
        stage's games carry the turns it judged (`detail.turn`) and the per-turn leaderboards read the
        deciding stage's, so stages judging different turns would mix in them."""
        from arena.judges._conversation import same_turn_choice

        super().check_prompts(prompts, where)
        for s in self.stages:
            s.check_prompts(prompts, where)
        same_turn_choice([(s.name, s) for s in self.stages], prompts, where, "stage")

    def calls_per_match(self) -> int:
        """Worst case (every stage judges)."""
        return sum(s.calls_per_match() for s in self.stages)

    def call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        return [e for s in self.stages for e in s.call_estimates(ctx)]

    async def aclose(self) -> None:
        for s in self.stages:
            await s.aclose()

    def calibrate(self) -> None:
        """Set the thresholds from the pilot rows gathered so far (`arena.cascade.calibrate_threshold`)."""
        from dataclasses import replace

        import numpy as np

        from arena.cascade import NEVER, Calibration, calibrate_threshold, flag_strata

        out = []
        for i, s in enumerate(self.stages[:-1]):
            conf = np.array([c[i] if c[i] is not None else -1.0 for c, _, _ in self.pilot_rows])
            agree = np.array([a[i] for _, a, _ in self.pilot_rows], dtype=bool)
            cal = calibrate_threshold(conf, agree, target=self.cfg.agreement, delta=self.cfg.delta, stage=s.name,
                                      win_rate_error=self.cfg.win_rate_error)
            if cal.threshold != NEVER:
                cal = replace(cal, escalated=flag_strata(conf, agree, [m for _, _, m in self.pilot_rows], threshold=cal.threshold,
                                                         target=self.cfg.agreement, delta=self.cfg.delta))
            out.append(cal)
        self.calibration = Calibration(self.cfg.agreement, self.cfg.delta, len(self.pilot_rows), out, self.cfg.win_rate_error)
        self._calibrated.set()

    def restore(self, games: Iterable[Game]) -> None:
        """Resume: rebuild the pilot rows from a run's stored games (the runner calls this before
        judging), so a resumed run keeps its pilot and recomputes the same calibration from it."""
        rows: dict[str, dict[int, dict]] = {}
        for g in games:
            c = (g.detail or {}).get("cascade")
            if c and c.get("pilot") and "agrees_with_final" in c:
                rows.setdefault(g.match_id, {})[int(c["stage"])] = c
        n = len(self.stages)
        if rows:
            self.pilot_ids = (self.pilot_ids or set()) | set(rows)
        for cs in rows.values():
            if len(cs) == n:
                self.pilot_rows.append(([cs[i]["confidence"] for i in range(n)], [bool(cs[i]["agrees_with_final"]) for i in range(n)],
                                        tuple(cs[0].get("models") or ())))
        self._pilot_finished_ids |= set(rows)
        self.pilot_started = self.pilot_done
        if self._pilot_complete():
            self.calibrate()

    def expected_calls(self, matches: float) -> float:
        """Expected completion calls for `matches` matches: the pilot pays every stage; after it each
        stage is reached by the share the calibration (or, before one, `assume_escalation`) says."""
        return self.plan_info(matches, matches)["calls_expected"]

    def plan_info(self, matches: float, worst: float) -> dict:
        """The plan's cascade section: calls expected and worst case (everything escalates), and
        where the expected figure comes from."""
        pilot = min(self.cfg.pilot, matches)
        rest = max(matches - pilot, 0.0)
        cpm = [s.calls_per_match() for s in self.stages]
        reach = 1.0
        calls = pilot * sum(cpm) + rest * cpm[0]
        for i in range(1, len(self.stages)):
            reach *= self.cfg.assume_escalation
            calls += rest * reach * cpm[i]
        return {"stages": [s.name for s in self.stages], "pilot": int(pilot), "calls_per_match_by_stage": cpm,
                "final_stage_matches_expected": pilot + rest * reach, "final_stage_matches_worst": worst,
                "calls_expected": calls, "calls_worst": worst * sum(cpm),
                "assumption": f"before a calibration: {self.cfg.assume_escalation:.0%} of the non-pilot matches escalate at each stage "
                              f"(preset key assume_escalation); worst case: every match reaches every stage",
                "agreement": self.cfg.agreement, "delta": self.cfg.delta}

    def arrange(self, matches: Sequence[Match], seed: int) -> list[Match]:
        """The runner's hook on every release: draw the pilot from `matches` with `seed` while it is
        not full (`arena.cascade.pilot_indices`: a uniform sample without replacement; a release no
        larger than what the pilot still needs is taken whole) and return `matches` with the pilot
        first, so its matches start before any match that must wait for the calibration.
        Deterministic: a resumed run replays the same releases and draws the same pilot."""
        from arena.cascade import pilot_indices

        first = self.pilot_ids is None
        chosen = set(self.pilot_ids or ())
        fresh = [m for m in matches if m.match_id not in chosen]
        need = self.cfg.pilot if first else self.cfg.pilot - len(chosen)
        if need > 0 and fresh:
            if first:  # the first release: the sample ignores what a resumed run restored, so it is the same draw
                fresh = list(matches)
            picks = range(len(fresh)) if len(fresh) <= need else pilot_indices(len(fresh), need, seed)
            chosen |= {fresh[i].match_id for i in picks}
        self.pilot_ids = chosen
        return [m for m in matches if m.match_id in chosen] + [m for m in matches if m.match_id not in chosen]

    def _is_pilot(self, match_id: str) -> bool:
        if self.pilot_ids is not None:
            return match_id in self.pilot_ids
        return self.calibration is None and self.pilot_started < self.cfg.pilot  # no runner: first come

    @property
    def pilot_done(self) -> int:
        return len(self._pilot_finished_ids)

    def _pilot_complete(self) -> bool:
        """Every pilot match is done: `pilot` of them, or the whole drawn sample when it is larger."""
        return self.pilot_done >= max(self.cfg.pilot, len(self.pilot_ids or ()))

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        if self._is_pilot(ctx.match_id):
            self.pilot_started += 1
            return await self._pilot(ctx)
        await self._calibrated.wait()
        return await self._cascade(ctx)

    async def _pilot(self, ctx: MatchContext) -> JudgeResult:
        try:
            results = [await s.judge(ctx) for s in self.stages]
        except BaseException:
            self._pilot_finished(ctx.match_id)  # a failed pilot match must not keep the others waiting forever
            raise
        final = results[-1]
        confs = [confidence(s, r) for s, r in zip(self.stages, results)]
        resolved = final.verdict.outcome in ("a", "b", "tie")
        agree = [r.verdict.outcome == final.verdict.outcome if resolved else None for r in results]
        models = (ctx.model_a, ctx.model_b)
        if resolved:
            self.pilot_rows.append((confs, [bool(a) for a in agree], models))
        games = []
        for i, (s, r) in enumerate(zip(self.stages, results)):
            for g in r.games:
                games.append(_tag(g, i, confs[i], True, s.name, decides=i == len(self.stages) - 1, agrees=agree[i], models=models))
        self._pilot_finished(ctx.match_id)
        return JudgeResult(games, final.verdict, {"cascade": {"stage": len(self.stages) - 1, "pilot": True}})

    def _pilot_finished(self, match_id: str) -> None:
        self._pilot_finished_ids.add(match_id)
        if self._pilot_complete() and not self._calibrated.is_set():
            self.calibrate()

    async def _cascade(self, ctx: MatchContext) -> JudgeResult:
        assert self.calibration is not None
        games: list[Game] = []
        for i, s in enumerate(self.stages):
            r = await s.judge(ctx)
            c = confidence(s, r)
            last = i == len(self.stages) - 1
            cal = None if last else self.calibration.stages[i]
            decides = last or (c is not None and c >= cal.threshold and ctx.model_a not in cal.escalated and ctx.model_b not in cal.escalated)
            games += [_tag(g, i, c, False, s.name, decides=decides, calibration=self.calibration.to_dict()) for g in r.games]
            if decides:
                return JudgeResult(games, r.verdict, {"cascade": {"stage": i, "pilot": False, "confidence": c}})
        raise AssertionError("the last stage always decides")


def _tag(g: Game, stage: int, conf: float | None, pilot: bool, name: str, *, decides: bool, agrees: bool | None = None,
         calibration: dict | None = None, models: tuple[str, str] | None = None) -> Game:
    from dataclasses import replace

    info = {"stage": stage, "stage_judge": name, "confidence": conf, "pilot": pilot, "decides": decides}
    if agrees is not None:
        info["agrees_with_final"] = agrees
    if models is not None:
        info["models"] = list(models)
    if calibration is not None:
        info["calibration"] = calibration
    return replace(g, detail={**(g.detail or {}), "cascade": info})


def report_extras(games: Iterable[Game | dict]) -> dict:
    """The report hook: matches decided per stage, final-stage verdicts used and saved against an
    all-final-stage run, and each stage's pilot agreement with the final stage (95% Clopper-Pearson)."""
    from arena.cascade import clopper_pearson_interval

    decided: dict[str, dict[int, str]] = {}
    final_used: set[str] = set()
    pilot_matches: set[str] = set()
    agree: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    last = 0
    calibration = None
    calls: dict[int, int] = {}
    cost: dict[int, float] = {}
    for g in games:
        detail = g.detail if isinstance(g, Game) else g.get("detail")
        mid = g.match_id if isinstance(g, Game) else g.get("match_id")
        if isinstance(detail, str):
            try:
                detail = json.loads(detail)
            except ValueError:
                continue
        c = (detail or {}).get("cascade") if isinstance(detail, dict) else None
        if not c:
            continue
        st = int(c["stage"])
        calls[st] = calls.get(st, 0) + int((g.calls if isinstance(g, Game) else g.get("calls")) or 0)
        cost[st] = cost.get(st, 0.0) + float((g.cost_usd if isinstance(g, Game) else g.get("cost_usd")) or 0.0)
        calibration = calibration or c.get("calibration")
        names[st] = c.get("stage_judge", str(st))
        last = max(last, st)
        if c.get("decides"):
            decided.setdefault(mid, {})[st] = names[st]
        if c.get("pilot"):
            pilot_matches.add(mid)
            if "agrees_with_final" in c:
                agree.setdefault(st, [])
                agree[st].append(int(bool(c["agrees_with_final"])))
    if not names:
        return {}
    for mid in decided:
        if last in decided[mid]:
            final_used.add(mid)
    per_stage = {names[s]: 0 for s in sorted(names)}
    for mid, d in decided.items():
        st = last if mid in pilot_matches else min(d)
        per_stage[names[st]] += 1
    pilot_agreement = {}
    for s, xs in sorted(agree.items()):
        if s == last:
            continue
        k, n = sum(xs), len(xs)
        pilot_agreement[names[s]] = {"agree": k, "n": n, "rate": k / n if n else None, "interval_95": list(clopper_pearson_interval(k, n))}
    total = len(decided)
    final_calls = calls.get(last, 0)
    per_final = final_calls / len(final_used) if final_used else 0.0
    return {"cascade": {"calls_per_stage": {names[s]: calls.get(s, 0) for s in sorted(names)},
                        "cost_usd_per_stage": {names[s]: cost.get(s, 0.0) for s in sorted(names)},
                        "final_stage_calls_saved": round(per_final * (total - len(final_used))),"matches": total, "decided_per_stage": per_stage, "pilot_matches": len(pilot_matches),
                        "final_stage_verdicts": len(final_used), "final_stage_saved": total - len(final_used),
                        "pilot_agreement": pilot_agreement, "calibration": calibration,
                        "guarantee": calibration["guarantee"] if calibration else "not calibrated: every match was a pilot match (judged by every stage)"}}


def build(preset: dict, *, name: str, base_dir: Path, **options) -> CascadeJudge:
    """Build a cascade judge (the `kind = "cascade"` entry point); each stage is built with the
    runtime options. Raises SpecError naming the key: fewer than two stages, a non-final stage whose
    kind reports no confidence, agreement outside (0.5, 1)."""
    from arena.judges import load_judge

    where = Path(base_dir) / f"{name}.toml"
    try:
        cfg = CascadeSettings.model_validate(preset)
    except ValidationError as e:
        raise preset_error(str(where), e, "a cascade judge", CascadeSettings.model_fields) from None
    stages: list[Judge] = []
    for i, ref in enumerate(cfg.stages):
        p = Path(ref)
        if not p.is_absolute() and (Path(base_dir) / p).exists():
            p = Path(base_dir) / p
        j = load_judge(p if p.exists() else ref, **options)
        if i < len(cfg.stages) - 1 and getattr(j, "kind", None) not in CONFIDENT_KINDS:
            raise SpecError(f"{where}: key 'stages[{i}]': judge {j.name!r} of kind {getattr(j, 'kind', '?')!r} cannot report a confidence "
                            f"(a non-final stage must be one of: {', '.join(CONFIDENT_KINDS)})")
        stages.append(j)
    return CascadeJudge(name, cfg, stages)
