"""Prompt pools and model outputs: the import formats, validation, and export.

Readers are pure apart from reading the files (through `arena.io`, with a pydantic row model per
format): they return `PoolData` (prompts and outputs) or raise `PoolError`/`RecordError` with one
line naming the file, the line (or `item N`) and what was expected.
Nothing touches the store until every file has been read and checked; the store then writes
the whole pool in one transaction.

Formats:
- `native`: a folder with `prompts.jsonl` (prompt_id, text, optional category, reference) and
  `outputs/<model>.jsonl` (prompt_id, output).
- `alpaca_eval`: AlpacaEval `model_outputs.json` files (a JSON list of instruction, output,
  generator, dataset; `.json.gz` too); prompts are matched by instruction text, on
  `arena.io.prompt_key` (Unicode NFC, whitespace runs and line endings collapsed; the first
  file's text is the one kept).
- `arena_hard`: an Arena-Hard folder with `question.jsonl` and `model_answer/*.jsonl`
  (answers in `choices[0].turns` or in `messages`; the model is `model_id`/`model`, else the
  file's name).
- `varco`: Varco Arena / Arena-Lite, one jsonl per model (model_id, instruction, generated, task),
  matched by instruction text like AlpacaEval.

- `mt_bench`: an MT-Bench folder (`question.jsonl`, `model_answer/*.jsonl[.gz]`, optional
  `reference_answer/*.jsonl` or `reference_answer_*.jsonl`): two-turn conversations with references
  per turn (`arena.conversations`).
- `jsonl`: what `arena pool export --format jsonl` writes: one prompt a line with every model's answer.

Conversations (several user turns, a system message, fixed assistant turns) are read from
`mt_bench`, `arena_hard` (`turns` with several items, or chat `messages`) and `native`/`jsonl`
(`turns` or `messages` on a prompt, `turns` on an answer); `arena.conversations` checks them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field

from arena.conversations import file_messages, file_rows, make_output, make_prompt, question_file, read_mt_bench, user_messages
from arena.errors import BadInput, PoolError, naming_options
from arena.io import Id, Name, OptText, Row, Text, check_name, iter_records, loads, prompt_key, read_text
from arena.names import slug_map
from arena.records import Message as ChatMessage
from arena.records import Output, Prompt

Format = Literal["native", "alpaca_eval", "arena_hard", "mt_bench", "varco", "jsonl"]
FORMATS: tuple[str, ...] = ("native", "alpaca_eval", "arena_hard", "mt_bench", "varco", "jsonl")


@dataclass(slots=True)
class PoolData:
    prompts: list[Prompt]
    outputs: list[Output]
    format: str = "native"
    sources: list[str] = field(default_factory=list)
    overlap: list[Overlap] = field(default_factory=list)
    prompt_extra: dict[str, dict] = field(default_factory=dict)  # peer fields kept for export (see Store.write_pool)
    output_extra: dict[tuple[str, str], dict] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return sorted({o.model for o in self.outputs})


# -- row models (one per format's record) -----------------------------------------------------


class ChatTurn(Row):
    role: Text
    content: OptText = None  # null: an assistant turn the model answers (`arena.conversations.file_messages`)


class NativePrompt(Row):
    """A line of a native `prompts.jsonl` (and of the `jsonl` export, with `outputs`).

    A conversation gives `turns` (its user turns) or `messages` (`{role, content}`: a system
    message, user turns, fixed assistant turns) instead of `text`, and `references` per answered turn."""

    prompt_id: Id
    text: Text | None = None
    category: OptText = None
    reference: OptText = None
    turns: list[Text] | None = None
    messages: list[ChatTurn] | None = None
    references: list[OptText] | None = None

    def prompt(self, where: str) -> Prompt:
        """The checked `Prompt` of this line (`PoolError` for a bad conversation)."""
        if self.messages is not None:
            msgs = file_messages([(m.role, m.content) for m in self.messages], where)
        elif self.turns is not None:
            msgs = user_messages(self.turns)
        elif self.text is not None:
            if self.references is None:
                return Prompt(self.prompt_id, self.text, self.category, self.reference)
            msgs = user_messages([self.text])
        else:
            raise PoolError(f"{where}: missing field 'text'")
        refs = self.references if self.references is not None else ([self.reference] if self.reference is not None else [])
        p = make_prompt(self.prompt_id, msgs, where, category=self.category, references=refs)
        if self.text is not None and self.text != p.text:
            raise PoolError(f"{where}: field 'text': expected the conversation's first user turn (or no 'text'), got another text")
        return p


class NativeOutput(Row):
    """A line of a native `outputs/<model>.jsonl`: `output`, or `turns` (one answer per answered turn)."""

    prompt_id: Id
    output: Text | None = None
    turns: list[Text] | None = None

    def answer_turns(self, where: str) -> list[str]:
        if self.turns is not None:
            return self.turns
        if self.output is None:
            raise PoolError(f"{where}: missing field 'output'")
        return [self.output]


class ExportRow(NativePrompt):
    """A line of `arena pool export --format jsonl`: a prompt and every model's answer (a list of
    turns for a conversation)."""

    outputs: dict[Name, Text | list[Text]]


class AlpacaEvalRow(Row):
    """An item of AlpacaEval's `model_outputs.json`."""

    what: ClassVar[str] = "{instruction, output, generator}"

    instruction: Text
    output: Text
    generator: Name
    dataset: OptText = None

    def parts(self) -> tuple[str, str, str, str | None]:
        """(model, prompt text, answer, category)."""
        return self.generator, self.instruction, self.output, self.dataset


