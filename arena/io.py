"""The one reader of record files: JSON, JSON lines, CSV/TSV, each optionally gzipped.

Every reader of user files (pools, `ratings fit` battle files, the reliability mode's pairs and
verdicts) goes through here, so every bad record is reported the same way, on one line:

    <path>:<line>: <what was expected>          JSON lines, CSV (the line where the record ends)
    <path>:item <N>: <what was expected>        a JSON array (items numbered from 1)

Reading never raises anything but `RecordError` (a `BadInput`, exit code 2) for what a file
holds: invalid UTF-8, a corrupt or truncated gzip stream, invalid JSON, JSON nested too deeply
for Python's parser (`RecursionError`), integers beyond Python's digit limit (`ValueError`),
CSV fields over the csv module's size limit, lone UTF-16 surrogates written as `\\ud800`
escapes (they cannot be stored as UTF-8), and a record that is not an object.

Records are then checked with a per-format pydantic row model (a subclass of `Row`); a
`ValidationError` becomes one line naming the record and the field (`Row.parse`). The shared
field types: `Text` (a JSON string), `Name` (a non-empty string: model names, the same rule in
every format), `Id` (a string, or an integer written as its digits), `OptText` (a string or
null).

`prompt_key` is the key prompts are matched on across files (see its docstring).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from arena.errors import NotFound, RecordError

FileFormat = Literal["auto", "json", "jsonl", "csv", "tsv"]

# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One object read from a file. `where` is `path:line` or `path:item N` (N from 1)."""

    where: str
    data: dict[str, Any]


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, gunzipped when it is gzip (by its `.gz` suffix or its magic bytes).

    Raises `NotFound` for a missing path, `RecordError` for a folder or a corrupt gzip stream.
    """
    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no such file or directory")
    if path.is_dir():
        raise RecordError(f"{path}: is a folder, expected a file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RecordError(f"{path}: cannot be read ({e.strerror or e})") from None
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut stream is EOFError
            raise RecordError(f"{path}: not a valid gzip file ({e})") from None
    return data


def read_text(path: str | Path, *, expected: str = "records") -> str:
    """A file's text: UTF-8 (a leading BOM dropped), gunzipped if needed; an empty file is an error.

    `expected` names what the file should hold, for the error of an empty file.
    Raises `NotFound` or `RecordError`.
    """
    path = Path(path)
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: not UTF-8 text (invalid byte at offset {e.start}); save it as UTF-8") from None
    if not text or text.isspace():  # not `text.strip()`: a copy of the whole text (of a file ending in a newline)
        raise RecordError(f"{path}: empty file, expected {expected}")
    return text.removeprefix("\ufeff")


def _kind(v: object) -> str:
    return {dict: "object", list: "list", type(None): "null", bool: "bool"}.get(type(v), type(v).__name__)


def loads(text: str, path: str | Path, line: int | None = None) -> object:
    """`json.loads` that turns every decode failure into one `RecordError` line.

    `line`: the line number of `text` in the file (one JSON line); without it `text` is the
    whole file and the error names the line the parser stopped at.
    """
    where = f"{path}:{line}" if line is not None else f"{path}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return _raise(f"{path}:{line or e.lineno}: invalid JSON ({e.msg} at column {e.colno})")
    except RecursionError:
        return _raise(f"{where}: invalid JSON (nested too deeply for the parser)")
    except ValueError as e:  # an integer beyond sys.get_int_max_str_digits()
        what = "an integer longer than Python reads" if "digits" in str(e) else str(e)
        return _raise(f"{where}: invalid JSON ({what})")


def _raise(message: str):
    raise RecordError(message) from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_unicode(obj: object, where: str) -> None:
    """Raise `RecordError` if a string in `obj` (keys included) holds a lone surrogate.

    JSON can spell one as an escape (`"\\ud83d"`, an emoji cut in half); Python keeps it, and
    UTF-8 (the store, every output file) cannot encode it. Iterative: safe at any depth.
    """
    stack: list[tuple[object, str]] = [(obj, "")]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            _check_str(v, where, at)
        elif isinstance(v, dict):
            for k, x in v.items():
                _check_str(k, where, at)
                key = _printable(k) if isinstance(k, str) else str(k)
                stack.append((x, f"{at}.{key}" if at else key))
        elif isinstance(v, list):
            stack.extend((x, f"{at}[{i}]") for i, x in enumerate(v))


def _printable(s: str) -> str:
    """A key or value for a one-line message: control characters and newlines escaped."""
    return s if s.isprintable() else repr(s)[1:-1]


def _check_str(s: str, where: str, at: str) -> None:
    if s.isascii():
        return
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        field = f" in field '{at}'" if at else ""
        raise RecordError(
            f"{where}: invalid Unicode{field}: a lone surrogate {s[e.start]!r} (text cut inside a character?);"
            " fix or remove it"
        ) from None


def _record(obj: object, where: str) -> Record:
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected a JSON object, got {_kind(obj)}")
    return Record(where, obj)


def _json_lines(text: str, path: Path) -> Iterator[Record]:
    check = _SURROGATE_ESCAPE.search(text) is not None
    # split on "\n" only: str.splitlines() also splits inside strings at U+2028, U+0085, ...
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        obj = loads(line, path, lineno)
        if check:
            check_unicode(obj, where)
        yield _record(obj, where)


def _json_document(text: str, path: Path, list_key: str | None, what: str) -> Iterator[Record]:
    """A JSON array of objects, an object holding one under `list_key`, one object, or JSON lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and text.lstrip()[:1] == "{":
            yield from _json_lines(text, path)  # JSON lines in a file named .json
            return
        data = loads(text, path)
    except (RecursionError, ValueError):
        data = loads(text, path)
    if isinstance(data, dict):
        if list_key is not None:
            if not isinstance(data.get(list_key), list):
                raise RecordError(f"{path}:1: expected a JSON list of {what} objects (or an object with a '{list_key}' list)")
            data = data[list_key]
        else:  # one object: a record at the line where it starts
            line = text[: len(text) - len(text.lstrip())].count("\n") + 1
            check_unicode(data, f"{path}:{line}")
            yield _record(data, f"{path}:{line}")
            return
    if not isinstance(data, list):
        raise RecordError(f"{path}:1: expected a JSON list of {what} objects, got {_kind(data)}")
    check = _SURROGATE_ESCAPE.search(text) is not None
    for k, obj in enumerate(data, 1):
        where = f"{path}:item {k}"
        if check:
            check_unicode(obj, where)
        yield _record(obj, where)


