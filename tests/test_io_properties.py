"""Property tests: every reader of user files, fed random bytes, mutated valid files and records
whose fields hold random JSON values, either succeeds or prints one `Error:` line with exit code 2,
and a failed `pool import` leaves the store exactly as it was. Never a traceback.

Examples are bounded (and derandomized, so a run is repeatable) to keep the file well under 30 s.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.errors import ArenaError
from arena.io import read_records

FIX = Path(__file__).parent / "fixtures"

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------------

TRICKY = ["", " ", "\ud800", "cut \ud83d", "\udfff end", "é", "e\u0301", "\u2028", "a\r\nb", "NaN", "org/model x", "모델", "\x00"]
strings = st.one_of(st.text(max_size=12), st.sampled_from(TRICKY))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True), strings
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3), max_leaves=8)

# raw text spliced into files: decode failures that a JSON encoder would never write
RAW = [
    "[" * 3000,
    "{" * 50,
    "9" * 5000,
    '"\\ud800"',
    '"\\udc00\\ud800"',
    "NaN",
    "-Infinity",
    "\x00",
    "\r",
    "\n",
    '\n{"a": 1}\n',
    "\ufeff",
    ",",
    '"',
    "}",
    "]",
]
raw_bits = st.one_of(st.sampled_from(RAW), st.text(max_size=8))


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """A valid file with up to three edits: delete, insert, duplicate or overwrite a slice."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        j = draw(st.integers(i, min(len(data), i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "dup", "bytes"]))
        if op == "delete":
            del data[i:j]
        elif op == "insert":
            data[i:i] = draw(raw_bits).encode("utf-8", "surrogatepass")
        elif op == "dup":
            data[i:i] = data[i:j]
        else:
            data[i:j] = draw(st.binary(max_size=6))
    return bytes(data)


def records(keys: list[str], optional: list[str] = (), valid: dict | None = None) -> st.SearchStrategy[dict]:
    """A record of the format: either every key bound to random values, or a valid record
    (`valid`) with one or two fields replaced by a tricky string or a random JSON value, or dropped."""

    @st.composite
    def random_fields(draw) -> dict:
        rec = {}
        for k in [*keys, *optional]:
            if draw(st.integers(0, 19)) == 0:
                continue  # a missing key
            rec[k] = draw(json_values) if draw(st.integers(0, 4)) == 0 else draw(strings)
        return rec

    @st.composite
    def one_bad_field(draw) -> dict:
        rec = dict(valid or {})
        for _ in range(draw(st.integers(1, 2))):
            k = draw(st.sampled_from([*keys, *optional]))
            how = draw(st.sampled_from(["tricky", "json", "drop", "list"]))
            if how == "drop":
                rec.pop(k, None)
            elif how == "list":
                rec[k] = [rec.get(k, "x")]
            else:
                rec[k] = draw(st.sampled_from(TRICKY)) if how == "tricky" else draw(json_values)
        return rec

    return one_bad_field() | random_fields() if valid else random_fields()


def dumps_lines(recs: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in recs).encode("utf-8")


def dumps_array(recs: list[dict]) -> bytes:
    return json.dumps(recs).encode("utf-8")


def content(seed: bytes, recs: st.SearchStrategy[dict], dump) -> st.SearchStrategy[bytes]:
    """Random bytes, a mutated seed file, or a file of random records."""
    structured = st.lists(recs, min_size=1, max_size=4).map(dump)
    return st.one_of(st.binary(max_size=200), mutated(seed), structured, structured)


# -- the CLI check ---------------------------------------------------------------------------------


def _dump(path: Path) -> dict:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM [{t}]").fetchall())) for t in tables}
    finally:
        con.close()


def _only_success_or_one_error_line(r) -> None:
    if r.code == 0:
        return
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.err


@pytest.fixture
def seeded_db(tmp_path, cli):
    db = tmp_path / "arena.db"
    assert cli("pool", "import", str(FIX / "pools" / "varco"), "--name", "keep", "--db", str(db)).code == 0
    return db


def _import(cli, db: Path, path: Path, fmt: str) -> None:
    before = _dump(db)
    r = cli("pool", "import", str(path), "--name", "fuzz", "--format", fmt, "--replace", "--allow-partial", "--db", str(db))
    _only_success_or_one_error_line(r)
    if r.code != 0:
        assert _dump(db) == before, r.err


@contextmanager
def _workdir() -> Iterator[Path]:
    """A fresh folder per example (hypothesis runs many examples inside one test call)."""
    work = Path(tempfile.mkdtemp(prefix="arena-fuzz-"))
    try:
        yield work
    finally:
        shutil.rmtree(work)


# -- pools -----------------------------------------------------------------------------------------