class VarcoRow(Row):
    """A line of a Varco Arena / Arena-Lite file (one file per model)."""

    model_id: Name
    instruction: Text
    generated: Text
    task: OptText = None

    def parts(self) -> tuple[str, str, str, str | None]:
        """(model, prompt text, answer, category)."""
        return self.model_id, self.instruction, self.generated, self.task


class Turn(Row):
    content: Text


TurnItem = Text | Turn  # MT-Bench writes turns as strings, Arena-Hard v0.1 as {"content": ...}


_REPLACE = ("replace=True", "--replace")  # how a refusal names the option: Python argument, CLI option (arena.errors.naming_options)

def _turn_text(t: str | Turn) -> str:
    return t if isinstance(t, str) else t.content


class AnswerContent(Row):
    answer: Text


class Message(Row):
    role: Text
    content: Text | AnswerContent | None = None


class Choice(Row):
    turns: list[TurnItem]


class ArenaHardQuestion(Row):
    """A line of Arena-Hard's `question.jsonl` (v0.1: `question_id` + `turns`; v2: `uid` + `prompt`)."""

    question_id: Id = Field(validation_alias=AliasChoices("question_id", "uid"))
    turns: list[TurnItem] | None = None
    prompt: Text | None = None
    category: OptText = None
    subcategory: OptText = None


class ArenaHardAnswer(Row):
    """A line of Arena-Hard's `model_answer/<model>.jsonl` (`choices[0].turns` or chat `messages`)."""

    question_id: Id = Field(validation_alias=AliasChoices("question_id", "uid"))
    model_id: Name | None = Field(None, validation_alias=AliasChoices("model_id", "model"))
    choices: list[Choice] | None = None
    messages: list[Message] | None = None


def prompt_difference(known: Prompt, new: Prompt) -> str | None:
    """What makes `new` another question than `known` (same prompt id), or None when it is the same one.

    Compared: the roles and the text of every message (a single-turn prompt is one user message),
    each on `arena.io.prompt_key` (NFC, whitespace collapsed), as `pool import` matches texts.
    Not compared: category and references (an import may add or correct them). Returns a phrase
    such as "a different text (turn 1)" or "2 user turns (this one has 1)"."""
    a = known.messages or (ChatMessage("user", known.text),)
    b = new.messages or (ChatMessage("user", new.text),)
    ua = [m for m in a if m.role == "user"]
    ub = [m for m in b if m.role == "user"]
    if len(ua) != len(ub):
        return f"{len(ua)} user turn{'s' * (len(ua) != 1)} (this one has {len(ub)})"
    for k, (x, y) in enumerate(zip(ua, ub, strict=True), 1):
        if prompt_key(x.content) != prompt_key(y.content):
            return f"a different text (user turn {k} differs)" if len(ua) > 1 else "a different text"
    if [m.role for m in a] != [m.role for m in b] or any(prompt_key(x.content) != prompt_key(y.content) for x, y in zip(a, b, strict=True)):
        return "a different system message or fixed assistant turns"
    return None


