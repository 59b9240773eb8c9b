"""The one judge interface every judge kind implements, and how two games become one verdict."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from arena.errors import SpecError, union_expectation, validation_key
from arena.records import LABEL_SCORE, Game, MatchContext, Verdict, cached_part, cached_totals  # noqa: F401 (re-exported for judge kinds)


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """Tokens one completion call of a judge is expected to use (for plans and cost estimates)."""

    model: str
    input_tokens: int
    output_tokens_expected: int
    output_tokens_max: int
    batch: bool = False  # the call goes through the Batch API (priced at its batch rate)


@dataclass(slots=True)
class JudgeResult:
    games: list[Game]
    verdict: Verdict
    extra: dict = field(default_factory=dict)


class Judge(ABC):
    """A judge decides a match. Subclasses live one kind a module in `arena/judges/`.

    `judge()` never raises for a failing call: it returns games labelled `error` with the reason,
    and a verdict whose outcome is `unresolved`.
    """

    kind: ClassVar[str]
    preset: dict | None = None  # the preset it was built from
    preset_path: Path | None = None  # the preset file, when `load_judge` read one

    def __init__(self, name: str, description: str = "", *, preset: dict | None = None) -> None:
        self.name = name
        self.description = description or name
        self.preset = preset

    @abstractmethod
    def calls_per_match(self) -> int:
        """Completion calls one match costs, before retries (0 for an offline judge)."""

    def call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        """One estimate per completion call this judge would make for `ctx` (empty when offline)."""
        return []

    def worst_call_estimates(self, ctx: MatchContext) -> list[CallEstimate]:
        """Every completion call `ctx` can cost at most, re-asks included, each at its largest input
        (a re-ask carries the first reply, up to `max_tokens`). Plans' worst case and the runner's
        budget reservations read it, so they are true bounds. Default: `call_estimates`."""
        return self.call_estimates(ctx)

    def max_calls_per_match(self) -> int:
        """The most completion calls one match can cost, re-asks included."""
        return self.calls_per_match()

    @abstractmethod
    async def judge(self, ctx: MatchContext) -> JudgeResult:
        """Decide one match."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release backends, connections, engines."""

    def conversation_refusal(self) -> str | None:
        """None when this judge can judge conversations (`Prompt.is_conversation`); otherwise why it
        cannot, one clause naming the reason. Default: refused (a kind says when it supports them)."""
        return f"the {self.kind} judge sees one question and two answers"

    def turn_choice(self) -> str | int | None:
        """Which turns of a conversation this judge judges (`"last"`, `"all"`, `"each"` or N: the `turn`
        of its preset; see `arena.judges._conversation`), None for a kind without the choice. A
        panel's members and a cascade's stages must agree on it (`same_turn_choice`)."""
        return None

    def check_prompts(self, prompts, where: str) -> None:
        """Raise `SpecError` (one line, `where` first) when the pool holds prompts this judge cannot
        judge, before any call: plans and runs call it on the run's prompts. Default: a conversation
        is refused unless `conversation_refusal()` is None. Kinds with members ask them too."""
        conversation = next((p for p in prompts if p.is_conversation), None)
        if conversation is None:
            return
        why = self.conversation_refusal()
        if why is not None:
            raise SpecError(
                f"{where}: prompt {conversation.prompt_id!r} is a conversation ({conversation.n_turns} turns) and the judge"
                f" {self.name!r} ({self.kind}) cannot judge conversations: {why} (use an llm judge preset, or a pool of single-turn prompts)"
            )

    def fingerprint(self) -> dict:
        """What decides this judge's verdicts beyond its own preset's keys: digests of the files it
        read (templates, weights) and its members' presets. A run's identity includes it, so editing
        one of those files starts a fresh run instead of mixing two judges' verdicts in one."""
        return {}


REASK_EXTRA_TOKENS = 120
"""Input tokens a re-ask adds beyond the first reply (the follow-up message and chat framing)."""


def with_reasks(estimates: list[CallEstimate]) -> list[CallEstimate]:
    """`estimates` plus, for each, the re-ask it may trigger: the same prompt, the first reply at
    its `output_tokens_max` and the follow-up message as input."""
    return list(estimates) + [
        CallEstimate(e.model, e.input_tokens + e.output_tokens_max + REASK_EXTRA_TOKENS, e.output_tokens_expected, e.output_tokens_max, e.batch)
        for e in estimates
    ]