ALPACA_SEED = (FIX / "pools" / "alpaca_eval" / "gpt4_0613.json").read_bytes()[:1500]
VARCO_SEED = b"".join((FIX / "pools" / "varco" / "gpt4_0613.jsonl").read_bytes().splitlines(keepends=True)[:2])
EXPORT_SEED = dumps_lines([{"prompt_id": "p1", "text": "Say hi", "category": "c", "outputs": {"m/a": "hi", "n b": "hello"}}])


@SETTINGS
@given(data=st.data())
def test_pool_import_alpaca_eval(cli, seeded_db, data):
    with _workdir() as work:
        gz = data.draw(st.booleans())
        body = data.draw(content(ALPACA_SEED, records(["instruction", "output", "generator"], ["dataset"], {"instruction": "q", "output": "a", "generator": "m"}), dumps_array))
        p = work / ("m.json.gz" if gz else "m.json")
        p.write_bytes(gzip.compress(body) if gz and data.draw(st.booleans()) else body)
        _import(cli, seeded_db, p, "alpaca_eval")


@SETTINGS
@given(data=st.data())
def test_pool_import_varco_and_export_jsonl(cli, seeded_db, data):
    with _workdir() as work:
        fmt = data.draw(st.sampled_from(["varco", "jsonl"]))
        if fmt == "varco":
            body = data.draw(content(VARCO_SEED, records(["model_id", "instruction", "generated"], ["task"], {"model_id": "m", "instruction": "q", "generated": "a"}), dumps_lines))
        else:
            body = data.draw(content(EXPORT_SEED, records(["prompt_id", "text", "outputs"], ["category", "reference"], {"prompt_id": "p", "text": "q", "outputs": {"m": "a"}}), dumps_lines))
        p = work / "m.jsonl"
        p.write_bytes(body)
        _import(cli, seeded_db, p, fmt)


NATIVE_PROMPTS = b'{"prompt_id": "p1", "text": "Say hi"}\n{"prompt_id": "p2", "text": "Say bye", "category": "x"}\n'
NATIVE_OUTPUT = b'{"prompt_id": "p1", "output": "hi"}\n{"prompt_id": "p2", "output": "bye"}\n'
AH_QUESTION = (FIX / "pools" / "arena_hard" / "question.jsonl").read_bytes().splitlines(keepends=True)[0]
AH_ANSWER = b'{"uid": "q0", "model": "m", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": {"answer": "a"}}]}\n'


@SETTINGS
@given(data=st.data())
def test_pool_import_native_folder(cli, seeded_db, data):
    with _workdir() as work:
        (work / "outputs").mkdir()
        which = data.draw(st.sampled_from(["prompts", "output", "both"]))
        prompts, output = NATIVE_PROMPTS, NATIVE_OUTPUT
        if which in ("prompts", "both"):
            prompts = data.draw(content(NATIVE_PROMPTS, records(["prompt_id", "text"], ["category", "reference"], {"prompt_id": "p1", "text": "q"}), dumps_lines))
        if which in ("output", "both"):
            output = data.draw(content(NATIVE_OUTPUT, records(["prompt_id", "output"], (), {"prompt_id": "p1", "output": "a"}), dumps_lines))
        (work / "prompts.jsonl").write_bytes(prompts)
        (work / "outputs" / "some model.jsonl").write_bytes(output)
        _import(cli, seeded_db, work, "native")


@SETTINGS
@given(data=st.data())
def test_pool_import_arena_hard_folder(cli, seeded_db, data):
    with _workdir() as work:
        (work / "model_answer").mkdir()
        question = AH_QUESTION
        if data.draw(st.booleans()):
            question = data.draw(content(AH_QUESTION, records(["question_id", "turns"], ["uid", "prompt", "category"], {"question_id": "q0", "turns": [{"content": "q"}]}), dumps_lines))
        turn = st.one_of(json_values, st.fixed_dictionaries({"content": json_values}))
        message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", 3]), "content": json_values})
        answer_rec = st.one_of(
            records(["question_id", "model_id", "choices"], ["uid", "model"], {"question_id": "q0", "model_id": "m", "choices": [{"turns": [{"content": "a"}]}]}),
            st.fixed_dictionaries({"question_id": json_values, "model_id": json_values, "choices": st.lists(st.fixed_dictionaries({"turns": st.lists(turn, max_size=3)}), max_size=2)}),
            st.fixed_dictionaries({"uid": st.sampled_from(["q0", 0, None]), "model": strings, "messages": st.lists(message, max_size=4)}),
        )
        answer = data.draw(content(AH_ANSWER, answer_rec, dumps_lines))
        (work / "question.jsonl").write_bytes(question)
        (work / "model_answer" / "m.jsonl").write_bytes(answer)
        _import(cli, seeded_db, work, "arena_hard")


