"""Readers of the peers' recorded judgment files: one pydantic row model per format, each row
turned into a `RecordedMatch` (a pairing on one prompt with the games the peer's judge played).

Formats (what each peer writes; labels end up from the match's model A's point of view):

- `arena_hard`: Arena-Hard-Auto's `model_judgment/<judge>/<model>.jsonl` (lm-sys/arena-hard-auto,
  `gen_judgment.py`): `question_id` (v2: `uid`), `model`, `judge`, `games`: two
  `{user_prompt, judgment, score}`; game 1 shows the baseline as assistant A and the model as B,
  game 2 swaps them (its `score` is in the swapped positions, as `show_result.py` reads it).
  Scores are `A>>B, A>B, A=B, B>A, B>>A` (null: the judge's reply had no verdict). The baseline is
  not in the rows of v0.1 (a `baseline` key in v2): pass it.
- `alpaca_eval`: AlpacaEval annotations (`annotations.json`, a list or JSON lines):
  `instruction`, `output_1` (the baseline's answer), `generator_1`, `output_2`, `generator_2`,
  `preference` in [1, 2] (the probability-weighted preference for output_2, plus 1). The
  preference is kept in the game's `detail.preference`; its label follows `preference_label`.
- `mt_bench`: FastChat's `model_judgment/gpt-4_pair.jsonl` (`question_id, model_1, model_2,
  g1_winner, g2_winner, judge, turn`, `g1_judgment`/`g2_judgment`; game 2 shows model_2 as A, the
  winners are already mapped back to model names) and its human judgments (`question_id,
  model_a, model_b, winner, judge, turn`): one game per row.
- `chatbot_arena`: battles (`clean_battle*.json`, newer JSON/JSONL/CSV): `model_a, model_b,
  winner` (`model_a`, `model_b`, `tie`, `tie (bothbad)`), optional `question_id, turn, anony,
  language, tstamp, conv_metadata` (kept for style control), `judge`, `weight` (a battle's
  count, default 1).
- `judgebench`: JudgeBench's `outputs/*.jsonl`: `pair_id, question, response_A, response_B,
  label` (the gold), `judgments[].decision` per game (game 2 played with the answers swapped,
  its decision in the swapped positions). The two "models" are the slots `response_A` and
  `response_B` (JudgeBench pairs two answers of one model).
- `jsonl`: arena's own export, one game a line: `match_id, prompt_id, model_a, model_b, order,
  label` and optional `judge, raw, weight, prompt, answer_a, answer_b, category, detail`.

Rows pitting a model against itself are skipped and counted (`ReadResult.skipped_self`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arena.errors import BadInput, naming_options
from arena.io import prompt_key
from arena.records import LABEL_SCORE, swap_label

FORMATS: tuple[str, ...] = ("arena_hard", "alpaca_eval", "mt_bench", "chatbot_arena", "judgebench", "jsonl")
VerdictFormat = Literal["arena_hard", "alpaca_eval", "mt_bench", "chatbot_arena", "judgebench", "jsonl"]

TIE_BAND = 0.10
STRONG_BAND = 0.15


class VerdictFileError(BadInput):
    """A recorded-judgment file is malformed (names the file, line or item, and field)."""


def preference_label(preference: float) -> str:
    """AlpacaEval's `preference` (1 = output_1 better, 2 = output_2 better) as a five-way label
    from output_1's (A's) point of view. With q = preference - 1 (the probability that output_2
    is better): |q - 0.5| <= 0.10 is `A=B`; q >= 0.85 is `B>>A`, q <= 0.15 `A>>B`; otherwise
    `B>A` / `A>B`. The same bands as the offline surrogate judge's (`judges/surrogate.toml`)."""
    q = preference - 1.0
    if abs(q - 0.5) <= TIE_BAND:
        return "A=B"
    if q >= 1 - STRONG_BAND:
        return "B>>A"
    if q <= STRONG_BAND:
        return "A>>B"
    return "B>A" if q > 0.5 else "A>B"


LABEL_PREFERENCE = {"A>>B": 1.0, "A>B": 1.25, "A=B": 1.5, "B>A": 1.75, "B>>A": 2.0}
"""A five-way label written back as an AlpacaEval preference (inverse of `preference_label`'s bands)."""


