"""The panel judge (`kind = "panel"`): several judges decide the same match, one label wins.

Juries of different models are a known way to buy reliability with calls (Verga et al., 2024,
"Replacing Judges with Juries"). Each member is a judge preset of any kind (llm, network,
surrogate, another panel): a shipped name, a path relative to the panel preset, or a table
inlining a preset (with its own `kind`). All members judge a match concurrently.

Votes
-----
A member's vote in an order is the label of its game in that order (seen from A); a member
that played one order only (an `orders = "random"` llm judge, the surrogate) votes its verdict
in the other. Votes `error` and `unparsed` are left out and recorded. Scores are those of
`LABEL_SCORE`: A>>B = 2, A>B = 1, A=B = 0, B>A = -1, B>>A = -2.

Aggregation (`aggregation`)
---------------------------
- `majority` (default): the side (A or B) with more votes wins, unless A and B are level or
  "tie" votes outnumber each side, which is a tie. The winner is strong (`A>>B`) when more than half of its voters said strong.
- `mean`: the mean score M of the votes; |M| <= `tie_margin` (default 0.25) is a tie,
  |M| >= `strong_margin` (default 1.5) is strong.
- `weighted`: the weighted mean score, same thresholds, each member weighted by its measured
  reliability: from the result file `arena judge eval --out` wrote for it (`reliability`),
  metric `reliability_metric` (default `accuracy`), as log-odds ln(p / (1 - p)) with p clipped
  to [0.5, 0.99] (the optimal weights for independent voters of accuracy p; a member no better
  than chance weighs 0), or the metric's value itself with `reliability_weighting = "value"`.
  A member may give a fixed `weight` instead of a file.

An order's label stands when at least `quorum` (a fraction of the members, default 0.5) voted;
otherwise the panel's game is `error` (`unparsed` when no member failed as a call), and the
verdict is `unresolved`. The verdict combines the panel's two games as every judge's are
(`combine_games`).

Records
-------
The panel returns one game per order, named like the panel: its label is the panel's, and
`calls`, tokens, cost (None when any member's is unknown), attempts and latency are sums over
the members' games of that order, so a match's games add up to every call the members made.
Its `detail.members` lists each member's vote, weight, status, calls, cost and whether it
agrees with the panel (same side: A, B or tie); `member_agreement(games)` turns those into
each member's agreement rate for reports.

Conversations: the members must judge the same turns (`turn` in their presets; refused before any
call otherwise). When they judge turns apart (`turn = "each"`, MT-Bench's protocol) the panel votes
per turn: one game per turn and order (`detail.turn`, named `<panel>@turnN`), each turn's games a
verdict and `combine_turns` adding them up, so the report has a leaderboard per turn as for one llm judge.

Preset keys (TOML): kind = "panel", description, members (list of names / paths / tables),
aggregation, tie_margin, strong_margin, quorum, reliability_metric, reliability_weighting.
A member table: `preset = "name or path"` or an inline preset (`kind = ...` and its keys), plus
the panel's own keys for it: `name`, `weight`, `reliability` (a result file, relative to the
panel preset). Runtime options (store, no_cache, seed, backoff_base, backoff_max) pass to every
member.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arena.errors import ArenaError, SpecError
from arena.judges._base import CallEstimate, Judge, JudgeResult, combine_games, preset_error
from arena.judges._conversation import combine_turns, game_turn, same_turn_choice, turn_judge_name
from arena.records import LABEL_SCORE, Game, MatchContext, Order, cached_part, cached_totals

Aggregation = Literal["majority", "mean", "weighted"]
RUNTIME_OPTIONS = ("store", "no_cache", "seed", "backoff_base", "backoff_max")
MEMBER_KEYS = ("name", "weight", "reliability", "preset")


class PanelPreset(BaseModel):
    """The keys of a `panel` judge preset (members are checked separately)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["panel"] = "panel"
    description: str = ""
    members: list = Field(min_length=1)
    aggregation: Aggregation = "majority"
    tie_margin: float = Field(0.25, ge=0)
    strong_margin: float = Field(1.5, gt=0)
    quorum: float = Field(0.5, gt=0, le=1)
    reliability_metric: str = "accuracy"
    reliability_weighting: Literal["log-odds", "value"] = "log-odds"


