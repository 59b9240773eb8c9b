"""BenchBuilder-style curation of a prompt pool: annotate, cluster, keep the good prompts evenly.

The method is the BenchBuilder pipeline of Li et al. 2024 ("From Crowdsourced Data to
High-Quality Benchmarks: Arena-Hard and BenchBuilder Pipeline", arXiv:2406.11939, section 3):

1. an LLM annotator answers seven yes/no questions about each prompt (`CRITERIA`: specificity,
   domain knowledge, complexity, problem-solving, creativity, technical accuracy, real-world
   application); a prompt's quality score is its number of yes (0-7);
2. prompts are grouped into topic clusters (the paper: BERTopic over embeddings; here k-means
   over embeddings from litellm's embedding API when a model is given, else over an offline
   TF-IDF + truncated SVD representation, both with scikit-learn);
3. the new pool keeps prompts whose score meets a threshold (the paper: 6 of 7), sampled evenly
   across clusters up to the size asked (`select_balanced`).

The pure parts (`parse_annotation`, `cluster_texts`, `select_balanced`) take and return plain
values; `plan_curation` and `curate_pool` do the I/O (store, backend) around them. Every
annotator call goes through a completion backend, so it is cached in the store's call cache:
a killed curation run again pays nothing twice, and annotations already stored are not redone.
A reply that does not answer all seven criteria is asked once more; still not: the prompt is
recorded `unparsed`, is not kept, and is counted in the summary.

Conversations (several user turns, optionally a system message and fixed assistant turns) are
annotated on all of their messages, each fenced on its own (`CONVERSATION_TEMPLATE`), and clustered
on all of their user turns (`topic_text`); their annotations are stored under `Annotator.key_for`,
so annotations an older arena made from a conversation's first turn only are not reused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from arena.errors import BadInput, RunFailed, SpecError, naming_options
from arena.records import Prompt

# how a refusal names each option: the argument of `arena.curate_pool`, the option of `arena pool curate`
_OPT = {"clusters": ("clusters", "--clusters"), "size": ("size", "--size"), "out": ("out", "--out"), "threshold": ("threshold", "--threshold"),
        "pilot": ("pilot", "--pilot"), "annotator": ("annotator", "--annotator"), "balance": ("balance", "--balance"),
        "embedding_model": ("embedding_model", "--embedding-model"), "embedding_key_env": ("embedding_key_env", "--embedding-key-env")}

CRITERIA: tuple[str, ...] = (
    "specificity",
    "domain_knowledge",
    "complexity",
    "problem_solving",
    "creativity",
    "technical_accuracy",
    "real_world",
)
"""The seven BenchBuilder criteria, in the order the annotator answers them."""

DEFAULT_THRESHOLD = 6
"""BenchBuilder keeps prompts with at least 6 of the 7 criteria met."""

TEMPLATE = "annotate_benchbuilder"
"""The shipped annotator prompt (prompts/annotate_benchbuilder.j2)."""

CONVERSATION_TEMPLATE = "annotate_benchbuilder_conversation"
"""The same criteria for a conversation: every user turn (and fixed message) fenced on its own."""

ANNOTATION_MAX_TOKENS = 400
TYPICAL_OUTPUT_TOKENS = 150  # seven short lines; the plan's expected output per call

REASK_PROMPT = (
    "Your reply did not answer all seven criteria in the required form. Reply again with exactly seven lines, "
    "one per criterion, each `name: yes | reason` or `name: no | reason`, using the names "
    + ", ".join(CRITERIA)
    + "."
)

_ALIASES = {
    "specificity": ("specificity", "specific"),
    "domain_knowledge": ("domain knowledge", "domain_knowledge", "domain-knowledge", "domain"),
    "complexity": ("complexity",),
    "problem_solving": ("problem solving", "problem_solving", "problem-solving"),
    "creativity": ("creativity",),
    "technical_accuracy": ("technical accuracy", "technical_accuracy", "technical-accuracy"),
    "real_world": (
        "real world application",
        "real-world application",
        "real_world_application",
        "real world",
        "real_world",
        "real-world",
    ),
}
_NAME_TO_CRITERION = {alias: c for c, aliases in _ALIASES.items() for alias in aliases}
_LINE = re.compile(
    r"^[ \t>*_`#-]*(?:\d+[ \t]*[.)][ \t]*)?[*_`]*(?P<name>[a-z][a-z _-]*?)[*_`]*[ \t]*[:=][ \t]*[*_`]*(?P<yn>yes|no|true|false|y|n)\b[*_`]*"
    r"[ \t]*(?:[|:;,.\-\u2013\u2014][ \t]*)?(?P<reason>.*)$",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Annotation:
    """One prompt's answers: `criteria` maps each of CRITERIA to (met, short reason)."""

    criteria: dict[str, tuple[bool, str]]

    @property
    def score(self) -> int:
        """Number of criteria met (0-7)."""
        return sum(1 for met, _ in self.criteria.values() if met)