def text_id(text: str, prefix: str = "p") -> str:
    """A stable prompt id from its text, for formats that have none (AlpacaEval, Varco)."""
    return f"{prefix}-{hashlib.sha256(text.strip().encode('utf-8')).hexdigest()[:12]}"


class _Builder:
    """Collects prompts and outputs while checking duplicates and unknown prompts.

    Prompts are matched on `arena.io.prompt_key` (NFC, whitespace collapsed). `origin` records
    which model's file introduced a prompt (None: a prompt file or the store), for `overlap`.
    """

    def __init__(self, known: Sequence[Prompt] = (), known_models: Sequence[str] = ()) -> None:
        self.prompts: list[Prompt] = []
        self.prompt_where: dict[str, str] = {}
        self.by_text: dict[str, str] = {}
        self.known_ids = {p.prompt_id for p in known}
        self.known = {p.prompt_id: p for p in known}
        self.known_order = [p.prompt_id for p in known]
        for p in known:
            self.by_text.setdefault(prompt_key(p.text), p.prompt_id)
        self.origin: dict[str, str | None] = {}
        self.known_models = set(known_models)
        self.outputs: dict[tuple[str, str], Output] = {}
        self.output_where: dict[tuple[str, str], str] = {}
        self.model_source: dict[str, str] = {}
        self.n_turns = {p.prompt_id: p.n_turns for p in known}
        self.prompt_extra: dict[str, dict] = {}
        self.output_extra: dict[tuple[str, str], dict] = {}

    def add_prompt(self, p: Prompt, where: str, origin: str | None = None) -> None:
        if p.prompt_id in self.prompt_where:
            raise PoolError(f"{where}: duplicate prompt_id {p.prompt_id!r} (first at {self.prompt_where[p.prompt_id]})")
        known = self.known.get(p.prompt_id)
        if known is not None:
            diff = prompt_difference(known, p)
            if diff:
                raise naming_options(
                    PoolError, f"{where}: prompt_id {p.prompt_id!r} is already in the pool with {diff}; give this prompt another id,"
                    " or pass <replace> to re-import the whole pool", replace=_REPLACE,
                )
        self.prompt_where[p.prompt_id] = where
        self.n_turns.setdefault(p.prompt_id, p.n_turns)
        self.by_text.setdefault(prompt_key(p.text), p.prompt_id)
        if p.prompt_id not in self.known_ids:
            self.prompts.append(p)
            self.origin[p.prompt_id] = origin

    def match_text(self, text: str, where: str, model: str, prefix: str, category: str | None) -> str:
        """The id of the prompt with this text (on the normalised key), adding it if new."""
        pid = self.by_text.get(prompt_key(text))
        if pid is None:
            pid = text_id(text, prefix)
            self.add_prompt(Prompt(pid, text, category), where, origin=model)
        return pid

    def has_prompt(self, prompt_id: str) -> bool:
        return prompt_id in self.prompt_where or prompt_id in self.known_ids

    def claim_model(self, model: str, source: str) -> None:
        """A model's answers must come from one file; a second file for it is an error."""
        if model in self.known_models:
            raise naming_options(PoolError, f"{source}: model {model!r} is already in the pool (use <replace> to re-import the pool)", replace=_REPLACE)
        prev = self.model_source.get(model)
        if prev is not None and prev != source:
            raise PoolError(f"{source}: model {model!r} appears twice (also in {prev})")
        self.model_source[model] = source

    def add_output(self, o: Output, where: str) -> None:
        key = (o.model, o.prompt_id)
        if key in self.output_where:
            raise PoolError(
                f"{where}: model {o.model!r} answers prompt {o.prompt_id!r} twice (first at {self.output_where[key]})"
            )
        if not self.has_prompt(o.prompt_id):
            raise PoolError(f"{where}: prompt_id {o.prompt_id!r} is not in the pool's prompts")
        make_output(self.n_turns.get(o.prompt_id, 1), o.prompt_id, o.model, o.all_turns, where)  # the turn count
        self.output_where[key] = where
        self.outputs[key] = o

    def add_output_turns(self, prompt_id: str, model: str, turns: Sequence[str], where: str) -> None:
        """Add a model's answer given as its turns (one per answered user turn of the prompt)."""
        if not self.has_prompt(prompt_id):
            raise PoolError(f"{where}: prompt_id {prompt_id!r} is not in the pool's prompts")
        self.add_output(make_output(self.n_turns.get(prompt_id, 1), prompt_id, model, turns, where), where)

    def overlap(self) -> list[Overlap]:
        """Each imported model's overlap with the prompts it was expected to answer (see `Overlap`)."""
        answered: dict[str, set[str]] = {}
        for model, pid in self.outputs:
            answered.setdefault(pid, set()).add(model)
        all_ids = self.known_order + [p.prompt_id for p in self.prompts]
        rows = []
        for model in sorted({m for m, _ in self.outputs}):
            n_shared = matched = own = 0
            for pid in all_ids:
                by = answered.get(pid, set())
                if self.origin.get(pid) is None or len(by - {model}) > 0:
                    n_shared += 1
                    matched += model in by
                elif model in by:
                    own += 1
            rows.append(Overlap(model, self.model_source.get(model, ""), matched, n_shared, own))
        return rows

    def data(self, fmt: str, sources: list[str]) -> PoolData:
        return PoolData(self.prompts, list(self.outputs.values()), fmt, sources, self.overlap(), self.prompt_extra, self.output_extra)


