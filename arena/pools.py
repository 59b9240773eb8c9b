"""Prompt pools and model outputs: the import formats, validation, and export.

Readers are pure apart from reading the files: they return `PoolData` (prompts and outputs)
or raise `PoolError` with one line naming the file, the line (or key) and what was expected.
Nothing touches the store until every file has been read and checked; the store then writes
the whole pool in one transaction.

Formats:
- `native`: a folder with `prompts.jsonl` (prompt_id, text, optional category, reference) and
  `outputs/<model>.jsonl` (prompt_id, output).
- `alpaca_eval`: AlpacaEval `model_outputs.json` files (a JSON list of instruction, output,
  generator, dataset; `.json.gz` too); prompts are matched by instruction text.
- `arena_hard`: an Arena-Hard folder with `question.jsonl` and `model_answer/*.jsonl`
  (answers in `choices[0].turns` or in `messages`).
- `varco`: Varco Arena / Arena-Lite, one jsonl per model (model_id, instruction, generated, task).
- `jsonl`: what `arena pool export --format jsonl` writes: one prompt a line with every model's answer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from arena.errors import PoolError
from arena.names import slug_map
from arena.records import Output, Prompt

Format = Literal["native", "alpaca_eval", "arena_hard", "varco", "jsonl"]
FORMATS: tuple[str, ...] = ("native", "alpaca_eval", "arena_hard", "varco", "jsonl")


@dataclass(slots=True)
class PoolData:
    prompts: list[Prompt]
    outputs: list[Output]
    format: str = "native"
    sources: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return sorted({o.model for o in self.outputs})


# -- reading files -------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    if path.is_dir():
        raise PoolError(f"{path}: is a folder, expected a file")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except OSError as e:
            raise PoolError(f"{path}: not a valid gzip file ({e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PoolError(f"{path}: not UTF-8 text (invalid byte at offset {e.start}); save it as UTF-8") from None
    if not text.strip():
        raise PoolError(f"{path}: empty file, expected {'JSON lines' if '.jsonl' in path.name else 'JSON'}")
    return text.removeprefix("\ufeff")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; one clear error for bad JSON or a non-object."""
    text = _read_text(path)
    loads = json.loads
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except json.JSONDecodeError as e:
            raise PoolError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise PoolError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def read_json(path: Path) -> object:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PoolError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None


def _field(obj: dict, key: str, where: str, *, kind: type | tuple = str, optional: bool = False):
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise PoolError(f"{where}: missing field '{key}'")
    value = obj[key]
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith("id"):
        return str(value)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PoolError(f"{where}: field '{key}' must be {_article(names)}, got {type(value).__name__}")
    return value


def _article(name: str) -> str:
    return {"str": "a string", "list": "a list", "dict": "an object", "int": "an integer"}.get(name, name)


def text_id(text: str, prefix: str = "p") -> str:
    """A stable prompt id from its text, for formats that have none (AlpacaEval, Varco)."""
    return f"{prefix}-{hashlib.sha256(text.strip().encode('utf-8')).hexdigest()[:12]}"


class _Builder:
    """Collects prompts and outputs while checking duplicates and unknown prompts."""

    def __init__(self, known: Sequence[Prompt] = (), known_models: Sequence[str] = ()) -> None:
        self.prompts: list[Prompt] = []
        self.prompt_where: dict[str, str] = {}
        self.by_text: dict[str, str] = {}
        self.known_ids = {p.prompt_id for p in known}
        for p in known:
            self.by_text.setdefault(p.text.strip(), p.prompt_id)
        self.known_models = set(known_models)
        self.outputs: dict[tuple[str, str], Output] = {}
        self.output_where: dict[tuple[str, str], str] = {}
        self.model_source: dict[str, str] = {}

    def add_prompt(self, p: Prompt, where: str) -> None:
        if p.prompt_id in self.prompt_where:
            raise PoolError(f"{where}: duplicate prompt_id {p.prompt_id!r} (first at {self.prompt_where[p.prompt_id]})")
        self.prompt_where[p.prompt_id] = where
        self.by_text.setdefault(p.text.strip(), p.prompt_id)
        if p.prompt_id not in self.known_ids:
            self.prompts.append(p)

    def has_prompt(self, prompt_id: str) -> bool:
        return prompt_id in self.prompt_where or prompt_id in self.known_ids

    def claim_model(self, model: str, source: str) -> None:
        """A model's answers must come from one file; a second file for it is an error."""
        if model in self.known_models:
            raise PoolError(f"{source}: model {model!r} is already in the pool (use --replace to re-import the pool)")
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
        self.output_where[key] = where
        self.outputs[key] = o

    def data(self, fmt: str, sources: list[str]) -> PoolData:
        return PoolData(self.prompts, list(self.outputs.values()), fmt, sources)


