"""Cheap features of one answer to one prompt, for the surrogate judge.

Every feature is a function of (prompt, answer) alone, so a pair is scored as
`score(prompt, A) - score(prompt, B)`: antisymmetric by construction, one order suffices.

Two blocks:
- `dense`: a fixed list of hand-made features (`DENSE_NAMES`): lengths (log), markdown
  structure, refusals and disclaimers, repetition, overlap with the prompt's terms, script
  match with the prompt, truncation;
- `hashed`: word unigrams and bigrams and character 4-grams of words (fastText-style), each
  hashed with CRC-32 into `n_buckets` signed buckets, L2-normalised per answer.

Hashes are CRC-32 of UTF-8 bytes (stable across processes and platforms, unlike `hash()`).
"""

from __future__ import annotations

import math
import re
import zlib
from itertools import chain
from dataclasses import dataclass

import numpy as np

FEATURE_VERSION = 1

DENSE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "log_chars_sq",
    "empty",
    "headers",
    "list_items",
    "numbered_items",
    "code_blocks",
    "inline_code",
    "bold",
    "tables",
    "paragraphs",
    "refusal",
    "apology",
    "disclaimer",
    "as_an_ai",
    "question_back",
    "repeated_lines",
    "repeated_trigrams",
    "prompt_term_recall",
    "prompt_term_precision",
    "prompt_copied",
    "script_mismatch",
    "non_ascii",
    "truncated",
    "unclosed_fence",
    "ends_with_colon",
    "mean_word_len",
    "mean_sentence_len",
    "exclamations",
    "urls",
    "digits",
    "says_sure",
    "conclusion",
)

_WORD = re.compile(r"\w+", re.UNICODE)
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.M)
_BULLET = re.compile(r"^\s*[-*+•]\s+\S", re.M)
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S", re.M)
_FENCE = re.compile(r"^\s*```", re.M)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_TABLE = re.compile(r"^\s*\|.*\|\s*$", re.M)
_REFUSAL = re.compile(
    r"\b(i (?:cannot|can't|can not|won't|am unable to|am not able to|'m unable to|'m not able to)"
    r"|i (?:do not|don't) (?:have|feel comfortable)|not able to (?:provide|help|assist)"
    r"|cannot (?:provide|fulfill|assist|help)|against my (?:programming|guidelines))\b",
)
_DISCLAIMER = re.compile(
    r"\b(consult (?:a|with a|your) |it is important to note|it's important to note|please note|"
    r"not (?:a )?(?:medical|legal|financial) advice|seek professional|i am not a|i'm not a)\b",
)
_SURE = re.compile(r"\s*(sure|certainly|of course|absolutely|great question)\b")
_STOP = frozenset(
    "a an the and or of to in on for with is are was were be been it this that these those as at by from "
    "i you he she we they me my your our their what which who how why when where do does did can could "
    "would should will shall may might must not no yes if then than so such please give write make "
    "about into over also any all some".split()
)


def _script(text: str) -> str:
    """A coarse script tag: 'latin', 'cjk', 'cyrillic', 'arabic', 'other', or '' for no letters."""
    head = text[:300]
    if head.isascii():
        return "latin" if any(ch.isalpha() for ch in head) else ""
    counts = {"latin": 0, "cjk": 0, "cyrillic": 0, "arabic": 0, "other": 0}
    for ch in head:
        if not ch.isalpha():
            continue
        o = ord(ch)
        if o < 0x250:
            counts["latin"] += 1
        elif 0x400 <= o < 0x530:
            counts["cyrillic"] += 1
        elif 0x600 <= o < 0x700:
            counts["arabic"] += 1
        elif 0x3040 <= o < 0xA000 or 0xAC00 <= o < 0xD7B0:
            counts["cjk"] += 1
        else:
            counts["other"] += 1
    best = max(counts, key=counts.get)
    return best if counts[best] else ""


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """What the answer features need to know about the prompt (computed once per prompt)."""

    terms: frozenset[str]
    script: str
    lower: str


def prompt_info(prompt: str) -> PromptInfo:
    words = {w for w in _WORD.findall(prompt.lower()) if w not in _STOP and len(w) > 2}
    return PromptInfo(frozenset(words), _script(prompt), prompt.lower())


def _count(pattern: re.Pattern, text: str, marker: str) -> float:
    """log1p of the matches of `pattern`, skipping the regex when `marker` is absent."""
    return math.log1p(len(pattern.findall(text))) if marker in text else 0.0