@dataclass(slots=True)
class RecordedGame:
    order: Literal["AB", "BA"]
    label: str  # five-way from the match's A's point of view, or unparsed / error
    judge: str = ""
    raw: str = ""
    detail: dict = field(default_factory=dict)


@dataclass(slots=True)
class RecordedMatch:
    """One recorded pairing on one prompt with its games in the order they were recorded."""

    where: str
    prompt_id: str
    model_a: str
    model_b: str
    games: list[RecordedGame]
    prompt: str | None = None
    answer_a: str | None = None
    answer_b: str | None = None
    category: str | None = None
    weight: float = 1.0
    meta: dict = field(default_factory=dict)
    conversation: str | None = None
    """The judge model of a judgment of one conversation turn (MT-Bench): `turns.group_turns` puts the
    turns of one (question, model_1, model_2, conversation) together in one match."""


@dataclass(slots=True)
class ReadResult:
    format: str
    matches: list[RecordedMatch]
    sources: list[str]
    skipped_self: int = 0
    baseline: str | None = None

    @property
    def judges(self) -> list[str]:
        return sorted({g.judge for m in self.matches for g in m.games if g.judge})

    @property
    def models(self) -> list[str]:
        return sorted({m.model_a for m in self.matches} | {m.model_b for m in self.matches})


# -- records -------------------------------------------------------------------------------


def _text(path: Path) -> str:
    if not path.exists():
        raise VerdictFileError(f"{path}: no such file or directory")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise VerdictFileError(f"{path}: not a valid gzip file ({e})") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise VerdictFileError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None


def iter_records(path: Path) -> Iterator[tuple[str, dict]]:
    """(location, object) for each record of a JSON list, JSON lines or CSV file (.gz too):
    `path:LINE` for lines, `path: item N` for list items."""
    name = path.name.lower().removesuffix(".gz")
    text = _text(path)
    if name.endswith((".csv", ".tsv")):
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if name.endswith(".tsv") else ",")
        for rec in reader:
            if None in rec:
                raise VerdictFileError(f"{path}:{reader.line_num}: more fields than the header has")
            yield f"{path}:{reader.line_num}", {k: (v if v != "" else None) for k, v in rec.items()}
        return
    if not name.endswith(".jsonl") and text.lstrip().startswith(("[", "{\n", '{"battles"')) and not _one_object_per_line(text):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise VerdictFileError(f"{path}:{getattr(e, 'lineno', 1)}: invalid JSON ({getattr(e, 'msg', 'too deeply nested')})") from None
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise VerdictFileError(f"{path}:1: expected a JSON list of objects")
        for k, rec in enumerate(data, 1):
            if not isinstance(rec, dict):
                raise VerdictFileError(f"{path}: item {k}: expected an object, got {type(rec).__name__}")
            _check_unicode(f"{path}: item {k}", rec, text)
            yield f"{path}: item {k}", rec
        return
    for ln, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            raise VerdictFileError(f"{path}:{ln}: invalid JSON ({getattr(e, 'msg', 'too deeply nested')})") from None
        if not isinstance(rec, dict):
            raise VerdictFileError(f"{path}:{ln}: expected a JSON object, got {type(rec).__name__}")
        _check_unicode(f"{path}:{ln}", rec, line)
        yield f"{path}:{ln}", rec