@dataclass(frozen=True, slots=True)
class Overlap:
    """How many of the pool's prompts an imported model answers.

    `prompts`: the pool's prompts this model could be matched against: those in the store or in
    a prompt file (`prompts.jsonl`, `question.jsonl`, an export), and those another model's file
    brought (AlpacaEval and Varco files carry their own prompt texts). `matched`: how many of
    them it answers. `own`: prompts only this model's file has (its texts matched no other).
    """

    model: str
    source: str
    matched: int
    prompts: int
    own: int

    @property
    def partial(self) -> bool:
        """Fewer than half of the pool's prompts matched (a first model alone is never partial)."""
        return self.prompts > 0 and 2 * self.matched < self.prompts

    def line(self) -> str:
        if self.prompts == 0:
            return f"{self.model}: {self.own} prompt{'s' * (self.own != 1)} (the first model of the pool)"
        pct = 100 * self.matched // self.prompts  # floored: 804 of 805 is 99%, not 100%
        extra = f"; {self.own} prompt{'s' * (self.own != 1)} of its own matched no other file" if self.own else ""
        return f"{self.model}: answers {self.matched} of the pool's {self.prompts} prompts ({pct}%){extra}"


# -- formats ---------------------------------------------------------------------------------


def read_native(path: Path, b: _Builder) -> list[str]:
    """A folder with prompts.jsonl and outputs/<model>.jsonl (or a prompts.jsonl path)."""
    folder = path if path.is_dir() else path.parent
    prompts_file = folder / "prompts.jsonl"
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    if not prompts_file.exists():
        raise PoolError(f"{folder}: expected prompts.jsonl in the native pool folder")
    for rec in iter_records(prompts_file, "jsonl"):
        b.add_prompt(NativePrompt.parse(rec).prompt(rec.where), rec.where)
    out_dir = folder / "outputs"
    files = sorted(out_dir.glob("*.jsonl")) if out_dir.is_dir() else []
    names = _model_map(out_dir / MODEL_MAP)
    for f in files:
        model = check_name(names.get(f.name, f.stem), str(f), "model name (the file's name, or models.json)")
        b.claim_model(model, str(f))
        for rec in iter_records(f, "jsonl"):
            row = NativeOutput.parse(rec)
            b.add_output_turns(row.prompt_id, model, row.answer_turns(rec.where), rec.where)
    return [str(prompts_file), *map(str, files)]


