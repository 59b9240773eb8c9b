"""Reading recorded judge verdicts (AlpacaEval layout) and model outputs. I/O only; no features here.

Files are read by `arena.io` (JSON lines / JSON arrays, `.gz`) and each row validated by a pydantic
row model, so a bad row is reported as `path:line` (JSON arrays: `path:item N`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator

from arena.errors import NotFound, RecordError
from arena.io import Name, OptText, Row, Text, iter_records


class SurrogateDataError(RecordError):
    """A judgments or outputs file for the surrogate is missing or malformed."""


class JudgmentRow(Row):
    """One line of an AlpacaEval annotations file: `preference` in [1, 2] (2: output_2 better), or null."""

    what = "judgment"
    instruction: Text
    output_1: OptText
    generator_1: Name
    output_2: OptText
    generator_2: Name
    preference: float | None

    @field_validator("preference")
    @classmethod
    def _in_range(cls, v: float | None) -> float | None:
        if v is not None and not 1.0 <= v <= 2.0:
            raise ValueError(f"preference {v} is outside [1, 2]")
        return v


class OutputRow(Row):
    """One item of an AlpacaEval outputs file (`<model>.json`)."""

    what = "output"
    instruction: Text
    output: OptText


@dataclass(frozen=True, slots=True)
class JudgedPair:
    """One recorded verdict: `preference` in [1, 2], 2 = output_2 better."""

    instruction: str
    output_1: str
    generator_1: str
    output_2: str
    generator_2: str
    preference: float


def _judgment_files(data: Path) -> list[Path]:
    if not data.exists():
        raise NotFound(f"{data}: no such folder")
    if data.is_file():
        return [data]
    sub = data / "judgments_gpt4_turbo"
    base = sub if sub.is_dir() else data
    files = sorted(p for p in base.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
    if not files:
        raise NotFound(f"{data}: no judgments files (*.jsonl or *.jsonl.gz) found")
    return files


def load_judgments(data: str | Path) -> list[JudgedPair]:
    """All recorded verdicts under `data` (a folder of `<model>.jsonl[.gz]`, or its parent, or one file).

    Rows whose preference is missing (null) are skipped; anything else malformed raises.
    """
    out: list[JudgedPair] = []
    expected = "expected a JSON object with instruction, output_1, generator_1, output_2, generator_2, preference in [1, 2]"
    for path in _judgment_files(Path(data)):
        for rec in iter_records(path, "jsonl", what="judgment"):
            try:
                r = JudgmentRow.parse(rec)
            except RecordError as e:
                raise SurrogateDataError(f"{rec.where}: {expected} ({str(e).removeprefix(rec.where + ': ')})") from None
            if r.preference is None:
                continue
            out.append(JudgedPair(r.instruction, r.output_1 or "", r.generator_1, r.output_2 or "", r.generator_2, float(r.preference)))
    return out


def load_outputs(folder: str | Path) -> dict[str, dict[str, str]]:
    """Model outputs as {model: {instruction: output}} from `<model>.json[.gz]` files (AlpacaEval layout)."""
    base = Path(folder)
    if (base / "outputs").is_dir():
        base = base / "outputs"
    if not base.is_dir():
        raise NotFound(f"{folder}: no such folder")
    files = sorted(p for p in base.iterdir() if p.name.endswith((".json", ".json.gz")))
    if not files:
        raise NotFound(f"{base}: no outputs files (*.json or *.json.gz) found")
    result: dict[str, dict[str, str]] = {}
    for path in files:
        model = path.name.removesuffix(".gz").removesuffix(".json")
        rows = []
        for rec in iter_records(path, "json", what="output"):
            try:
                rows.append(OutputRow.parse(rec))
            except RecordError as e:
                raise SurrogateDataError(f"{rec.where}: expected an object with instruction and output ({str(e).removeprefix(rec.where + ': ')})") from None
        result[model] = {r.instruction: r.output or "" for r in rows}
    return result


def load_reference(path: str | Path, column: str = "chatbot_arena_elo_2024_02_02") -> dict[str, float]:
    """{model: value} from a reference rankings CSV with a `model` column."""
    import csv

    p = Path(path)
    if not p.exists():
        raise NotFound(f"{p}: no such file")
    with p.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "model" not in rows[0] or column not in rows[0]:
        raise SurrogateDataError(f"{p}: expected a CSV with columns model and {column}")
    return {r["model"]: float(r[column]) for r in rows if r[column]}