# -- formats ---------------------------------------------------------------------------------


def read_native(path: Path, b: _Builder) -> list[str]:
    """A folder with prompts.jsonl and outputs/<model>.jsonl (or a prompts.jsonl path)."""
    folder = path if path.is_dir() else path.parent
    prompts_file = folder / "prompts.jsonl"
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    if not prompts_file.exists():
        raise PoolError(f"{folder}: expected prompts.jsonl in the native pool folder")
    for lineno, obj in iter_jsonl(prompts_file):
        where = f"{prompts_file}:{lineno}"
        b.add_prompt(
            Prompt(
                _field(obj, "prompt_id", where),
                _field(obj, "text", where),
                _field(obj, "category", where, optional=True),
                _field(obj, "reference", where, optional=True),
            ),
            where,
        )
    out_dir = folder / "outputs"
    files = sorted(out_dir.glob("*.jsonl")) if out_dir.is_dir() else []
    names = _model_map(out_dir / MODEL_MAP)
    for f in files:
        model = names.get(f.name, f.stem)
        b.claim_model(model, str(f))
        for lineno, obj in iter_jsonl(f):
            where = f"{f}:{lineno}"
            b.add_output(Output(_field(obj, "prompt_id", where), model, _field(obj, "output", where)), where)
    return [str(prompts_file), *map(str, files)]


MODEL_MAP = "models.json"


def _model_map(path: Path) -> dict[str, str]:
    """A native folder's `outputs/models.json`: {file name: model name} for files named by a slug."""
    if not path.exists():
        return {}
    obj = read_json(path)
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in obj.items()):
        raise PoolError(f"{path}: expected a JSON object mapping file names to model names (strings)")
    return obj


def read_alpaca_eval(path: Path, b: _Builder) -> list[str]:
    """AlpacaEval model_outputs.json (a list of {instruction, output, generator, dataset})."""
    files = sorted(path.glob("*.json*")) if path.is_dir() else [path]
    if not files:
        raise PoolError(f"{path}: no .json files in this folder")
    for f in files:
        rows = read_json(f)
        if not isinstance(rows, list):
            raise PoolError(f"{f}: expected a JSON list of {{instruction, output, generator}} objects")
        seen_models: set[str] = set()
        for i, obj in enumerate(rows):
            where = f"{f}: item {i}"
            if not isinstance(obj, dict):
                raise PoolError(f"{where}: expected a JSON object")
            instruction = _field(obj, "instruction", where)
            model = _field(obj, "generator", where)
            if model not in seen_models:
                b.claim_model(model, str(f))
                seen_models.add(model)
            pid = b.by_text.get(instruction.strip())
            if pid is None:
                pid = text_id(instruction, "ae")
                b.add_prompt(Prompt(pid, instruction, _field(obj, "dataset", where, optional=True)), where)
            b.add_output(Output(pid, model, _field(obj, "output", where)), where)
    return [str(f) for f in files]


def _arena_hard_answer(obj: dict, where: str) -> str:
    if "choices" in obj:
        choices = _field(obj, "choices", where, kind=list)
        if not choices or not isinstance(choices[0], dict) or not isinstance(choices[0].get("turns"), list):
            raise PoolError(f"{where}: field 'choices' must be a list whose first item has 'turns'")
        turns = choices[0]["turns"]
        return "\n\n".join(t.get("content", "") if isinstance(t, dict) else str(t) for t in turns)
    if "messages" in obj:
        msgs = _field(obj, "messages", where, kind=list)
        parts = []
        for m in msgs:
            if isinstance(m, dict) and m.get("role") == "assistant":
                c = m.get("content")
                parts.append(c.get("answer", "") if isinstance(c, dict) else str(c or ""))
        return "\n\n".join(parts)
    raise PoolError(f"{where}: missing field 'choices' or 'messages' (the model's answer)")