@dataclass(slots=True)
class Member:
    name: str
    judge: Judge
    weight: float = 1.0
    weight_source: str = "equal"  # equal | fixed | <result file>
    from_file: bool = False  # its preset was read from a file (an inline one is part of the panel's)


# -- pure parts ------------------------------------------------------------------------------------


def _side(label: str) -> int:
    s = LABEL_SCORE[label]
    return (s > 0) - (s < 0)


def _label(mean: float, tie_margin: float, strong_margin: float) -> str:
    if abs(mean) <= tie_margin:
        return "A=B"
    strong = abs(mean) >= strong_margin
    if mean > 0:
        return "A>>B" if strong else "A>B"
    return "B>>A" if strong else "B>A"


def aggregate(
    votes: list[str],
    weights: list[float] | None = None,
    mode: Aggregation = "majority",
    *,
    tie_margin: float = 0.25,
    strong_margin: float = 1.5,
) -> tuple[str, float]:
    """The panel's label from decisive member votes (labels from A's point of view), and its statistic.

    `majority`: statistic = (votes A - votes B) / n; `mean`: the mean score; `weighted`: the
    weighted mean score (weights summing to 0 leave a tie).
    """
    if not votes:
        raise ValueError("no votes to aggregate")
    if mode == "majority":
        sides = Counter(_side(v) for v in votes)
        a, b, t = sides[1], sides[-1], sides[0]
        stat = (a - b) / len(votes)
        if a == b or t > max(a, b):
            return "A=B", stat
        win = 1 if a > b else -1
        voters = [v for v in votes if _side(v) == win]
        strong = sum(abs(LABEL_SCORE[v]) == 2 for v in voters) * 2 > len(voters)
        if win == 1:
            return ("A>>B" if strong else "A>B"), stat
        return ("B>>A" if strong else "B>A"), stat
    w = [1.0] * len(votes) if mode == "mean" or weights is None else list(weights)
    total = math.fsum(w)
    if total <= 0:
        return "A=B", 0.0
    mean = math.fsum(wi * LABEL_SCORE[v] for wi, v in zip(w, votes)) / total
    return _label(mean, tie_margin, strong_margin), mean


def reliability_weight(p: float | None, weighting: str = "log-odds") -> float:
    """A member's weight from its measured reliability p: ln(p/(1-p)) with p in [0.5, 0.99], or p."""
    if p is None or not math.isfinite(p):
        raise ValueError("no measured value")
    if weighting == "value":
        return max(0.0, float(p))
    q = min(max(float(p), 0.5), 0.99)
    return math.log(q / (1 - q))


def report_extras(games: Iterable[Game]) -> dict:
    """The report hook (`arena.judges.report_extras`): each member's agreement with the panel."""
    return {"member_agreement": member_agreement(games)}


def member_agreement(games: Iterable[Game]) -> dict[str, dict]:
    """Each member's agreement with the panel over panel games:
    {member: {"agree": k, "n": n, "rate": k / n}} over the orders where both had a decisive label."""
    out: dict[str, dict] = {}
    for g in games:
        for m in g.detail.get("members", []):
            if m.get("agrees") is None:
                continue
            d = out.setdefault(m["name"], {"agree": 0, "n": 0, "rate": None})
            d["n"] += 1
            d["agree"] += bool(m["agrees"])
    for d in out.values():
        d["rate"] = d["agree"] / d["n"] if d["n"] else None
    return out


# -- the judge -------------------------------------------------------------------------------------


