# ruff: noqa: F811, I001, FURB167, SIM905  (the reference copy at the bottom is kept verbatim)
"""The surrogate's faster featuriser computes exactly what it computed before.

`arena/surrogate/features.py` was rewritten for speed (per-word memo of packed hashes, sort-based
reduction, cheaper tokenising and regex pre-checks). The shipped weights and every held-out
figure depend on the features being bit-for-bit the same, so this file keeps a VERBATIM copy of
the previous implementation (features.py at commit fa9cb5f, below the tests, unchanged except
that its module docstring and `from __future__` line are dropped) and compares the two:
`answer_features` (dense, idx, val: equal arrays, same dtype) on the committed AlpacaEval
fixtures, on tricky hand-written and random texts, and the shipped model's `prob_a`.
"""

from __future__ import annotations

import gzip
import json
import math as _math
import random
from pathlib import Path

import numpy as np

from arena.surrogate import features as fast

FIX = Path(__file__).resolve().parent / "fixtures" / "surrogate"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"  # the bundled AlpacaEval extract: 8 models x 101 prompts


def _fixture_pairs() -> list[tuple[str, str]]:
    """Every distinct (prompt, answer) of the committed fixtures: outputs and judged pairs."""
    from arena.surrogate.data import load_judgments, load_outputs

    seen: dict[tuple[str, str], None] = {}
    for answers in load_outputs(FIX / "outputs").values():
        for prompt, answer in answers.items():
            seen[(prompt, answer)] = None
    for p in load_judgments(FIX / "judgments"):
        seen[(p.instruction, p.output_1)] = None
        seen[(p.instruction, p.output_2)] = None
    return list(seen)


TRICKY = [
    "",
    " ",
    "\n\n",
    "a",
    "ab",
    "abc",
    "!!!???...",
    "___",
    "a_b c__d",
    "- x\n- y",
    "\n- x\n\n  * y\n+ z\n• w",
    "- \n\nfoo\n-\n- x\n-\tq",
    "-\n-\n-",
    "1. a\n2) b\n  3. c\n4.d\n\n5.\n\n  x",
    "\n1. x",
    "\n\n1.  \n y",
    "# h\n## h2\n#\n# x\n####### seven\n   # three\n    # four\n#\n#\n",
    "|a|b|\n|--|--|\n|1|2|\n\n|3|4|  \n| x |",
    "`code` and **bold** and __u__ and ** not bold\n** and ```py\nx = 1\n```",
    "```\nunclosed",
    "I'm sorry, but I cannot help with that. As an AI language model, I can't.",
    "i am not able to provide that; against my guidelines. I don't have access.",
    "Sure! Certainly, of course. Absolutely: great question?",
    (
        "Please consult a doctor. It's important to note this is not medical advice. Seek professional help; "
        "I am not a lawyer and i'm not a doctor. consult with a friend, consult your notes. Not a financial advice."
    ),
    "xconsult a lawyer, notes and advices, unprofessional, i'm nota, note",
    "In conclusion, overall, to summarize: in summary...",
    "Visit https://example.com or http://x.org. Numbers 0123456789 and 3.14159 and 42!",
    "日本語のテキスト です。第1章：こんにちは、世界！",
    "Здравствуйте, мир! Это тест 123.",
    "مرحبا بالعالم",
    "Ünïcödé wörds, naïve café; straße ÉCOLE",
    "K\u212a kelvin sign lowercases to ascii k; \u0130stanbul",
    "emoji 😀 test 🎉🎉 and tabs\tand\r\ncarriage returns\x0b\x0c\x1c\x1d\x1e\x1f",
    "word " * 50,
    "the cat sat on the mat the cat sat on the mat the cat sat",
    " ".join(["word"] * 40) + " and then the",
    "x" * 600,
    "\u00a0non\u00a0breaking\u2028line\u2029para\u3000ideographic space",
    "Hello? Is it me? yes! no. ok.\nnext.\tthen",
    "tail with colon:",
    "question back?",
]


def _random_texts(n: int, seed: int = 0) -> list[str]:
    """Random texts over the characters and words the regexes and pre-checks care about."""
    rng = random.Random(seed)
    atoms = [
        " ", " ", " ", "\n", "\n\n", "\t", "-", "*", "**", "+", "•", "1", "12", ".", ")", "#", "##", "|", "`", "```", "_", "__",
        "a", "é", "ß", "日", "я", "!", "?", "'", ":", ",", "0", "7", "note", "consult ", "please ", "advice", "not ", "a ", "am ",
        "i'm ", "i am ", "medical ", "professional", "seek ", "important to ", "it's ", "it is ", "sure", "cannot ", "i can't ",
        "i won't ", "sorry", "unable to ", "not able to ", "help", "i do not have ", "against my ", "guidelines", "of course",
        "certainly", "http://", "https://", "in conclusion", "overall,", "as an ai", "word", "Word", "WORD", "x_y",
    ]
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(atoms) for _ in range(rng.randint(0, 120))))
    return out


def _assert_same(ref, new, what: str) -> None:
    for field in ("dense", "idx", "val"):
        a, b = getattr(ref, field), getattr(new, field)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), f"{field} differs for {what!r}"


