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
import struct
import zlib
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import itemgetter

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


# `_BULLET` and `_NUMBERED` counted without scanning every position for `^` (slow in `re`):
# the body is tried at position 0, then found after each "\n" (a literal prefix `re` can
# skip to). Both bodies end with \S, so a match never ends at a line start, and the matches
# (hence their number) are exactly those of `findall` with the `^`-anchored, re.M pattern.
_BULLET_BODY = re.compile(r"\s*[-*+•]\s+\S")
_BULLET_NL = re.compile(r"\n\s*[-*+•]\s+\S")
_NUMBERED_BODY = re.compile(r"\s*\d+[.)]\s+\S")
_NUMBERED_NL = re.compile(r"\n\s*\d+[.)]\s+\S")
# Necessary substrings: a match of the regex contains at least one of them, so when none is
# present the regex cannot match and is skipped (the result is the same, only cheaper).
_REFUSAL_KEYS = ("cannot", "can't", "can not", "won't", "unable to", "not able to", "i do", "against my")
_DISCLAIMER_KEYS = ("consult ", "important to note", "please note", " advice", "seek professional", "i am not a", "i'm not a")
# Every `_DISCLAIMER` match ends or starts on a word boundary that makes one of these whole
# words of the text ("consult", "note", "advice", "professional"), or has the words "not" and
# "am" ("i am not a") or "m" ("i'm not a").
_DISCLAIMER_WORDS = frozenset(("consult", "note", "advice", "professional"))
_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
_SURE_KEYS = ("sure", "certainly", "of course", "absolutely", "great question")


def _count_line_starts(body: re.Pattern, after_nl: re.Pattern, text: str) -> float:
    """log1p(len(re.compile("^" + body, re.M).findall(text))) when `text` contains "\\n"
    (the callers' marker); `after_nl` is "\\n" + body. See `_BULLET_BODY`."""
    if "\n" not in text:
        return 0.0
    m = body.match(text)
    if m is None:
        return math.log1p(len(after_nl.findall(text)))
    return math.log1p(1 + len(after_nl.findall(text, m.end())))


def dense_features(info: PromptInfo, answer: str, words: list[str], low: str | None = None) -> np.ndarray:
    """The `DENSE_NAMES` features of one answer, as float64 (unscaled). `low` is `answer.lower()`."""
    if low is None:
        low = answer.lower()
    n_words = len(words)
    n_tri = len(set(zip(words, words[1:], words[2:]))) if n_words >= 6 else 0
    return _dense(info, answer, words, low, set(words), n_tri, sum(map(len, words)), False)


