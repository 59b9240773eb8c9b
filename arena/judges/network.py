"""The wide/deep network judge (`kind = "network"`), after "Wider and Deeper LLM Networks are
Fairer LLM Evaluators" (Zhang et al., 2023).

How one match is judged
-----------------------
- **Layer 0, roles** (one call per match, shared by both orders): the judge model reads the
  prompt and both answers and is asked from which perspectives they should be judged; the reply is parsed by `parse_roles` into at most
  `width` roles. A preset may fix `roles` instead (no layer-0 call). When the reply cannot be
  parsed, or the call fails after its retries, the network uses `FALLBACK_ROLES` (in that
  order); when it gives fewer than `width` roles, the fallback roles complete the list, so a
  network always has exactly `width` neurons a layer. Where the roles came from is recorded
  (`roles_source`: preset, generated, generated+fallback, fallback).
- **Layer 1**: one neuron per role scores both answers from 1 to 10 with evidence
  (`prompts/network_neuron.j2`), in both orders (the second with the answers swapped).
- **Layers 2..depth**: neuron i reads its own earlier evaluations (every earlier layer) and those
  of the previous layer's neurons, all of them, or with `window = k` only its k nearest
  neighbours on a ring (i-1, i+1, i-2, i+2, ...), and scores again (`prompts/network_review.j2`).
  Each order is a network of its own: a neuron only reads evaluations made in the same order,
  where "A" names the same answer.
- Neurons of one layer run concurrently (both orders at once), within the backend's limits.

Decision
--------
Every evaluation gives a score difference d = score(original A) - score(original B) (in the
swapped order the presented scores are mapped back). With `decision`:

- `mean` (default): D = the mean of d over neurons, layers and both orders;
- `last`: the same mean over the last layer only;
- `majority`: each evaluation votes for the answer it scored higher (equal scores abstain from
  both sides); D = (votes for A - votes for B) / evaluations.

Five-way label, for `mean` and `last` (scores are on a 10-point scale): |D| <= `tie_margin`
(default 0.5 points) is a tie `A=B`; `tie_margin` < |D| < `strong_margin` (default 3 points)
is `A>B` / `B>A`; |D| >= `strong_margin` is `A>>B` / `B>>A`. For `majority`: a tie when votes
for A and B are equal, `A>B` / `B>A` when one side has more, `A>>B` / `B>>A` when that side has
at least `strong_share` (default 0.75) of all evaluations.

Each order's game carries the label of the same rule applied to that order's evaluations alone
(reliability mode scores games one order at a time); the verdict is the rule applied to both
orders together, `consistent` when both orders pick the same side.

Failures
--------
A neuron whose call fails after the backend's retries (or whose reply has no scores even after
one re-ask) is left out of the decision and recorded in the game detail (`excluded`). An
order's decision stands when at least `quorum` (a fraction, default 0.5) of the evaluations it
uses succeeded; otherwise that order's game is labelled `error` (`unparsed` when nothing
failed as a call) with the reason, and the verdict is `unresolved`: never a silent tie.

Costs and records
-----------------
`calls_per_match()` is 1 + 2 x width x depth (2 x width x depth with fixed roles), before
retries and re-asks; `call_estimates(ctx)` gives one estimate per such call. A match gives two
Games (AB, BA). Each game aggregates the calls of its order (the roles call is counted in the
AB game): `calls` is the number of completion calls, and tokens, cost, attempts and latency
are sums over those calls, so over a match they add up to exactly the calls made (the game is
`cached` when all its calls were; its `cached_calls` field counts those that were). Its
`detail` holds the roles, every evaluation (layer, neuron, role, presented scores, d, status,
tokens, cost, text) and the neurons left out. `cost_usd` is None when any call's price is
unknown; the game's `cached_cost_usd` is the part served from the call cache.

Preset keys (TOML): kind = "network", model, description, api_base, api_key_env, width (4),
depth (2), window (none: all of the previous layer), roles (fixed roles: strings or
{name, description} tables), decision ("mean" | "majority" | "last"), tie_margin (0.5),
strong_margin (3.0), strong_share (0.75), quorum (0.5), reask (true), temperature (0),
max_tokens (1024, a neuron's reply), roles_max_tokens (512), roles_template, neuron_template,
review_template, concurrency, rpm, tpm, timeout, max_retries, extra_params. Runtime options
(`load_judge(..., **options)`) may override preset keys and add store, no_cache, seed,
backoff_base, backoff_max, backend.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arena.backends import Backend, Completion, CompletionRequest, backend_for_preset
from arena.errors import SpecError
from arena.judges._base import BackendSettings, CallEstimate, Judge, JudgeResult, cached_totals, file_digest, parse_settings, with_reasks
from arena.judges._parse import parse_scores
from arena.judges._render import fence_tag, load_template, render_messages
from arena.records import Game, MatchContext, Order, Verdict

Decision = Literal["mean", "majority", "last"]

# Used, in this order, when role generation fails or gives fewer than `width` roles.
FALLBACK_ROLES: tuple[tuple[str, str], ...] = (
    ("Accuracy", "Checks that every factual claim, step and result is correct."),
    ("Helpfulness", "Checks that the answer does what the user asked and is useful to them."),
    ("Relevance", "Checks that every part of the answer addresses the prompt."),
    ("Completeness", "Checks that nothing important the prompt needs is missing."),
    ("Clarity", "Checks that the answer is well organised, concise and easy to follow."),
    ("Reasoning", "Checks that the argument or solution is sound and well justified."),
    ("Safety", "Checks that the answer avoids harmful, biased or misleading content."),
    ("Creativity", "Checks originality and insight where the prompt calls for them."),
)

TYPICAL_ROLES_OUTPUT_TOKENS = 150
TYPICAL_NEURON_OUTPUT_TOKENS = 350  # evidence and two score lines

REASK_PROMPT = (
    "Your evaluation did not end with the two score lines. Finish now with exactly these two lines, "
    "and nothing after them:\nScore A: <an integer from 1 to 10>\nScore B: <an integer from 1 to 10>"
)


# -- pure parts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str = ""


_NAME_JUNK = re.compile(r"[^\w\s\-&/,'()+.]")


def _clean_name(s: str) -> str:
    s = _NAME_JUNK.sub(" ", str(s))
    s = " ".join(s.split()).strip(" .-,:")
    return s[:60]


def _clean_description(s: str) -> str:
    return " ".join(str(s or "").split())[:300]


_LINE_ROLE = re.compile(r"^\s*(?:\d+[.)]|[-*•]|#+)\s*\**\s*(?P<name>[^:\n*]{2,80}?)\s*\**\s*(?:[:\-–—]\s*(?P<desc>.*))?$")


def parse_roles(text: str | None, width: int) -> list[Role]:
    """The roles in a layer-0 reply, at most `width`, duplicates (by name, case-insensitive) dropped.

    Accepted: a JSON array (anywhere in the text, e.g. in a code block) of objects with a
    `name` (or `role`, `perspective`, `title`) and optional `description`, or of strings
    ("Name: description" or "Name"); an object holding such an array under `roles`; failing
    that, numbered or bulleted lines `1. Name: description` / `- **Name** - description`.
    Returns [] when nothing is found.
    """
    if not text:
        return []
    items: list[Role] = []
    for candidate in _json_candidates(text):
        items = _roles_from_json(candidate)
        if items:
            break
    if not items:
        for line in text.splitlines():
            m = _LINE_ROLE.match(line)
            if m:
                items.append(Role(_clean_name(m["name"]), _clean_description(m["desc"] or "")))
    out: list[Role] = []
    seen: set[str] = set()
    for r in items:
        key = r.name.casefold()
        if not r.name or key in seen:
            continue
        seen.add(key)
        out.append(r)
        if len(out) >= width:
            break
    return out


def _json_candidates(text: str):
    start = text.find("[")
    end = text.rfind("]")
    if start != -1 and end > start:
        yield text[start : end + 1]
    start = text.find("{")
    end = text.rfind("}")
    if start != -1 and end > start:
        yield text[start : end + 1]


def _roles_from_json(blob: str) -> list[Role]:
    try:
        data = json.loads(blob)
    except ValueError:
        return []
    if isinstance(data, dict):
        data = next((data[k] for k in ("roles", "perspectives", "reviewers") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        return []
    out = []
    for x in data:
        if isinstance(x, str):
            name, _, desc = x.partition(":")
            out.append(Role(_clean_name(name), _clean_description(desc)))
        elif isinstance(x, dict):
            name = next((x[k] for k in ("name", "role", "perspective", "title") if isinstance(x.get(k), str)), None)
            if name is None:
                continue
            desc = next((x[k] for k in ("description", "desc", "focus", "criteria") if isinstance(x.get(k), str)), "")
            out.append(Role(_clean_name(name), _clean_description(desc)))
    return out


def complete_roles(parsed: list[Role], width: int) -> tuple[list[Role], str]:
    """Exactly `width` roles: the parsed ones, completed from FALLBACK_ROLES; and where they came from."""
    roles = list(parsed[:width])
    source = "generated" if roles else "fallback"
    names = {r.name.casefold() for r in roles}
    i = 0
    while len(roles) < width:
        name, desc = FALLBACK_ROLES[i % len(FALLBACK_ROLES)]
        if i >= len(FALLBACK_ROLES):
            name = f"{name} {i // len(FALLBACK_ROLES) + 1}"
        i += 1
        if name.casefold() in names:
            continue
        names.add(name.casefold())
        roles.append(Role(name, desc))
        if source == "generated":
            source = "generated+fallback"
    return roles, source


def window_neighbours(i: int, width: int, window: int | None) -> list[int]:
    """The previous-layer neurons neuron `i` reads besides itself: all others, or its `window`
    nearest on a ring (i-1, i+1, i-2, i+2, ...)."""
    others = [j for j in range(width) if j != i]
    if window is None or window >= len(others):
        return others
    out: list[int] = []
    k = 1
    while len(out) < window:
        for j in ((i - k) % width, (i + k) % width):
            if j != i and j not in out and len(out) < window:
                out.append(j)
        k += 1
    return sorted(out)


def decide(
    diffs: list[float],
    mode: Decision = "mean",
    *,
    tie_margin: float = 0.5,
    strong_margin: float = 3.0,
    strong_share: float = 0.75,
) -> tuple[str, float]:
    """The five-way label (A's point of view) and the statistic D from score differences d.

    `mean` / `last`: D = mean(d); |D| <= tie_margin ties, |D| >= strong_margin is strong.
    `majority`: D = (#d>0 - #d<0) / n; equal counts tie, a winner with >= strong_share of n is strong.
    (`last` differs from `mean` only in which evaluations the caller passes.)
    """
    if not diffs:
        raise ValueError("no evaluations to decide from")
    n = len(diffs)
    if mode == "majority":
        a = sum(d > 0 for d in diffs)
        b = sum(d < 0 for d in diffs)
        stat = (a - b) / n
        if a == b:
            return "A=B", stat
        if a > b:
            return ("A>>B" if a / n >= strong_share else "A>B"), stat
        return ("B>>A" if b / n >= strong_share else "B>A"), stat
    stat = math.fsum(diffs) / n
    if abs(stat) <= tie_margin:
        return "A=B", stat
    strong = abs(stat) >= strong_margin
    if stat > 0:
        return ("A>>B" if strong else "A>B"), stat
    return ("B>>A" if strong else "B>A"), stat


# -- the preset --------------------------------------------------------------------------------------


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""


class NetworkPreset(BackendSettings):
    """The keys of a `network` judge preset (the backend keys are `BackendSettings`')."""

    kind: Literal["network"] = "network"
    width: int | None = Field(None, gt=0, le=64)
    depth: int = Field(2, gt=0, le=8)
    window: int | None = Field(None, ge=0)
    roles: list[RoleSpec] | None = None
    decision: Decision = "mean"
    tie_margin: float = Field(0.5, ge=0)
    strong_margin: float = Field(3.0, gt=0)
    strong_share: float = Field(0.75, gt=0.5, le=1)
    quorum: float = Field(0.5, gt=0, le=1)
    reask: bool = True
    max_tokens: int = Field(1024, gt=0)
    roles_max_tokens: int = Field(512, gt=0)
    roles_template: str = "network_roles"
    neuron_template: str = "network_neuron"
    review_template: str = "network_review"

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, v):
        if v is None:
            return v
        if not isinstance(v, list) or not v:
            raise ValueError("expected a non-empty list of role names or {name, description} tables")
        return [{"name": x} if isinstance(x, str) else x for x in v]


# -- the judge -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Evaluation:
    """One neuron call in one order (scores as presented: A = the first slot of that order)."""

    order: Order
    layer: int
    neuron: int
    role: str
    text: str = ""
    score_a: float | None = None
    score_b: float | None = None
    status: Literal["ok", "retried", "unparsed", "error"] = "ok"
    error: str | None = None
    calls: list[Completion] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.score_a is not None and self.score_b is not None

    def diff(self) -> float:
        """score(original A) - score(original B)."""
        d = float(self.score_a) - float(self.score_b)  # type: ignore[arg-type]
        return d if self.order == "AB" else -d

    def record(self) -> dict:
        c = self.calls
        return {
            "layer": self.layer,
            "neuron": self.neuron,
            "role": self.role,
            "score_a": self.score_a,
            "score_b": self.score_b,
            "diff": self.diff() if self.ok else None,
            "status": self.status,
            "error": self.error,
            "calls": len(c),
            "attempts": sum(x.attempts for x in c),
            "input_tokens": sum(x.input_tokens for x in c),
            "output_tokens": sum(x.output_tokens for x in c),
            "cost_usd": _cost(c),
            "cached": bool(c) and all(x.cached for x in c),
            "text": self.text,
        }


def _cost(calls: list[Completion]) -> float | None:
    costs = [x.cost_usd for x in calls if x.error is None]
    return None if any(v is None for v in costs) else math.fsum(costs)  # type: ignore[arg-type]


class NetworkJudge(Judge):
    kind = "network"

    def conversation_refusal(self) -> str:
        return "its neuron and review templates (prompts/network_*.j2) show one question and two answers, not dialogues"

    def __init__(self, name: str, cfg: NetworkPreset, *, templates: dict, backend: Backend, preset: dict | None = None) -> None:
        self.cfg = cfg
        self.fixed_roles = [Role(_clean_name(r.name), _clean_description(r.description)) for r in cfg.roles] if cfg.roles else None
        if self.fixed_roles is not None and cfg.width is not None:
            self.fixed_roles = self.fixed_roles[: cfg.width]
        self.width = cfg.width if cfg.width is not None else (len(self.fixed_roles) if self.fixed_roles else 4)
        self.depth = cfg.depth
        super().__init__(
            name,
            cfg.description or f"{cfg.model} wide/deep network (width {self.width}, depth {self.depth}, {cfg.decision})",
            preset=preset,
        )
        self.model = cfg.model
        self.templates = templates
        self.backend = backend
        self.params = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, **cfg.extra_params}
        self.roles_params = {"temperature": cfg.temperature, "max_tokens": cfg.roles_max_tokens, **cfg.extra_params}

    # -- plans -------------------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        return {"templates": {k: file_digest(getattr(t, "filename", None)) for k, t in sorted(self.templates.items())}}

    def calls_per_match(self) -> int:
        return (0 if self.fixed_roles else 1) + 2 * self.width * self.depth

    def max_calls_per_match(self) -> int:
        neurons = 2 * self.width * self.depth
        return (0 if self.fixed_roles else 1) + neurons * (2 if self.cfg.reask else 1)

    def worst_call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        est = self.call_estimates(ctx)
        if not self.cfg.reask:
            return est
        roles = [] if self.fixed_roles else est[:1]
        return roles + with_reasks(est[len(roles):])  # each neuron may be asked once more

    def call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        count = _token_counter(self.model)
        out: list[CallEstimate] = []
        if not self.fixed_roles:
            msgs = self.roles_messages(ctx)
            out.append(CallEstimate(self.model, count(msgs), min(TYPICAL_ROLES_OUTPUT_TOKENS, self.cfg.roles_max_tokens), self.cfg.roles_max_tokens,
                                   self.cfg.mode == "batch"))
            roles, _ = complete_roles([], self.width)
        else:
            roles = self.fixed_roles
        expected = min(TYPICAL_NEURON_OUTPUT_TOKENS, self.cfg.max_tokens)
        for order in ("AB", "BA"):
            base = [count(self.neuron_messages(ctx, order, i, roles[i], 1, [], [])) for i in range(self.width)]
            for layer in range(1, self.depth + 1):
                for i in range(self.width):
                    seen = 0 if layer == 1 else (layer - 1) + len(window_neighbours(i, self.width, self.cfg.window))
                    out.append(CallEstimate(self.model, base[i] + seen * (expected + 20), expected, self.cfg.max_tokens, self.cfg.mode == "batch"))
        return out

    # -- rendering ---------------------------------------------------------------------------------
    def roles_messages(self, ctx: MatchContext) -> list[dict]:
        tag = fence_tag(ctx.prompt, ctx.answer_a, ctx.answer_b, salt="arena-network-roles-v1")
        variables = {
            "question": ctx.prompt,
            "answer_a": ctx.answer_a,
            "answer_b": ctx.answer_b,
            "reference": ctx.reference,
            "category": ctx.category,
            "width": self.width,
        }
        return render_messages(self.templates["roles"], variables, tag=tag)

    def neuron_messages(
        self, ctx: MatchContext, order: Order, i: int, role: Role, layer: int, own: list[Evaluation], others: list[Evaluation]
    ) -> list[dict]:
        first, second = (ctx.answer_a, ctx.answer_b) if order == "AB" else (ctx.answer_b, ctx.answer_a)
        texts = [e.text for e in own] + [e.text for e in others]
        tag = fence_tag(ctx.prompt, ctx.reference, first, second, role.name, role.description, *texts, salt="arena-network-v1")
        variables = {
            "question": ctx.prompt,
            "answer_a": first,
            "answer_b": second,
            "reference": ctx.reference,
            "category": ctx.category,
            "role": role.name,
            "role_description": role.description,
            "reviewer": i + 1,
            "width": self.width,
            "layer": layer,
            "depth": self.depth,
            "own": [{"layer": e.layer, "text": e.text, "score_a": e.score_a, "score_b": e.score_b} for e in own],
            "others": [
                {"reviewer": e.neuron + 1, "role": e.role, "layer": e.layer, "text": e.text, "score_a": e.score_a, "score_b": e.score_b}
                for e in others
            ],
        }
        template = self.templates["neuron" if layer == 1 else "review"]
        return render_messages(template, variables, tag=tag)

    def request(self, messages: list[dict], params: dict | None = None) -> CompletionRequest:
        return CompletionRequest(
            model=self.model,
            messages=messages,
            params=params or self.params,
            api_base=self.cfg.api_base,
            api_key_env=self.cfg.api_key_env,
            timeout=self.cfg.timeout,
        )

    # -- layers ------------------------------------------------------------------------------------
    async def roles(self, ctx: MatchContext) -> tuple[list[Role], str, Completion | None]:
        """Layer 0: the roles of this match, where they came from, and the call (None for fixed roles)."""
        if self.fixed_roles:
            return list(self.fixed_roles), "preset", None
        c = await self.backend.complete(self.request(self.roles_messages(ctx), self.roles_params))
        parsed = parse_roles(c.text, self.width) if c.error is None else []
        roles, source = complete_roles(parsed, self.width)
        return roles, source, c

    async def neuron(self, ctx: MatchContext, order: Order, i: int, role: Role, layer: int, history: list[list[Evaluation]]) -> Evaluation:
        """One neuron's evaluation; `history[l-1]` holds layer l's evaluations of this order."""
        own = [h[i] for h in history if h[i].text and h[i].ok]
        others: list[Evaluation] = []
        if history:
            prev = history[-1]
            others = [prev[j] for j in window_neighbours(i, self.width, self.cfg.window) if prev[j].text and prev[j].ok]
        messages = self.neuron_messages(ctx, order, i, role, layer, own, others)
        ev = Evaluation(order, layer, i, role.name)
        requests = [self.request(messages)]
        first = await self.backend.complete(requests[0])
        ev.calls.append(first)
        if first.error is not None:
            ev.status, ev.error = "error", first.error
            return ev
        ev.text = first.text
        scores = parse_scores(first.text)
        if scores is None and self.cfg.reask:
            followup = messages + [{"role": "assistant", "content": first.text}, {"role": "user", "content": REASK_PROMPT}]
            requests.append(self.request(followup))
            second = await self.backend.complete(requests[-1])
            ev.calls.append(second)
            if second.error is not None:
                ev.status, ev.error = "error", second.error
                return ev
            scores = parse_scores(second.text)
            if scores is not None:
                ev.status = "retried"
                ev.text = first.text.rstrip() + "\n" + second.text.strip()
        if scores is None:
            for req in requests:  # asked again on the next run, never replayed from the cache
                self.backend.forget(req)
            ev.status, ev.error = "unparsed", "no scores in the reply"
            return ev
        ev.score_a, ev.score_b = scores
        return ev

    async def run_order(self, ctx: MatchContext, order: Order, roles: list[Role]) -> list[list[Evaluation]]:
        history: list[list[Evaluation]] = []
        for layer in range(1, self.depth + 1):
            evs = await asyncio.gather(*(self.neuron(ctx, order, i, roles[i], layer, history) for i in range(self.width)))
            history.append(list(evs))
        return history

    # -- deciding ----------------------------------------------------------------------------------
    def used(self, evs: list[Evaluation]) -> list[Evaluation]:
        """The evaluations the decision rule reads (the last layer only for `last`)."""
        return [e for e in evs if e.layer == self.depth] if self.cfg.decision == "last" else list(evs)

    def decide(self, evs: list[Evaluation]) -> tuple[str, float]:
        c = self.cfg
        return decide([e.diff() for e in evs if e.ok], c.decision, tie_margin=c.tie_margin, strong_margin=c.strong_margin, strong_share=c.strong_share)

    def quorum_ok(self, evs: list[Evaluation]) -> bool:
        used = self.used(evs)
        return bool(used) and sum(e.ok for e in used) >= max(1, math.ceil(self.cfg.quorum * len(used) - 1e-9))

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        t0 = time.perf_counter()
        roles, source, roles_call = await self.roles(ctx)
        ab, ba = await asyncio.gather(self.run_order(ctx, "AB", roles), self.run_order(ctx, "BA", roles))
        wall = time.perf_counter() - t0
        by_order: dict[Order, list[Evaluation]] = {"AB": [e for layer in ab for e in layer], "BA": [e for layer in ba for e in layer]}
        roles_info = {
            "roles": [{"name": r.name, "description": r.description} for r in roles],
            "roles_source": source,
        }
        if roles_call is not None and roles_call.error is not None:
            roles_info["roles_error"] = roles_call.error
        games = []
        for order in ("AB", "BA"):
            extra_calls = [roles_call] if (order == "AB" and roles_call is not None) else []
            games.append(self._game(ctx, order, by_order[order], extra_calls, roles_info, roles_call if extra_calls else None, wall))  # type: ignore[arg-type]
        verdict = self._verdict(ctx, games, by_order)
        stat = games[0].detail.get("match_statistic")
        return JudgeResult(games=games, verdict=verdict, extra={"statistic": stat, "roles": roles_info["roles"], "roles_source": source})

    def _game(
        self, ctx: MatchContext, order: Order, evs: list[Evaluation], extra: list[Completion], roles_info: dict, roles_call, wall: float
    ) -> Game:
        calls = list(extra) + [c for e in evs for c in e.calls]
        excluded = [{"layer": e.layer, "neuron": e.neuron, "role": e.role, "status": e.status, "error": e.error} for e in evs if not e.ok]
        detail: dict = {
            "network": {"width": self.width, "depth": self.depth, "window": self.cfg.window, "decision": self.cfg.decision},
            **roles_info,
            "evaluations": [e.record() for e in evs],
            "excluded": excluded,
            "wall_s": round(wall, 4),
        }
        if roles_call is not None:
            detail["roles_call"] = {
                "raw": roles_call.text,
                "input_tokens": roles_call.input_tokens,
                "output_tokens": roles_call.output_tokens,
                "cost_usd": roles_call.cost_usd if roles_call.error is None else None,
                "cached": roles_call.cached,
                "error": roles_call.error,
            }
        cached_calls, cached_cost = cached_totals((1, c.cost_usd or 0.0) for c in calls if c.cached)
        ok = [e for e in self.used(evs) if e.ok]
        error = None
        if self.quorum_ok(evs):
            label, stat = self.decide(self.used(evs))
            detail["statistic"] = stat
            status = "retried" if any(e.status == "retried" for e in ok) else "ok"
            raw = f"{self.cfg.decision} over {len(ok)} evaluations: D = {stat:+.3f} (A's point of view) -> {label}"
        else:
            failed = [e for e in self.used(evs) if not e.ok]
            any_error = any(e.status == "error" for e in failed)
            label = status = "error" if any_error else "unparsed"
            first = next((e.error for e in failed if e.status == "error"), None) or "no scores in the replies"
            error = f"{len(failed)} of {len(self.used(evs))} neuron evaluations failed (quorum {self.cfg.quorum:g}): {first}" if any_error else None
            raw = f"no quorum: {len(ok)} of {len(self.used(evs))} evaluations usable"
            if any_error and all(c.permanent for e in failed if e.status == "error" for c in e.calls if c.error):
                detail["permanent"] = True
        return Game(
            match_id=ctx.match_id,
            judge=self.name,
            order=order,
            label=label,
            raw=raw,
            parse_status=status,  # type: ignore[arg-type]
            input_tokens=sum(c.input_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls),
            cost_usd=_cost(calls),
            latency_s=math.fsum(c.latency_s for c in calls),
            cached=bool(calls) and all(c.cached for c in calls),
            attempts=sum(c.attempts for c in calls),
            calls=sum(c.error is None for c in calls),  # answered calls only: a failed one was not paid
            error=error,
            detail=detail,
            cached_calls=cached_calls,
            cached_cost_usd=cached_cost,
        )

    def _verdict(self, ctx: MatchContext, games: list[Game], by_order: dict[Order, list[Evaluation]]) -> Verdict:
        bad = [g for g in games if g.label in ("error", "unparsed")]
        if bad:
            label = "error" if any(g.label == "error" for g in bad) else "unparsed"
            return Verdict(ctx.match_id, "unresolved", 0, None, label)
        evs = self.used(by_order["AB"]) + self.used(by_order["BA"])
        label, stat = self.decide(evs)
        for g in games:
            g.detail["match_statistic"] = stat
            g.detail["match_label"] = label
        sides = {_side(g.label) for g in games}
        consistent = len(sides) == 1
        if label == "A=B":
            return Verdict(ctx.match_id, "tie", 0, consistent, label)
        strength = 2 if label in ("A>>B", "B>>A") else 1
        return Verdict(ctx.match_id, "a" if label.startswith("A>") else "b", strength, consistent, label)

    async def aclose(self) -> None:
        await self.backend.aclose()


def _side(label: str) -> int:
    return 1 if label in ("A>>B", "A>B") else -1 if label in ("B>A", "B>>A") else 0


def _token_counter(model: str):
    """count(messages) -> tokens: litellm's counter when it knows the model, else 4 characters a token."""
    try:
        from arena.backends import load_litellm

        litellm = load_litellm()
    except Exception:  # pragma: no cover - litellm is a dependency
        litellm = None

    def count(messages: list[dict]) -> int:
        if litellm is not None:
            try:
                return int(litellm.token_counter(model=model, messages=messages))
            except Exception:
                pass
        return sum(len(m["content"]) for m in messages) // 4

    return count


def build(preset: dict, *, name: str, base_dir: Path, store=None, no_cache: bool = False, **options) -> NetworkJudge:
    """Build a network judge from a preset dict; `options` override preset keys and add runtime settings."""
    where = str(Path(base_dir) / f"{name}.toml")
    cfg, runtime = parse_settings(NetworkPreset, preset, options, where=where, what="a network judge")
    if cfg.roles and cfg.width is not None and cfg.width > len(cfg.roles):
        raise SpecError(f"{where}: key 'width': {cfg.width} is more than the {len(cfg.roles)} fixed roles (give more roles, or drop width)")
    templates = {
        "roles": load_template(cfg.roles_template, Path(base_dir)),
        "neuron": load_template(cfg.neuron_template, Path(base_dir)),
        "review": load_template(cfg.review_template, Path(base_dir)),
    }
    backend = backend_for_preset(cfg, runtime, store=store, no_cache=no_cache)
    return NetworkJudge(name, cfg, templates=templates, backend=backend, preset=preset)