def file_digest(path: str | Path | None) -> str | None:
    """sha256 of a file's bytes (16 hex digits), or None when there is no such file."""
    import hashlib

    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def combine_games(match_id: str, games: list[Game]) -> Verdict:
    """Combine the games of one match (labels already from A's point of view) into a verdict.

    - any game in `error`: the verdict is `unresolved` (it is retried when the run resumes);
    - `unparsed` games are left out; none left: `unresolved`;
    - games that pick opposite winners: a tie, recorded as inconsistent;
    - otherwise the scores add (A>>B = 2, A>B = 1, A=B = 0): the sign gives the winner, and the
      verdict is strong (strength 2) when the mean score is at least 1.5.
    """
    if any(g.label == "error" for g in games):
        return Verdict(match_id, "unresolved", 0, None, "error")
    scores = [LABEL_SCORE[g.label] for g in games if g.label in LABEL_SCORE]
    if not scores:
        return Verdict(match_id, "unresolved", 0, None, "unparsed")
    consistent: bool | None = None
    if len(scores) >= 2:
        signs = {(s > 0) - (s < 0) for s in scores}
        consistent = len(signs) == 1
        if 1 in signs and -1 in signs:
            return Verdict(match_id, "tie", 0, False, "A=B")
    total = sum(scores)
    mean = total / len(scores)
    if total == 0:
        return Verdict(match_id, "tie", 0, consistent, "A=B")
    strong = abs(mean) >= 1.5
    if total > 0:
        return Verdict(match_id, "a", 2 if strong else 1, consistent, "A>>B" if strong else "A>B")
    return Verdict(match_id, "b", 2 if strong else 1, consistent, "B>>A" if strong else "B>A")


def preset_error(where: str, e, what: str, fields, missing_hint: str = ""):
    """One-line `SpecError` for a preset that failed pydantic validation (`e`, a ValidationError):
    the file, the first bad key and what was expected. `what` names the setting kind ("an llm judge")."""
    errors = e.errors()
    err = errors[0]
    key = validation_key(err["loc"]) or "?"  # no union branch names (`literal[...]`, `int`): the user's key
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 3 and err["loc"][0] == "deployments":
        what, fields = "a deployment", DeploymentSettings.model_fields  # a key inside [[deployments]]
    if err["type"] == "extra_forbidden":
        return SpecError(f"{where}: key {key!r} is not {what} setting (expected one of: {', '.join(fields)})")
    if err["type"] == "missing":
        return SpecError(f"{where}: key {key!r} is missing{missing_hint}")
    if err["type"] == "value_error":  # a validator's own sentence says what was expected
        return SpecError(f"{where}: key {key!r}: {(err.get('ctx') or {}).get('error', err['msg'])}")
    union = union_expectation(errors)  # a union failing on every branch: one error per branch
    if union is not None:
        return SpecError(f"{where}: key {key!r}: expected {union[0]} (got {err.get('input')!r})")
    return SpecError(f"{where}: key {key!r}: {err['msg']} (got {err.get('input')!r})")


def turn_setting(v, choices: tuple[str, ...]):
    """A preset's `turn` (pydantic `mode="before"` validator): one of `choices` or a turn number
    from 1, an integer (TOML `turn = 2`; `true`, `1.5`, `"2"` and `0` are refused). Raises
    `ValueError` naming every allowed value."""
    if isinstance(v, str) and v in choices:
        return v
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
        return v
    import json

    allowed = ", ".join(f'"{c}"' for c in choices)
    hint = f" (a turn number is an integer: turn = {v.strip()}, not a string)" if isinstance(v, str) and v.strip().isdigit() else ""
    raise ValueError(f"expected {allowed} or a turn number from 1 (an integer), got {json.dumps(v, ensure_ascii=False, default=str)}{hint}")


# -- the settings and build path the LLM-calling kinds share ------------------------------------------