MODEL_MAP = "models.json"


def _model_map(path: Path) -> dict[str, str]:
    """A native folder's `outputs/models.json`: {file name: model name} for files named by a slug."""
    if not path.exists():
        return {}
    obj = loads(read_text(path, expected="a JSON object"), path)
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in obj.items()):
        raise PoolError(f"{path}: expected a JSON object mapping file names to model names (strings)")
    return obj


def read_alpaca_eval(path: Path, b: _Builder) -> list[str]:
    """AlpacaEval model_outputs.json (a list of {instruction, output, generator, dataset})."""
    files = sorted(path.glob("*.json*")) if path.is_dir() else [path]
    if not files:
        raise PoolError(f"{path}: no .json files in this folder")
    _read_text_matched(files, b, AlpacaEvalRow, "json", "ae")
    return [str(f) for f in files]


def _read_text_matched(files: list[Path], b: _Builder, row_model: type[AlpacaEvalRow | VarcoRow], fmt, prefix: str) -> None:
    """Files whose records carry their prompt's text (AlpacaEval, Varco): prompts matched on it."""
    for f in files:
        for rec in iter_records(f, fmt, what=row_model.what):
            model, text, answer, category = row_model.parse(rec).parts()
            b.claim_model(model, str(f))
            pid = b.match_text(text, rec.where, model, prefix, category)
            b.add_output(Output(pid, model, answer), rec.where)


def _arena_hard_turns(row: ArenaHardAnswer, where: str, user_turns: Sequence[str] | None) -> list[str]:
    """A model's answer turns from `choices[0].turns`, or the assistant turns of chat `messages`
    (roles must alternate; the user turns, when the question is known, must be the question's)."""
    if row.choices is not None:
        if not row.choices:
            raise PoolError(f"{where}: field 'choices' must be a list whose first item has 'turns'")
        return [_turn_text(t) for t in row.choices[0].turns]
    if row.messages is None:
        raise PoolError(f"{where}: missing field 'choices' or 'messages' (the model's answer)")
    msgs = [m for m in row.messages if not (m.role == "system" and m is row.messages[0])]
    users, answers = [], []
    for i, m in enumerate(msgs):
        want = "user" if i % 2 == 0 else "assistant"
        if m.role != want:
            raise PoolError(f"{where}: messages: expected roles alternating user, assistant, ... (a system message only first); message {i + 1 + (len(row.messages) - len(msgs))} is {m.role!r}, expected {want!r}")
        text = m.content.answer if isinstance(m.content, AnswerContent) else m.content or ""
        (users if want == "user" else answers).append(text)
    if len(answers) != len(users):
        raise PoolError(f"{where}: messages: expected an assistant answer after each of the {len(users)} user turns, got {len(answers)}")
    if user_turns is not None and len(users) == len(user_turns):
        for k, (u, q) in enumerate(zip(users, user_turns, strict=True)):
            if prompt_key(u) != prompt_key(q):
                raise PoolError(f"{where}: messages: user turn {k + 1} differs from the question's turn {k + 1}")
    return answers


def read_arena_hard(path: Path, b: _Builder) -> list[str]:
    """An Arena-Hard folder: question.jsonl + model_answer/*.jsonl (several `turns`, or several
    user turns in `messages`, make a conversation)."""
    qfile = question_file(path, "Arena-Hard")
    folder = qfile.parent
    user_turns: dict[str, list[str]] = {}
    for rec in iter_records(qfile, "jsonl"):
        q = ArenaHardQuestion.parse(rec)
        if q.turns is not None:
            turns = [_turn_text(t) for t in q.turns]
        elif q.prompt is not None:
            turns = [q.prompt]
        else:
            raise PoolError(f"{rec.where}: missing field 'turns' or 'prompt' (the question)")
        if not turns:
            raise PoolError(f"{rec.where}: field 'turns': expected at least one user turn, got an empty list")
        b.add_prompt(make_prompt(q.question_id, user_messages(turns), rec.where, category=q.subcategory or q.category), rec.where)
        user_turns[q.question_id] = turns
    files = sorted((folder / "model_answer").glob("*.jsonl"))
    for f in files:
        for rec in iter_records(f, "jsonl"):
            row = ArenaHardAnswer.parse(rec)
            model = row.model_id or check_name(f.stem, str(f), "model name (the file's name)")
            b.claim_model(model, str(f))
            turns = _arena_hard_turns(row, rec.where, user_turns.get(row.question_id))
            b.add_output_turns(row.question_id, model, turns, rec.where)
    return [str(qfile), *map(str, files)]