# -- ratings fit and the reliability readers --------------------------------------------------------

BATTLES_CSV = b"model_a,model_b,winner,question_id\nx,y,model_a,q1\ny,z,tie,q2\nz,x,model_b,q3\n"
BATTLE_KEYS = ["model_a", "model_b", "winner"]


@SETTINGS
@given(data=st.data())
def test_ratings_fit(cli, data):
    with _workdir() as work:
        kind = data.draw(st.sampled_from(["csv", "jsonl", "json", "json.gz"]))
        recs = records(BATTLE_KEYS, ["outcome", "weight", "question_id"], {"model_a": "x", "model_b": "y", "winner": "model_a"})
        if kind == "csv":
            body = data.draw(st.one_of(st.binary(max_size=200), mutated(BATTLES_CSV)))
        elif kind == "jsonl":
            body = data.draw(content(dumps_lines([{"model_a": "x", "model_b": "y", "winner": "model_a"}]), recs, dumps_lines))
        else:
            body = data.draw(content(dumps_array([{"model_a": "x", "model_b": "y", "outcome": "a", "weight": 2}]), recs, dumps_array))
        p = work / f"battles.{kind}"
        p.write_bytes(gzip.compress(body) if kind.endswith(".gz") else body)
        _only_success_or_one_error_line(cli("ratings", "fit", p, "-b", "0", "--format", "json"))


PAIR_SEEDS = {
    "judgebench": (["question", "response_A", "response_B", "label"], ["pair_id", "source"],
                   {"question": "q", "response_A": "x", "response_B": "y", "label": "A>B"}),
    "llmbar": (["input", "output_1", "output_2", "label"], ["category"], {"input": "q", "output_1": "x", "output_2": "y", "label": 1}),
    "pandalm": (["idx", "instruction", "response1", "response2", "annotator1", "annotator2", "annotator3"], ["input"],
                {"idx": 1, "instruction": "q", "response1": "x", "response2": "y", "annotator1": 1, "annotator2": 2, "annotator3": 1}),
    "jsonl": (["prompt", "a", "b", "label"], ["category", "id"], {"prompt": "q", "a": "x", "b": "y", "label": "a"}),
}
GOOD_PAIRS = dumps_lines([{"prompt": "q", "a": "x", "b": "y", "label": "a"}, {"prompt": "r", "a": "x", "b": "y", "label": "tie"}])


@SETTINGS
@given(data=st.data())
def test_judge_score_pairs_and_verdicts(cli, data):
    with _workdir() as work:
        fmt = data.draw(st.sampled_from(sorted(PAIR_SEEDS)))
        keys, optional, valid = PAIR_SEEDS[fmt]
        dump = data.draw(st.sampled_from([dumps_lines, dumps_array]))
        pairs = work / ("pairs.jsonl" if dump is dumps_lines else "pairs.json")
        pairs.write_bytes(data.draw(content(GOOD_PAIRS, records(keys, optional, valid), dump)))
        verdicts = work / "verdicts.jsonl"
        verdict = (
            records(["pair_id", "order", "label"], (), {"pair_id": "0", "order": "AB", "label": "A>B"})
            | records(["idx", "gpt_result"], (), {"idx": 1, "gpt_result": 1})
            | records(["pair_id", "judgments"], (), {"pair_id": "0", "judgments": [{"decision": "A>B"}, None]})
        )
        verdicts.write_bytes(data.draw(content(dumps_lines([{"pair_id": "0", "order": "AB", "label": "A>B"}]), verdict, dumps_lines)))
        r = cli("judge", "score", "--pairs", pairs, "--verdicts", verdicts, "--replicates", "10", "--format", "json")
        _only_success_or_one_error_line(r)


# -- the reader itself ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        mutated(ALPACA_SEED),
        mutated(BATTLES_CSV),
        st.lists(json_values, min_size=1, max_size=3).map(dumps_array),
        st.lists(json_values, min_size=1, max_size=3).map(lambda vs: "\n".join(json.dumps(v) for v in vs).encode()),
    ),
    name=st.sampled_from(["f.json", "f.jsonl", "f.csv", "f.tsv", "f.json.gz", "f"]))
def test_read_records_raises_only_arena_errors(body, name):
    with _workdir() as work:
        p = work / name
        p.write_bytes(body)
        try:
            recs = read_records(p)
        except ArenaError as e:
            assert "\n" not in str(e) and str(e).startswith(str(p))
        else:
            assert recs and all(isinstance(r.data, dict) for r in recs)
            for r in recs:  # whatever was read can be stored: valid Unicode throughout
                json.dumps(r.data, ensure_ascii=False).encode("utf-8")