RUNTIME_KEYS = ("seed", "backoff_base", "backoff_max", "backend", "batch_settle_s")
"""Options of `build(...)` that are not preset keys: the runtime's (a test's backend, its backoff)."""


class DeploymentSettings(BaseModel):
    """One entry of a preset's `deployments`: a server (or provider account) serving the judge
    model. `model` defaults to the preset's, `api_key_env` to the preset's, `rpm` / `tpm` to the
    preset's (each deployment's own limit); `weight` is its share under simple-shuffle."""

    model_config = ConfigDict(extra="forbid")

    api_base: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    weight: float | None = Field(None, gt=0)

    @field_validator("api_base")
    @classmethod
    def _a_url(cls, v: str | None) -> str | None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(v) if v is not None else None
        except ValueError:
            parts = None
        if v is not None and (parts is None or parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(f"expected an http(s) URL such as http://gpu-node-1:8000/v1, got {v!r}")
        return v


class BackendSettings(BaseModel):
    """The preset keys of every judge kind that calls a completion backend (llm, network): the
    model, where and how to reach it, and the client policy (concurrency, rate limits, timeout,
    retries). A kind's preset model subclasses it and adds its own keys.

    `deployments` (a list of `DeploymentSettings`) spreads the calls over several servers through
    litellm's Router (`arena.backends._router`), with `routing_strategy`, `cooldown` (seconds a
    failing deployment rests) and `allowed_fails` (failures a minute before it rests); the
    preset's `api_base` must then be left out (each deployment has its own)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    description: str = ""
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    concurrency: int = Field(16, gt=0)
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    extra_params: dict = Field(default_factory=dict)  # more sampling parameters (top_p, seed, ...)
    client: Literal["auto", "litellm"] = "auto"  # "litellm" turns off the fast path for OpenAI-compatible servers
    deployments: list[DeploymentSettings] = Field(default_factory=list)
    routing_strategy: Literal["simple-shuffle", "least-busy"] = "simple-shuffle"
    cooldown: float = Field(10.0, ge=0)
    allowed_fails: int = Field(0, ge=0)

    @field_validator("deployments")
    @classmethod
    def _one_place_for_the_server(cls, deployments: list[DeploymentSettings], info: ValidationInfo) -> list[DeploymentSettings]:
        if deployments and info.data.get("api_base") is not None:
            raise ValueError("each deployment has its own api_base: remove the preset's api_base")
        model, key_env = info.data.get("model"), info.data.get("api_key_env")
        keys = [(d.model or model, (d.api_base or "").rstrip("/"), d.api_key_env or key_env) for d in deployments]
        if len(set(keys)) != len(keys):
            raise ValueError("two deployments name the same model, api_base and api_key_env")
        return deployments

    # "batch": calls go through the provider's Batch API (arena/backends/_batch.py), at its batch price
    mode: Literal["sync", "batch"] = "sync"
    batch_poll_s: float = Field(30.0, gt=0)  # seconds between checks of a pending batch's status

    @field_validator("mode")
    @classmethod
    def _batch_provider(cls, mode: str, info: ValidationInfo) -> str:
        model = str(info.data.get("model") or "")
        if mode == "batch" and not model.startswith(("openai/", "hosted_vllm/")):
            raise ValueError(
                f"the Batch API is supported for openai/... and hosted_vllm/... models (OpenAI's files and batches API), not {model!r}"
            )
        if mode == "batch" and info.data.get("deployments"):
            raise ValueError("batch mode submits to one server: remove the preset's deployments (a judge fleet) or use mode = \"sync\"")
        return mode


def parse_settings(model: type[BaseModel], preset: dict, options: dict, *, where: str, what: str) -> tuple[BaseModel, dict]:
    """(validated settings, runtime options) for a kind's `build`: `options` that name preset keys
    override them (None leaves the preset's), the `RUNTIME_KEYS` are returned apart. Raises a
    one-line `SpecError` naming `where` and the first bad key."""
    runtime = {k: options.pop(k) for k in RUNTIME_KEYS if k in options}
    merged = {**preset, **{k: v for k, v in options.items() if v is not None and k in model.model_fields}}
    try:
        return model(**merged), runtime
    except ValidationError as e:
        raise preset_error(where, e, what, model.model_fields) from None