class PanelJudge(Judge):
    kind = "panel"

    def __init__(self, name: str, cfg: PanelPreset, members: list[Member], *, preset: dict | None = None) -> None:
        super().__init__(
            name, cfg.description or f"panel of {len(members)} ({cfg.aggregation}): " + ", ".join(m.name for m in members), preset=preset
        )
        self.cfg = cfg
        self.members = members

    def conversation_refusal(self) -> str | None:
        """None when every member judges conversations; else the first refusing member's reason."""
        for m in self.members:
            why = m.judge.conversation_refusal()
            if why is not None:
                return f"its member {m.name!r} ({m.judge.kind}) cannot: {why}"
        return None

    def turn_choice(self) -> str | int | None:
        """The members' common `turn` (checked by `check_prompts` on a pool of conversations)."""
        return next((c for c in (m.judge.turn_choice() for m in self.members) if c is not None), None)

    def check_prompts(self, prompts, where: str) -> None:
        super().check_prompts(prompts, where)
        for m in self.members:
            m.judge.check_prompts(prompts, where)
        same_turn_choice([(m.name, m.judge) for m in self.members], prompts, where, "member")

    def fingerprint(self) -> dict:
        """Each member's name, weight, own preset (when it was read from a file) and fingerprint."""
        return {
            "members": [
                {"name": m.name, "weight": m.weight, "preset": m.judge.preset if m.from_file else None, **m.judge.fingerprint()} for m in self.members
            ]
        }

    def calls_per_match(self) -> int:
        return sum(m.judge.calls_per_match() for m in self.members)

    def call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        return [e for m in self.members for e in m.judge.call_estimates(ctx)]

    def worst_call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        return [e for m in self.members for e in m.judge.worst_call_estimates(ctx)]

    def max_calls_per_match(self) -> int:
        return sum(m.judge.max_calls_per_match() for m in self.members)

    async def _member(self, m: Member, ctx: MatchContext) -> JudgeResult | BaseException:
        try:
            return await m.judge.judge(ctx)
        except Exception as e:  # the contract says judge() never raises; keep the panel going if one does
            return e

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        results = await asyncio.gather(*(self._member(m, ctx) for m in self.members))
        turns = sorted({game_turn(g) for r in results if not isinstance(r, BaseException) for g in r.games}, key=lambda t: t or 0)
        if not turns or None in turns:  # a single-turn prompt, a whole conversation (turn = "all")
            games = [self._game(ctx, order, results) for order in ("AB", "BA")]
            verdict = combine_games(ctx.match_id, games)
        else:  # members judged turns apart: one panel game per turn and order, a verdict per turn (`combine_turns`)
            per_turn = [[self._game(ctx, order, results, t, named=self.turn_choice() == "each" or len(turns) > 1) for order in ("AB", "BA")]
                        for t in turns]
            games = [g for gs in per_turn for g in gs]
            verdict = combine_turns(ctx.match_id, [combine_games(ctx.match_id, gs) for gs in per_turn])
        members = {}
        for m, r in zip(self.members, results):
            if isinstance(r, BaseException):
                members[m.name] = {"verdict": "error", "agrees": None}
                continue
            agrees = None
            if r.verdict.outcome in ("a", "b", "tie") and verdict.outcome in ("a", "b", "tie"):
                agrees = r.verdict.outcome == verdict.outcome
            members[m.name] = {"verdict": r.verdict.label, "outcome": r.verdict.outcome, "agrees": agrees}
        return JudgeResult(games=games, verdict=verdict, extra={"members": members})

    def _vote(self, m: Member, order: Order, r: JudgeResult | BaseException, turn: int | None = None) -> tuple[str, str, list[Game], str | None]:
        """(vote label, where it came from, the member's games in this order, error); with `turn`,
        of the member's games of that turn (its verdict of that turn where it played one order)."""
        if isinstance(r, BaseException):
            return "error", "exception", [], f"{type(r).__name__}: {r}"
        mine = r.games if turn is None else [g for g in r.games if game_turn(g) == turn]
        gs = [g for g in mine if g.order == order]
        if gs:
            own = [g for g in gs if g.judge == m.judge.name] or gs
            label = own[0].label if len(own) == 1 else combine_games(ctx_id(gs), own).label
            error = next((g.error for g in own if g.error), None)
            return label, "game", gs, error
        verdict = r.verdict if turn is None or not mine else combine_games(mine[0].match_id, mine)
        if verdict.outcome in ("a", "b", "tie"):
            return verdict.label, "verdict", [], None
        return verdict.label if verdict.label in ("error", "unparsed") else "unparsed", "verdict", [], None

    def _game(self, ctx: MatchContext, order: Order, results: list, turn: int | None = None, *, named: bool = False) -> Game:
        """The panel's game in `order` (of conversation turn `turn`: `detail.turn`, and the name
        `panel@turnN` when `named`, so each turn's games are stored apart)."""
        cfg = self.cfg
        entries = []
        votes: list[str] = []
        weights: list[float] = []
        all_games: list[Game] = []
        for m, r in zip(self.members, results):
            label, source, gs, error = self._vote(m, order, r, turn)
            all_games += gs
            costs = [g.cost_usd for g in gs]
            entries.append(
                {
                    "name": m.name,
                    "kind": getattr(m.judge, "kind", "?"),
                    "label": label,
                    "source": source,
                    "weight": m.weight if cfg.aggregation == "weighted" else 1.0,
                    "agrees": None,
                    "error": error,
                    "permanent": label == "error" and bool(gs) and all(g.detail.get("permanent") for g in gs if g.error),
                    "calls": sum(int(g.calls or 0) for g in gs),
                    "input_tokens": sum(int(g.input_tokens or 0) for g in gs),
                    "output_tokens": sum(int(g.output_tokens or 0) for g in gs),
                    "cost_usd": None if any(c is None for c in costs) else math.fsum(costs),
                    "raw": (gs[0].raw or "")[:1000] if gs else "",
                }
            )
            if label in LABEL_SCORE:
                votes.append(label)
                weights.append(m.weight)
        need = max(1, math.ceil(cfg.quorum * len(self.members) - 1e-9))
        detail: dict = {"aggregation": cfg.aggregation, "members": entries, "quorum": need, **({"turn": turn} if turn is not None else {})}
        error = None
        if len(votes) >= need:
            label, stat = aggregate(votes, weights, cfg.aggregation, tie_margin=cfg.tie_margin, strong_margin=cfg.strong_margin)
            detail["statistic"] = stat
            for e in entries:
                if e["label"] in LABEL_SCORE:
                    e["agrees"] = _side(e["label"]) == _side(label)
            status = "ok"
            raw = f"{cfg.aggregation} of {len(votes)} member votes: " + ", ".join(f"{e['name']} {e['label']}" for e in entries) + f" -> {label}"
        else:
            failed = [e for e in entries if e["label"] not in LABEL_SCORE]
            any_error = any(e["label"] == "error" for e in failed)
            label = status = "error" if any_error else "unparsed"
            if any_error:
                error = f"{len(failed)} of {len(entries)} members gave no verdict (quorum {need}): " + "; ".join(
                    f"{e['name']}: {e['error'] or e['label']}" for e in failed
                )
                # permanent only when no retry can reach the quorum: every member without a vote
                # failed with an error another attempt cannot fix (HTTP 400/401/404, context length)
                if all(e["label"] == "error" and e["permanent"] for e in failed):
                    detail["permanent"] = True
            raw = f"no quorum: {len(votes)} of {len(entries)} members voted (need {need})"
        costs = [g.cost_usd for g in all_games]
        cached_calls, cached_cost = cached_totals(cached_part(g) for g in all_games)
        return Game(
            match_id=ctx.match_id,
            judge=turn_judge_name(self.name, turn) if named and turn is not None else self.name,
            order=order,
            label=label,
            raw=raw,
            parse_status=status,  # type: ignore[arg-type]
            input_tokens=sum(int(g.input_tokens or 0) for g in all_games),
            output_tokens=sum(int(g.output_tokens or 0) for g in all_games),
            cost_usd=None if any(c is None for c in costs) else math.fsum(costs),
            latency_s=math.fsum(g.latency_s or 0.0 for g in all_games),
            cached=bool(all_games) and all(g.cached for g in all_games),
            attempts=sum(int(g.attempts or 0) for g in all_games),
            calls=sum(int(g.calls or 0) for g in all_games),
            error=error,
            detail=detail,
            cached_calls=cached_calls,
            cached_cost_usd=cached_cost,
        )

    async def aclose(self) -> None:
        for m in self.members:
            await m.judge.aclose()