def parse_annotation(text: str | None) -> Annotation | None:
    """The seven yes/no answers of an annotator reply, or None unless all seven are given.

    Reads lines `name: yes | reason` (numbering, Markdown emphasis, spaces or hyphens in the
    name, and `-`, `:` or `,` before the reason are tolerated; the last answer to a criterion
    wins). Each reason is cut to 200 characters.
    """
    if not text:
        return None
    found: dict[str, tuple[bool, str]] = {}
    for m in _LINE.finditer(text):
        name = re.sub(r"\s+", " ", m.group("name").strip().lower())
        criterion = _NAME_TO_CRITERION.get(name) or _NAME_TO_CRITERION.get(name.replace("_", " "))
        if criterion is None:
            continue
        met = m.group("yn").lower() in ("yes", "true", "y")
        reason = " ".join(m.group("reason").strip(" *_`|").split())[:200]
        found[criterion] = (met, reason)
    if len(found) != len(CRITERIA):
        return None
    return Annotation({c: found[c] for c in CRITERIA})


# -- clusters ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clustering:
    """Topic clusters of n texts: `labels` (n,) ints in 0..k-1; `names[c]` the top terms of cluster c."""

    labels: np.ndarray
    names: list[str]
    method: str


def default_clusters(n_prompts: int) -> int:
    """About 20 prompts a cluster, between 2 and 64 clusters (never more than the prompts)."""
    return int(max(1, min(n_prompts, max(2, min(64, round(n_prompts / 20))))))


