"""Gather everything a report shows from the store into one JSON-ready dict (pure apart from reads)."""

from __future__ import annotations

import dataclasses
import itertools
import platform
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from arena.errors import BadInput, RatingError
from arena.records import Game, Usage, VerdictRow
from arena.resources import bundled_dir


def _reference_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists() and p.parts and p.parts[0] == "data":
        p = bundled_dir("data").joinpath(*p.parts[1:])
    if not p.exists():
        raise BadInput(f"reference: {path}: no such file")
    return p


def read_reference_table(path: str | Path, columns: list[str] | None = None):
    """A reference file as an `arena.ratings.ScoreTable`: a model column and numeric columns
    (every one, or the named `columns`); empty cells are models the reference did not measure."""
    from arena.tables import read_score_table

    return read_score_table(_reference_path(path), columns=columns or ())


def read_reference(path: str | Path) -> tuple[dict[str, float], str]:
    """A reference ranking CSV: a `model` column and numeric columns; the first one, as model -> score."""
    table = read_reference_table(path)
    col = table.scores[:, 0]
    return {m: float(v) for m, v in zip(table.models, col) if v == v}, table.tasks[0]


COVERAGE_WARN = 0.9
"""A model that answered fewer than this share of a run's prompts gets a named warning."""
CONSISTENCY_WARN = 0.6
"""A judge whose position consistency (both orders agree) is below this gets a named warning."""


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float | None, float | None]:
    """Wilson score interval (95% by default) of a proportion k/n; (None, None) when n = 0."""
    if n <= 0:
        return None, None
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def coverage_warnings(coverage: dict[str, float]) -> list[str]:
    """`low coverage` warnings for models below `COVERAGE_WARN` of the run's prompts."""
    return [
        f"low coverage: {m} answered {100 * c:.0f}% of the prompts (below {100 * COVERAGE_WARN:.0f}%); each missing answer is a forfeit"
        for m, c in sorted(coverage.items())
        if c < COVERAGE_WARN
    ]


def judge_bias_warnings(js: dict) -> list[str]:
    """`judge bias` warnings: position consistency below `CONSISTENCY_WARN`, or a first-slot win rate
    whose 95% Wilson interval excludes 0.5 (the judge favours one position, as MT-Bench's and
    Arena-Hard's authors measure it)."""
    out = []
    c = js.get("position_consistency")
    if c is not None and c < CONSISTENCY_WARN:
        out.append(
            f"judge bias: position consistency {100 * c:.1f}% is below {100 * CONSISTENCY_WARN:.0f}%"
            " (the verdict often flips when the answers are swapped)"
        )
    lo, hi, r = js.get("first_slot_ci_low"), js.get("first_slot_ci_high"), js.get("first_slot_win_rate")
    if lo is not None and hi is not None and (lo > 0.5 or hi < 0.5):
        side = "first" if lo > 0.5 else "second"
        out.append(
            f"judge bias: first-slot win rate {100 * r:.1f}% (95% CI {100 * lo:.1f}%-{100 * hi:.1f}%) excludes 50%"
            f" (the judge favours the answer shown {side})"
        )
    return out


def judge_stats(games: Iterable[Game], verdicts: Iterable[VerdictRow], usage: Usage | None = None) -> dict:
    """Counts of a run's games and verdicts; calls, tokens and cost from `usage` (`Store.usage`),
    summed from the rows when not given. One pass over each (`Store.iter_games` /
    `Store.iter_verdicts` stream them: a run of 450,000 matches is never held)."""
    labels: Counter = Counter()
    summed = Usage()
    n = retries = first_slot = judged_orders = paid = 0
    latency = 0.0
    for g in games:
        n += 1
        labels[g.label] += 1
        retries += max(0, (g.attempts or 1) - 1)
        if usage is None:
            summed = summed + g.usage
        if not g.cached:
            paid += 1
            latency += g.latency_s or 0
        if g.label in ("A>>B", "A>B", "B>A", "B>>A"):
            judged_orders += 1
            a_wins = g.label.startswith("A>")
            # a game in order BA showed B in the first slot
            first_slot += a_wins if g.order == "AB" else (not a_wins)
    usage = summed if usage is None else usage
    decided = ties = two = consistent = unresolved = forfeits = 0
    for v in verdicts:
        if v.outcome in ("a", "b", "tie"):
            decided += 1
            ties += v.outcome == "tie"
            if v.consistent is not None:
                two += 1
                consistent += bool(v.consistent)
        elif v.outcome == "unresolved":
            unresolved += 1
        elif str(v.outcome).startswith("forfeit"):
            forfeits += 1
    return {
        "games": n,
        "labels": dict(labels),
        "calls": usage.calls,
        "cached_calls": usage.cached_calls,
        "retries": retries,
        "errors": labels.get("error", 0),
        "unparsed": labels.get("unparsed", 0),
        "ties": ties,
        "tie_rate": ties / decided if decided else None,
        "position_consistency": consistent / two if two else None,
        "first_slot_win_rate": first_slot / judged_orders if judged_orders else None,
        "first_slot_games": judged_orders,
        **dict(zip(("first_slot_ci_low", "first_slot_ci_high"), wilson(first_slot, judged_orders))),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": None if usage.cost_usd is None else round(usage.cost_usd, 6),
        "latency_s_mean": latency / paid if paid else None,
        "unresolved_matches": unresolved,
        "forfeits": forfeits,
    }