def _dense(info: PromptInfo, answer: str, words: list[str], low: str, wset: set[str], n_tri: int, word_chars: int, tokens: bool = True) -> np.ndarray:
    """`dense_features` given the answer's set of words, its number of distinct word trigrams
    (used only when it has at least 6 words) and its total word length. `tokens`: the words
    are `_WORD.findall(low)` (then `wset` also serves as a cheap pre-check for `_DISCLAIMER`)."""
    n_chars = len(answer)
    n_words = len(words)
    lines = [ln for ln in map(str.strip, answer.splitlines()) if ln]
    n_lines = len(lines)
    log_chars = math.log1p(n_chars)
    # repetition
    rep_lines = (n_lines - len(set(lines))) / n_lines if n_lines > 1 else 0.0
    if n_words >= 6:
        rep_tri = 1.0 - n_tri / (n_words - 2)
    else:
        rep_tri = 0.0
    # overlap with the prompt's terms
    terms = info.terms
    common = terms & wset
    recall = len(common) / len(terms) if terms else 0.0
    n_content = len(wset) - len(_STOP.intersection(wset))  # len(wset - _STOP)
    precision = len(common - _STOP) / n_content if n_content else 0.0
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
    sentences = low.count(". ") + low.count(".\n") + (low.count("? ") if "?" in low else 0) + (low.count("! ") if "!" in low else 0)
    sentences = max(1, sentences + 1)
    start = low[:400]
    if answer.isascii():  # fast str.translate path: every digit becomes "0", count the "0"s
        digits = answer.translate(_DIGITS_TO_ZERO).count("0")
    else:
        digits = sum(map(answer.count, "0123456789"))
    # (the `or` chains spell out `any(k in start for k in _REFUSAL_KEYS)` etc., without a generator)
    refusal = 0.0
    if (
        "cannot" in start or "can't" in start or "can not" in start or "won't" in start
        or "unable to" in start or "not able to" in start or "i do" in start or "against my" in start
    ) and _REFUSAL.search(start):
        refusal = 1.0
    if tokens and wset.isdisjoint(_DISCLAIMER_WORDS) and not ("not" in wset and ("am" in wset or "m" in wset)):
        disclaimer = 0.0
    elif any(k in low for k in _DISCLAIMER_KEYS):
        disclaimer = _count(_DISCLAIMER, low, " ")
    else:
        disclaimer = 0.0
    sure = 0.0
    if ("sure" in start or "certainly" in start or "of course" in start or "absolutely" in start or "great question" in start) and _SURE.search(start):
        sure = 1.0
    return np.array(
        [
            log_chars,
            math.log1p(n_words),
            math.log1p(n_lines),
            log_chars * log_chars / 10.0,
            1.0 if n_words == 0 else 0.0,
            _count(_HEADER, answer, "#"),
            _count_line_starts(_BULLET_BODY, _BULLET_NL, answer),
            _count_line_starts(_NUMBERED_BODY, _NUMBERED_NL, answer),
            math.log1p(fences // 2),
            _count(_INLINE_CODE, answer, "`"),
            _count(_BOLD, answer, "**"),
            _count(_TABLE, answer, "|"),
            math.log1p(answer.count("\n\n")),
            refusal,
            1.0 if ("sorry" in start or "apologi" in start) else 0.0,
            disclaimer,
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
            (word_chars / n_words) if n_words else 0.0,
            math.log1p(n_words / sentences),
            math.log1p(answer.count("!")),
            math.log1p(low.count("http://") + low.count("https://")),
            digits / max(1, n_chars) * 10.0,
            sure,
            1.0 if ("in conclusion" in low or "in summary" in low or "to summari" in low or "overall," in low) else 0.0,
        ],
        dtype=np.float64,
    )


_U15 = np.uint64(15)
_U16 = np.uint64(16)
_U31 = np.uint64(31)
_U7 = np.uint64(7)
_U40 = np.uint64(40)
_U1 = np.uint64(1)
_FINAL_MUL = np.uint64(0x2C1B3C6D)
_MASK48 = np.uint64(0xFFFFFFFFFFFF)
_CHAR_OFFSET = np.uint64(0x100000000)
_REC = 5  # uint64 fields of a word's record, see `Hasher`
_PACK_REC = struct.Struct(f"={_REC}Q").pack  # native order, as np.frombuffer reads it


def _lookup(table: dict[str, bytes], keys) -> tuple[bytes, ...]:
    """`tuple(table[k] for k in keys)` (a non-empty collection), with one C-level itemgetter."""
    if len(keys) == 1:
        return (table[next(iter(keys))],)
    return itemgetter(*keys)(table)


class Hasher:
    """Signed feature hashing of word unigrams, word bigrams and character 4-grams of words.

    A feature's raw 64-bit hash h (the word's CRC-32; the bigram mix of two words' CRCs; a
    character n-gram's CRC-32 + 2**32) becomes h' = ((h ^ h >> 15) * 0x2C1B3C6D) & (2**48 - 1);
    its bucket is h' & (n_buckets - 1), its sign +1 if bit 40 of h' is set, else -1. Returns,
    for one answer, unique bucket indices and L2-normalised signed values (sublinear counts).

    Per distinct word seen (up to `max_words`, then the memo starts over) it memoises, as packed
    bytes, a record of uint64 fields: the unigram's key (2 * bucket + sign bit), CRC * MIX and
    CRC * 31 + 7 (the two halves of the bigram mix, mod 2**64), an id (distinct words have
    distinct ids) and the word's length; and the keys of its character n-grams. An answer then
    costs a memo lookup per word, one more per distinct word, and numpy passes
    (sort-based reduction of the keys; uint32 keys unless n_buckets > 2**30).
    """

    _MIX = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, n_buckets: int = 1 << 18, char_ngrams: int = 4, max_words: int = 500_000) -> None:
        if n_buckets & (n_buckets - 1):
            raise ValueError("n_buckets must be a power of two")
        self.n_buckets = n_buckets
        self.char_n = char_ngrams
        self.max_words = max_words
        self._bucket_mask = np.uint64(n_buckets - 1)
        self._key_dtype = np.dtype(np.uint32 if n_buckets <= 1 << 30 else np.uint64)
        self._rec: dict[str, bytes] = {}
        self._chars: dict[str, bytes] = {}

    def _keys(self, h: np.ndarray) -> np.ndarray:
        """Raw uint64 hashes -> keys 2 * bucket + sign bit, of the key dtype (`h` is overwritten)."""
        h ^= h >> _U15
        h *= _FINAL_MUL
        if self._bucket_mask > _MASK48:  # else bits 48+ reach neither the bucket nor bit 40
            h &= _MASK48
        bit = h >> _U40
        bit &= _U1
        h &= self._bucket_mask
        h <<= _U1
        h |= bit
        return h.astype(self._key_dtype)

    def _add(self, words: list[str]) -> None:
        """Memoise words not seen yet."""
        crc = zlib.crc32
        n = self.char_n
        m = len(words)
        raw = [crc(w.encode("utf-8"), 0x5BD1E995) for w in words]
        counts = []
        grams: list[bytes] = []  # UTF-8 of the character n-grams of "<word>", word after word
        for w in words:
            padded = f"<{w}>"
            k = len(padded) - n + 1 if len(padded) > n else 0
            counts.append(k)
            if not k:
                continue
            if padded.isascii():  # one byte per character: slice the bytes
                b = padded.encode()
                grams += [b[i : i + n] for i in range(k)]
            else:
                grams += [padded[i : i + n].encode("utf-8") for i in range(k)]
        # words' CRCs, then char n-grams' CRCs + 2**32, hashed to keys in one numpy pass
        h = np.array(raw + list(map(crc, grams, repeat(0x1B873593))), np.uint64)
        h[m:] += _CHAR_OFFSET
        mixed = (h[:m] * self._MIX).tolist()  # bigram halves: CRC * MIX (mod 2**64) ...
        keys = self._keys(h)
        pack = _PACK_REC
        first = len(self._rec)
        # ... and CRC * 31 + 7 (< 2**37)
        self._rec.update(zip(words, map(pack, keys[:m].tolist(), mixed, [r * 31 + 7 for r in raw], range(first, first + m), map(len, words))))
        cb = keys[m:].tobytes()
        item = self._key_dtype.itemsize
        ends = list(accumulate(counts))
        self._chars.update(zip(words, [cb[item * s : item * e] for s, e in zip([0, *ends[:-1]], ends)]))

    def records(self, words: list[str], uniq: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """(records of `words`, shape (len(words), 5), char n-gram keys of the words in `uniq`
        = set(words)), memoising unseen words. Record fields: see the class docstring."""
        new = uniq.difference(self._rec)
        if new:
            if len(self._rec) + len(new) > self.max_words:  # full: start over with this answer's words
                self._rec, self._chars = {}, {}
                new = uniq
            self._add(list(new))
        rec = np.frombuffer(b"".join(_lookup(self._rec, words)), np.uint64).reshape(len(words), _REC)
        return rec, np.frombuffer(b"".join(_lookup(self._chars, uniq)), self._key_dtype)

    @property
    def n_words(self) -> int:
        """Distinct words memoised (ids are below this)."""
        return len(self._rec)

    def hash_words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(indices int64, values float32) of one answer's hashed features, unique indices."""
        if not words:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return self.hash_records(*self.records(words, set(words)))

    def hash_records(self, rec: np.ndarray, chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`hash_words` from `records(words, set(words))` (words non-empty)."""
        parts = [rec[:, 0], chars]
        if len(rec) > 1:
            big = rec[:-1, 1] + rec[1:, 2]
            big >>= _U16
            parts.append(self._keys(big))
        keys = np.concatenate(parts, dtype=self._key_dtype, casting="unsafe")
        keys.sort()
        bucket = keys >> 1
        signs = (keys & 1) * 2.0
        signs -= 1.0
        first = np.empty(len(keys), bool)
        first[0] = True
        np.not_equal(bucket[1:], bucket[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        uniq = bucket[starts].astype(np.int64)
        vals = np.add.reduceat(signs, starts)
        # sublinear term frequency, then L2 normalisation
        vals = np.sign(vals) * np.log1p(np.abs(vals))
        norm = np.sqrt((vals * vals).sum())
        if norm > 0:
            vals /= norm
        keep = vals != 0
        if keep.all():  # the usual case: no bucket where features cancel out
            return uniq, vals.astype(np.float32)
        return uniq[keep], vals[keep].astype(np.float32)


# `_WORD.findall` of an ASCII text, faster: \w on ASCII is [A-Za-z0-9_]; every other ASCII
# character becomes a space, then str.split() yields exactly the maximal runs of word characters.
_ASCII_NON_WORD_TO_SPACE = {i: " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")}


def _words(low: str) -> list[str]:
    """`_WORD.findall(low)`."""
    if low.isascii():
        return low.translate(_ASCII_NON_WORD_TO_SPACE).split()
    return _WORD.findall(low)


def tokenize(answer: str) -> list[str]:
    return _words(answer.lower())


@dataclass(slots=True)
class AnswerFeatures:
    dense: np.ndarray  # (len(DENSE_NAMES),)
    idx: np.ndarray  # hashed bucket indices
    val: np.ndarray  # their values


def answer_features(info: PromptInfo, answer: str, hasher: Hasher) -> AnswerFeatures:
    low = answer.lower()
    words = _words(low)
    if not words:
        idx, val = hasher.hash_words(words)
        return AnswerFeatures(_dense(info, answer, words, low, set(), 0, 0), idx, val)
    wset = set(words)
    rec, chars = hasher.records(words, wset)
    idx, val = hasher.hash_records(rec, chars)
    n_words = len(words)
    n_tri = 0
    if n_words >= 6:
        n_ids = hasher.n_words
        if n_ids < 1 << 21:
            n_tri = _distinct_trigrams(rec[:, 3], n_ids)
        else:
            n_tri = len(set(zip(words, words[1:], words[2:])))
    return AnswerFeatures(_dense(info, answer, words, low, wset, n_tri, int(rec[:, 4].sum())), idx, val)


def _distinct_trigrams(ids: np.ndarray, n_ids: int) -> int:
    """Distinct consecutive triples in `ids` (uint64, all < n_ids <= 2**21: a triple fits 63 bits)."""
    t = ids[:-2] * np.uint64(n_ids * n_ids)
    t += ids[1:-1] * np.uint64(n_ids)
    t += ids[2:]
    t.sort()
    return int(np.count_nonzero(t[1:] != t[:-1])) + 1