def _csv(text: str, path: Path, delimiter: str) -> Iterator[Record]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        if not reader.fieldnames:
            raise RecordError(f"{path}:1: expected a header line naming the columns")
        for rec in reader:
            where = f"{path}:{reader.line_num}"
            if None in rec:
                raise RecordError(f"{where}: more fields than the header has")
            yield Record(where, rec)
    except csv.Error as e:
        raise RecordError(f"{path}:{reader.line_num}: invalid CSV ({e})") from None


def file_format(path: Path) -> str:
    """The format a path's name says: json, jsonl, csv, tsv, or auto (sniff the content)."""
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv"), (".tsv", "tsv")):
        if name.endswith(suffix):
            return fmt
    return "auto"


def iter_records(
    path: str | Path, format: FileFormat = "auto", *, list_key: str | None = None, what: str = "record"
) -> Iterator[Record]:
    """Each object of a record file, with its location, in file order.

    Parameters
    ----------
    path: a file; `.gz` (or gzip content) is decompressed.
    format: `json` (an array of objects, or with `list_key` an object holding that array),
        `jsonl` (one object a line; blank lines skipped), `csv`/`tsv` (a header line; values are
        strings), or `auto`: from the name (`.json`, `.jsonl`/`.ndjson`, `.csv`, `.tsv`, before
        `.gz`), else `json` when the text starts with `[`, else `jsonl`. A `.json` file that holds
        JSON lines (several objects) is read as JSON lines; one that holds one object (and no
        `list_key`) is one record.
    list_key: the key of the records' list when the file is a JSON object (`{"battles": [...]}`).
    what: what a record is, for the errors (`expected a JSON list of battle objects`).

    Raises `NotFound` (no such path) or `RecordError` (one line: `path:line:` or `path:item N:`).
    A generator: errors in later records surface while iterating.
    """
    path = Path(path)
    if format == "auto":
        format = file_format(path)  # type: ignore[assignment]
    expected = {"csv": "a CSV header and rows", "tsv": "a TSV header and rows", "jsonl": "JSON lines"}.get(format, "JSON")
    text = read_text(path, expected=expected)
    if format in ("csv", "tsv"):
        yield from _csv(text, path, "\t" if format == "tsv" else ",")
    elif format == "jsonl" or (format == "auto" and text.lstrip()[:1] != "["):
        yield from _json_lines(text, path)
    else:
        yield from _json_document(text, path, list_key, what)