def category_battles(store, pool: str | None, battles: list) -> dict[str, list]:
    """Battles grouped by their prompt's category (prompts without one left out), sorted by name."""
    categories = {p.prompt_id: p.category for p in store.prompts(pool)} if pool and store.pool_exists(pool) else {}
    return group_battles(battles, categories)


def group_battles(battles: list, group_of: dict[str, str | None]) -> dict[str, list]:
    """Battles grouped by `group_of[prompt_id]` (prompts without a group left out), sorted by name
    (a leading number as a number: cluster "2: ..." before "10: ...")."""
    by_group: dict[str, list] = {}
    for b in battles:
        g = group_of.get(b.prompt_id)
        if g:
            by_group.setdefault(g, []).append(b)
    return dict(sorted(by_group.items(), key=lambda kv: _natural(kv[0])))


def _add_variance(report: dict, store, run_id: str, board, battles: list, spec: dict, *, strong_weight: float, n_boot: int, seed: int) -> None:
    """How much of a difference is noise: prompts needed per adjacent pair, where the variance
    comes from (when matches were re-judged), checkpoint monotonicity (the spec's `checkpoints`)."""
    from arena.errors import RatingError
    from arena.ratings import checkpoint_monotonicity, prompts_to_separate

    report["separation"] = prompts_to_separate(board, len({b.prompt_id for b in battles}))
    sources = variance_sources_of_run(store, run_id, board, strong_weight=strong_weight, forfeit=_forfeit(spec), n_boot=n_boot, seed=seed)
    if sources:
        report["variance_sources"] = sources
    if spec.get("checkpoints"):
        try:
            report["checkpoints"] = checkpoint_monotonicity(board, spec["checkpoints"])
        except RatingError as e:
            report["warnings"].append(str(e))


def variance_sources_of_run(store, run_id: str, board, *, strong_weight: float, forfeit: str, n_boot: int, seed: int) -> list[dict]:
    """For each replay setting of the run (`arena.rejudge`): the judge's self-agreement and the
    split of the rating variance into prompt sampling and judge noise (`variance_sources`), over
    the same battles the ratings took (`Store.battles`; forfeits count, with no judge noise)."""
    from arena.ratings import compile_battles, self_agreement, variance_sources
    from arena.records import Verdict, battle_of

    replays = store.replays(run_id)
    if not replays:
        return []
    observed = [(m, v, battle_of(m, v, strong_weight=strong_weight, forfeit=forfeit)) for m, v in store.decided(run_id)]
    observed = [(m, v, b) for m, v, b in observed if b is not None]
    arrays = compile_battles([b for _, _, b in observed], board.models)
    index = {m.match_id: i for i, (m, _, _) in enumerate(observed)}
    judged = [v.outcome in ("a", "b", "tie") for _, v, _ in observed]
    out = []
    for setting in sorted({r.setting for r in replays}):
        rows = [r for r in replays if r.setting == setting and r.match_id in index and judged[index[r.match_id]]]
        ok = [r for r in rows if r.outcome in ("a", "b", "tie")]
        entry: dict = {
            "setting": setting,
            "replayed": len(ok),
            "failed": len(rows) - len(ok),
            "usage": store.replay_usage(run_id, setting).to_dict(),
            "agreement": self_agreement([observed[index[r.match_id]][1].outcome for r in ok], [r.outcome for r in ok]),
        }
        entry["deterministic"] = bool(ok) and entry["usage"]["calls"] + entry["usage"]["cached_calls"] == 0
        if ok and board.boot.shape[0] >= 2:
            again = [battle_of(observed[index[r.match_id]][0], Verdict(r.match_id, r.outcome, r.strength, None, r.label),
                               strong_weight=strong_weight) for r in ok]
            score = {"a": 1.0, "b": 0.0, "tie": 0.5}
            entry.update(variance_sources(
                board, arrays, [index[r.match_id] for r in ok], [score[b.outcome] for b in again],
                [b.weight for b in again], judged=judged, bootstrap=min(n_boot, 1000), seed=seed,
            ))
        elif ok:
            entry["note"] = "no bootstrap replicates (bootstrap = 0): no variance to split"
        out.append(entry)
    return out