def dense_features(info: PromptInfo, answer: str, words: list[str], low: str | None = None) -> np.ndarray:
    """The `DENSE_NAMES` features of one answer, as float64 (unscaled). `low` is `answer.lower()`."""
    if low is None:
        low = answer.lower()
    n_chars = len(answer)
    n_words = len(words)
    lines = [ln.strip() for ln in answer.splitlines() if ln.strip()]
    n_lines = len(lines)
    log_chars = math.log1p(n_chars)
    # repetition
    rep_lines = (n_lines - len(set(lines))) / n_lines if n_lines > 1 else 0.0
    if n_words >= 6:
        tri = set(zip(words, words[1:], words[2:]))
        rep_tri = 1.0 - len(tri) / (n_words - 2)
    else:
        rep_tri = 0.0
    # overlap with the prompt's terms
    wset = set(words)
    recall = len(info.terms & wset) / len(info.terms) if info.terms else 0.0
    content = wset - _STOP
    precision = len(content & info.terms) / len(content) if content else 0.0
    head = low[:120].strip()
    copied = 1.0 if len(head) >= 40 and head in info.lower else 0.0
    # script and language
    script = _script(answer)
    mismatch = 1.0 if (info.script and script and script != info.script) else 0.0
    sample = answer[:600]
    non_ascii = 0.0 if sample.isascii() else (len(sample.encode("utf-8")) - len(sample)) / max(1, len(sample))
    # truncation
    tail = answer.rstrip()
    fences = answer.count("```")
    truncated = 1.0 if tail and tail[-1].isalnum() and n_words > 30 else 0.0
    sentences = max(1, low.count(". ") + low.count(".\n") + low.count("? ") + low.count("! ") + 1)
    start = low[:400]
    digits = sum(answer.count(d) for d in "0123456789")
    return np.array(
        [
            log_chars,
            math.log1p(n_words),
            math.log1p(n_lines),
            log_chars * log_chars / 10.0,
            1.0 if n_words == 0 else 0.0,
            _count(_HEADER, answer, "#"),
            _count(_BULLET, answer, "\n"),
            _count(_NUMBERED, answer, "\n"),
            math.log1p(fences // 2),
            _count(_INLINE_CODE, answer, "`"),
            _count(_BOLD, answer, "**"),
            _count(_TABLE, answer, "|"),
            math.log1p(answer.count("\n\n")),
            1.0 if _REFUSAL.search(start) else 0.0,
            1.0 if ("sorry" in start or "apologi" in start) else 0.0,
            _count(_DISCLAIMER, low, " "),
            1.0 if ("as an ai" in low or "language model" in low or "ai assistant" in low) else 0.0,
            1.0 if n_chars < 300 and tail.endswith("?") else 0.0,
            rep_lines,
            rep_tri,
            recall,
            precision,
            copied,
            mismatch,
            non_ascii,
            truncated,
            1.0 if fences % 2 else 0.0,
            1.0 if tail.endswith(":") else 0.0,
            (sum(map(len, words)) / n_words) if n_words else 0.0,
            math.log1p(n_words / sentences),
            math.log1p(answer.count("!")),
            math.log1p(low.count("http://") + low.count("https://")),
            digits / max(1, n_chars) * 10.0,
            1.0 if _SURE.search(start) else 0.0,
            1.0 if ("in conclusion" in low or "in summary" in low or "to summari" in low or "overall," in low) else 0.0,
        ],
        dtype=np.float64,
    )


class Hasher:
    """Signed feature hashing of word unigrams, word bigrams and character 4-grams of words.

    Word hashes are memoised (words repeat), bigrams are combined in numpy. Returns, for one
    answer, unique bucket indices and L2-normalised signed values.
    """

    _MIX = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, n_buckets: int = 1 << 18, char_ngrams: int = 4) -> None:
        if n_buckets & (n_buckets - 1):
            raise ValueError("n_buckets must be a power of two")
        self.n_buckets = n_buckets
        self.char_n = char_ngrams
        self._word: dict[str, int] = {}
        self._chars: dict[str, tuple[int, ...]] = {}

    def _word_hash(self, w: str) -> int:
        h = self._word.get(w)
        if h is None:
            h = zlib.crc32(w.encode("utf-8"), 0x5BD1E995)
            if len(self._word) < 500_000:
                self._word[w] = h
        return h

    def _char_hashes(self, w: str) -> tuple[int, ...]:
        hs = self._chars.get(w)
        if hs is None:
            n = self.char_n
            padded = f"<{w}>"
            if len(padded) <= n:
                hs = ()
            else:
                hs = tuple(zlib.crc32(padded[i : i + n].encode("utf-8"), 0x1B873593) for i in range(len(padded) - n + 1))
            if len(self._chars) < 500_000:
                self._chars[w] = hs
        return hs

    def hash_words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(indices int64, values float32) of one answer's hashed features, unique indices."""
        if not words:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        uniq_words = set(words)
        table = {w: self._word_hash(w) for w in uniq_words}
        wh = np.array(list(map(table.__getitem__, words)), dtype=np.uint64)
        parts = [wh]
        if len(words) > 1:
            parts.append((wh[:-1] * self._MIX + wh[1:] * np.uint64(31) + np.uint64(7)) >> np.uint64(16))
        chars = list(chain.from_iterable(map(self._char_hashes, uniq_words)))
        if chars:
            parts.append(np.asarray(chars, dtype=np.uint64) + np.uint64(0x100000000))
        h = np.concatenate(parts)
        h = (h ^ (h >> np.uint64(15))) * np.uint64(0x2C1B3C6D)
        h &= np.uint64(0xFFFFFFFFFFFF)
        idx = (h & np.uint64(self.n_buckets - 1)).astype(np.int64)
        sign = np.where((h >> np.uint64(40)) & np.uint64(1), 1.0, -1.0)
        uniq, inv = np.unique(idx, return_inverse=True)
        vals = np.bincount(inv.ravel(), weights=sign, minlength=len(uniq))
        # sublinear term frequency, then L2 normalisation
        vals = np.sign(vals) * np.log1p(np.abs(vals))
        norm = np.sqrt((vals * vals).sum())
        if norm > 0:
            vals /= norm
        keep = vals != 0
        return uniq[keep], vals[keep].astype(np.float32)


def tokenize(answer: str) -> list[str]:
    return _WORD.findall(answer.lower())


@dataclass(slots=True)
class AnswerFeatures:
    dense: np.ndarray  # (len(DENSE_NAMES),)
    idx: np.ndarray  # hashed bucket indices
    val: np.ndarray  # their values


def answer_features(info: PromptInfo, answer: str, hasher: Hasher) -> AnswerFeatures:
    low = answer.lower()
    words = _WORD.findall(low)
    idx, val = hasher.hash_words(words)
    return AnswerFeatures(dense_features(info, answer, words, low), idx, val)