def read_arena_hard(path: Path, b: _Builder) -> list[str]:
    """An Arena-Hard folder: question.jsonl + model_answer/*.jsonl."""
    if not path.exists():
        raise PoolError(f"{path}: no such file or directory")
    folder = path if path.is_dir() else path.parent
    qfile = folder / "question.jsonl"
    if not qfile.exists():
        raise PoolError(f"{folder}: expected question.jsonl in the Arena-Hard folder")
    for lineno, obj in iter_jsonl(qfile):
        where = f"{qfile}:{lineno}"
        qid = obj.get("question_id", obj.get("uid"))
        if qid is None:
            raise PoolError(f"{where}: missing field 'question_id'")
        if "turns" in obj:
            turns = _field(obj, "turns", where, kind=list)
            text = "\n\n".join(t.get("content", "") if isinstance(t, dict) else str(t) for t in turns)
        else:
            text = _field(obj, "prompt", where)
        category = obj.get("subcategory") or obj.get("category")
        b.add_prompt(Prompt(str(qid), text, category if isinstance(category, str) else None), where)
    files = sorted((folder / "model_answer").glob("*.jsonl"))
    for f in files:
        claimed = set()
        for lineno, obj in iter_jsonl(f):
            where = f"{f}:{lineno}"
            model = obj.get("model_id") or obj.get("model") or f.stem
            if model not in claimed:
                b.claim_model(model, str(f))
                claimed.add(model)
            qid = obj.get("question_id", obj.get("uid"))
            if qid is None:
                raise PoolError(f"{where}: missing field 'question_id'")
            b.add_output(Output(str(qid), model, _arena_hard_answer(obj, where)), where)
    return [str(qfile), *map(str, files)]


def read_varco(path: Path, b: _Builder) -> list[str]:
    """Varco Arena / Arena-Lite: one jsonl per model (model_id, instruction, generated, task)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise PoolError(f"{path}: no .jsonl files in this folder")
    for f in files:
        claimed = set()
        for lineno, obj in iter_jsonl(f):
            where = f"{f}:{lineno}"
            model = _field(obj, "model_id", where)
            if model not in claimed:
                b.claim_model(model, str(f))
                claimed.add(model)
            instruction = _field(obj, "instruction", where)
            key = instruction.strip()
            task = _field(obj, "task", where, optional=True)
            pid = b.by_text.get(key)
            if pid is None:
                pid = text_id(instruction, "v")
                b.add_prompt(Prompt(pid, instruction, task), where)
            b.add_output(Output(pid, model, _field(obj, "generated", where)), where)
    return [str(f) for f in files]


READERS = {
    "native": read_native,
    "alpaca_eval": read_alpaca_eval,
    "arena_hard": read_arena_hard,
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
        return "arena_hard"
    if path.is_dir():
        if any(path.glob("*.json")) or any(path.glob("*.json.gz")):
            return "alpaca_eval"
        if any(path.glob("*.jsonl")):
            return "varco"
    elif path.name.endswith((".json", ".json.gz")):
        return "alpaca_eval"
    elif path.suffix == ".jsonl":
        first = next(iter_jsonl(path), (0, {}))[1]
        return "jsonl" if "outputs" in first and "prompt_id" in first else "varco"
    raise PoolError(f"{path}: cannot tell its format; pass --format one of {', '.join(FORMATS)}")


def load_pool_files(
    paths: Sequence[str | Path],
    format: str | None = None,
    *,
    known_prompts: Sequence[Prompt] = (),
    known_models: Sequence[str] = (),
) -> PoolData:
    """Read and check pool files; `known_*` describe a pool being extended in the store."""
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
            raise PoolError(f"--format: {fmt!r} is not a pool format (expected one of {', '.join(FORMATS)})")
        fmt_used = fmt
        sources += READERS[fmt](p, b)
    return b.data(fmt_used or "native", sources)


def import_pool(store, name: str, paths: Sequence[str | Path], format: str | None = None, *, replace: bool = False) -> PoolData:
    """Read files and write them as pool `name`, all or nothing. Adds models to an existing pool."""
    known_prompts: list[Prompt] = []
    known_models: list[str] = []
    if store.pool_exists(name) and not replace:
        known_prompts = store.prompts(name)
        known_models = store.models(name)
    data = load_pool_files(paths, format, known_prompts=known_prompts, known_models=known_models)
    if not data.prompts and not known_prompts:
        raise PoolError(f"{', '.join(map(str, paths))}: no prompts found")
    store.write_pool(name, data.prompts, data.outputs, source=";".join(data.sources), format=data.format, replace=replace)
    return data


def pool_fingerprint(data: PoolData) -> str:
    """A hash of a pool's content, to tell whether files changed since they were imported."""
    h = hashlib.sha256()
    for p in data.prompts:
        h.update(json.dumps([p.prompt_id, p.text, p.category, p.reference]).encode())
    for o in sorted(data.outputs, key=lambda o: (o.model, o.prompt_id)):
        h.update(json.dumps([o.model, o.prompt_id, o.text]).encode())
    return h.hexdigest()[:16]


