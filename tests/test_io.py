"""The one reader of record files (arena/io.py) and what pools, `ratings fit` and the reliability
formats get from it: one-line errors for every decode failure, the same name rules everywhere,
prompts matched on a normalised key, overlap refusal, multi-turn refusal."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from arena.errors import RecordError
from arena.io import iter_records, prompt_key, read_records
from arena.pools import import_pool, load_pool_files

FIX = Path(__file__).parent / "fixtures" / "pools"


def _dump(path: Path) -> dict:
    import sqlite3

    if not path.exists():
        return {}
    con = sqlite3.connect(path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    out = {t: sorted(map(repr, con.execute(f"SELECT * FROM [{t}]").fetchall())) for t in tables}
    con.close()
    return out


def _one_error_line(r) -> str:
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.err
    return lines[0].removeprefix("Error: ")


# -- locations: path:line and path:item N (from 1) -------------------------------------------


def test_locations_are_path_line_or_path_item_n(tmp_path):
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"x": 1}\n\n{"x": 2}\n', encoding="utf-8")
    assert [r.where for r in iter_records(lines)] == [f"{lines}:1", f"{lines}:3"]
    arr = tmp_path / "a.json"
    arr.write_text('[{"x": 1}, {"x": 2}]', encoding="utf-8")
    assert [r.where for r in iter_records(arr)] == [f"{arr}:item 1", f"{arr}:item 2"]
    csv = tmp_path / "a.csv"
    csv.write_text('x,y\n1,"two\nlines"\n3,4\n', encoding="utf-8")
    assert [(r.where, r.data["x"]) for r in iter_records(csv)] == [(f"{csv}:3", "1"), (f"{csv}:4", "3")]
    gz = tmp_path / "b.json.gz"
    gz.write_bytes(gzip.compress(b'[{"x": 1}]'))
    assert [r.data for r in iter_records(gz)] == [{"x": 1}]
    # JSON lines in a file named .json (some datasets ship them so)
    jl = tmp_path / "lines.json"
    jl.write_text('{"x": 1}\n{"x": 2}\n', encoding="utf-8")
    assert [r.where for r in read_records(jl)] == [f"{jl}:1", f"{jl}:2"]


def test_a_line_separator_inside_a_string_does_not_split_the_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"x": "a\u2028b\u0085c"}\n{"x": "d"}\n', encoding="utf-8")
    assert [(r.where, r.data["x"]) for r in iter_records(p)] == [(f"{p}:1", "a\u2028b\u0085c"), (f"{p}:2", "d")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "{p}: invalid JSON (nested too deeply for the parser)"),
        ("deep.jsonl", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "{p}:1: invalid JSON (nested too deeply for the parser)"),
        ("huge.jsonl", '{"a": 1}\n{"a": ' + "9" * 5000 + "}\n", "{p}:2: invalid JSON (an integer longer than Python reads)"),
        ("bad.json.gz", b"\x1f\x8b\x08\x00garbage", "{p}: not a valid gzip file"),
        ("latin.jsonl", b'{"a": "caf\xe9"}\n', "{p}: not UTF-8 text (invalid byte at offset 10); save it as UTF-8"),
        ("surrogate.jsonl", '{"a": {"b": ["ok", "cut \\ud83d"]}}\n', "{p}:1: invalid Unicode in field 'a.b[1]': a lone surrogate '\\ud83d'"),
        ("key.json", '[{"\\udc00": 1}]', "{p}:item 1: invalid Unicode: a lone surrogate '\\udc00'"),
        ("scalar.jsonl", "[1]\n", "{p}:1: expected a JSON object, got list"),
        ("scalar.json", "[1, 2]", "{p}:item 1: expected a JSON object, got int"),
        ("empty.jsonl", "  \n", "{p}: empty file, expected JSON lines"),
    ],
)
def test_every_decode_failure_is_one_record_error(tmp_path, name, content, message):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    with pytest.raises(RecordError) as e:
        read_records(p)
    assert str(e.value).startswith(message.format(p=p)), str(e.value)
    assert "\n" not in str(e.value)


def test_a_cut_gzip_file_is_bad_input_not_an_abort(tmp_path, cli, db_path):
    """A truncated .json.gz raised EOFError, which click turned into "Aborted." and exit 130."""
    p = tmp_path / "model_outputs.json.gz"
    p.write_bytes(gzip.compress(json.dumps([{"instruction": "q", "output": "a", "generator": "m"}]).encode())[:-12])
    line = _one_error_line(cli("pool", "import", str(p), "--name", "x"))
    assert line.startswith(f"{p}: not a valid gzip file (")
    assert "x" not in json.dumps(_dump(db_path).get("pools", []))


# -- pools: every field, every format, store untouched -----------------------------------------

SURR = "\\ud83d"  # written into the files as a JSON escape: a lone high surrogate


@pytest.mark.parametrize(
    ("files", "message"),
    [
        # native: a lone surrogate in a prompt, a category, an answer
        ({"prompts.jsonl": '{"prompt_id": "p1", "text": "hi ' + SURR + '"}\n'}, "prompts.jsonl:1: invalid Unicode in field 'text'"),
        ({"prompts.jsonl": '{"prompt_id": "p1", "text": "hi", "category": "c' + SURR + '"}\n'}, "prompts.jsonl:1: invalid Unicode in field 'category'"),
        (
            {"prompts.jsonl": '{"prompt_id": "p1", "text": "hi"}\n', "outputs/m.jsonl": '{"prompt_id": "p1", "output": "\\udfff"}\n'},
            "m.jsonl:1: invalid Unicode in field 'output'",
        ),
        # a list where a string is expected
        ({"prompts.jsonl": '{"prompt_id": "p1", "text": "hi", "category": ["a", "b"]}\n'}, "prompts.jsonl:1: field 'category' must be a string, got list"),
        ({"prompts.jsonl": '{"prompt_id": "p1", "text": "hi", "reference": ["a"]}\n'}, "prompts.jsonl:1: field 'reference' must be a string, got list"),
        ({"prompts.jsonl": '{"prompt_id": [1], "text": "hi"}\n'}, "prompts.jsonl:1: field 'prompt_id' must be a string or an integer, got list"),
        ({"prompts.jsonl": '{"prompt_id": "", "text": "hi"}\n'}, "prompts.jsonl:1: field 'prompt_id': expected a non-empty id"),
    ],
)
def test_bad_native_fields_are_one_line_and_leave_the_store_untouched(tmp_path, cli, db_path, files, message):
    assert cli("pool", "import", str(FIX / "varco"), "--name", "before").code == 0
    before = _dump(db_path)
    folder = tmp_path / "pool"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    line = _one_error_line(cli("pool", "import", str(folder), "--name", "new"))
    assert message in line, line
    assert line.startswith(str(folder))
    assert _dump(db_path) == before


def _alpaca(path: Path, rows: list[dict] | str) -> Path:
    path.write_text(rows if isinstance(rows, str) else json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fmt", "name", "text", "message"),
    [
        ("alpaca_eval", "m.json", '[{"instruction": "q", "output": "a", "generator": "m\\ud800"}]', ":item 1: invalid Unicode in field 'generator'"),
        ("alpaca_eval", "m.json", '[{"instruction": "q", "output": "a", "generator": ""}]', ":item 1: field 'generator': expected a non-empty name"),
        ("alpaca_eval", "m.json", '[{"instruction": "q", "output": "a", "generator": NaN}]', ":item 1: field 'generator' must be a string, got float"),
        ("alpaca_eval", "m.json", '[{"instruction": "q", "output": "a", "generator": "m"}, {"instruction": "q2", "output": ["a"], "generator": "m"}]', ":item 2: field 'output' must be a string, got list"),
        ("varco", "m.jsonl", '{"model_id": 5, "instruction": "q", "generated": "a"}\n', ":1: field 'model_id' must be a string, got int"),
        ("varco", "m.jsonl", '{"model_id": "m", "instruction": "q", "generated": "a", "task": ["x"]}\n', ":1: field 'task' must be a string, got list"),
        ("jsonl", "e.jsonl", '{"prompt_id": "p", "text": "q", "category": [1], "outputs": {}}\n', ":1: field 'category' must be a string, got list"),
        ("jsonl", "e.jsonl", '{"prompt_id": "p", "text": "q", "outputs": {"m": 3}}\n', ":1: field 'outputs.m' must be a string, got int"),
        ("jsonl", "e.jsonl", '{"prompt_id": "p", "text": "q", "outputs": {" ": "a"}}\n', ":1: field 'outputs': key ' ': expected a non-empty name"),
    ],
)
def test_bad_fields_in_every_pool_format(tmp_path, store, fmt, name, text, message):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(RecordError) as e:
        import_pool(store, "x", [p], fmt)
    assert str(e.value) == f"{p}{message}" or str(e.value).startswith(f"{p}{message}"), str(e.value)
    assert not store.pool_exists("x")


def _arena_hard(tmp_path: Path, question: str, answer: str) -> Path:
    folder = tmp_path / "ah"
    (folder / "model_answer").mkdir(parents=True)
    (folder / "question.jsonl").write_text(question, encoding="utf-8")
    (folder / "model_answer" / "m.jsonl").write_text(answer, encoding="utf-8")
    return folder


Q1 = '{"question_id": "q1", "turns": [{"content": "hi"}]}\n'


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    [
        (Q1, '{"question_id": "q1", "model_id": 5, "choices": [{"turns": [{"content": "x"}]}]}\n', "m.jsonl:1: field 'model_id' must be a string, got int"),
        (Q1, '{"question_id": "q1", "model_id": "m", "choices": [{"turns": [{"content": 7}]}]}\n', "m.jsonl:1: field 'choices[0].turns[0].content' must be a string, got int"),
        (Q1, '{"question_id": "q1", "model_id": "m", "choices": [{"turns": [["x"]]}]}\n', "m.jsonl:1: field 'choices[0].turns[0]' must be a string, got list"),
        # MT-Bench: turns are strings; a second turn is a conversation, answered on every turn
        ('{"question_id": 81, "category": "writing", "turns": ["Compose a blog post.", "Rewrite it as a limerick."]}\n',
         '{"question_id": 81, "model_id": "m", "choices": [{"turns": ["only one"]}]}\n',
         "m.jsonl:1: expected 2 answer turns (the question of '81' has 2 answered user turns), got 1"),
        ('{"question_id": "q1", "turns": [{"content": 1}]}\n', "", "question.jsonl:1: field 'turns[0].content' must be a string, got int"),
        ('{"question_id": "q1", "turns": [{"content": "hi"}], "category": {"a": 1}}\n', "", "question.jsonl:1: field 'category' must be a string, got object"),
        (
            '{"uid": "q1", "prompt": "hi"}\n',
            '{"uid": "q1", "model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": {"reasoning": "x"}}]}\n',
            "m.jsonl:1: missing field 'messages[1].content.answer'",
        ),
        # multi-turn records: turn counts must agree, never flattened
        (
            '{"question_id": "q1", "turns": [{"content": "hi"}, {"content": " "}]}\n',
            "",
            "question.jsonl:1: user turn 2: expected a non-empty user turn",
        ),
        (Q1, '{"question_id": "q1", "model_id": "m", "choices": [{"turns": [{"content": "a"}, {"content": "b"}]}]}\n',
         "m.jsonl:1: expected 1 answer turn (the question of 'q1' has 1 answered user turn), got 2"),
        (
            '{"uid": "q1", "prompt": "hi"}\n',
            '{"uid": "q1", "model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": {"answer": "a"}},'
            ' {"role": "user", "content": "more"}, {"role": "assistant", "content": {"answer": "b"}}]}\n',
            "m.jsonl:1: expected 1 answer turn (the question of 'q1' has 1 answered user turn), got 2",
        ),
    ],
)
def test_arena_hard_types_and_multi_turn(tmp_path, cli, db_path, question, answer, message):
    folder = _arena_hard(tmp_path, question, answer)
    line = _one_error_line(cli("pool", "import", str(folder), "--name", "ah", "--format", "arena_hard"))
    assert message in line, line
    assert "ah" not in json.dumps(_dump(db_path).get("pools", []))


def test_model_names_with_slashes_spaces_and_non_ascii_survive_reading(tmp_path, store):
    names = ["openai/gpt-4o-mini", "my model v2", "모델-é", "a\u00a0b"]
    rows = [{"prompt_id": "p1", "text": "q", "outputs": {n: f"answer of {n}" for n in names}}]
    p = tmp_path / "export.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    data = import_pool(store, "x", [p], "jsonl")
    assert sorted(data.models) == sorted(names)
    assert {o.model: o.text for o in store.outputs("x")} == {n: f"answer of {n}" for n in names}
    ae = _alpaca(tmp_path / "ae.json", [{"instruction": "q", "output": "a", "generator": "org/model name é"}])
    assert load_pool_files([ae]).models == ["org/model name é"]


# -- prompts matched on a normalised key -----------------------------------------------------------

QUESTIONS = [
    "What is the capital of France?",
    "Write a haiku about rain.\nMake it sad.",
    "List three prime numbers.",
    "Explain  recursion in one sentence.",
]


def test_prompt_key_normalises_only_unicode_composition_and_whitespace():
    assert prompt_key("caf\u00e9") == prompt_key("cafe\u0301")  # NFC
    assert prompt_key("a\r\nb\rc\n") == prompt_key("a b  c") == "a b c"
    assert prompt_key("it\u2019s") != prompt_key("it's")  # curly and straight apostrophes stay different
    assert prompt_key("ABC") != prompt_key("abc")
    assert prompt_key("\uff21") != prompt_key("A")  # no NFKC


def test_the_same_four_questions_written_differently_are_four_prompts(tmp_path, cli, db_path):
    """CRLF, a double space, trailing spaces, a decomposed accent: four prompts, not seven."""
    folder = tmp_path / "ae"
    folder.mkdir()
    clean = [{"instruction": q, "output": f"A{i}", "generator": "model-a"} for i, q in enumerate(QUESTIONS)]
    variants = [
        QUESTIONS[0] + "  ",  # trailing spaces
        QUESTIONS[1].replace("\n", "\r\n"),  # CRLF
        QUESTIONS[2].replace(" ", "  ", 1),  # a double space
        QUESTIONS[3].replace("  ", " "),  # the other file has the double space
    ]
    messy = [{"instruction": q, "output": f"B{i}", "generator": "model-b"} for i, q in enumerate(variants)]
    _alpaca(folder / "a.json", clean)
    _alpaca(folder / "b.json", messy)
    r = cli("pool", "import", str(folder), "--name", "four")
    assert r.code == 0, r.err
    shown = json.loads(cli("pool", "show", "four", "--format", "json").out)
    assert shown["prompts"] == 4
    assert all(not c["missing"] for c in shown["coverage"])
    assert "model-b: answers 4 of the pool's 4 prompts (100%)" in r.out
    # the original text of the first file is kept, not the key
    import sqlite3

    texts = {t for (t,) in sqlite3.connect(db_path).execute("SELECT text FROM prompts")}
    assert QUESTIONS[1] in texts and QUESTIONS[3] in texts


def test_a_model_matching_fewer_than_half_of_the_prompts_is_refused_unless_allowed(tmp_path, cli, db_path):
    folder = tmp_path / "ae"
    folder.mkdir()
    _alpaca(folder / "a.json", [{"instruction": q, "output": "x", "generator": "model-a"} for q in QUESTIONS])
    other = ["Where is Paris?", "A poem, please.", "Count to three.", QUESTIONS[3]]
    _alpaca(folder / "b.json", [{"instruction": q, "output": "y", "generator": "model-b"} for q in other])
    assert cli("pool", "import", str(FIX / "varco"), "--name", "keep").code == 0
    before = _dump(db_path)
    line = _one_error_line(cli("pool", "import", str(folder), "--name", "mixed"))
    assert line == (
        f"{folder / 'a.json'}: model 'model-a' answers only 1 of the pool's 4 prompts (3 of its prompts match no other file);"
        " check that the files hold the same prompts, or pass --allow-partial to import it anyway"
    )
    assert _dump(db_path) == before
    r = cli("pool", "import", str(folder), "--name", "mixed", "--allow-partial")
    assert r.code == 0, r.err
    assert "model-a: answers 1 of the pool's 4 prompts (25%); 3 prompts of its own matched no other file" in r.out
    # adding a model to an existing pool: its overlap is with the prompts already there
    late = tmp_path / "late.json"
    _alpaca(late, [{"instruction": q, "output": "z", "generator": "model-c"} for q in ["Unrelated?", "Other?"]])
    line = _one_error_line(cli("pool", "import", str(late), "--name", "mixed"))
    assert "model 'model-c' answers only 0 of the pool's 7 prompts" in line


# -- ratings fit and the reliability formats share the reader --------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("b.json", '[{"model_a": NaN, "model_b": "y", "winner": "model_a"}]', "{p}:item 1: field 'model_a' must be a string, got float"),
        ("b.jsonl", '{"model_a": 5, "model_b": "y", "winner": "model_a"}\n', "{p}:1: field 'model_a' must be a string, got int"),
        ("b.jsonl", '{"model_a": " ", "model_b": "y", "winner": "model_a"}\n', "{p}:1: field 'model_a': expected a non-empty name"),
        ("b.jsonl", '{"model_a": "x", "model_b": "y", "winner": ["model_a"]}\n', "{p}:1: winner must be model_a, model_b, tie or 'tie (bothbad)', got ['model_a']"),
        ("b.jsonl", '{"model_a": "x\\ud800", "model_b": "y", "winner": "model_a"}\n', "{p}:1: invalid Unicode in field 'model_a'"),
        ("b.jsonl", '{"model_a": "x", "model_b": "y", "winner": "tie", "weight": 1e999}\n', "{p}:1: weight must be a finite number >= 0, got inf"),
        ("b.json.gz", b"\x1f\x8b\x08\x00junk", "{p}: not a valid gzip file"),
    ],
)
def test_ratings_fit_bad_records(cli, tmp_path, name, text, message):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    line = _one_error_line(cli("ratings", "fit", p, "-b", "0"))
    assert line.startswith(message.format(p=p)), line


def test_ratings_fit_reads_gzipped_json_lines_with_odd_names(cli, tmp_path):
    p = tmp_path / "battles.jsonl.gz"
    rows = [{"model_a": "org/a b", "model_b": "모델", "winner": w} for w in ["model_a", "model_a", "model_b", "tie"]]
    p.write_bytes(gzip.compress("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()))
    r = cli("ratings", "fit", p, "-b", "0", "--format", "json")
    assert r.code == 0, r.err
    assert sorted(x["model"] for x in json.loads(r.out)) == ["org/a b", "모델"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"question": "q", "response_A": ["x"], "response_B": "y", "label": "A>B"}]', "{p}:item 1: field 'response_A' must be a string, got list"),
        ('[{"question": "q", "response_A": "x", "response_B": "y", "label": "A>B", "source": ["c"]}]', "{p}:item 1: field 'source' must be a string, got list"),
        ('{"prompt": "q\\udbff", "a": "x", "b": "y", "label": "a"}\n', "{p}:1: invalid Unicode in field 'prompt'"),
        ('{"instruction": "q", "idx": 1, "response1": "x", "response2": "y", "annotator1": 1, "annotator2": 3, "annotator3": 1}\n',
         "{p}:1: field 'annotator2': expected 0, 1 or 2, got 3"),
        ("[" * 50_000 + "]" * 50_000, "{p}: invalid JSON (nested too deeply for the parser)"),
    ],
)
def test_pairs_files_bad_records(cli, tmp_path, text, message):
    p = tmp_path / "pairs.json"
    p.write_text(text, encoding="utf-8")
    line = _one_error_line(cli("judge", "score", "--verdicts", p, "--pairs", p))
    assert line.startswith(message.format(p=p)), line


def test_mt_bench_string_turns_import_when_single_turn(tmp_path, store):
    folder = _arena_hard(
        tmp_path,
        '{"question_id": 81, "category": "writing", "turns": ["Compose a blog post."]}\n',
        '{"question_id": 81, "model_id": "vicuna-13b", "choices": [{"index": 0, "turns": ["A post."]}]}\n',
    )
    data = import_pool(store, "mt", [folder], "arena_hard")
    assert [(p.prompt_id, p.text, p.category) for p in data.prompts] == [("81", "Compose a blog post.", "writing")]
    assert [(o.model, o.text) for o in data.outputs] == [("vicuna-13b", "A post.")]