def read_varco(path: Path, b: _Builder) -> list[str]:
    """Varco Arena / Arena-Lite: one jsonl per model (model_id, instruction, generated, task)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise PoolError(f"{path}: no .jsonl files in this folder")
    _read_text_matched(files, b, VarcoRow, "jsonl", "v")
    return [str(f) for f in files]


READERS = {
    "native": read_native,
    "alpaca_eval": read_alpaca_eval,
    "arena_hard": read_arena_hard,
    "mt_bench": read_mt_bench,
    "varco": read_varco,
    "jsonl": lambda path, b: read_export_jsonl(path, b),
}


def detect_format(path: Path) -> str:
    """Guess a path's format from its shape."""
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    folder = path if path.is_dir() else path.parent
    if (folder / "prompts.jsonl").exists() and (path.is_dir() or path.name == "prompts.jsonl"):
        return "native"
    if (folder / "question.jsonl").exists():
        from arena.conversations import is_mt_bench

        return "mt_bench" if is_mt_bench(folder) else "arena_hard"
    if folder.name == "model_answer" and path.is_file() and (folder.parent / "question.jsonl").exists():
        from arena.conversations import is_mt_bench

        if is_mt_bench(folder.parent):  # one model's MT-Bench answer file, listed after question.jsonl or added to a pool
            return "mt_bench"
    if path.is_dir():
        if any(path.glob("*.json")) or any(path.glob("*.json.gz")):
            return "alpaca_eval"
        if any(path.glob("*.jsonl")):
            return "varco"
    elif path.name.endswith((".json", ".json.gz")):
        return "alpaca_eval"
    elif path.suffix == ".jsonl":
        rec = next(iter_records(path, "jsonl"), None)
        first = rec.data if rec is not None else {}
        return "jsonl" if "outputs" in first and "prompt_id" in first else "varco"
    raise naming_options(PoolError, f"{path}: cannot tell its format; pass <format> one of {', '.join(FORMATS)}", format=("format=", "--format"))


def load_pool_files(
    paths: Sequence[str | Path],
    format: str | None = None,
    *,
    known_prompts: Sequence[Prompt] = (),
    known_models: Sequence[str] = (),
) -> PoolData:
    """Read and check pool files; `known_*` describe a pool being extended in the store.

    `paths` is a list of paths (a single `str`/`Path` is taken as a list of one; any other
    non-list raises `TypeError`)."""
    paths = _path_list(paths)
    if not paths:
        raise PoolError("no files given: expected at least one PATH")
    b = _Builder(known_prompts, known_models)
    sources: list[str] = []
    fmt_used = format
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise PoolError(f"{p}: no such file or directory")
        fmt = format or detect_format(p)
        if fmt not in READERS:
            raise naming_options(PoolError, f"<format>: {fmt!r} is not a pool format (expected one of {', '.join(FORMATS)})", format=("format", "--format"))
        fmt_used = fmt
        sources += READERS[fmt](p, b)
    return b.data(fmt_used or "native", sources)


def _path_list(paths) -> list[str | Path]:
    """`paths` as a list: one `str` or `Path` is a list of one (a `str` is never iterated by character)."""
    if isinstance(paths, (str, Path)):
        return [paths]
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, (str, Path)) for p in paths):
        raise TypeError(f"paths: expected a list of str or Path, got {type(paths).__name__}")
    return list(paths)