def ctx_id(games: list[Game]) -> str:
    return games[0].match_id


# -- building ----------------------------------------------------------------------------------------


def _resolve_member(ref: str, base_dir: Path) -> str | Path:
    p = Path(ref)
    for candidate in (base_dir / p, base_dir / (p.name + ".toml" if not p.name.endswith(".toml") else p.name)):
        if not p.is_absolute() and candidate.is_file():
            return candidate.resolve()
    return ref


def build(preset: dict, *, name: str, base_dir: Path, _panel_chain: tuple[str, ...] = (), **options) -> PanelJudge:
    """Build a panel judge; each member is built with the runtime options (store, no_cache, ...)."""
    base_dir = Path(base_dir)
    where = str(base_dir / f"{name}.toml")
    try:
        cfg = PanelPreset(**preset)
    except ValidationError as e:
        raise preset_error(where, e, "a panel", PanelPreset.model_fields, " (a list of judge presets)") from None
    chain = (*_panel_chain, str(Path(where).resolve()))
    runtime = {k: options[k] for k in RUNTIME_OPTIONS if k in options}
    members: list[Member] = []
    try:
        for i, raw in enumerate(cfg.members):
            key = f"members[{i}]"
            members.append(_build_member(raw, key, where, base_dir, chain, runtime, cfg))
    except BaseException:
        for m in members:
            _close_quietly(m.judge)
        raise
    names = [m.name for m in members]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise SpecError(f"{where}: key 'members': two members are named {dup!r} (give one a `name`)")
    return PanelJudge(name, cfg, members, preset=preset)