def read_records(
    path: str | Path, format: FileFormat = "auto", *, list_key: str | None = None, what: str = "record"
) -> list[Record]:
    """`iter_records` as a list; raises `RecordError` if the file holds no record."""
    records = list(iter_records(path, format, list_key=list_key, what=what))
    if not records:
        raise RecordError(f"{path}: no records found")
    return records


# -- row models ------------------------------------------------------------------------------------


def check_name(value: str, where: str = "", what: str = "model name") -> str:
    """A name (model, generator, judge) as every format requires it: a non-empty string of valid Unicode.

    Used by the `Name` field type and for names taken from file names. Returns the name unchanged.
    """
    if not isinstance(value, str):
        raise RecordError(f"{where}: {what} must be a string, got {_kind(value)}")
    if not value.strip():
        raise RecordError(f"{where}: {what} {value!r} is empty")
    _check_str(value, where, "")
    return value


def _name(v: str) -> str:
    if not v.strip():
        raise ValueError("expected a non-empty name")
    return v


def _id(v: object) -> object:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise PydanticCustomError("id_type", "must be a string or an integer")
    return v


def _nonempty_id(v: str) -> str:
    if not v.strip():
        raise ValueError("expected a non-empty id")
    return v


Text = str
Name = Annotated[str, AfterValidator(_name)]
Id = Annotated[str, BeforeValidator(_id), AfterValidator(_nonempty_id)]
OptText = str | None


class Row(BaseModel):
    """Base of the per-format row models: unknown keys ignored, strict JSON types (no str <-> int)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, populate_by_name=True)
    what: ClassVar[str] = "record"

    @classmethod
    def parse(cls, record: Record) -> Self:
        """Validate one record; a failure is `RecordError(f"{record.where}: <field>: <expected>")`."""
        try:
            return cls.model_validate(record.data)
        except ValidationError as e:
            errors = e.errors()
            # a union (`str | Model`) reports one error per member: the deepest is the specific one
            best = max(errors, key=lambda err: len(err.get("loc", ())))
            raise RecordError(f"{record.where}: {describe(best)}") from None


_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "literal_error": None,
}


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "int", "float", "bool", "none") or "[" in str(part) or part in _row_names():
            continue  # a union member's name (`str`, `function-after[...]`), not a key
        else:
            part = _printable(str(part))
            out += f".{part}" if out else part
    return out


def _row_names() -> set[str]:
    names, todo = set(), [Row]
    while todo:
        for sub in todo.pop().__subclasses__():
            names.add(sub.__name__)
            todo.append(sub)
    return names


def describe(err: dict) -> str:
    """One pydantic error as the README's `<what was expected>` part: `field 'x' must be a string, got int`."""
    loc = tuple(err.get("loc", ()))
    if len(loc) >= 2 and loc[-1] == "[key]":  # a dict's key failed (a model name in `outputs`)
        msg = str(err.get("ctx", {}).get("error", err.get("msg", "")))
        return f"field '{_loc(loc[:-2])}': key {loc[-2]!r}: {_printable(msg)}"
    field = _loc(loc)
    kind = err["type"]
    if kind == "missing":
        return f"missing field '{field}'"
    got = err.get("input")
    if kind in _EXPECTED and _EXPECTED[kind]:
        return f"field '{field}' must be {_EXPECTED[kind]}, got {_kind(got)}"
    if kind == "id_type":
        return f"field '{field}' must be a string or an integer, got {_kind(got)}"
    if kind == "literal_error":
        return f"field '{field}': expected {err['ctx']['expected']}, got {got!r}"
    msg = _printable(str(err.get("ctx", {}).get("error", err.get("msg", ""))))
    return f"field '{field}': {msg}" if field else msg


# -- prompt matching -------------------------------------------------------------------------------


def prompt_key(text: str) -> str:
    """The key prompts are matched on across files; the original text is what is stored.

    Unicode NFC (composed and decomposed accents are the same text), then every run of
    whitespace (spaces, tabs, CR, LF, CRLF, no-break space) becomes one space, and the ends are
    stripped. Nothing else: no case folding, no NFKC, and a curly apostrophe (U+2019) is not a
    straight one (U+0027), since either may be what the prompt's author wrote.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())