def import_pool(
    store,
    name: str,
    paths: Sequence[str | Path],
    format: str | None = None,
    *,
    replace: bool = False,
    allow_partial: bool = False,
) -> PoolData:
    """Read files and write them as pool `name`, all or nothing. Adds models to an existing pool.

    Returns the `PoolData` read, with each imported model's `overlap` with the pool's prompts.
    Raises `PoolError` (a `RecordError`, `BadInput`) for any bad record, and when a model
    answers fewer than half of the pool's prompts (`Overlap.partial`: its prompt texts likely
    differ from the others') unless `allow_partial`; the store is then left untouched.
    """
    from arena.names import require_name

    require_name(name, "a pool name", ("name", "--name"))
    paths = _path_list(paths)
    known_prompts: list[Prompt] = []
    known_models: list[str] = []
    if store.pool_exists(name) and not replace:
        known_prompts = store.prompts(name)
        known_models = store.models(name)
    data = load_pool_files(paths, format, known_prompts=known_prompts, known_models=known_models)
    if not data.prompts and not known_prompts:
        raise PoolError(f"{', '.join(map(str, paths))}: no prompts found")
    partial = [o for o in data.overlap if o.partial]
    if partial and not allow_partial:
        o = partial[0]
        raise naming_options(
            PoolError, f"{o.source}: model {o.model!r} answers only {o.matched} of the pool's {o.prompts} prompts"
            f"{f' ({o.own} of its prompts match no other file)' if o.own else ''}; check that the files hold"
            " the same prompts, or pass <allow_partial> to import it anyway", allow_partial=("allow_partial=True", "--allow-partial"),
        )
    store.write_pool(
        name, data.prompts, data.outputs, source=";".join(data.sources), format=data.format, replace=replace,
        prompt_extra=data.prompt_extra, output_extra=data.output_extra,
    )
    return data


def pool_fingerprint(data: PoolData) -> str:
    """A hash of a pool's content, to tell whether files changed since they were imported."""
    from arena.answers import hash_output, hash_prompts

    h = hashlib.sha256()
    hash_prompts(h, data.prompts)
    for o in sorted(data.outputs, key=lambda o: (o.model, o.prompt_id)):
        hash_output(h, o.model, o.prompt_id, o.text, o.turns)
    return h.hexdigest()[:16]


# -- summaries and export ----------------------------------------------------------------------


@dataclass(slots=True)
class Coverage:
    """One model's coverage of a pool. `answers`: prompts answered on every turn; `missing`: prompts
    not answered, or (a conversation) not on every turn; `empty`: answered, but some turn is blank."""

    model: str
    answers: int
    missing: list[str]
    empty: list[str]


def coverage(prompts: Sequence[Prompt], outputs: Sequence[Output]) -> list[Coverage]:
    """Which model lacks an answer to which prompt, and which answers are empty. A conversation counts
    as answered only when every answered turn is (`arena.conversations.answered`)."""
    from arena.conversations import answered

    by_model: dict[str, dict[str, Output]] = {}
    for o in outputs:
        by_model.setdefault(o.model, {})[o.prompt_id] = o
    rows = []
    for model in sorted(by_model):
        answers = by_model[model]
        done = [p.prompt_id for p in prompts if answered(p, answers.get(p.prompt_id))]
        done_set = set(done)
        rows.append(
            Coverage(
                model,
                len(done),
                [p.prompt_id for p in prompts if p.prompt_id not in done_set],
                [pid for pid in done if any(not t.strip() for t in answers[pid].all_turns)],
            )
        )
    return rows


def turn_counts(prompts: Sequence[Prompt]) -> dict[int, int]:
    """{answered turns: prompts}, e.g. {1: 30, 2: 80}: how many prompts have how many turns."""
    from collections import Counter

    return dict(sorted(Counter(p.n_turns for p in prompts).items()))


def prompt_row(p: Prompt) -> dict:
    """A prompt as the native and jsonl formats write it (`turns`/`messages`, `references` for a conversation)."""
    row: dict = {"prompt_id": p.prompt_id, "text": p.text}
    if p.category is not None:
        row["category"] = p.category
    if p.reference is not None:
        row["reference"] = p.reference
    if p.messages:
        if all(m.role == "user" for m in p.messages):
            row["turns"] = list(p.user_turns)
        else:
            row["messages"] = file_rows(p.messages)
        if p.references:
            row["references"] = list(p.references)
    return row


