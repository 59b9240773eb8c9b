"""Reading recorded judge verdicts (AlpacaEval layout) and model outputs. I/O only; no features here."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from arena.errors import BadInput, NotFound


class SurrogateDataError(BadInput):
    """A judgments or outputs file for the surrogate is missing or malformed."""


@dataclass(frozen=True, slots=True)
class JudgedPair:
    """One recorded verdict: `preference` in [1, 2], 2 = output_2 better."""

    instruction: str
    output_1: str
    generator_1: str
    output_2: str
    generator_2: str
    preference: float


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


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
    for path in _judgment_files(Path(data)):
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    pref = r["preference"]
                    if pref is None:
                        continue
                    pref = float(pref)
                    if not 1.0 <= pref <= 2.0:
                        raise ValueError(f"preference {pref} is outside [1, 2]")
                    out.append(
                        JudgedPair(
                            str(r["instruction"]),
                            str(r["output_1"] or ""),
                            str(r["generator_1"]),
                            str(r["output_2"] or ""),
                            str(r["generator_2"]),
                            pref,
                        )
                    )
                except (ValueError, KeyError, TypeError) as e:
                    raise SurrogateDataError(f"{path}:{lineno}: expected a JSON object with instruction, output_1, generator_1, output_2, generator_2, preference in [1, 2] ({e})") from None
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
        try:
            with _open_text(path) as fh:
                rows = json.load(fh)
            result[model] = {str(r["instruction"]): str(r["output"] or "") for r in rows}
        except (ValueError, KeyError, TypeError) as e:
            raise SurrogateDataError(f"{path}: expected a JSON list of objects with instruction and output ({e})") from None
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
