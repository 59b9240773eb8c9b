"""Verdict parsing: normalised text, the judge's final verdict wins, peers' formats, re-ask prompts.

The table `fixtures/verdicts/replies.json` holds replies written like real ones (Arena-Hard-Auto's
GPT-4 judgments, FastChat MT-Bench and its Japanese jp_bench replies, WideDeep score lines, JSON),
each with its expected label; `label: null` means the reply must be unparsed.
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from arena.judges._parse import (
    VerdictFormat,
    label_from_scores,
    normalise,
    parse_label,
    parse_scores,
    parse_verdict,
    reask_prompt,
)
from arena.records import swap_label

TABLE = json.loads((Path(__file__).parent / "fixtures" / "verdicts" / "replies.json").read_text(encoding="utf-8"))["replies"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202c", "\u2066", "\u2069", "\u200e", "\u00ad"]


def test_table_is_large_and_covers_every_format():
    assert len(TABLE) >= 60
    assert {r["format"] for r in TABLE} == {f.value for f in VerdictFormat}
    assert sum(r["label"] is None for r in TABLE) >= 10  # unparsed cases, not only happy paths


@pytest.mark.parametrize("row", TABLE, ids=[f"{i}-{r['note']}" for i, r in enumerate(TABLE)])
def test_reply_table(row):
    got = parse_verdict(row["reply"], row["format"])
    assert got.label == row["label"], got.problem
    assert (got.problem is None) == (row["label"] is not None)


def swap_reply(text: str) -> str:
    """The same reply written with the two assistants exchanged: A <-> B as standalone letters,
    Assistant 1 <-> Assistant 2, and the two numbers of a line holding only two numbers."""
    pairs = {"A": "B", "B": "A", "a": "b", "b": "a", "Ａ": "Ｂ", "Ｂ": "Ａ"}
    text = re.sub(r"(?<![A-Za-z])([ABabＡＢ])(?![A-Za-z])", lambda m: pairs[m.group(1)], text)
    text = re.sub(r"(?<=Assistant )([12])\b", lambda m: "2" if m.group(1) == "1" else "1", text)
    return re.sub(r"(?m)^(\s*)(\d+)(\s*,?\s+)(\d+)(\s*)$", r"\1\4\3\2\5", text)


@pytest.mark.parametrize("row", TABLE, ids=[f"{i}-{r['note']}" for i, r in enumerate(TABLE)])
def test_swapping_the_assistants_swaps_the_label(row):
    label = parse_label(row["reply"], row["format"])
    swapped = parse_label(swap_reply(row["reply"]), row["format"])
    assert swapped == (swap_label(label) if label else None)


def test_properties_on_random_replies():
    """Random replies assembled from the table's pieces: invisible characters inserted anywhere never
    change the verdict, and swapping the assistants swaps it."""
    rng = random.Random(7)
    for _ in range(400):
        rows = rng.sample(TABLE, rng.randint(1, 3))
        fmt = rows[-1]["format"]
        text = "\n\n".join(r["reply"] for r in rows)
        label = parse_label(text, fmt)
        noisy = list(text)
        for _ in range(rng.randint(1, 8)):
            noisy.insert(rng.randint(0, len(noisy)), rng.choice(INVISIBLE))
        assert parse_label("".join(noisy), fmt) == label, text
        assert parse_label(swap_reply(text), fmt) == (swap_label(label) if label else None), text


def test_issue_examples():
    # a zero-width space inside the final label after a hypothetical one: the final label, not the hypothetical
    assert parse_label("If A had been right: [[A>B]].\nFinal: [[B\u200b>>A]]") == "B>>A"
    # a BOM inside the brackets: B>A, not A>>B
    assert parse_label("My final verdict is [[\ufeffB>A]]") == "B>A"
    assert parse_verdict("[[A>B]] or possibly [[B>A]]").problem == "contradictory: A>B, B>A"
    assert parse_label("My final verdict is A>B.") == "A>B"


def test_every_format_character_is_removed():
    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(cf) > 150
    assert normalise("x".join(cf)) == "x" * (len(cf) - 1)


def test_formats_are_not_guessed():
    assert parse_label("[[A]]") is None  # MT-Bench label under the five-way format
    assert parse_label("[[A]]", "mt_bench") == "A>B"
    assert parse_label("[[A>B]]", "mt_bench") is None
    assert parse_label('{"winner": "A"}') is None
    assert parse_label("Score A: 8\nScore B: 3") is None
    assert parse_label("Score A: 8\nScore B: 3", "scores") == "A>>B"
    with pytest.raises(ValueError):
        parse_verdict("x", "bogus")


def test_scores():
    assert parse_scores("blah\nScore of Assistant 1: 8\nScore of Assistant 2: 5") == (8, 5)
    assert parse_scores("Assistant 1 is good.\n7 3") == (7, 3)
    assert parse_scores("7 3\nlater: Score A: 2\nScore B: 9") == (2, 9)
    assert parse_scores("Score A: 7") is None
    assert label_from_scores(8, 5) == "A>>B" and label_from_scores(5, 6) == "B>A" and label_from_scores(4, 4) == "A=B"


def test_reask_prompt_names_the_format_and_the_problem():
    assert "[[C]]" in reask_prompt("mt_bench")
    assert "Score of Assistant 1" in reask_prompt("scores")
    assert "several different verdicts" in reask_prompt("labels", "contradictory: A>B, B>A")
    assert "[[A>>B]]" in reask_prompt()