def _check(pairs: list[tuple[str, str]], n_buckets: int = 1 << 18, **hasher_kw) -> None:
    ref_h = Hasher(n_buckets)
    new_h = fast.Hasher(n_buckets, **hasher_kw)
    infos: dict[str, tuple] = {}
    for prompt, answer in pairs:
        if prompt not in infos:
            infos[prompt] = (prompt_info(prompt), fast.prompt_info(prompt))
        ref_info, new_info = infos[prompt]
        assert (new_info.terms, new_info.script, new_info.lower) == (ref_info.terms, ref_info.script, ref_info.lower)
        _assert_same(answer_features(ref_info, answer, ref_h), fast.answer_features(new_info, answer, new_h), answer[:80])


def test_fixtures_are_real_answers():
    pairs = _fixture_pairs()
    assert len(pairs) > 300 and len({p for p, _ in pairs}) == 30


def test_answer_features_bit_identical_on_fixtures():
    pairs = _fixture_pairs()
    _check(pairs)
    _check(pairs[::-1])  # another memo history
    _check(pairs, 1 << 10)  # many collisions: buckets whose features cancel out (dropped zeros)
    _check(pairs, max_words=500)  # the word memo fills up and starts over, many times


def test_answer_features_bit_identical_on_tricky_and_random_texts():
    prompts = ["Write a Python function that reverses a list.", "Comment dit-on bonjour ?", "日本の首都はどこですか？", ""]
    texts = TRICKY + _random_texts(1500)
    pairs = [(prompts[i % len(prompts)], t) for i, t in enumerate(texts)]
    _check(pairs)
    _check(pairs, 1 << 8, max_words=50)


def test_public_helpers_unchanged():
    texts = [a for _, a in _fixture_pairs()[:60]] + TRICKY + _random_texts(200, seed=1)
    info_ref, info_new = prompt_info("Explain what a list is."), fast.prompt_info("Explain what a list is.")
    for t in texts:
        words = _WORD.findall(t.lower())
        assert fast.tokenize(t) == words
        d_ref = dense_features(info_ref, t, words)
        d_new = fast.dense_features(info_new, t, words)
        assert d_new.dtype == d_ref.dtype and np.array_equal(d_new, d_ref)
        i_ref, v_ref = Hasher(1 << 12).hash_words(words)
        i_new, v_new = fast.Hasher(1 << 12).hash_words(words)
        assert i_new.dtype == i_ref.dtype and v_new.dtype == v_ref.dtype
        assert np.array_equal(i_new, i_ref) and np.array_equal(v_new, v_ref)
    assert fast.DENSE_NAMES == DENSE_NAMES and fast.FEATURE_VERSION == FEATURE_VERSION


def test_shipped_model_prob_a_unchanged():
    """`SurrogateModel.load().prob_a` equals the same formula on the reference features."""
    from arena.surrogate.model import SurrogateModel

    model = SurrogateModel.load()
    ref_h = Hasher(len(model.w_hash))
    ref_infos: dict = {}

    def ref_score(prompt: str, answer: str) -> float:
        info = ref_infos.get(prompt) or ref_infos.setdefault(prompt, prompt_info(prompt))
        f = answer_features(info, answer, ref_h)
        return float(model._wd @ f.dense + model._wh[f.idx] @ f.val)

    from arena.surrogate.data import load_judgments

    n = 0
    for p in load_judgments(FIX / "judgments"):
        d = ref_score(p.instruction, p.output_1) - ref_score(p.instruction, p.output_2)
        expected = 1.0 / (1.0 + _math.exp(-d)) if d > -700 else 0.0
        assert model.prob_a(p.instruction, p.output_1, p.output_2) == expected
        n += 1
    with gzip.open(FIX / "outputs" / "gpt4_0613.json.gz", "rt") as f:
        outs = json.load(f)
    with gzip.open(FIX / "outputs" / "vicuna-7b-v1.5.json.gz", "rt") as f:
        other = {r["instruction"]: r["output"] for r in json.load(f)}
    for r in outs:
        d = ref_score(r["instruction"], r["output"]) - ref_score(r["instruction"], other[r["instruction"]])
        assert model.prob_a(r["instruction"], r["output"], other[r["instruction"]]) == (1.0 / (1.0 + _math.exp(-d)) if d > -700 else 0.0)
        n += 1
    assert n == 210


def test_answer_features_bit_identical_on_all_demo_outputs():
    prompts = {}
    with open(DEMO / "prompts.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            prompts[r["prompt_id"]] = r["text"]
    pairs = []
    for path in sorted((DEMO / "outputs").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            pairs += [(prompts[r["prompt_id"]], r["output"]) for r in map(json.loads, f)]
    assert len(pairs) == 807  # one of the 808 answers is missing from the extract
    _check(pairs)


# ============================================================================================
# REFERENCE: verbatim copy of arena/surrogate/features.py at commit fa9cb5f (the featuriser the
# shipped weights were trained with). Do not edit; it is what the fast version must reproduce.
# ============================================================================================
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