# -- summaries and export ----------------------------------------------------------------------


@dataclass(slots=True)
class Coverage:
    model: str
    answers: int
    missing: list[str]
    empty: list[str]


def coverage(prompts: Sequence[Prompt], outputs: Sequence[Output]) -> list[Coverage]:
    """Which model lacks an answer to which prompt, and which answers are empty."""
    ids = [p.prompt_id for p in prompts]
    by_model: dict[str, dict[str, str]] = {}
    for o in outputs:
        by_model.setdefault(o.model, {})[o.prompt_id] = o.text
    rows = []
    for model in sorted(by_model):
        answers = by_model[model]
        rows.append(
            Coverage(
                model,
                len(answers),
                [pid for pid in ids if pid not in answers],
                [pid for pid in ids if pid in answers and not answers[pid].strip()],
            )
        )
    return rows


def export_jsonl(prompts: Sequence[Prompt], outputs: Sequence[Output]) -> Iterator[str]:
    """One JSON line per prompt, with every model's answer: `{prompt_id, text, category, reference, outputs: {model: text}}`."""
    by_prompt: dict[str, dict[str, str]] = {}
    for o in outputs:
        by_prompt.setdefault(o.prompt_id, {})[o.model] = o.text
    for p in prompts:
        yield json.dumps(
            {
                "prompt_id": p.prompt_id,
                "text": p.text,
                "category": p.category,
                "reference": p.reference,
                "outputs": dict(sorted(by_prompt.get(p.prompt_id, {}).items())),
            },
            ensure_ascii=False,
        )


def write_native(folder: Path, prompts: Sequence[Prompt], outputs: Sequence[Output]) -> None:
    """Write a pool as a native folder (prompts.jsonl + outputs/<model>.jsonl)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "prompts.jsonl", "w", encoding="utf-8") as f:
        for p in prompts:
            row = {"prompt_id": p.prompt_id, "text": p.text}
            if p.category is not None:
                row["category"] = p.category
            if p.reference is not None:
                row["reference"] = p.reference
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
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
                f.write(json.dumps({"prompt_id": o.prompt_id, "output": o.text}, ensure_ascii=False) + "\n")
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
    models: set[str] = set()
    for lineno, obj in iter_jsonl(path):
        where = f"{path}:{lineno}"
        pid = _field(obj, "prompt_id", where)
        b.add_prompt(Prompt(pid, _field(obj, "text", where), obj.get("category"), obj.get("reference")), where)
        outs = _field(obj, "outputs", where, kind=dict)
        for model, text in outs.items():
            if model not in models:
                b.claim_model(model, str(path))
                models.add(model)
            if not isinstance(text, str):
                raise PoolError(f"{where}: outputs[{model!r}] must be a string")
            b.add_output(Output(pid, model, text), where)
    return [str(path)]