def _add_reference(report: dict, board, ref_path, columns: list[str] | None, *, n_boot: int, seed: int) -> None:
    """`reference`: the first reference column with Arena-Hard's confidence-aware metrics;
    `agreement`: every column, their aggregate and the z-score (BenchBench)."""
    from arena.ratings import agreement, reference_agreement

    table = read_reference_table(ref_path, columns)
    report["agreement"] = {"path": str(ref_path), **reference_agreement(board.ratings, table, bootstrap=min(n_boot, 500), seed=seed)}
    report["warnings"] += [f"reference: {w}" for w in report["agreement"]["warnings"]]
    first = report["agreement"]["references"][0]
    col = table.scores[:, table.tasks.index(first["column"])]
    ref = {m: float(v) for m, v in zip(table.models, col) if v == v and m in board.ratings}
    agr = agreement(board, ref)
    report["reference"] = {"path": str(ref_path), "column": first["column"], "models": list(ref), **_jsonable(agr)}


def _forfeit(spec: dict) -> str:
    return spec.get("forfeit") or "loss"


def _integrity(report: dict, summary: dict, spec: dict) -> None:
    """Coverage, stop reason, forfeit rule and their warnings, and the judge-bias warnings."""
    report.update(
        coverage=summary.get("coverage"),
        stop_reason=summary.get("stop_reason"),
        target_reached=summary.get("target_reached"),
        forfeit=_forfeit(spec),
    )
    report["warnings"] += coverage_warnings(report["coverage"] or {})
    report["judge_bias"] = judge_bias_warnings(report["judge_stats"])
    report["warnings"] += report["judge_bias"]


