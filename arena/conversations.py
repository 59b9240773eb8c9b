"""Conversations as data: building and checking multi-turn prompts and answers, their store columns,
and the MT-Bench pool format (lm-sys/FastChat `fastchat/llm_judge`).

A conversation prompt (`arena.records.Prompt` with `messages`) is an optional system message, then
user turns, each either answered by the model or followed by a fixed assistant turn the pool gives.
A model's answer (`Output.turns`) holds one assistant turn per answered user turn, each written after
the model's own earlier answers (MT-Bench's `gen_model_answer.py`). Single-turn prompts keep
`messages == ()` and `turns == ()`: the store and every single-turn path see no change.

Checks (each a `PoolError`, one line `file:line: what was expected`, before anything is stored):
roles alternate (system first if any, then user, assistant, user...; the last message a user turn),
no user turn is empty, an answer has exactly as many turns as the question answers, and references
name no turn the question lacks. An empty *answer* turn is kept (a model may answer nothing: the
coverage table counts it as empty, as for single-turn answers).

Store columns (schema 5, `arena.migrations.v4_to_v5`): `prompts.messages` (JSON list of
`{role, content}`), `prompts.turn_references` (JSON list, null items), `outputs.turns` (JSON list),
and `extra` on both: peer fields the records do not model (MT-Bench's `answer_id`, `tstamp`,
integer `question_id`...) kept so an export writes the peer's records back unchanged.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field

from arena.errors import PoolError
from arena.io import Id, Name, OptText, Row, Text, check_name, iter_records
from arena.records import ROLES, Message, Output, Prompt, answered_turns

# -- building and checking -----------------------------------------------------------------------


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: only whitespace and invisible format or control characters
    (zero-width space U+200B, zero-width joiner, word joiner, BOM: Unicode categories Cf and Cc)."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc") for ch in text)


def check_messages(messages: Sequence[Message], where: str) -> None:
    """Raise `PoolError` unless `messages` is a conversation a model can answer.

    Expected: every role one of `system`, `user`, `assistant` (an unknown one is named); an optional
    leading system message, then user turns, each followed by at most one fixed assistant turn (a
    user turn followed directly by the next user turn is one the model answers), ending with a user
    turn; no user turn empty or invisible (`is_blank`). Two assistant turns in a row, an assistant
    turn first, or a system message after the first are roles that do not alternate.
    `where` is `file:line`."""
    for i, m in enumerate(messages):
        if m.role not in ROLES:
            raise PoolError(f"{where}: message {i + 1}: expected role 'system', 'user' or 'assistant', got {m.role!r}")
    if not any(m.role == "user" for m in messages):
        raise PoolError(f"{where}: expected at least one user turn, got {'an empty conversation' if not messages else 'none'}")
    prev = None
    for i, m in enumerate(messages):
        if m.role == "system" and i > 0:
            raise PoolError(f"{where}: message {i + 1}: expected a user or assistant turn (a system message only first), got 'system'")
        if m.role == "assistant" and prev != "user":
            raise PoolError(
                f"{where}: message {i + 1}: expected a user turn (roles must alternate: an assistant turn follows a user turn), got 'assistant'"
            )
        if m.role == "user" and is_blank(m.content):
            raise PoolError(f"{where}: user turn {_user_number(messages, i)}: expected a non-empty user turn (it is empty or shows only invisible characters)")
        prev = m.role
    if messages[-1].role != "user":
        raise PoolError(f"{where}: expected the conversation to end with a user turn (the one the model answers), got {messages[-1].role!r}")


def file_messages(rows: Sequence[tuple[str, str | None]], where: str) -> tuple[Message, ...]:
    """A conversation's messages as native and jsonl files give them (`[{role, content}, ...]`, OpenAI
    chat format) turned into `Message`s, checked (`check_messages`).

    In a file, roles alternate strictly: an optional system message, then user, assistant, user, ...,
    ending with a user turn. An assistant message is a fixed turn the pool gives, or, with `"content":
    null`, a turn the model answers (how a file says that the model answers a user turn that is not the
    last). `file_rows` writes them so. Raises `PoolError` naming the message."""
    out: list[Message] = []
    prev = None
    for i, (role, content) in enumerate(rows, 1):
        if role not in ROLES:
            raise PoolError(f"{where}: message {i}: expected role 'system', 'user' or 'assistant', got {role!r}")
        if role == "system":
            if i > 1:
                raise PoolError(f"{where}: message {i}: expected a user or assistant turn (a system message only first), got 'system'")
        else:
            want = "assistant" if prev == "user" else "user"
            if role != want:
                raise PoolError(
                    f"{where}: message {i}: expected {'an assistant' if want == 'assistant' else 'a user'} turn (roles must alternate: an optional system message, then user,"
                    f" assistant, user, ...; an assistant message with content null is a turn the model answers), got {role!r}"
                )
        prev = role
        if content is None:
            if role != "assistant":
                raise PoolError(f"{where}: message {i}: content null is only for an assistant turn the model answers; a {role} message needs a text")
            continue
        out.append(Message(role, content))
    msgs = tuple(out)
    check_messages(msgs, where)
    return msgs


def file_rows(messages: Sequence[Message]) -> list[dict[str, str | None]]:
    """`messages` as native and jsonl files write them (`file_messages` reads them back): an
    `{"role": "assistant", "content": null}` after each user turn the model answers but the last."""
    rows: list[dict[str, str | None]] = []
    for i, m in enumerate(messages):
        rows.append({"role": m.role, "content": m.content})
        if m.role == "user" and i + 1 < len(messages) and messages[i + 1].role == "user":
            rows.append({"role": "assistant", "content": None})
    return rows


def _user_number(messages: Sequence[Message], i: int) -> int:
    return sum(1 for m in messages[: i + 1] if m.role == "user")


def make_prompt(
    prompt_id: str,
    messages: Sequence[Message],
    where: str,
    *,
    category: str | None = None,
    references: Sequence[str | None] = (),
) -> Prompt:
    """A checked `Prompt` from a conversation's messages (see `check_messages`).

    One user message and nothing else gives a plain single-turn prompt (`messages == ()`).
    `references`: one per answered user turn (fewer is fine: the rest have none); empty strings
    become None. Raises `PoolError` for bad messages or a reference for a turn that does not exist."""
    messages = tuple(messages)
    check_messages(messages, where)
    n = len(answered_turns(messages))
    refs = tuple(r if r else None for r in references)
    if len(refs) > n:
        raise PoolError(
            f"{where}: expected at most {n} reference{'s' * (n != 1)} (one per answered user turn), got {len(refs)}:"
            f" a reference for turn {len(refs)}, which the conversation does not have"
        )
    refs = refs + (None,) * (n - len(refs)) if any(r is not None for r in refs) else ()
    first_ref = refs[0] if refs else None
    text = next(m.content for m in messages if m.role == "user")
    if len(messages) == 1:
        return Prompt(prompt_id, text, category, first_ref)
    return Prompt(prompt_id, text, category, first_ref, messages, refs)


def user_messages(turns: Sequence[str]) -> tuple[Message, ...]:
    """User turns as messages (MT-Bench's `turns`: no system message, no fixed assistant turn)."""
    return tuple(Message("user", t) for t in turns)


def make_output(prompt: Prompt | int, prompt_id: str, model: str, turns: Sequence[str], where: str) -> Output:
    """A checked `Output`: `turns` must hold one answer per answered user turn of the prompt
    (`prompt` or its `n_turns`). Raises `PoolError` naming the counts."""
    n = prompt if isinstance(prompt, int) else prompt.n_turns
    if len(turns) != n:
        raise PoolError(
            f"{where}: expected {n} answer turn{'s' * (n != 1)} (the question of {prompt_id!r} has {n} answered"
            f" user turn{'s' * (n != 1)}), got {len(turns)}"
        )
    if n == 1:
        return Output(prompt_id, model, turns[0])
    return Output(prompt_id, model, turns[0], tuple(turns))


def conversation(prompt: Prompt, answer_turns: Sequence[str] = ()) -> list[dict[str, str]]:
    """The chat messages of `prompt` with the model's first `len(answer_turns)` answers placed after
    their user turns, cut after the next user turn to answer: the request for answer turn
    `len(answer_turns) + 1` (OpenAI chat format). Raises ValueError when every turn is answered."""
    if not prompt.messages:
        if answer_turns:
            raise ValueError("a single-turn prompt has one answer turn")
        return [{"role": "user", "content": prompt.text}]
    answered = answered_turns(prompt.messages)
    k = len(answer_turns)
    if k >= len(answered):
        raise ValueError(f"the conversation has {len(answered)} answered turns, {k} already given")
    out: list[dict[str, str]] = []
    given = iter(answer_turns)
    for i, m in enumerate(prompt.messages[: answered[k] + 1]):
        out.append({"role": m.role, "content": m.content})
        if i in answered[:k]:
            out.append({"role": "assistant", "content": next(given)})
    return out


def dialogue(prompt: Prompt, answer_turns: Sequence[str]) -> list[dict[str, str]]:
    """The whole conversation as one side had it (OpenAI chat format, as Chatbot Arena's
    `conversation_a` holds it): the prompt's messages (system, user turns, fixed assistant turns)
    with the model's answer after each user turn it answered (those it has)."""
    messages = prompt.messages or (Message("user", prompt.text),)
    answered = answered_turns(messages)
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        out.append({"role": m.role, "content": m.content})
        k = answered.index(i) if i in answered else -1
        if 0 <= k < len(answer_turns):
            out.append({"role": "assistant", "content": answer_turns[k]})
    return out


def answered(prompt: Prompt, output: Output | None) -> bool:
    """True when `output` answers every answered turn of `prompt` (coverage counts nothing less)."""
    return output is not None and len(output.all_turns) == prompt.n_turns


# -- store columns -------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def prompt_columns(p: Prompt) -> tuple[str | None, str | None]:
    """(`messages`, `turn_references`) column values of a prompt; None for a single-turn one."""
    msgs = _dumps([{"role": m.role, "content": m.content} for m in p.messages]) if p.messages else None
    return msgs, (_dumps(list(p.references)) if p.references else None)


def output_columns(o: Output) -> str | None:
    """The `turns` column of an output; None for a single-turn answer."""
    return _dumps(list(o.turns)) if o.turns else None


def dump_extra(extra: dict | None) -> str | None:
    return None if not extra else _dumps(extra)


def prompt_of_row(r: dict) -> Prompt:
    """A `Prompt` from a prompts row (columns prompt_id, text, category, reference, messages, turn_references)."""
    msgs = r.get("messages")
    if not msgs:
        return Prompt(r["prompt_id"], r["text"], r["category"], r["reference"])
    messages = tuple(Message(m["role"], m["content"]) for m in json.loads(msgs))
    refs = tuple(json.loads(r["turn_references"])) if r.get("turn_references") else ()
    return Prompt(r["prompt_id"], r["text"], r["category"], r["reference"], messages, refs)


def output_of_row(r: dict) -> Output:
    """An `Output` from an outputs row (columns prompt_id, model, text, turns)."""
    turns = r.get("turns")
    return Output(r["prompt_id"], r["model"], r["text"], tuple(json.loads(turns)) if turns else ())


# -- MT-Bench ----------------------------------------------------------------------------------


class MTBenchQuestion(Row):
    """A line of MT-Bench's `question.jsonl`: `{question_id, category, turns: [str, ...], reference?}`."""

    question_id: Id
    category: OptText = None
    turns: list[Text]
    reference: list[Text] | None = None


class MTBenchChoice(Row):
    index: int = 0
    turns: list[Text]


class MTBenchAnswer(Row):
    """A line of `model_answer/<model>.jsonl` or `reference_answer/<judge>.jsonl`:
    `{question_id, answer_id, model_id, choices: [{index, turns: [str, ...]}], tstamp}`."""

    question_id: Id
    model_id: Name | None = Field(None, validation_alias=AliasChoices("model_id", "model"))
    choices: list[MTBenchChoice]


def _blank_turns(data: dict, *, in_choice: bool) -> dict:
    """The record with its turns replaced by None (kept in place, so key order survives): the peer
    fields `extra` keeps; the turns themselves live in the records."""
    out = dict(data)
    if in_choice:
        choices = [dict(c) for c in out["choices"]]
        choices[0]["turns"] = None
        out["choices"] = choices
    else:
        out["turns"] = None
    return out


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted({*folder.glob(pattern + ".jsonl"), *folder.glob(pattern + ".jsonl.gz")})


def question_file(path: Path, what: str) -> Path:
    """The `question.jsonl` of a FastChat-style folder (MT-Bench, Arena-Hard) given the folder or a
    file in it; `PoolError` when absent."""
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    folder = path if path.is_dir() else path.parent
    qfile = folder / "question.jsonl"
    if not qfile.exists():
        raise PoolError(f"{folder}: expected question.jsonl in the {what} folder")
    return qfile


def read_mt_bench(path: Path, b) -> list[str]:
    """MT-Bench files (FastChat's `data/mt_bench`), in one of three forms:

    - the folder: `question.jsonl`, every `model_answer/*.jsonl[.gz]` and the reference answers
      (`reference_answer/*.jsonl` or `reference_answer_*.jsonl`);
    - its `question.jsonl` path: the questions and their folder's reference answers, no model answers
      (list the answer files to import after it: `question.jsonl model_answer/a.jsonl`);
    - an answer file (`model_answer/<model>.jsonl[.gz]`): one model's answers to questions read
      before it or already in the pool.

    References per turn come from the reference-answer files (what FastChat's `gen_judgment.py`
    gives the judge); a question that none covers keeps its own `reference` list, if any. `b` is
    `arena.pools._Builder`. Returns the files read; raises `PoolError`/`RecordError`."""
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    if path.is_dir():
        qfile = question_file(path, "MT-Bench")
        answer_files = _files(path / "model_answer", "*")
        sources = read_mt_bench_questions(qfile, b)
        for f in answer_files:
            read_mt_bench_answers(f, b)
        return [*sources, *map(str, answer_files)]
    if path.name == "question.jsonl":
        return read_mt_bench_questions(path, b)
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        read_mt_bench_answers(path, b)
        return [str(path)]
    raise PoolError(f"{path}: expected an MT-Bench folder, its question.jsonl or a model_answer/<model>.jsonl[.gz] file")


def read_mt_bench_questions(qfile: Path, b) -> list[str]:
    """MT-Bench's `question.jsonl` and the reference answers of its folder (see `read_mt_bench`)."""
    folder = qfile.parent
    questions: dict[str, tuple[MTBenchQuestion, dict, str]] = {}
    for rec in iter_records(qfile, "jsonl"):
        q = MTBenchQuestion.parse(rec)
        if q.question_id in questions:
            raise PoolError(f"{rec.where}: duplicate question_id {q.question_id!r} (first at {questions[q.question_id][2]})")
        questions[q.question_id] = (q, rec.data, rec.where)
    ref_files = _files(folder / "reference_answer", "*") + _files(folder, "reference_answer_*")
    refs: dict[str, tuple[list[str], dict, str]] = {}
    for f in ref_files:
        for rec in iter_records(f, "jsonl"):
            r = MTBenchAnswer.parse(rec)
            if r.question_id not in questions:
                raise PoolError(f"{rec.where}: reference for question_id {r.question_id!r}, which is not in {qfile}")
            if r.question_id in refs:
                raise PoolError(f"{rec.where}: a second reference for question_id {r.question_id!r} (first at {refs[r.question_id][2]})")
            if not r.choices:
                raise PoolError(f"{rec.where}: field 'choices' must be a list whose first item has 'turns'")
            refs[r.question_id] = (list(r.choices[0].turns), _blank_turns(rec.data, in_choice=True), rec.where)
    for qid, (q, data, where) in questions.items():
        if q.reference is not None and len(q.reference) > len(q.turns):  # checked even where a reference file wins
            make_prompt(qid, user_messages(q.turns), where, references=q.reference)
        extra: dict[str, Any] = {"question": _blank_turns(data, in_choice=False)}
        if qid in refs:
            turns, ref_data, ref_where = refs[qid]
            if len(turns) > len(q.turns):
                raise PoolError(
                    f"{ref_where}: expected at most {len(q.turns)} reference turns (question {qid!r} has"
                    f" {len(q.turns)} user turns), got {len(turns)}"
                )
            extra["reference_answer"] = ref_data
            p = make_prompt(qid, user_messages(q.turns), where, category=q.category, references=turns)
        else:
            p = make_prompt(qid, user_messages(q.turns), where, category=q.category, references=q.reference or ())
        b.add_prompt(p, where)
        b.prompt_extra[qid] = extra
    return [str(qfile), *map(str, ref_files)]


def read_mt_bench_answers(f: Path, b) -> None:
    """One model's MT-Bench answer file (see `read_mt_bench`). The model is the file's name, as
    FastChat's `load_model_answers` reads it: `model_id` inside may differ (vicuna-33b-v1.3.jsonl says
    "vicuna-30b-gpt4") and is kept as a peer field. A file named by `arena.names.slug` of a model name
    that is not a file name (`hosted_vllm/gen1` -> `hosted_vllm-gen1-<hash>.jsonl`, what `pool export`
    writes) gives back that name when every record's `model_id` is it."""
    from arena.names import slug

    recs = list(iter_records(f, "jsonl"))
    stem = _stem(f)
    ids = {r.data.get("model_id") for r in recs}
    named = next(iter(ids)) if len(ids) == 1 else None
    model = named if isinstance(named, str) and named != stem and slug(named) == stem else stem
    model = check_name(model, str(f), "model name (the file's name)")
    b.claim_model(model, str(f))
    for rec in recs:
        a = MTBenchAnswer.parse(rec)
        if not a.choices:
            raise PoolError(f"{rec.where}: field 'choices' must be a list whose first item has 'turns'")
        b.add_output_turns(a.question_id, model, a.choices[0].turns, rec.where)
        b.output_extra[(model, a.question_id)] = _blank_turns(rec.data, in_choice=True)


def _stem(f: Path) -> str:
    name = f.name
    for suffix in (".jsonl.gz", ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return f.stem


def is_mt_bench(folder: Path) -> bool:
    """An Arena-Hard-shaped folder whose questions' turns are plain strings, several per question,
    or that has reference answers: MT-Bench's layout."""
    if (folder / "reference_answer").is_dir() or _files(folder, "reference_answer_*"):
        return True
    rec = next(iter_records(folder / "question.jsonl", "jsonl"), None)
    turns = rec.data.get("turns") if rec is not None else None
    return isinstance(turns, list) and len(turns) > 1 and all(isinstance(t, str) for t in turns)


def _qid(prompt_id: str) -> int | str:
    return int(prompt_id) if prompt_id.isdigit() and str(int(prompt_id)) == prompt_id else prompt_id


def _line(obj: dict) -> str:
    return json.dumps(obj) + "\n"  # FastChat writes json.dumps(obj) (ASCII escapes, ", " and ": ")


def mt_bench_files(
    prompts: Sequence[Prompt],
    outputs: Sequence[Output],
    prompt_extra: dict[str, dict] | None = None,
    output_extra: dict[tuple[str, str], dict] | None = None,
) -> Iterator[tuple[str, str]]:
    """A pool as MT-Bench files: yields (relative path, text) for `question.jsonl`,
    `reference_answer/<model_id>.jsonl` and `model_answer/<model>.jsonl` (file names slugged).

    Records imported from MT-Bench are written back as they were read (the peer fields kept in
    `extra`, the turns from the records): the same bytes as FastChat's `json.dumps` lines. Others
    get `{question_id, category, turns}` and `{question_id, answer_id, model_id, choices}`.
    Single-turn prompts are one-turn conversations; references without a reference file's record
    go to `reference_answer/reference.jsonl`."""
    from arena.names import slug

    pe, oe = prompt_extra or {}, output_extra or {}
    refuse_fixed_turns(prompts, "mt_bench")
    q_lines, ref_lines = [], {}
    for p in prompts:
        ex = pe.get(p.prompt_id, {})
        q = dict(ex.get("question") or {"question_id": _qid(p.prompt_id), "category": p.category or "", "turns": None})
        q["turns"] = list(p.user_turns)
        q_lines.append(_line(q))
        refs = p.references or ((p.reference,) if p.reference is not None else ())
        if "reference_answer" in ex:
            r = _with_turns(ex["reference_answer"], [x or "" for x in refs])
            ref_lines.setdefault(r.get("model_id") or "reference", []).append(_line(r))
        elif refs and "question" not in ex:
            r = {"question_id": _qid(p.prompt_id), "answer_id": _answer_id(p.prompt_id, "reference"), "model_id": "reference",
                 "choices": [{"index": 0, "turns": [x or "" for x in refs]}]}
            ref_lines.setdefault("reference", []).append(_line(r))
    yield "question.jsonl", "".join(q_lines)
    for judge, lines in ref_lines.items():
        yield f"reference_answer/{slug(judge)}.jsonl", "".join(lines)
    order = {p.prompt_id: i for i, p in enumerate(prompts)}
    by_model: dict[str, list[Output]] = {}
    for o in outputs:
        by_model.setdefault(o.model, []).append(o)
    for model, outs in by_model.items():
        outs.sort(key=lambda o: order.get(o.prompt_id, 1 << 30))
        lines = []
        for o in outs:
            ex = oe.get((model, o.prompt_id))
            base = ex or {"question_id": _qid(o.prompt_id), "answer_id": _answer_id(o.prompt_id, model), "model_id": model,
                          "choices": [{"index": 0, "turns": None}]}
            lines.append(_line(_with_turns(base, list(o.all_turns))))
        yield f"model_answer/{slug(model)}.jsonl", "".join(lines)


def refuse_fixed_turns(prompts: Sequence[Prompt], fmt: str) -> None:
    """`BadInput` when a prompt has a system message or fixed assistant turns, which `fmt` (MT-Bench,
    Arena-Hard: user turns only) cannot hold: an export never drops part of a conversation."""
    from arena.errors import BadInput

    for p in prompts:
        if any(m.role != "user" for m in p.messages):
            raise BadInput(
                f"--format: {fmt} holds user turns only; prompt {p.prompt_id!r} has a system message or fixed"
                " assistant turns (export it as native or jsonl)"
            )


def _with_turns(record: dict, turns: list[str]) -> dict:
    out = dict(record)
    choices = [dict(c) for c in out["choices"]]
    choices[0]["turns"] = turns
    out["choices"] = choices
    return out


def _answer_id(prompt_id: str, model: str) -> str:
    return hashlib.sha256(json.dumps([prompt_id, model]).encode()).hexdigest()[:22]