def export_jsonl(prompts: Sequence[Prompt], outputs: Sequence[Output]) -> Iterator[str]:
    """One JSON line per prompt, with every model's answer: `{prompt_id, text, category, reference, outputs: {model: text}}`."""
    by_prompt: dict[str, dict[str, str | list[str]]] = {}
    for o in outputs:
        by_prompt.setdefault(o.prompt_id, {})[o.model] = list(o.turns) if o.turns else o.text
    for p in prompts:
        row = {"prompt_id": p.prompt_id, "text": p.text, "category": p.category, "reference": p.reference} | prompt_row(p)
        row["outputs"] = dict(sorted(by_prompt.get(p.prompt_id, {}).items()))
        yield json.dumps(row, ensure_ascii=False)


def refuse_stale_files(out: Path, rels: Sequence[str]) -> None:
    """`BadInput` when folder `out` holds a file not in `rels` (paths relative to `out`, `/`-separated):
    an export into a folder that holds an older export's files would leave them beside the new ones,
    and every reader of the folder (the peers', `pool import`) would take them for part of it."""
    if not out.is_dir():
        return
    wanted = set(rels)
    stale = sorted(f.relative_to(out).as_posix() for f in out.rglob("*") if f.is_file() and f.relative_to(out).as_posix() not in wanted)
    if stale:
        raise naming_options(
            BadInput, f"<out>: the folder holds {len(stale)} file{'s' * (len(stale) != 1)} this export does not write"
            f" ({stale[0]}{', ...' if len(stale) > 1 else ''}), which a reader of the folder would take for part of it;"
            " expected a new or empty folder (or one holding only an earlier export of the same pool)",
            out=(str(out), f"--out {out}"),
        )


def write_native(folder: Path, prompts: Sequence[Prompt], outputs: Sequence[Output]) -> None:
    """Write a pool as a native folder (prompts.jsonl + outputs/<model>.jsonl). `BadInput` before
    anything is written when the folder holds other files (`refuse_stale_files`)."""
    models = sorted({o.model for o in outputs})
    refuse_stale_files(folder, ["prompts.jsonl", f"outputs/{MODEL_MAP}", *(f"outputs/{s}.jsonl" for s in slug_map(models).values())])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "prompts.jsonl", "w", encoding="utf-8") as f:
        for p in prompts:
            f.write(json.dumps(prompt_row(p), ensure_ascii=False) + "\n")
    (folder / "outputs").mkdir(exist_ok=True)
    by_model: dict[str, list[Output]] = {}
    for o in outputs:
        by_model.setdefault(o.model, []).append(o)
    order = {p.prompt_id: i for i, p in enumerate(prompts)}
    # model names are data, not paths: files are named by a slug, and models.json maps back
    slugs = slug_map(by_model)
    for model, rows in by_model.items():
        rows.sort(key=lambda o: order.get(o.prompt_id, 1 << 30))
        with open(folder / "outputs" / f"{slugs[model]}.jsonl", "w", encoding="utf-8") as f:
            for o in rows:
                answer = {"turns": list(o.turns)} if o.turns else {"output": o.text}
                f.write(json.dumps({"prompt_id": o.prompt_id, **answer}, ensure_ascii=False) + "\n")
    mapping = {f"{s}.jsonl": m for m, s in sorted(slugs.items()) if s != m}
    map_file = folder / "outputs" / MODEL_MAP
    if mapping:
        map_file.write_text(json.dumps(mapping, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    elif map_file.exists():
        map_file.unlink()


def read_export_jsonl(path: Path, b: _Builder) -> list[str]:
    """The `jsonl` format: what `arena pool export --format jsonl` wrote, one prompt a line with every answer."""
    if path.is_dir():
        raise PoolError(f"{path}: is a folder, expected the .jsonl file that `arena pool export` wrote")
    for rec in iter_records(path, "jsonl"):
        row = ExportRow.parse(rec)
        b.add_prompt(row.prompt(rec.where), rec.where)
        for model, answer in row.outputs.items():
            b.claim_model(model, str(path))
            b.add_output_turns(row.prompt_id, model, [answer] if isinstance(answer, str) else answer, rec.where)
    return [str(path)]