def build_report(
    store,
    run_id: str,
    *,
    bootstrap: int | None = None,
    sample: int = 40,
    anchor: str | None = None,
    ties: str | None = None,
    style: bool | None = None,
    lc: bool | None = None,
    reference: str | Path | None = None,
    reference_columns: list[str] | None = None,
) -> dict:
    """The whole report as a dict: run, leaderboard, matrices, categories (and their aggregate),
    judge stats, agreement with the reference(s), sample.

    The baseline is `anchor`, the spec's `baseline`, or an anchored scheduler's; with one, the
    ratings are anchored on it and every row carries its win rate against it with a 95% interval
    (Arena-Hard-Auto's number). `ties` ("half" or "davidson") and `style` (length and markdown
    covariates, Chatbot Arena's style control) override the spec's `ties` / `style` keys.
    `lc`: AlpacaEval's length-controlled win rates against the baseline (`length_controlled`, and
    `lc_win_rate` / `lc_standard_error` on the leaderboard rows): True requires them, None (the
    default) adds them when the run has a baseline and its answers' texts, False leaves them out.
    `reference` (default: the spec's) is a CSV of reference scores; every numeric column is a
    reference ranking unless `reference_columns` names some. Given here, a bad reference raises
    BadInput; the spec's only adds a warning."""
    import numpy as np

    from arena import __version__
    from arena.verdicts import run_battles_with_ids
    from arena.verdicts.export import run_baseline

    run = store.get_run(run_id)
    run_id = run.run_id
    spec = run.spec.get("spec", {})
    judge_preset = run.spec.get("judge", {})
    pool = run.spec.get("pool", spec.get("pool"))
    strong_weight = float(spec.get("strong_weight") or judge_preset.get("strong_weight") or 3.0)
    n_boot = int(bootstrap if bootstrap is not None else 1000 if spec.get("bootstrap") is None else spec["bootstrap"])  # a spec's 0 is no bootstrap
    ties = ties or spec.get("ties") or "half"
    style = bool(spec.get("style")) if style is None else style
    seed = run.seed
    battles, battle_ids = run_battles_with_ids(store, run_id, spec)
    _check_anchor(store, run_id, spec, anchor)
    baseline = run_baseline(spec, anchor)
    summary = run.summary.to_dict() if run.summary is not None else {}
    report: dict = {
        "arena_version": __version__,
        "python": platform.python_version(),
        "run": {k: getattr(run, k) for k in ("run_id", "name", "status", "seed", "started", "finished")},
        "summary": summary,
        "spec": spec,
        "judge": {"preset": judge_preset, "description": judge_preset.get("description") or judge_preset.get("model") or ""},
        "pool": pool,
        "battles": len(battles),
        "baseline": baseline,
        "strong_weight": strong_weight,
        "battle_unit": spec.get("battle_unit") or "match",
        "ties": ties,
        "style": style,
        "leaderboard": [],
        "warnings": [],
        "judge_stats": judge_stats(store.iter_games(run_id), store.iter_verdicts(run_id), store.usage(run_id)),
    }
    _integrity(report, summary, spec)
    report["warnings"] += _pool_changed(store, run.spec)  # the texts below are the pool's current ones
    shard = run.spec.get("shard")
    if isinstance(shard, dict):  # one shard of a tournament split by prompt (arena.tournaments.shard)
        report["shard"] = {k: shard.get(k) for k in ("index", "count", "prompts")}
        report["warnings"].append(
            f"shard {shard.get('index')}/{shard.get('count')}: this run covers only its {shard.get('prompts')} prompts of the tournament;"
            " merge the shards' stores with `arena run merge OUT.db SHARD.db...` for the whole leaderboard"
        )
    from arena.judges import report_extras

    report["judge_stats"].update(report_extras(judge_preset.get("kind"), store.iter_games(run_id)))
    if not battles:
        report["warnings"].append("no decided battles yet: nothing to rate")
        return report
    models = {b.model_a for b in battles} | {b.model_b for b in battles}
    if baseline is not None and baseline not in models:
        report["warnings"].append(f"baseline {baseline!r} has no decided battles: ratings anchored on the mean")
        baseline = report["baseline"] = None
    board = _fit_board(store, run, battles, battle_ids, baseline, n_boot, seed, ties, style)
    report["leaderboard"] = [dict(r, coverage=(report["coverage"] or {}).get(r["model"])) for r in board.to_records()]
    report["warnings"] += list(board.warnings)
    report["models"] = list(board.models)
    if board.style_coefs:
        report["style_coefs"] = board.style_coefs
    if board.tie_param is not None:
        report["tie_param"] = board.tie_param
    report["matrices"] = {
        "win_rate": np.round(board.win_matrix, 4).tolist(),
        "predicted": np.round(board.pred_matrix, 4).tolist(),
        "battles": board.count_matrix.tolist(),
    }
    report["_board"] = board  # for plots; dropped from JSON

    _add_variance(report, store, run_id, board, battles, spec, strong_weight=strong_weight, n_boot=n_boot, seed=seed)

    # per-category leaderboards, and per topic cluster for a curated (clustered) pool
    report["categories"] = _category_boards(store, pool, battles, baseline, n_boot, seed, ties, report["warnings"])
    clusters = store.clusters(pool) if pool and store.pool_exists(pool) else {}
    names = {pid: f"{c}: {name}" if name else str(c) for pid, (c, name) in clusters.items()}
    report["clusters"] = group_leaderboards(group_battles(battles, names), n_boot, seed, report["warnings"], "cluster")
    _add_cross_category(report, n_boot, seed)
    # conversations judged turn by turn: a leaderboard per turn beside the categories' (not in their aggregate)
    # per-turn boards stay apart from the categories (a category may be named "turn 1")
    report["turns"] = _turn_boards(store, run_id, spec, baseline, n_boot, seed, ties, report["warnings"])

    if lc or (lc is None and baseline is not None):
        _add_length_controlled(store, run_id, baseline, report, required=bool(lc))

    ref_path = reference or spec.get("reference")
    if ref_path:
        try:
            _add_reference(report, board, ref_path, reference_columns or spec.get("reference_columns"), n_boot=n_boot, seed=seed)
        except (BadInput, RatingError) as e:
            if reference:  # asked for on the command line: an error, not a footnote
                raise BadInput(f"{ref_path}: {e}" if str(ref_path) not in str(e) else str(e)) from None
            report["warnings"].append(str(e))

    # a browsable sample of matches
    from arena.judges._conversation import dialogue_turns, game_turn
    from arena.records import Match, PoolView

    prompts = {p.prompt_id: p for p in store.prompts(pool)} if pool and store.pool_exists(pool) else {}
    from arena.answers import StoredAnswers

    # the sampled matches' answers are read from the store (a pool of 500,000 answers is never held)
    view = PoolView(prompts.values(), StoredAnswers(store, pool, list(prompts.values())) if prompts else [])
    answers = view.answers

    def turns_of(v) -> list[dict]:  # a conversation's dialogue, turn by turn (A and B side by side)
        p = prompts.get(v.prompt_id)
        if p is None or not p.is_conversation:
            return []
        return dialogue_turns(view.context(Match(v.match_id, v.prompt_id, v.model_a, v.model_b)), "a", None)

    # every step-th match with a verdict (a, b, tie or unresolved), its games read for those matches only
    counts = store.verdict_counts(run_id)
    step = max(1, sum(counts.get(k, 0) for k in ("a", "b", "tie", "unresolved")) // sample)
    picked = [v for v in itertools.islice((v for v in store.iter_verdicts(run_id) if v.outcome in ("a", "b", "tie", "unresolved")), 0, None, step)][:sample]
    by_match: dict[str, list[Game]] = {}
    for g in store.iter_games(run_id, [v.match_id for v in picked]):
        by_match.setdefault(g.match_id, []).append(g)
    from arena.verdicts.turns import prompt_question

    def question(v) -> str:  # a turn-N judgment imported before turns belonged to their question: `qid:turnN`
        turn = max((t for t in (game_turn(g) for g in by_match.get(v.match_id, [])) if t is not None), default=None)
        q = prompt_question(v.prompt_id, turn)
        return q if q != v.prompt_id and q in prompts else v.prompt_id

    decided = [dataclasses.replace(v, prompt_id=question(v)) for v in picked]
    report["sample"] = [
        {
            "match_id": v.match_id,
            "prompt_id": v.prompt_id,
            "prompt": prompts[v.prompt_id].text if v.prompt_id in prompts else "",
            "model_a": v.model_a,
            "model_b": v.model_b,
            "answer_a": answers.text(v.prompt_id, v.model_a),
            "answer_b": answers.text(v.prompt_id, v.model_b),
            "outcome": v.outcome,
            "label": v.label,
            "consistent": v.consistent,
            "turns": turns_of(v),
            "games": [{"order": g.order, "label": g.label, "raw": g.raw, "error": g.error, "turn": game_turn(g)}
                      for g in by_match.get(v.match_id, [])],
        }
        for v in decided
    ]
    return report


def _add_cross_category(report: dict, n_boot: int, seed: int) -> None:
    """The categories' rankings aggregated into one (with two categories or more)."""
    if len(report["categories"]) < 2:
        return
    from arena.ratings import aggregate_rankings, table_from_scores

    table = table_from_scores({c: {r["model"]: r["rating"] for r in v["leaderboard"]} for c, v in report["categories"].items()})
    try:
        report["cross_category"] = aggregate_rankings(table, bootstrap=min(n_boot, 200), seed=seed).to_dict()
    except RatingError as e:
        report["warnings"].append(f"cross-category summary: {e}")


def _fit_board(store, run: dict, battles, battle_ids, baseline, n_boot: int, seed: int, ties: str, style: bool):
    """The run's leaderboard; with `style`, the answers' style covariates held equal."""
    from arena.ratings import fit_ratings

    features = None
    if style:
        from arena.verdicts.style import run_style_features

        features = run_style_features(store, run, battles, battle_ids)
    try:
        return fit_ratings(battles, anchor=baseline, bootstrap=n_boot, seed=seed, ties=ties, style=features)
    except RatingError as e:
        if features is None:
            raise
        raise RatingError(f"style control: {e} (too few battles, or a model that never loses or never wins)") from None


def _check_anchor(store, run_id: str, spec: dict, anchor: str | None) -> None:
    """`BadInput` for an anchor asked for now that the run lacks (`arena.verdicts.export.check_anchor`);
    a run's own baseline (its spec's) was checked when it ran."""
    if anchor is not None and anchor != spec.get("baseline"):
        from arena.verdicts.export import check_anchor

        check_anchor(anchor, store.run_models(run_id))


def _pool_changed(store, run_spec: dict) -> list[str]:
    """The warning (a list of one) when the run's pool changed since the run (`arena.answers.pool_changed`)."""
    from arena.answers import pool_changed

    changed = pool_changed(store, run_spec)
    return [] if changed is None else [changed]


def _category_boards(store, pool, battles, baseline, n_boot: int, seed: int, ties: str, warnings: list[str]) -> dict:
    """One leaderboard per prompt category of the pool (anchored on the baseline where it plays)."""
    return _group_boards(category_battles(store, pool, battles), baseline, n_boot, seed, ties, warnings, "category")


def _turn_boards(store, run_id: str, spec: dict, baseline, n_boot: int, seed: int, ties: str, warnings: list[str]) -> dict:
    """One leaderboard per judged conversation turn, named "turn 1", "turn 2"... (`run_turn_battles`;
    MT-Bench's first- and second-turn results), when games judged two turns or more."""
    from arena.verdicts import run_turn_battles

    by_turn = {f"turn {t}": bs for t, bs in run_turn_battles(store, run_id, spec).items()}
    return _group_boards(by_turn, baseline, n_boot, seed, ties, warnings, "")


def _group_boards(by_cat: dict[str, list], baseline, n_boot: int, seed: int, ties: str, warnings: list[str], what: str) -> dict:
    """One leaderboard per group of battles, anchored on the baseline where it plays; {} below two groups."""
    from arena.ratings import fit_ratings

    out: dict = {}
    if len(by_cat) < 2:
        return out
    for c, bs in sorted(by_cat.items()):
        cat_models = {b.model_a for b in bs} | {b.model_b for b in bs}
        try:
            cb = fit_ratings(bs, bootstrap=min(n_boot, 200), seed=seed, ties=ties, anchor=baseline if baseline in cat_models else None)
        except Exception as e:  # noqa: BLE001 - a thin category must not break the report
            warnings.append(f"{what} {c}: {e}".lstrip())
            continue
        out[c] = {"battles": len(bs), "leaderboard": cb.to_records()}
    return out


def _add_length_controlled(store, run_id: str, baseline, report: dict, *, required: bool) -> None:
    """AlpacaEval's LC win rates into `report` (a warning instead when not `required` and impossible)."""
    from arena.reports.lc import run_length_controlled

    try:
        report["length_controlled"] = run_length_controlled(store, run_id, baseline)
    except (BadInput, RatingError) as e:
        if required:
            raise
        report["warnings"].append(f"no length-controlled win rate: {e}")
        return
    by_model = {r["model"]: r for r in report["length_controlled"]["models"]}
    for row in report["leaderboard"]:
        got = by_model.get(row["model"])
        if got is not None:
            row["lc_win_rate"] = round(got["lc_win_rate"], 4)
            row["lc_standard_error"] = round(got["lc_standard_error"], 4)


def group_leaderboards(by_group: dict[str, list], n_boot: int, seed: int, warnings: list[str], what: str) -> dict:
    """One leaderboard per group of battles (`group_battles`), when there are at least two groups:
    {group: {"battles": n, "leaderboard": records}}. A group too thin to rate adds a warning."""
    from arena.ratings import fit_ratings

    out: dict = {}
    if len(by_group) > 1:
        for g, bs in by_group.items():
            try:
                board = fit_ratings(bs, bootstrap=min(n_boot, 200), seed=seed)
            except Exception as e:  # noqa: BLE001 - a thin group must not break the report
                warnings.append(f"{what} {g}: {e}")
                continue
            out[g] = {"battles": len(bs), "leaderboard": board.to_records()}
    return out


def _natural(key: str) -> tuple:
    """Sort "10: x" after "2: y": a leading number compares as a number."""
    head = key.split(":", 1)[0]
    return (0, int(head), key) if head.isdigit() else (1, 0, key)


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def to_json(report: dict) -> str:
    """The report as strict JSON (run.json): no NaN or Infinity, null instead."""
    from arena.strict_json import dumps

    return dumps({k: v for k, v in report.items() if not k.startswith("_")}, indent=2)
