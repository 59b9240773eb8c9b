"""A pool's answers as a run reads them: from the store when a match is played, never all at once.

A pool of 50,000 prompts x 10 models with 1 KB answers is 500 MB of text, about 1.8 GB as Python
`Output` objects. Before its first call a run needs only who answered what (for the schedule and
the coverage), a digest of the content (the run's identity) and the texts of a few sampled
matches (the cost estimate); while it runs, only the two answers of each match being played.

- `StoredAnswers(store, pool, prompts, models)` takes `answered`, `models` and `fingerprint` from
  the digest stored with the pool (`arena.records.PoolDigest`, written with the pool), or reads the
  pool's answers once, streaming, for them (memory bounded by the number of (prompt, model) pairs,
  not by the answers' length); then `pair()` reads a match's two answers with one indexed SELECT.
- `MemoryAnswers(outputs)` is the same interface over `Output` records already in memory (pool
  files, the reliability mode's pairs, tests).

Both give `answered` as prompt_id -> frozenset of models, with equal sets shared (a pool where every
model answers every prompt holds one set, not one per prompt).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from json.encoder import encode_basestring_ascii as _json_str  # what json.dumps writes for a str (ensure_ascii)
from typing import Protocol, runtime_checkable

from arena.records import Output, PoolDigest, Prompt

_VISIBLE_FIRST_CACHE: dict[str, bool] = {}


def is_usable(text: str | None) -> bool:
    """Whether an answer counts: not missing, not empty, not only whitespace and invisible
    characters (zero-width, BOM, bidirectional controls: `arena.judges._parse.strip_invisible`).

    O(1) for the usual answer, whose first non-space character is visible; the full scan runs only
    when it is not (at most 5 us a kilobyte)."""
    if text is None:
        return False
    s = str(text).strip()
    if not s:
        return False
    first = s[0]
    visible = _VISIBLE_FIRST_CACHE.get(first)
    if visible is None:
        from arena.judges._parse import strip_invisible

        visible = _VISIBLE_FIRST_CACHE.setdefault(first, strip_invisible(first) == first)
    if visible:
        return True
    from arena.judges._parse import strip_invisible

    return bool(strip_invisible(s).strip())


def is_usable_answer(text: str | None, turns: Sequence[str] = ()) -> bool:
    """`is_usable` for an answer; a conversation's answer counts only when every assistant turn does."""
    return all(is_usable(t) for t in turns) if turns else is_usable(text)