def cluster_texts(
    texts: Sequence[str], n_clusters: int | None = None, *, seed: int = 0, embeddings: np.ndarray | None = None
) -> Clustering:
    """Group texts into topic clusters with k-means (scikit-learn).

    Parameters: `texts` (n,); `n_clusters` (default `default_clusters(n)`); `embeddings`
    (n, d) float vectors, e.g. from `embed_texts`; without them each text is represented by
    TF-IDF (sublinear tf, English stop words, unigrams and bigrams) reduced to at most 100
    dimensions by truncated SVD (latent semantic analysis), rows L2-normalised, so k-means on
    them clusters by cosine similarity. Fewer clusters than asked when fewer texts are distinct. Cluster names are the 3 highest-weighted TF-IDF terms
    of each cluster's mean. Deterministic given `seed`.
    Raises BadInput when there are no texts or `n_clusters` is not in 1..n.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    n = len(texts)
    if n == 0:
        raise BadInput("no prompts to cluster")
    k = default_clusters(n) if n_clusters is None else int(n_clusters)
    if not 1 <= k <= n:
        raise naming_options(BadInput, f"<k>: expected 1 to {n} (the number of prompts), got {k}", k=_OPT["clusters"])
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", ngram_range=(1, 2), min_df=1, max_features=50000)
    try:
        tfidf = vec.fit_transform([t or "" for t in texts])
    except ValueError:  # only stop words / empty texts
        tfidf = None
    if embeddings is not None:
        x = normalize(np.asarray(embeddings, dtype=float))
        method = "embeddings+kmeans"
    elif tfidf is not None and tfidf.shape[1] > 1:
        dims = min(100, tfidf.shape[1] - 1, n - 1)
        with warnings.catch_warnings():  # near-identical texts: a zero explained variance
            warnings.simplefilter("ignore", RuntimeWarning)
            svd = TruncatedSVD(dims, random_state=seed).fit_transform(tfidf) if dims >= 2 else tfidf.toarray()
        x = normalize(svd)
        method = "tfidf+kmeans"
    else:
        x = np.zeros((n, 1))
        method = "tfidf+kmeans"
    k = min(k, len(np.unique(np.round(x, 9), axis=0)))  # no more clusters than distinct points
    if k == 1:
        labels = np.zeros(n, dtype=int)
    else:
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x).astype(int)
    names = []
    terms = vec.get_feature_names_out() if tfidf is not None else np.array([])
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if tfidf is None or len(members) == 0:
            names.append("")
            continue
        mean = np.asarray(tfidf[members].mean(axis=0)).ravel()
        top = [terms[i] for i in np.argsort(-mean)[:3] if mean[i] > 0]
        names.append(", ".join(top))
    return Clustering(labels=labels, names=names, method=method)


def topic_text(p: Prompt) -> str:
    """What clustering reads of a prompt: its text, or every user turn of a conversation (blank-line separated)."""
    return "\n\n".join(p.user_turns) if p.is_conversation else p.text


def embed_texts(texts: Sequence[str], model: str, *, api_base: str | None = None, api_key_env: str | None = None, batch: int = 128) -> np.ndarray:
    """Embedding vectors (n, d) of `texts` through litellm's embedding API (`litellm.embedding`).

    Raises BadInput when the environment variable named by `api_key_env` is unset, and
    BackendError with the provider's reason when the call fails.
    """
    from arena.backends import load_litellm
    from arena.errors import BackendError

    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise naming_options(BadInput, f"<e>: environment variable {api_key_env} is not set", e=_OPT["embedding_key_env"])
    litellm = load_litellm()
    out: list[list[float]] = []
    for i in range(0, len(texts), batch):
        chunk = [t or " " for t in texts[i : i + batch]]
        try:
            resp = litellm.embedding(model=model, input=chunk, api_base=api_base, api_key=key)
        except Exception as e:  # noqa: BLE001 - the provider's reason, on one line
            raise naming_options(BackendError, f"<m> {model}: {type(e).__name__}: {' '.join(str(e).split())[:200]}", m=_OPT["embedding_model"]) from None
        data = sorted(resp.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
        out.extend((d["embedding"] if isinstance(d, dict) else d.embedding) for d in data)
    return np.asarray(out, dtype=float)


# -- pilot spread --------------------------------------------------------------------------------------


def prompt_scores(battles: Sequence) -> tuple[list[str], list[str], np.ndarray]:
    """Each model's mean score on each prompt from a pilot run's battles (win 1, tie 1/2, loss 0,
    weighted by `Battle.weight`). Returns (models, prompt_ids, S) with S (n_models, n_prompts),
    NaN where a model has no battle on a prompt."""
    models = sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    prompt_ids = sorted({b.prompt_id for b in battles})
    mi = {m: i for i, m in enumerate(models)}
    pi = {p: i for i, p in enumerate(prompt_ids)}
    num = np.zeros((len(models), len(prompt_ids)))
    den = np.zeros_like(num)
    for b in battles:
        sa = 1.0 if b.outcome == "a" else 0.5 if b.outcome == "tie" else 0.0
        j = pi[b.prompt_id]
        for m, s_ in ((b.model_a, sa), (b.model_b, 1.0 - sa)):
            num[mi[m], j] += b.weight * s_
            den[mi[m], j] += b.weight
    with np.errstate(invalid="ignore", divide="ignore"):
        return models, prompt_ids, np.where(den > 0, num / den, np.nan)


def prompt_spread(scores: np.ndarray) -> np.ndarray:
    """Per prompt (column), the variance across models (rows) of their scores, NaN ignored; -inf
    where fewer than 2 models have a score. High spread: a prompt on which the models differ.

    Selecting the prompts of highest spread in a pilot run is the one selection that ranked
    *held-out* models better than random prompts in bench/curate.py (AlpacaEval, 20% of the
    pool: Spearman with the full pool 0.988 against 0.953; selecting by correlation with the
    pilot models' overall scores, as a separability-driven selection would, did worse: 0.876)."""
    s = np.asarray(scores, dtype=float)
    n = (~np.isnan(s)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(s, axis=0) / np.maximum(n, 1)
        var = np.nansum((s - mean) ** 2, axis=0) / np.maximum(n, 1)
    return np.where(n >= 2, var, -np.inf)


def pilot_priority(store, pool: str, run_id: str, prompt_ids: Sequence[str]) -> np.ndarray:
    """`prompt_spread` of a pilot run's verdicts for each of `prompt_ids` (-inf where the run has
    fewer than 2 models on a prompt). Raises BadInput when the run was judged on another pool or
    has no decided battles; NotFound for an unknown run."""
    from arena.reports.pool_compare import run_battles

    run, run_pool, _spec, battles, _calls = run_battles(store, run_id)
    if run_pool is not None and run_pool != pool:
        raise naming_options(BadInput, f"<p>: run {run.run_id} was judged on pool {run_pool!r}, not {pool!r}", p=_OPT["pilot"])
    if not battles:
        raise naming_options(BadInput, f"<p>: run {run.run_id} has no decided battles yet", p=_OPT["pilot"])
    _models, pids, scores = prompt_scores(battles)
    spread = dict(zip(pids, prompt_spread(scores)))
    return np.array([spread.get(p, -np.inf) for p in prompt_ids])


# -- selection -------------------------------------------------------------------------------------


def balanced_quotas(available: Sequence[int], size: int) -> list[int]:
    """How many to take from each cluster to reach `size` as evenly as possible (water-filling):
    every cluster gets the same share, a cluster with fewer items gives all it has and the rest
    is shared among the others. Returns one count per cluster, summing to min(size, sum(available))."""
    avail = np.asarray(available, dtype=int)
    take = np.zeros(len(avail), dtype=int)
    left = min(int(size), int(avail.sum()))
    while left > 0:
        open_ = np.flatnonzero(take < avail)
        share = max(1, left // len(open_))
        for c in open_:
            add = min(share, avail[c] - take[c], left)
            take[c] += add
            left -= add
            if left == 0:
                break
    return take.tolist()


def select_balanced(
    scores: Sequence[int | None],
    clusters: Sequence[int],
    *,
    size: int,
    threshold: int,
    rng: np.random.Generator,
    priority: Sequence[float] | None = None,
) -> list[int]:
    """Indices of the prompts to keep: those with score >= `threshold` (None, an unparsed or
    failed annotation, never qualifies), drawn uniformly within each cluster, with per-cluster
    counts from `balanced_quotas` (BenchBuilder's even sampling across topic clusters). With
    `priority` (one float per prompt, e.g. `prompt_spread`), the highest-priority prompts of each
    cluster are taken instead, ties in random order.
    Returns at most `size` indices in ascending order; fewer when fewer prompts qualify."""
    by_cluster: dict[int, list[int]] = {}
    for i, (s, c) in enumerate(zip(scores, clusters)):
        if s is not None and s >= threshold:
            by_cluster.setdefault(int(c), []).append(i)
    keys = sorted(by_cluster)
    quotas = balanced_quotas([len(by_cluster[c]) for c in keys], size)
    kept: list[int] = []
    for c, q in zip(keys, quotas):
        members = rng.permutation(np.array(by_cluster[c]))
        if priority is not None:
            members = members[np.argsort(-np.asarray(priority, dtype=float)[members], kind="stable")]
        kept.extend(int(i) for i in members[:q])
    return sorted(kept)


# -- the annotator -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Annotator:
    """An annotator built from a judge preset's model: the request settings and the prompt template."""

    name: str
    model: str
    api_base: str | None
    api_key_env: str | None
    params: dict
    template: object
    backend: object = None
    timeout: float = 120.0
    conversation_template: object = None  # for conversations: every user turn (None: `template` with `messages`)
    batch: bool = False  # the preset's mode = "batch": calls through the Batch API, priced at its rate

    @property
    def key(self) -> str:
        """What decides the annotations (model, parameters, template file): stored annotations made
        under another key are not reused."""
        from arena.judges import file_digest

        blob = json.dumps([self.model, self.params, file_digest(getattr(self.template, "filename", None))], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def key_for(self, prompts: Sequence[Prompt]) -> str:
        """`key` for a pool of `prompts`: a pool holding conversations adds the conversation
        template's digest (its annotations read every turn), a single-turn pool keeps `key`."""
        from arena.judges import file_digest

        if not any(p.is_conversation for p in prompts):
            return self.key
        blob = json.dumps([self.key, "turns", file_digest(getattr(self.conversation_template, "filename", None))])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def messages(self, prompt: Prompt | str) -> list[dict]:
        """The annotator's request for a prompt. A conversation shows every message the pool gives
        (system, each user turn, fixed assistant turns), each fenced (`conversation_template`);
        a single-turn prompt renders `template` with `question` as before."""
        from arena.judges import fence_tag, render_messages

        if isinstance(prompt, Prompt) and prompt.is_conversation:
            from arena.judges._conversation import ROLE_LABELS

            numbers = iter(range(1, len(prompt.messages) + 1))
            messages = [{"role": m.role, "content": m.content,
                         "label": f"User Prompt, Turn {next(numbers)}" if m.role == "user" else ROLE_LABELS.get(m.role, m.role)}
                        for m in prompt.messages]
            variables = {"question": prompt.text, "messages": messages, "n_turns": len(prompt.user_turns)}
            tag = fence_tag(*(m.content for m in prompt.messages), salt="arena-annotate-v1")
            return render_messages(self.conversation_template or self.template, variables, tag=tag)
        text = prompt.text if isinstance(prompt, Prompt) else prompt
        return render_messages(self.template, {"question": text}, tag=fence_tag(text, salt="arena-annotate-v1"))

    def request(self, messages: list[dict]):
        from arena.backends import CompletionRequest

        return CompletionRequest(self.model, messages, self.params, self.api_base, self.api_key_env, self.timeout)


def load_annotator(preset: str | Path, *, store=None, no_cache: bool = False, template: str | None = None, **runtime) -> Annotator:
    """An annotator from a judge preset (name or path) of kind `llm`: its model, api_base,
    api_key_env and limits, temperature 0, the BenchBuilder template unless `template` is given.
    `runtime` may pass `backend` (tests) or `seed`, `backoff_base`, `backoff_max`.
    Raises SpecError for a preset of another kind, NotFound for an unknown preset."""
    from pydantic import ValidationError

    from arena.backends import backend_for_preset
    from arena.judges import load_preset, load_template, preset_error
    from arena.judges.llm import LLMPreset

    data, path = load_preset(preset)
    if data.get("kind") != "llm":
        raise SpecError(f"{path}: key 'kind': an annotator needs a preset of kind 'llm' (one model), got {data.get('kind')!r}")
    try:
        cfg = LLMPreset(**data)
    except ValidationError as e:
        raise preset_error(str(path), e, "an llm judge", LLMPreset.model_fields) from None
    tmpl = load_template(template or TEMPLATE, path.parent)
    conv = None if template else load_template(CONVERSATION_TEMPLATE, path.parent)  # a custom template gets `messages` too
    backend = backend_for_preset(cfg, runtime, store=store, no_cache=no_cache)
    params = {"temperature": 0.0, "max_tokens": ANNOTATION_MAX_TOKENS}
    return Annotator(path.stem, cfg.model, cfg.api_base, cfg.api_key_env, params, tmpl, backend, cfg.timeout, conv, cfg.mode == "batch")


AnnotationStatus = Literal["ok", "retried", "unparsed", "error"]


@dataclass(slots=True)
class AnnotationRecord:
    """A stored annotation: status `ok`, `retried` (parsed after the re-ask), `unparsed` or `error`."""

    prompt_id: str
    status: AnnotationStatus
    criteria: dict[str, tuple[bool, str]] | None
    raw: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    cached_calls: int = 0
    calls: int = 0
    error: str | None = None

    @property
    def score(self) -> int | None:
        return None if self.criteria is None else sum(1 for met, _ in self.criteria.values() if met)


async def annotate_one(annotator: Annotator, prompt: Prompt) -> AnnotationRecord:
    """Ask the annotator about one prompt; re-ask once when the reply lacks one of the seven answers."""
    messages = annotator.messages(prompt)
    first = await annotator.backend.complete(annotator.request(messages))  # type: ignore[union-attr]
    calls = [first]
    parsed = None
    status: AnnotationStatus
    if first.error is None:
        parsed = parse_annotation(first.text)
        status = "ok"
        if parsed is None:
            followup = messages + [{"role": "assistant", "content": first.text}, {"role": "user", "content": REASK_PROMPT}]
            second = await annotator.backend.complete(annotator.request(followup))  # type: ignore[union-attr]
            calls.append(second)
            parsed = parse_annotation(second.text) if second.error is None else None
            status = "error" if second.error is not None else ("retried" if parsed is not None else "unparsed")
    else:
        status = "error"
    costs = [c.cost_usd for c in calls if not c.cached and c.error is None]
    return AnnotationRecord(
        prompt_id=prompt.prompt_id,
        status=status,
        criteria=parsed.criteria if parsed is not None else None,
        raw="\n\n---\n\n".join(c.text for c in calls if c.text),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        cost_usd=None if any(c is None for c in costs) else float(sum(costs)),  # type: ignore[arg-type]
        cached_calls=sum(1 for c in calls if c.cached),
        calls=len(calls),
        error=next((c.error for c in calls if c.error), None),
    )


# -- plan and run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class CurationPlan:
    """Before any call: prompts to annotate (not yet in the store), of which answered by the call
    cache, tokens and the cost expected and at worst (None when the model is not priced)."""

    pool: str
    prompts: int
    to_annotate: int
    cached: int
    calls: int
    input_tokens: int
    output_tokens_expected: int
    cost_expected_usd: float | None
    cost_worst_usd: float | None
    annotator: str
    model: str
    batch_rate: str | None = None  # a `mode = "batch"` annotator: its Batch API rate and where it comes from


@dataclass(slots=True)
class CurationResult:
    """What `curate_pool` did: annotation counts by status, score histogram, clusters, what was kept."""

    pool: str
    out: str
    size_asked: int
    threshold: int
    balance: str
    selection: str
    kept: list[str]
    counts: dict[str, int]
    score_histogram: dict[int, int]
    eligible: int
    clusters: int
    cluster_method: str
    kept_per_cluster: dict[int, int]
    calls_paid: int
    calls_cached: int
    cost_usd: float | None
    warnings: list[str] = field(default_factory=list)


def check_request(store, pool: str, out: str, *, size: int, threshold: int, n_clusters: int | None = None, replace: bool = False) -> list[Prompt]:
    """Validate a curation request before any call; returns the pool's prompts.
    Raises BadInput (one line naming the option) for a size outside 1..pool size, a threshold
    outside 0-7, a cluster count outside 1..pool size, an output pool equal to the input or
    already present (without `replace`), and NotFound for an unknown pool."""
    if not 0 <= threshold <= len(CRITERIA):
        raise naming_options(BadInput, f"<t>: expected 0 to {len(CRITERIA)} criteria met, got {threshold}", t=_OPT["threshold"])
    prompts = store.prompts(pool)
    if not 1 <= size <= len(prompts):
        raise naming_options(BadInput, f"<n>: expected 1 to {len(prompts)} (the prompts in pool {pool!r}), got {size}", n=_OPT["size"])
    if n_clusters is not None and not 1 <= n_clusters <= len(prompts):
        raise naming_options(BadInput, f"<k>: expected 1 to {len(prompts)} (the prompts in pool {pool!r}), got {n_clusters}", k=_OPT["clusters"])
    if out == pool:
        raise naming_options(BadInput, f"<o>: the curated pool needs a new name (got the input pool {pool!r})", o=_OPT["out"])
    if store.pool_exists(out) and not replace:
        raise naming_options(BadInput, f"<out>: pool {out!r} already exists (pass <replace> to overwrite it)",
                             out=_OPT["out"], replace=("replace=True", "--replace"))
    return prompts


def plan_curation(store, pool: str, annotator: Annotator) -> CurationPlan:
    """Count the annotator calls a curation of `pool` needs and price them (litellm's table):
    prompts already annotated in the store by this annotator cost nothing; prompts whose first
    request is in the call cache cost nothing. Worst case: a re-ask on every prompt, each at
    the annotator's max_tokens. A `mode = "batch"` annotator (every prompt in one batch, re-asks
    in a second) is priced at the Batch API rate (`arena.backends.batch_unit_prices`)."""
    from arena.backends import batch_unit_prices, count_tokens, unit_prices

    prompts = store.prompts(pool)
    done = {r.prompt_id for r in store.annotations(pool, annotator.key_for(prompts)) if r.status != "error"}
    todo = [p for p in prompts if p.prompt_id not in done]
    cached = 0
    tokens = 0
    for p in todo:
        req = annotator.request(annotator.messages(p))
        if store.cache_get(req.key()) is not None:
            cached += 1
            continue
        tokens += count_tokens(annotator.model, req.messages)
    paid = len(todo) - cached
    expected_out = paid * TYPICAL_OUTPUT_TOKENS
    unit = batch_unit_prices(annotator.model)[0] if annotator.batch else unit_prices(annotator.model)
    max_out = int(annotator.params["max_tokens"])
    if unit is None:
        expected = worst = None
    else:
        expected = tokens * unit[0] + expected_out * unit[1]
        # a re-ask resends the prompt, the first reply and the question
        worst = 2 * tokens * unit[0] + paid * (max_out + len(REASK_PROMPT) // 4) * unit[0] + 2 * paid * max_out * unit[1]
    rate = None
    if annotator.batch:
        from arena.estimate import batch_rate

        rate = batch_rate(annotator.model)
    return CurationPlan(pool, len(prompts), len(todo), cached, paid, tokens, expected_out, expected, worst, annotator.name, annotator.model, rate)


async def annotate_pool(store, pool: str, annotator: Annotator, *, on_record: Callable[[AnnotationRecord], None] | None = None) -> list[AnnotationRecord]:
    """Annotate the prompts of `pool` not yet annotated (or failed) under this annotator, writing
    each annotation to the store as it arrives (a killed run resumes). Returns the new records."""
    prompts = store.prompts(pool)
    key = annotator.key_for(prompts)
    done = {r.prompt_id for r in store.annotations(pool, key) if r.status != "error"}
    todo = [p for p in prompts if p.prompt_id not in done]
    out: list[AnnotationRecord] = []

    async def one(p: Prompt) -> None:
        rec = await annotate_one(annotator, p)
        store.write_annotation(pool, key, annotator.name, rec)
        out.append(rec)
        if on_record is not None:
            on_record(rec)

    try:
        await asyncio.gather(*(one(p) for p in todo))
    finally:
        aclose = getattr(annotator.backend, "aclose", None)
        if aclose is not None:
            await aclose()
    return out


def _annotate_and_score(
    store, pool: str, prompts: list[Prompt], annotator: Annotator | None, on_record
) -> tuple[list[int | None], dict[str, int], list[AnnotationRecord]]:
    """(score per prompt, None for unparsed or failed; counts by status; the new records).
    Without an annotator every prompt scores 7 (all qualify) and nothing is called."""
    counts = {s: 0 for s in ("ok", "retried", "unparsed", "error")}
    if annotator is None:
        return [len(CRITERIA)] * len(prompts), counts, []
    new = asyncio.run(annotate_pool(store, pool, annotator, on_record=on_record))
    rows = {r.prompt_id: r for r in store.annotations(pool, annotator.key_for(prompts))}
    scores: list[int | None] = []
    for p in prompts:
        r = rows.get(p.prompt_id)
        counts[r.status if r else "error"] += 1
        scores.append(r.score if r and r.status in ("ok", "retried") else None)
    return scores, counts, new


def curate_pool(
    store,
    pool: str,
    out: str,
    annotator: Annotator | None,
    *,
    size: int,
    threshold: int = DEFAULT_THRESHOLD,
    n_clusters: int | None = None,
    seed: int = 0,
    balance: str = "none",
    embedding_model: str | None = None,
    embedding_api_base: str | None = None,
    embedding_key_env: str | None = None,
    pilot_run: str | None = None,
    replace: bool = False,
    on_plan: Callable[[CurationPlan], None] | None = None,
    on_record: Callable[[AnnotationRecord], None] | None = None,
) -> CurationResult:
    """Annotate `pool` (resumably), cluster its prompts, and write pool `out` with the prompts
    (and their answers) meeting `threshold` criteria, sampled to `size` (uniformly, or evenly
    across clusters; or by a pilot run's spread).

    `balance`: "clusters" samples evenly across topic clusters (BenchBuilder), "none" uniformly
    among the prompts meeting the threshold (the default: on AlpacaEval with whole models held
    out, even sampling across clusters ranked new models no better than uniform sampling; see
    bench/curate.py). `embedding_model` (litellm's embedding API) replaces the offline TF-IDF
    representation of the prompts for clustering. `pilot_run`: a run of some models on `pool`;
    prompts on which their verdicts differ most (`prompt_spread`) are taken first (the one
    selection that beat random prompts on held-out models in bench/curate.py). Either
    `annotator` or `pilot_run` or both: without an annotator every prompt qualifies.
    `on_plan(plan)` is called before any annotator call (raise there to stop). The clusters are
    stored with `pool`, and the annotations and clusters of the kept prompts are copied to
    `out`, so `arena pool show` displays them for both.
    Raises BadInput (see `check_request`) before any call; RunFailed (exit 3, `out` not written)
    when some annotator calls still fail after retries: run again to retry them.
    """
    if balance not in ("clusters", "none"):
        raise naming_options(BadInput, f"<b>: expected clusters or none, got {balance!r}", b=_OPT["balance"])
    if annotator is None and pilot_run is None:
        raise naming_options(BadInput, "<a>: expected an annotator preset, a <p> run, or both", a=_OPT["annotator"], p=_OPT["pilot"])
    prompts = check_request(store, pool, out, size=size, threshold=threshold, n_clusters=n_clusters, replace=replace)
    priority = None
    if pilot_run is not None:
        priority = pilot_priority(store, pool, pilot_run, [p.prompt_id for p in prompts])
    if annotator is not None:
        plan = plan_curation(store, pool, annotator)
        if on_plan is not None:
            on_plan(plan)
        if plan.calls and annotator.api_key_env and not os.environ.get(annotator.api_key_env):
            raise BadInput(f"{annotator.name}: key 'api_key_env': environment variable {annotator.api_key_env} is not set (it should hold the API key)")
    embeddings = None
    if embedding_model:
        embeddings = embed_texts([topic_text(p) for p in prompts], embedding_model, api_base=embedding_api_base, api_key_env=embedding_key_env)
    scores, counts, new = _annotate_and_score(store, pool, prompts, annotator, on_record)
    if counts["error"]:
        raise RunFailed(
            f"pool {pool!r}: {counts['error']} of {len(prompts)} prompts could not be annotated (calls failed after retries); "
            f"pool {out!r} was not written: run the same command again to retry them"
        )
    clustering = cluster_texts([topic_text(p) for p in prompts], n_clusters, seed=seed, embeddings=embeddings)
    rng = np.random.default_rng(seed)
    groups = clustering.labels if balance == "clusters" else np.zeros(len(prompts), dtype=int)
    kept_idx = select_balanced(scores, groups, size=size, threshold=threshold, rng=rng, priority=priority)
    kept = [prompts[i].prompt_id for i in kept_idx]
    warns: list[str] = []
    eligible = sum(1 for s in scores if s is not None and s >= threshold)
    if eligible == 0:
        best = max((s for s in scores if s is not None), default=None)
        raise naming_options(
            BadInput, f"<t>: no prompt of pool {pool!r} meets {threshold} of {len(CRITERIA)} criteria (the best meets {best});"
            f" pool {out!r} was not written: lower <t> (the annotations are stored, asking again is free)", t=_OPT["threshold"],
        )
    if eligible < size:
        warns.append(f"only {eligible} prompts meet the threshold of {threshold}: pool {out!r} has {eligible} prompts, not {size}")
    if counts["unparsed"]:
        warns.append(f"{counts['unparsed']} prompts got no parseable annotation after a re-ask (neither kept nor scored)")
    parts = ([f"criteria by {annotator.name} >= {threshold}"] if annotator is not None else []) + (
        [f"highest spread in run {pilot_run}"] if pilot_run is not None else []
    )
    selection = ", ".join(parts)
    cluster_rows = [(p.prompt_id, int(clustering.labels[i]), clustering.names[int(clustering.labels[i])]) for i, p in enumerate(prompts)]
    keep_set = set(kept)
    with store.transaction():
        store.write_clusters(pool, clustering.method, cluster_rows)
        outputs = [o for o in store.outputs(pool) if o.prompt_id in keep_set]
        store.write_pool(
            out,
            [prompts[i] for i in kept_idx],
            outputs,
            source=f"curated from {pool}: {selection} (balance {balance}, {len(clustering.names)} clusters, seed {seed})",
            format="curated",
            replace=replace,
        )
        store.write_clusters(out, clustering.method, [r for r in cluster_rows if r[0] in keep_set])
        if annotator is not None:
            store.copy_annotations(pool, out, annotator.key_for(prompts), keep_set)
    hist = {k: 0 for k in range(len(CRITERIA) + 1)} if annotator is not None else {}
    for s in (s for s in scores if s is not None and annotator is not None):
        hist[s] += 1
    per_cluster = Counter(int(clustering.labels[i]) for i in kept_idx)
    paid = sum(r.calls - r.cached_calls for r in new)
    costs = [r.cost_usd for r in new]
    return CurationResult(
        pool=pool,
        out=out,
        size_asked=size,
        threshold=threshold,
        balance=balance,
        selection=selection,
        kept=kept,
        counts=counts,
        score_histogram=hist,
        eligible=eligible,
        clusters=len(clustering.names),
        cluster_method=clustering.method,
        kept_per_cluster=dict(sorted(per_cluster.items())),
        calls_paid=paid,
        calls_cached=sum(r.cached_calls for r in new),
        cost_usd=None if any(c is None for c in costs) else float(sum(costs)),  # type: ignore[arg-type]
        warnings=warns,
    )