def _check_unicode(where: str, rec: dict, text: str) -> None:
    """Refuse a record holding a lone surrogate (a `\\udXXX` escape JSON allows and UTF-8 does not)."""
    if "\\ud" not in text and "\\uD" not in text:
        return
    try:
        json.dumps(rec, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise VerdictFileError(f"{where}: invalid Unicode (a lone surrogate escape such as \\ud800)") from None


def _one_object_per_line(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first.startswith("{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def files_of(path: Path) -> list[Path]:
    """A file, or every .json/.jsonl/.csv (optionally .gz) file under a folder, sorted."""
    if path.is_dir():
        exts = (".json", ".jsonl", ".csv", ".tsv")
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().removesuffix(".gz").endswith(exts))
        if not found:
            raise VerdictFileError(f"{path}: no .json, .jsonl or .csv files in this folder")
        return found
    return [path]


def looks_like(rec: dict) -> str | None:
    """The format a record's keys suggest, or None."""
    if "games" in rec and "model" in rec:
        return "arena_hard"
    if "output_1" in rec and ("preference" in rec or "generator_2" in rec):
        return "alpaca_eval"
    if "g1_winner" in rec or ("model_1" in rec and "model_2" in rec):
        return "mt_bench"
    if {"model", "score", "judgment"} <= rec.keys() and "question_id" in rec:
        return "mt_bench_single"
    if "judgments" in rec and ("response_A" in rec or "pair_id" in rec):
        return "judgebench"
    if {"match_id", "order", "label"} <= rec.keys():
        return "jsonl"
    if "model_a" in rec and "model_b" in rec and "winner" in rec:
        return "mt_bench" if "conversation_a" in rec else "chatbot_arena"
    return None


REQUIRED_KEYS = {
    "arena_hard": ("games", "model"),
    "alpaca_eval": ("output_1", "generator_2"),
    "mt_bench": ("question_id",),
    "chatbot_arena": ("model_a", "model_b", "winner"),
    "judgebench": ("judgments",),
    "jsonl": ("match_id", "order", "label"),
}


def check_format(where: str, rec: dict, fmt: str) -> None:
    """Raise when a file's first record is not of format `fmt`, saying which format it looks like."""
    guess = looks_like(rec)
    if guess == "mt_bench_single":
        raise VerdictFileError(
            f"{where}: FastChat single-answer grading (gpt-4_single.jsonl: a 1-10 score per answer and turn), not pairwise"
            " judgments; verdicts import reads pairwise ones (gpt-4_pair.jsonl). Rate these scores with"
            " `arena ratings fit FILE` (Plackett-Luce over each question and turn)"
        )
    missing = [k for k in REQUIRED_KEYS[fmt] if k not in rec]
    if fmt == "mt_bench" and not missing and not ({"g1_winner", "winner"} & rec.keys()):
        missing = ["g1_winner"]
    battle_shaped = {fmt, guess} <= {"mt_bench", "chatbot_arena"}  # MT-Bench's human votes and Chatbot Arena's battles share keys (conversation_a too)
    if missing or (guess is not None and guess != fmt and not battle_shaped):
        hint = f"it looks like {guess} (use <format>)" if guess else "it matches no known format"
        raise naming_options(VerdictFileError, f"{where}: not {fmt} data (key {(missing or ['?'])[0]!r} missing): {hint}",
                             format=(f"format={guess!r}", f"--format {guess}"))


# -- row models ------------------------------------------------------------------------------

_Id = str


def _id(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("expected a string or integer id")
    if isinstance(v, int):
        return str(v)
    return v


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)


def _name(v: Any) -> Any:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected a non-empty model name")
    return v


class ArenaHardGame(_Row):
    user_prompt: str | None = None
    judgment: str | None = None
    score: str | None = None


class ArenaHardRow(_Row):
    question_id: _Id
    model: str
    judge: str = ""
    games: list[ArenaHardGame | None] = Field(min_length=1, max_length=2)
    baseline: str | None = None
    category: str | None = None

    _v_id = field_validator("question_id", mode="before")(_id)
    _v_model = field_validator("model", mode="before")(_name)

    @classmethod
    def parse(cls, rec: dict) -> ArenaHardRow:
        if "question_id" not in rec and "uid" in rec:
            rec = {**rec, "question_id": rec["uid"]}
        return cls.model_validate(rec)


class AlpacaEvalRow(_Row):
    instruction: str
    output_1: str
    generator_1: str
    output_2: str
    generator_2: str
    preference: float | None = Field(default=None, ge=0, le=2)
    annotator: str | None = None
    dataset: str | None = None
    raw_completion: Any = None

    _v_names = field_validator("generator_1", "generator_2", mode="before")(_name)


MTWinner = Literal["model_1", "model_2", "tie", "error"]
"""The winners FastChat's `play_a_match_pair` writes: the judge's `A` / `B` mapped to `model_1` /
`model_2` (swapped for game 2), `tie`, and `error` when the reply had no verdict. arena's own export
writes the same four (`arena.verdicts.mt_bench.winner`) and `g2_winner: null` for a one-order match."""


class MTBenchPairRow(_Row):
    question_id: _Id
    model_1: str
    model_2: str
    g1_winner: MTWinner
    g2_winner: MTWinner | None = None
    judge: Any = ""
    turn: int = Field(default=1, ge=1)
    g1_judgment: str | None = None
    g2_judgment: str | None = None
    question: str | None = None
    answer_1: str | None = None
    answer_2: str | None = None
    judge_model: str | None = None

    _v_id = field_validator("question_id", mode="before")(_id)
    _v_names = field_validator("model_1", "model_2", mode="before")(_name)


class MTBenchHumanRow(_Row):
    question_id: _Id
    model_a: str
    model_b: str
    winner: Literal["model_a", "model_b", "tie", "tie (bothbad)"]
    judge: str = ""
    turn: int = Field(default=1, ge=1)

    _v_id = field_validator("question_id", mode="before")(_id)
    _v_names = field_validator("model_a", "model_b", mode="before")(_name)


class BattleRow(_Row):
    model_a: str
    model_b: str
    winner: Literal["model_a", "model_b", "tie", "tie (bothbad)"]
    question_id: _Id | None = None
    turn: int | None = None
    anony: bool | None = None
    language: str | None = None
    tstamp: float | None = None
    judge: str | None = None
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    conv_metadata: Any = None
    category: str | None = None

    _v_id = field_validator("question_id", mode="before")(_id)
    _v_names = field_validator("model_a", "model_b", mode="before")(_name)

    @field_validator("weight", mode="before")
    @classmethod
    def _weight_default(cls, v: Any) -> Any:
        return 1.0 if v is None else v


class JudgeBenchGame(_Row):
    decision: str | None = None
    judgment: Any = None


class JudgeBenchRow(_Row):
    pair_id: _Id
    question: str | None = None
    response_A: str | None = None
    response_B: str | None = None
    label: str | None = None
    source: str | None = None
    judge_name: str | None = None
    judgments: list[JudgeBenchGame | None] = Field(min_length=1, max_length=2)

    _v_id = field_validator("pair_id", mode="before")(_id)


class JsonlGameRow(_Row):
    match_id: _Id
    prompt_id: _Id
    model_a: str
    model_b: str
    order: Literal["AB", "BA"]
    label: Literal["A>>B", "A>B", "A=B", "B>A", "B>>A", "unparsed", "error"]
    judge: str = ""
    raw: str | None = None
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    prompt: str | None = None
    answer_a: str | None = None
    answer_b: str | None = None
    category: str | None = None
    detail: dict | None = None

    _v_id = field_validator("match_id", "prompt_id", mode="before")(_id)
    _v_names = field_validator("model_a", "model_b", mode="before")(_name)


def _validate(model: type[BaseModel], where: str, rec: dict, parse=None):
    try:
        return parse(rec) if parse else model.model_validate(rec)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"]) or "?"
        if err["type"] == "missing":
            raise VerdictFileError(f"{where}: field {key!r} is missing") from None
        raise VerdictFileError(f"{where}: field {key!r}: {err['msg']} (got {err.get('input')!r:.80})") from None


# -- labels ------------------------------------------------------------------------------------

_SCORE_ALIASES = {"A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B", "A=B": "A=B", "B=A": "A=B"}


def arena_hard_label(score: str | None) -> str:
    """An Arena-Hard `score` as a five-way label in the game's own positions (`unparsed` if none)."""
    if score is None:
        return "unparsed"
    s = score.strip().strip("[]").replace(" ", "")
    if s in LABEL_SCORE:
        return s
    return _SCORE_ALIASES.get(s, "unparsed")


_PICK_LABEL = {"a": "A>B", "b": "B>A", "tie": "A=B"}


def _winner_label(winner: str | None) -> str:
    """A recorded winner (`model_a`/`model_1`, `model_b`/`model_2`, `tie`, `tie (bothbad)`,
    `error`) as a five-way label from the match's A's point of view."""
    if winner in ("model_a", "model_1"):
        return "A>B"
    if winner in ("model_b", "model_2"):
        return "B>A"
    if winner in ("tie", "tie (bothbad)"):
        return "A=B"
    if winner == "error":
        return "error"
    return "unparsed"


# -- readers -----------------------------------------------------------------------------------


def _read_arena_hard(where: str, rec: dict, baseline: str | None, out: list[RecordedMatch]) -> str | None:
    row = _validate(ArenaHardRow, where, rec, ArenaHardRow.parse)
    base = row.baseline or baseline
    if not base:
        raise naming_options(
            VerdictFileError, f"{where}: Arena-Hard v0.1 judgments do not name the baseline: pass <baseline> (v0.1 used gpt-4-0314)",
            baseline=('baseline="NAME"', "--baseline NAME"),
        )
    if row.model == base:
        return "self"
    games = []
    for k, g in enumerate(row.games):
        if g is None:  # a game that was not played
            continue
        label = arena_hard_label(g.score)
        # game 1: baseline is A (the match's A); game 2: the model is A, so swap back
        games.append(
            RecordedGame(
                "AB" if k == 0 else "BA",
                label if k == 0 else swap_label(label),
                row.judge,
                g.judgment or "",
                {},
            )
        )
    if not games:
        raise VerdictFileError(f"{where}: field 'games': every game is null")
    out.append(RecordedMatch(where, row.question_id, base, row.model, games, category=row.category))
    return base


def _read_alpaca_eval(where: str, rec: dict, out: list[RecordedMatch]) -> str | None:
    row = _validate(AlpacaEvalRow, where, rec)
    if row.generator_1 == row.generator_2:
        return "self"
    if row.preference is None or row.preference < 1:
        label, detail = ("unparsed", {"preference": row.preference})
        if row.preference == 0:  # AlpacaEval 1's discrete annotators wrote 0 for a draw
            label, detail = "A=B", {"preference": 1.5}
    else:
        label, detail = preference_label(row.preference), {"preference": row.preference}
    from arena.pools import text_id

    out.append(
        RecordedMatch(
            where,
            text_id(row.instruction, "ae"),
            row.generator_1,
            row.generator_2,
            [RecordedGame("AB", label, row.annotator or "", "", detail)],
            prompt=row.instruction,
            answer_a=row.output_1,
            answer_b=row.output_2,
            category=row.dataset,
        )
    )
    return row.generator_1


def turn_prompt_id(qid: str, turn: int | None) -> str:
    """The prompt id of a recorded judgment of turn `turn` of conversation `qid`: `qid` for the first
    turn (or none), `qid:turnN` for turn N >= 2 (one rating prompt per judged turn)."""
    return qid if not turn or turn == 1 else f"{qid}:turn{turn}"


def _judge_name(judge: Any) -> str:
    if isinstance(judge, (list, tuple)):
        return "/".join(str(x) for x in judge)
    return "" if judge is None else str(judge)


def _read_mt_bench(where: str, rec: dict, out: list[RecordedMatch]) -> None | str:
    if "g1_winner" not in rec and "winner" in rec:
        h = _validate(MTBenchHumanRow, where, rec)
        if h.model_a == h.model_b:
            return "self"
        out.append(
            RecordedMatch(where, h.question_id, h.model_a, h.model_b,
                          [RecordedGame("AB", _winner_label(h.winner), h.judge)], meta={"turn": h.turn}, conversation=h.judge)
        )
        return None
    row = _validate(MTBenchPairRow, where, rec)
    if row.model_1 == row.model_2:
        return "self"
    judge = row.judge_model or _judge_name(row.judge)
    from arena.verdicts.mt_bench import peer_fields

    # the peer's own fields and judge prompts stay with the games: `verdicts export --format mt_bench` gives the row back
    first = {"peer": peer_fields(rec), **_user_prompt(rec, "g1_user_prompt")}
    games = [RecordedGame("AB", _winner_label(row.g1_winner), judge, row.g1_judgment or "", first)]
    if row.g2_winner is not None:
        games.append(RecordedGame("BA", _winner_label(row.g2_winner), judge, row.g2_judgment or "", _user_prompt(rec, "g2_user_prompt")))
    out.append(
        RecordedMatch(where, row.question_id, row.model_1, row.model_2, games, prompt=row.question,
                      answer_a=row.answer_1, answer_b=row.answer_2, meta={"turn": row.turn},
                      conversation=row.judge_model or (str(row.judge[0]) if isinstance(row.judge, (list, tuple)) and row.judge else judge))
    )
    return None


def question_of(m: RecordedMatch) -> str:
    """The question id of a recorded judgment (its prompt id without `turn_prompt_id`'s `:turnN`)."""
    turn = m.meta.get("turn")
    suffix = f":turn{turn}"
    return m.prompt_id[: -len(suffix)] if isinstance(turn, int) and m.prompt_id.endswith(suffix) else m.prompt_id


def check_mt_bench(matches: list[RecordedMatch]) -> None:
    """Checks across the records of MT-Bench judgment files (`VerdictFileError` naming file:line):

    - a pair judgment given twice: the same question, model pair (either order), judge and turn
      (FastChat's `gen_judgment.py` appends to its output file, so a rerun repeats records; its
      `load_pair_model_judgments` would keep the last one silently, arena refuses);
    - texts in some records and not in others: once a record carries `question`, `answer_1` and
      `answer_2` (as ja-vicuna-qa-benchmark's files do), every record must;
    - one question with two texts, or one model's answer to one question and turn with two texts.
    Human judgments (`winner`) may repeat a pair: several votes of one judge are kept as cast."""
    seen: dict[tuple, str] = {}
    texts = next((m for m in matches if m.prompt is not None or m.answer_a is not None or m.answer_b is not None), None)
    questions: dict[str, tuple[str, str]] = {}
    answers: dict[tuple, tuple[str, str]] = {}
    for m in matches:
        qid, turn = question_of(m), m.meta.get("turn") or 1
        if m.games and "peer" in m.games[0].detail:  # a pair judgment (not a human vote)
            key = (qid, frozenset((m.model_a, m.model_b)), m.games[0].judge, turn)
            if key in seen:
                raise VerdictFileError(
                    f"{m.where}: a second judgment of question {qid!r}, {m.model_a} vs {m.model_b}, judge {m.games[0].judge!r},"
                    f" turn {turn} (first at {seen[key]}): remove the duplicate record"
                )
            seen[key] = m.where
        if texts is None:
            continue
        for field_name, value in (("question", m.prompt), ("answer_1", m.answer_a), ("answer_2", m.answer_b)):
            if value is None:
                raise VerdictFileError(
                    f"{m.where}: field {field_name!r} is missing (records such as {texts.where} carry the question and both answers; every record must)"
                )
        first = questions.setdefault(qid, (m.prompt, m.where))
        if prompt_key(first[0]) != prompt_key(m.prompt):
            raise VerdictFileError(f"{m.where}: question {qid!r} has another text than at {first[1]}")
        for model, text in ((m.model_a, m.answer_a), (m.model_b, m.answer_b)):
            prev = answers.setdefault((qid, model, turn), (text, m.where))
            if prompt_key(prev[0]) != prompt_key(text):
                raise VerdictFileError(f"{m.where}: {model}'s answer to question {qid!r} (turn {turn}) differs from its answer at {prev[1]}")


def _user_prompt(rec: dict, key: str) -> dict:
    v = rec.get(key)
    return {"user_prompt": v} if isinstance(v, str) else {}


def _read_battle(where: str, rec: dict, n: int, out: list[RecordedMatch]) -> None | str:
    row = _validate(BattleRow, where, rec)
    if row.model_a == row.model_b:
        return "self"
    detail: dict = {}
    if row.weight != 1.0:
        detail["weight"] = row.weight
    if row.winner == "tie (bothbad)":
        detail["bothbad"] = True
    meta = {k: getattr(row, k) for k in ("turn", "anony", "language", "tstamp") if getattr(row, k) is not None}
    if row.conv_metadata is not None:
        meta["conv_metadata"] = row.conv_metadata
    pid = row.question_id if row.question_id not in (None, "") else f"#battle{n}"
    out.append(
        RecordedMatch(where, turn_prompt_id(pid, row.turn), row.model_a, row.model_b,
                      [RecordedGame("AB", _winner_label(row.winner), row.judge or "", "", detail)],
                      category=row.category or row.language, weight=row.weight, meta=meta)
    )
    return None


def _read_judgebench(where: str, rec: dict, out: list[RecordedMatch]) -> None:
    row = _validate(JudgeBenchRow, where, rec)
    games = []
    for k, g in enumerate(row.judgments):
        if g is None or g.decision is None:
            label = "error"
        else:
            label = arena_hard_label(g.decision)
        raw = g.judgment if g is not None else ""
        if isinstance(raw, dict):
            raw = raw.get("response", "")
        games.append(RecordedGame("AB" if k == 0 else "BA", label if k == 0 else swap_label(label), row.judge_name or "",
                                  raw if isinstance(raw, str) else json.dumps(raw)))
    out.append(
        RecordedMatch(where, row.pair_id, "response_A", "response_B", games, prompt=row.question,
                      answer_a=row.response_A, answer_b=row.response_B, category=row.source, meta={"gold": row.label})
    )


def _read_jsonl(where: str, rec: dict, groups: dict[str, RecordedMatch], out: list[RecordedMatch]) -> None | str:
    row = _validate(JsonlGameRow, where, rec)
    if row.model_a == row.model_b:
        return "self"
    m = groups.get(row.match_id)
    if m is None:
        m = groups[row.match_id] = RecordedMatch(where, row.prompt_id, row.model_a, row.model_b, [], prompt=row.prompt,
                                                 answer_a=row.answer_a, answer_b=row.answer_b, category=row.category, weight=row.weight)
        out.append(m)
    elif (m.prompt_id, m.model_a, m.model_b) != (row.prompt_id, row.model_a, row.model_b):
        raise VerdictFileError(f"{where}: match {row.match_id!r} was first recorded with another prompt or models ({m.where})")
    elif any(g.order == row.order and g.judge == row.judge for g in m.games):  # turn by turn: one game per judge@turnN and order
        raise VerdictFileError(f"{where}: match {row.match_id!r} has two games in order {row.order}")
    detail = dict(row.detail or {})
    if row.weight != 1.0:
        detail["weight"] = row.weight
    m.games.append(RecordedGame(row.order, row.label, row.judge, row.raw or "", detail))
    return None


def read_recorded(path: str | Path, fmt: str, *, baseline: str | None = None) -> ReadResult:
    """Read recorded judgments of format `fmt` (one of `FORMATS`) from a file or a folder of files.

    Returns the matches in file order, the number of rows skipped because both sides are the
    same model, and the baseline when the format has one (arena_hard: `baseline` or the row's
    own; alpaca_eval: `generator_1`). Raises `VerdictFileError` (exit 2) naming file, line or
    item and field for a bad row, and for a file whose first record is of another format
    (saying which one it looks like).
    """
    if fmt not in FORMATS:
        raise naming_options(VerdictFileError, f"<format>: {fmt!r} is not a judgment format (expected one of: {', '.join(FORMATS)})",
                             format=("format", "--format"))
    root = Path(path)
    files = files_of(root)
    matches: list[RecordedMatch] = []
    skipped = 0
    found_base: set[str] = set()
    groups: dict[str, RecordedMatch] = {}
    n = 0
    for f in files:
        first = True
        for where, rec in iter_records(f):
            if first:
                check_format(where, rec, fmt)
                first = False
            if fmt == "arena_hard":
                r = _read_arena_hard(where, rec, baseline, matches)
            elif fmt == "alpaca_eval":
                r = _read_alpaca_eval(where, rec, matches)
            elif fmt == "mt_bench":
                r = _read_mt_bench(where, rec, matches)
            elif fmt == "chatbot_arena":
                r = _read_battle(where, rec, n, matches)
            elif fmt == "judgebench":
                r = _read_judgebench(where, rec, matches)
            else:
                r = _read_jsonl(where, rec, groups, matches)
            n += 1
            if r == "self":
                skipped += 1
            elif r:
                found_base.add(r)
    if not matches:
        raise VerdictFileError(f"{root}: no judgments found" + (f" ({skipped} rows pit a model against itself)" if skipped else ""))
    if fmt == "mt_bench":
        check_mt_bench(matches)
    base = baseline if baseline else (next(iter(found_base)) if len(found_base) == 1 else None)
    return ReadResult(fmt, matches, [str(f) for f in files], skipped, base)
