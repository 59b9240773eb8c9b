"""The pairwise LLM judge (`kind = "llm"`): one model, an Arena-Hard-style prompt, two orders.

Each match is two games by default, the second with the answers swapped; the BA game's label
is mapped back to A's point of view and `combine_games` makes the verdict (strength adds,
disagreement is an inconsistent tie). `orders = "random"` plays one game in an order drawn
from (seed, match_id), for half the cost. A reply without a single final verdict (none, or
contradictory labels) is asked once more to end with one; still none: `unparsed`, kept with the
raw text.

Preset keys (TOML): kind = "llm", model, api_base, api_key_env, template, verdict_format
("labels" | "mt_bench" | "scores" | "json": what the template asks for, see
`arena.judges._parse`), temperature (0),
max_tokens, orders ("both" | "random"), strong_weight, concurrency, rpm, tpm, timeout,
max_retries, client ("auto" | "litellm"), mode ("sync" | "batch": the provider's Batch API, one batch
per round or wave, at the batch price; `arena.backends._batch`), batch_poll_s, description; for a
fleet of servers, `deployments` (a list of tables: api_base, api_key_env, model, rpm, tpm, weight),
routing_strategy ("simple-shuffle" | "least-busy"), cooldown, allowed_fails (see
`arena.backends._router`); for conversations (`arena.judges._conversation`):
turn ("last" | "all" | "each" | N: which turn a game judges, the earlier ones shown as context;
"each" plays every turn in its own games, MT-Bench's protocol, each named `<judge>@turnN`
so that a match's games stay one per judge and order in the store), conversation_template (default by
verdict_format: `pairwise_conversation` for labels, `pairwise_mt_bench_multi_turn` for mt_bench),
references (true: the pool's reference answers, per turn, go to the template). Runtime options (`load_judge(..., **options)`) may override them and
add store, no_cache, seed, backoff_base, backoff_max, backend.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from arena.backends import Backend, Completion, CompletionRequest, backend_for_preset
from arena.errors import SpecError
from arena.judges._base import (
    BackendSettings,
    CallEstimate,
    Judge,
    JudgeResult,
    cached_totals,
    combine_games,
    file_digest,
    parse_settings,
    turn_setting,
    with_reasks,
)
from arena.judges._conversation import (
    TurnChoice,
    check_turn,
    combine_turns,
    conversation_variables,
    judged_turns,
    max_turns,
    shown_texts,
    turn_judge_name,
)
from arena.judges._parse import VerdictFormat, parse_verdict, reask_prompt
from arena.judges._render import fence_tag, load_template, pairwise_variables, render_messages
from arena.records import Game, MatchContext, Order, swap_label
from arena.store import BIG_RAW_CHARS

# A typical Arena-Hard judgement (own answer, comparison, label) runs 400-700 output tokens;
# plans use this figure as the expected output, and max_tokens as the ceiling.
TYPICAL_OUTPUT_TOKENS = 600


class LLMPreset(BackendSettings):
    """The keys of an `llm` judge preset (the backend keys are `BackendSettings`')."""

    kind: Literal["llm"] = "llm"
    template: str = "pairwise"
    verdict_format: VerdictFormat = VerdictFormat.LABELS  # the verdict format the template asks for
    max_tokens: int = Field(2048, gt=0)
    orders: Literal["both", "random", "adaptive"] = "both"
    strong_weight: float = Field(3.0, ge=1)
    turn: TurnChoice = "last"
    conversation_template: str | None = None  # None: CONVERSATION_TEMPLATES[verdict_format]
    references: bool = True

    @field_validator("turn", mode="before")
    @classmethod
    def _turn(cls, v):
        return turn_setting(v, ("last", "all", "each"))


CONVERSATION_TEMPLATES = {VerdictFormat.LABELS: "pairwise_conversation", VerdictFormat.MT_BENCH: "pairwise_mt_bench_multi_turn"}
"""The shipped conversation template of each verdict format (others need `conversation_template`)."""


class LLMJudge(Judge):
    kind = "llm"

    def __init__(
        self, name: str, cfg: LLMPreset, *, template, backend: Backend, seed: int = 0, preset: dict | None = None, conversation_template=None
    ) -> None:
        super().__init__(name, cfg.description or f"{cfg.model} ({cfg.orders} orders)", preset=preset)
        self.cfg = cfg
        self.model = cfg.model
        self.template = template
        self.conversation_template = conversation_template
        self.turns_per_match = 1  # most turns a match judges in separate games (`turn = "each"`; set by check_prompts)
        self.backend = backend
        self.seed = seed
        self.strong_weight = cfg.strong_weight
        self.params = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, **cfg.extra_params}

    # -- plans --------------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        fp = {"template": file_digest(getattr(self.template, "filename", None))}
        if self.conversation_template is not None:
            fp["conversation_template"] = file_digest(getattr(self.conversation_template, "filename", None))
        return fp

    def conversation_refusal(self) -> str | None:
        if self.conversation_template is None:
            return f'its verdict_format {self.cfg.verdict_format.value!r} has no shipped conversation template: set conversation_template in the preset'
        return None

    def turn_choice(self) -> str | int:
        return self.cfg.turn

    def check_prompts(self, prompts, where: str) -> None:
        super().check_prompts(prompts, where)
        check_turn(self.cfg.turn, prompts, where)
        conversations = [p for p in prompts if p.is_conversation]
        self.turns_per_match = max_turns(conversations) if self.cfg.turn == "each" and conversations else 1

    def calls_per_match(self) -> int:
        """Calls a match costs at most (`adaptive` plays the second order only when the first verdict
        is not strong), times the turns judged apart (`turn = "each"`)."""
        return (1 if self.cfg.orders == "random" else 2) * self.turns_per_match

    def orders_for(self, ctx: MatchContext) -> list[Order]:
        if self.cfg.orders in ("both", "adaptive"):
            return ["AB", "BA"]
        h = hashlib.sha256(f"{self.seed}:{ctx.match_id}".encode()).digest()
        return ["AB" if h[0] & 1 == 0 else "BA"]

    def call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        from arena.backends import count_tokens

        expected = min(TYPICAL_OUTPUT_TOKENS, self.cfg.max_tokens)
        return [
            CallEstimate(self.model, count_tokens(self.model, self.messages(ctx, order, turn)), expected, self.cfg.max_tokens, self.cfg.mode == "batch")
            for turn in judged_turns(ctx, self.cfg.turn)
            for order in self.orders_for(ctx)
        ]

    def worst_call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        return with_reasks(self.call_estimates(ctx))  # each game may ask once more

    def max_calls_per_match(self) -> int:
        return 2 * self.calls_per_match()

    # -- one game --------------------------------------------------------------------------------
    def messages(self, ctx: MatchContext, order: Order, turn: int | None = None) -> list[dict]:
        """The chat messages of one game: `order` "AB" shows A first; a conversation shows each
        side's dialogue up to `turn` (None: all of it) through the conversation template."""
        if ctx.is_conversation:
            if self.conversation_template is None:  # check_prompts refuses such a pool before any call
                raise SpecError(f"{self.name}: {self.conversation_refusal()}")
            variables = conversation_variables(ctx, "a" if order == "AB" else "b", turn, references=self.cfg.references)
            return render_messages(self.conversation_template, variables, tag=fence_tag(*shown_texts(variables)))
        first, second = (ctx.answer_a, ctx.answer_b) if order == "AB" else (ctx.answer_b, ctx.answer_a)
        reference = ctx.reference if self.cfg.references else None
        tag = fence_tag(ctx.prompt, reference, first, second)
        variables = pairwise_variables(ctx.prompt, first, second, reference=reference, category=ctx.category)
        return render_messages(self.template, variables, tag=tag)

    def request(self, messages: list[dict]) -> CompletionRequest:
        return CompletionRequest(
            model=self.model,
            messages=messages,
            params=self.params,
            api_base=self.cfg.api_base,
            api_key_env=self.cfg.api_key_env,
            timeout=self.cfg.timeout,
        )

    async def play(self, ctx: MatchContext, order: Order, turn: int | None = None) -> Game:
        messages = self.messages(ctx, order, turn)
        request = self.request(messages)
        first = await self.backend.complete(request)
        calls = [first]
        detail: dict = {} if turn is None else {"turn": turn}
        if first.error is not None:
            return self._game(ctx, order, "error", first.text, "error", calls, first.error, detail)
        parsed = parse_verdict(first.text, self.cfg.verdict_format)
        label = parsed.label
        status = "ok"
        if label is None:
            detail["parse_problem"] = parsed.problem
            ask = reask_prompt(self.cfg.verdict_format, parsed.problem)
            followup = messages + [{"role": "assistant", "content": first.text}, {"role": "user", "content": ask}]
            second_request = self.request(followup)
            second = await self.backend.complete(second_request)
            calls.append(second)
            detail["reask"] = second.text
            if second.error is not None:
                return self._game(ctx, order, "error", first.text, "error", calls, second.error, detail)
            label = parse_verdict(second.text, self.cfg.verdict_format).label
            status = "retried" if label is not None else "unparsed"
        if label is None:
            # no verdict even after the re-ask: neither reply stays in the call cache, so running
            # again asks the judge again instead of replaying text that holds no verdict
            self.backend.forget(request)
            self.backend.forget(second_request)
            return self._game(ctx, order, "unparsed", first.text, "unparsed", calls, None, detail)
        if order == "BA":
            detail["presented_label"] = label
            label = swap_label(label)
        return self._game(ctx, order, label, first.text, status, calls, None, detail)

    def _game(
        self, ctx: MatchContext, order: Order, label: str, raw: str, status: str, calls: list[Completion], error: str | None, detail: dict
    ) -> Game:
        costs = [c.cost_usd for c in calls if c.error is None]
        cost = None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]
        cached_calls, cached_cost = cached_totals((1, c.cost_usd or 0.0) for c in calls if c.cached)
        if calls[0].cache_key and raw and raw == calls[0].text and len(raw) >= BIG_RAW_CHARS:
            detail["raw_call"] = calls[0].cache_key  # the store keeps a big reply once, in the call cache
        if error is not None and any(c.permanent for c in calls if c.error):
            detail["permanent"] = True  # another attempt cannot fix it (HTTP 400/401/404, context length)
        turn = detail.get("turn")
        return Game(
            match_id=ctx.match_id,
            judge=self.name if turn is None or self.cfg.turn != "each" else turn_judge_name(self.name, turn),
            order=order,
            label=label,
            raw=raw,
            parse_status=status,  # type: ignore[arg-type]
            input_tokens=sum(c.input_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls),
            cost_usd=cost,
            latency_s=sum(c.latency_s for c in calls),
            cached=all(c.cached for c in calls),
            attempts=sum(c.attempts for c in calls),
            calls=sum(c.error is None for c in calls),  # answered calls only: a failed one was not paid
            error=error,
            detail=detail,
            cached_calls=cached_calls,
            cached_cost_usd=cached_cost,
        )

    async def _judge_turn(self, ctx: MatchContext, turn: int | None) -> list[Game]:
        import asyncio

        if self.cfg.orders == "adaptive":  # single-order economy: the swapped order only when the first verdict is not strong
            first = await self.play(ctx, "AB", turn)
            return [first] if first.label in ("A>>B", "B>>A") else [first, await self.play(ctx, "BA", turn)]
        return list(await asyncio.gather(*(self.play(ctx, o, turn) for o in self.orders_for(ctx))))

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        """Decide one match: its games in each order, for each judged turn (`judged_turns`); with
        several turns, each turn's games make a verdict and `combine_turns` adds them up."""
        import asyncio

        turns = judged_turns(ctx, self.cfg.turn)
        per_turn = list(await asyncio.gather(*(self._judge_turn(ctx, t) for t in turns)))
        games = [g for gs in per_turn for g in gs]
        verdict = combine_turns(ctx.match_id, [combine_games(ctx.match_id, gs) for gs in per_turn])
        return JudgeResult(games=games, verdict=verdict)

    async def aclose(self) -> None:
        await self.backend.aclose()


def build(preset: dict, *, name: str, base_dir: Path, store=None, no_cache: bool = False, **options) -> LLMJudge:
    """Build an LLM judge from a preset dict; `options` override preset keys and add runtime settings."""
    where = str(Path(base_dir) / f"{name}.toml")
    cfg, runtime = parse_settings(LLMPreset, preset, options, where=where, what="an llm judge")
    template = load_template(cfg.template, Path(base_dir))
    conversation = cfg.conversation_template or CONVERSATION_TEMPLATES.get(cfg.verdict_format)
    conversation_template = load_template(conversation, Path(base_dir)) if conversation else None
    backend = backend_for_preset(cfg, runtime, store=store, no_cache=no_cache)
    return LLMJudge(name, cfg, template=template, backend=backend, seed=int(runtime.get("seed") or 0), preset=preset,
                    conversation_template=conversation_template)