def _build_member(raw, key, where, base_dir, chain, runtime, cfg) -> Member:
    from arena.judges import build_judge, load_judge, load_preset

    if isinstance(raw, str):
        raw = {"preset": raw}
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: key '{key}': expected a preset name, a path or a table, got {raw!r}")
    own = {k: raw[k] for k in MEMBER_KEYS if k in raw}
    inline = {k: v for k, v in raw.items() if k not in MEMBER_KEYS}
    if ("preset" in own) == bool(inline.get("kind")):
        raise SpecError(f"{where}: key '{key}': give either `preset` (a name or path) or an inline preset with `kind`")
    if "preset" in own:
        if inline:
            raise SpecError(f"{where}: key '{key}.{next(iter(inline))}': not a member setting (expected: {', '.join(MEMBER_KEYS)})")
        ref = _resolve_member(str(own["preset"]), base_dir)
        try:
            member_preset, path = load_preset(ref)
        except ArenaError as e:
            raise SpecError(f"{where}: key '{key}': {e}") from None
        if str(Path(path).resolve()) in chain:
            raise SpecError(f"{where}: key '{key}': panel {path} contains itself")
        opts = dict(runtime)
        if member_preset.get("kind") == "panel":
            opts["_panel_chain"] = chain
        judge = load_judge(path, name=str(own["name"]) if "name" in own else None, **opts)
    else:
        kind = inline["kind"]
        mname = str(own.get("name") or f"{Path(where).stem}-{key.replace('[', '').replace(']', '')}")
        opts = dict(runtime)
        if kind == "panel":
            opts["_panel_chain"] = chain
        judge = build_judge(inline, name=mname, base_dir=base_dir, where=f"{where}: key '{key}.kind'", **opts)
    weight, source = 1.0, "equal"
    if "weight" in own:
        w = own["weight"]
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            raise SpecError(f"{where}: key '{key}.weight': expected a number >= 0, got {w!r}")
        weight, source = float(w), "fixed"
    if "reliability" in own:
        weight, source = _weight_from_result(own["reliability"], key, where, base_dir, cfg)
    if cfg.aggregation == "weighted" and source == "equal":
        raise SpecError(f"{where}: key '{key}': aggregation = \"weighted\" needs `reliability` (a result file of `arena judge eval`) or `weight` for each member")
    return Member(judge.name, judge, weight, source, from_file="preset" in own)


def _weight_from_result(ref, key: str, where: str, base_dir: Path, cfg: PanelPreset) -> tuple[float, str]:
    from arena.results import read_result

    p = Path(str(ref))
    if not p.is_absolute():
        p = base_dir / p
    try:
        result = read_result(p)
    except ArenaError as e:
        raise SpecError(f"{where}: key '{key}.reliability': {e}") from None
    metric = (result.get("metrics") or {}).get(cfg.reliability_metric)
    value = metric.get("value") if isinstance(metric, dict) else None
    try:
        return reliability_weight(value, cfg.reliability_weighting), str(p)
    except (ValueError, TypeError):
        raise SpecError(f"{where}: key '{key}.reliability': {p} has no value for metric {cfg.reliability_metric!r} (key 'reliability_metric')") from None


def _close_quietly(judge: Judge) -> None:
    try:
        asyncio.run(judge.aclose())
    except Exception:
        pass