def shared_sets(answered: dict[str, set[str]] | dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """`answered` with frozensets, one object per distinct set of models (compact at 50,000 prompts)."""
    seen: dict[frozenset[str], frozenset[str]] = {}
    out: dict[str, frozenset[str]] = {}
    for pid, who in answered.items():
        f = frozenset(who)
        out[pid] = seen.setdefault(f, f)
    return out


# -- the pool's digest (a run's identity) ---------------------------------------------------------


def hash_prompts(h, prompts: Iterable[Prompt]) -> None:
    """Feed `prompts` (in order) into the sha256 `h`: the first part of `arena.pools.pool_fingerprint`."""
    for p in prompts:
        conv = [[[m.role, m.content] for m in p.messages], list(p.references)] if p.messages else []
        h.update(json.dumps([p.prompt_id, p.text, p.category, p.reference, *conv]).encode())


def hash_output(h, model: str, prompt_id: str, text: str | None, turns: Sequence[str] = ()) -> None:
    """Feed one answer into `h`; answers go in (model, prompt_id) order after the prompts. `turns`:
    a conversation's assistant turns (() for a single-turn answer, which hashes as before).

    The bytes are `json.dumps([model, prompt_id, text, *([list(turns)] if turns else [])])`, built
    with the json module's own C string encoder (3x faster than `json.dumps` per answer, which a
    run's start-up pays once per answer of its pool); anything but strings and None takes `json.dumps`."""
    if type(model) is str and type(prompt_id) is str and (text is None or type(text) is str) and all(type(t) is str for t in turns):
        parts = [_json_str(model), _json_str(prompt_id), "null" if text is None else _json_str(text)]
        if turns:
            parts.append("[" + ", ".join(map(_json_str, turns)) + "]")
        h.update(("[" + ", ".join(parts) + "]").encode())
        return
    h.update(json.dumps([model, prompt_id, text, *([list(turns)] if turns else [])]).encode())


# -- the interface ------------------------------------------------------------------------------------


@runtime_checkable
class Answers(Protocol):
    """What a run reads of a pool's answers (`MemoryAnswers`, `StoredAnswers`).

    - `models`: sorted models with at least one answer row (usable or not);
    - `answered`: prompt_id -> models with a usable answer (`is_usable`);
    - `pair(prompt_id, a, b)`: the two answers' texts ("" for a missing one);
    - `text(prompt_id, model)`: one answer's text ("" when missing);
    - `outputs(prompt_id, models)`: model -> `Output` (a conversation's turns included) of those answering;
    - `sizes()`: (prompt_id, model, UTF-8 bytes) of every answer, without holding the texts."""

    models: list[str]
    answered: dict[str, frozenset[str]]

    def pair(self, prompt_id: str, model_a: str, model_b: str) -> tuple[str, str]: ...

    def text(self, prompt_id: str, model: str) -> str: ...

    def outputs(self, prompt_id: str, models: Sequence[str]) -> dict[str, Output]: ...

    def sizes(self) -> Iterator[tuple[str, str, int]]: ...


class MemoryAnswers:
    """`Answers` over `Output` records held in memory."""

    __slots__ = ("texts", "turns", "models", "answered")

    def __init__(self, outputs: Iterable[Output]) -> None:
        self.texts: dict[tuple[str, str], str] = {}
        self.turns: dict[tuple[str, str], tuple[str, ...]] = {}  # conversations' assistant turns
        answered: dict[str, set[str]] = {}
        for o in outputs:
            self.texts[(o.prompt_id, o.model)] = o.text
            if o.turns:
                self.turns[(o.prompt_id, o.model)] = o.turns
            if is_usable_answer(o.text, o.turns):
                answered.setdefault(o.prompt_id, set()).add(o.model)
        self.models = sorted({m for _, m in self.texts})
        self.answered = shared_sets(answered)

    def text(self, prompt_id: str, model: str) -> str:
        return self.texts.get((prompt_id, model)) or ""

    def pair(self, prompt_id: str, model_a: str, model_b: str) -> tuple[str, str]:
        return self.text(prompt_id, model_a), self.text(prompt_id, model_b)

    def outputs(self, prompt_id: str, models: Sequence[str]) -> dict[str, Output]:
        return {m: Output(prompt_id, m, self.texts[(prompt_id, m)], self.turns.get((prompt_id, m), ()))
                for m in models if (prompt_id, m) in self.texts}

    def sizes(self) -> Iterator[tuple[str, str, int]]:
        for (pid, model), text in self.texts.items():
            turns = self.turns.get((pid, model))
            yield pid, model, sum(len(t.encode("utf-8")) for t in turns) + len(turns) if turns else len((text or "").encode("utf-8"))


class StoredAnswers:
    """`Answers` of pool `pool` in `store`, restricted to `prompts` and `models` (None: all).

    `answered`, `models`, `count` and `fingerprint` (`arena.pools.pool_fingerprint` of the same
    prompts and answers, byte for byte, so runs started before this reader resume as the same run)
    come from the digest stored with the pool (`Store.pool_digest`, schema 7) when `prompts` are
    the pool's own, in its order, and `models` leave none of its models out: no answer is read
    before a run's first call. Otherwise every answer is read once, streaming (one SELECT in
    (model, prompt_id) order; memory bounded by the number of (prompt, model) pairs, not by the
    answers' length), and the digest of a whole pool is stored for the next run (writable stores).
    After that only `pair` / `text` read texts, one indexed SELECT each. Use it on the thread that
    opened `store` (an SQLite connection is not shared across threads)."""

    __slots__ = ("store", "pool", "prompt_ids", "wanted", "models", "answered", "fingerprint", "count", "from_digest")

    def __init__(self, store, pool: str, prompts: Sequence[Prompt] | None = None, models: Iterable[str] | None = None) -> None:
        self.store, self.pool = store, pool
        self.prompt_ids = None if prompts is None else {p.prompt_id for p in prompts}
        self.wanted = None if models is None else set(models)
        digest = None if prompts is None else _usable_digest(store, pool, prompts, self.wanted)
        self.from_digest = digest is not None
        if digest is None:
            writable = prompts is not None and not getattr(store, "readonly", True) and not getattr(store, "immutable", False)
            if writable:  # the read and the stored digest in one transaction: no write comes between them
                with store.transaction():
                    digest, whole = _scan(store, pool, prompts, self.wanted)
                    if whole and [p.prompt_id for p in prompts] == store.prompt_ids(pool):
                        store.save_pool_digest(pool, digest)
            else:
                digest, _ = _scan(store, pool, prompts, self.wanted)
        self.models = list(digest.models)
        by_set = [frozenset(x) for x in digest.sets]
        self.answered = {pid: by_set[i] for pid, i in zip(digest.prompt_ids, digest.index) if i >= 0}
        self.fingerprint = digest.fingerprint
        self.count = digest.count

    def _keeps(self, pid: str, model: str) -> bool:
        return (self.prompt_ids is None or pid in self.prompt_ids) and (self.wanted is None or model in self.wanted)

    def text(self, prompt_id: str, model: str) -> str:
        if not self._keeps(prompt_id, model):
            return ""
        return self.store.output_text(self.pool, prompt_id, model) or ""

    def pair(self, prompt_id: str, model_a: str, model_b: str) -> tuple[str, str]:
        got = self.store.output_texts(self.pool, prompt_id, [m for m in (model_a, model_b) if self._keeps(prompt_id, m)])
        return got.get(model_a) or "", got.get(model_b) or ""

    def outputs(self, prompt_id: str, models: Sequence[str]) -> dict[str, Output]:
        return self.store.output_records(self.pool, prompt_id, [m for m in models if self._keeps(prompt_id, m)])

    def sizes(self) -> Iterator[tuple[str, str, int]]:
        for pid, model, nbytes in self.store.output_sizes(self.pool):
            if self._keeps(pid, model):
                yield pid, model, nbytes


def _usable_digest(store, pool: str, prompts: Sequence[Prompt], wanted: set[str] | None) -> PoolDigest | None:
    """The pool's stored digest when it answers for exactly these prompts and models, else None."""
    digest = store.pool_digest(pool) if hasattr(store, "pool_digest") else None
    if digest is None or (wanted is not None and not wanted.issuperset(digest.models)):
        return None
    if len(digest.prompt_ids) != len(prompts) or any(p.prompt_id != q for p, q in zip(prompts, digest.prompt_ids)):
        return None
    return digest


def _scan(store, pool: str, prompts: Sequence[Prompt] | None, wanted: set[str] | None) -> tuple[PoolDigest, bool]:
    """Read every answer of `pool` once (streaming) for the digest of `prompts` (None: every answer's
    prompt) and `wanted` models; the flag says no answer of those prompts was left out for its model."""
    ids = None if prompts is None else {p.prompt_id for p in prompts}
    h = hashlib.sha256()
    if prompts is not None:
        hash_prompts(h, prompts)
    answered: dict[str, set[str]] = {}
    present: set[str] = set()
    whole = True
    n = 0
    for pid, model, text, turns in store.iter_outputs(pool):
        if ids is not None and pid not in ids:
            continue
        if wanted is not None and model not in wanted:
            whole = False
            continue
        n += 1
        present.add(model)
        hash_output(h, model, pid, text, turns)
        if is_usable_answer(text, turns):
            answered.setdefault(pid, set()).add(model)
    order = [p.prompt_id for p in prompts] if prompts is not None else list(answered)
    sets: dict[frozenset[str], int] = {}
    index = []
    for pid in order:
        who = answered.get(pid)
        index.append(-1 if not who else sets.setdefault(frozenset(who), len(sets)))
    return PoolDigest(h.hexdigest()[:16], n, tuple(sorted(present)), tuple(order),
                      tuple(tuple(sorted(x)) for x in sets), tuple(index)), whole


def save_digest(store, pool: str) -> PoolDigest:
    """Compute and store the digest of the whole pool `pool` (`Store.write_pool` calls it in its
    transaction; `pool generate` once at its end). Returns it."""
    with store.transaction():
        digest, _ = _scan(store, pool, store.prompts(pool), None)
        store.save_pool_digest(pool, digest)
    return digest


def pool_fingerprint_now(store, pool: str) -> str | None:
    """The whole pool's fingerprint (`arena.pools.pool_fingerprint` of every prompt and answer) as
    it is now: the stored digest's (`Store.pool_digest`: no answer read) or, when none is stored,
    one streamed read of the answers (the digest is then stored when `store` is writable). None
    when the pool is not in the store."""
    if not store.pool_exists(pool):
        return None
    stored = store.pool_fingerprint(pool)
    if stored is not None:
        return stored
    if not getattr(store, "readonly", True) and not getattr(store, "immutable", False):
        return save_digest(store, pool).fingerprint
    return _scan(store, pool, store.prompts(pool), None)[0].fingerprint


def pool_changed(store, run_spec: dict) -> str | None:
    """One warning line when the pool a run judged changed since the run was prepared (its stored
    `pool_digest` differs from `pool_fingerprint_now`), else None. Reports read the pool's current
    texts (the sample, length-controlled win rates, style counts), which the judge may never
    have seen; a pool whose only change is answers of other models or prompts than the run's is
    not a change for it (`_run_answers_unchanged`). Runs stored without a digest (before it was
    recorded) are not checked."""
    then = run_spec.get("pool_digest") if isinstance(run_spec, dict) else None
    pool = run_spec.get("pool") if isinstance(run_spec, dict) else None
    if not isinstance(then, str) or not isinstance(pool, str):
        return None
    now = pool_fingerprint_now(store, pool)
    if now == then:
        return None
    if now is None:
        return f"pool {pool!r} is no longer in the store: the sample, length-controlled win rates and style counts have no answer texts"
    if _run_answers_unchanged(store, pool, run_spec):
        return None
    return (f"pool {pool!r} changed since this run (its answers are not those the judge saw): the sample, length-controlled win rates"
            " and style counts use the pool's current texts")


def _run_answers_unchanged(store, pool: str, run_spec: dict) -> bool:
    """Whether the run's own prompts and models' answers are still those it judged (its stored
    `answers_digest`, the fingerprint its identity was built on): a pool that only gained other
    models' answers (`pool generate`, `pool import --name`) has not changed for this run. One
    streamed read of the pool's answers; False for runs stored without the digest, or when the
    run's prompt selection cannot be rebuilt."""
    then, models = run_spec.get("answers_digest"), run_spec.get("models")
    if not isinstance(then, str) or not isinstance(models, list):
        return False
    from arena.errors import ArenaError
    from arena.tournaments.spec import select_prompts, spec_from_dict

    try:
        prompts = select_prompts(spec_from_dict(run_spec["spec"]), store.prompts(pool))
        return StoredAnswers(store, pool, prompts, models).fingerprint == then
    except (ArenaError, KeyError, TypeError, ValueError):
        return False


def as_answers(outputs: Answers | Iterable[Output]) -> Answers:
    """`outputs` itself when it is an `Answers`, else `MemoryAnswers(outputs)`."""
    return outputs if isinstance(outputs, (MemoryAnswers, StoredAnswers)) else MemoryAnswers(outputs)
