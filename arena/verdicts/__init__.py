"""The peers' recorded judgments in and out of the store.

`import_verdicts` reads Arena-Hard-Auto, AlpacaEval, MT-Bench, Chatbot Arena, JudgeBench or
arena's own JSONL judgments (`arena.verdicts.formats`) and writes them as one finished run
(matches, games in their recorded order with the judge's text and name, verdicts), so that
reports, run comparison, ratings options and judge statistics work on it unchanged.
`export_verdicts` writes a run back out in those formats; `run_battles` is how every report
turns a run into rating battles (row weights and Arena-Hard's per-game counting included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import BadInput, NotFound, naming_options
from arena.records import Battle, Game, Match, Output, Prompt
from arena.verdicts.formats import FORMATS, ReadResult, RecordedMatch, VerdictFileError, read_recorded

__all__ = [
    "FORMATS",
    "EXPORT_FORMATS",
    "ImportSummary",
    "RecordedMatch",
    "ReadResult",
    "VerdictFileError",
    "export_verdicts",
    "import_verdicts",
    "read_recorded",
    "run_battles",
    "run_battles_with_ids",
    "run_turn_battles",
]

EXPORT_FORMATS = ("battles", "arena_hard", "alpaca_eval", "mt_bench", "jsonl")

BATTLE_UNIT = {"arena_hard": "game"}
"""Formats whose peer counts every game as a battle (Arena-Hard-Auto's `show_result.py` does;
the others count a decided match once)."""


@dataclass(slots=True)
class ImportSummary:
    run_id: str
    name: str
    format: str
    matches: int
    games: int
    skipped_self: int
    models: list[str]
    judges: list[str]
    baseline: str | None
    pool: str | None
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def _parse_status(label: str) -> str:
    return label if label in ("unparsed", "error") else "ok"


def import_verdicts(
    store,
    path: str | Path,
    fmt: str,
    *,
    name: str | None = None,
    pool: str | None = None,
    baseline: str | None = None,
    strong_weight: float = 3.0,
    bootstrap: int = 1000,
) -> ImportSummary:
    """Write recorded judgments as one finished run in `store`; returns what was imported.

    `fmt` is one of `FORMATS` (see `arena.verdicts.formats`). `baseline` names Arena-Hard's
    baseline (its v0.1 rows do not) and makes any run anchored; AlpacaEval's is `generator_1`.
    `strong_weight` is how many wins a strong verdict (`A>>B`) counts for in the run's ratings
    (Arena-Hard's rule is 3). Texts in the file (prompts, answers) become pool `pool` (default:
    the run's name); without texts, `pool` may name an existing pool for categories and the
    report's sample. Errors (`BadInput`, exit 2) are raised before anything is written.
    """
    from arena.names import require_name

    require_name(pool, "a pool name", ("pool", "--pool"))
    require_name(name, "a run name", ("name", "--name"))
    if strong_weight < 1:
        raise naming_options(BadInput, f"<w>: expected a number >= 1, got {strong_weight:g}", w=("strong_weight", "--strong-weight"))
    res = read_recorded(path, fmt, baseline=baseline)
    base = res.baseline
    if base is not None and base not in res.models:
        raise naming_options(BadInput, f"<b>: {base!r} is in none of the imported matches (models: {', '.join(res.models[:10])})",
                             b=("baseline", "--baseline"))
    name = name or f"{fmt}-{Path(path).name.split('.')[0] or 'import'}"
    pool_name, prompts, outputs, res = _pool_of_import(store, res, fmt, name, pool)
    digest = hashlib.sha256()
    for s in res.sources:
        digest.update(Path(s).read_bytes())
    run_id = store.new_run_id(name, digest.hexdigest())
    spec = {
        "name": name,
        "pool": pool_name,
        "strong_weight": strong_weight,
        "bootstrap": bootstrap,
        "baseline": base,
        "battle_unit": BATTLE_UNIT.get(fmt, "match"),
        "imported": {"format": fmt, "sources": res.sources, "skipped_self": res.skipped_self},
    }
    judges = res.judges
    judge = {"kind": "recorded", "description": "recorded verdicts" + (f" of {', '.join(judges)}" if judges else ""), "judges": judges}
    if fmt == "mt_bench":  # a judged turn belongs to its question: one match per conversation judged (checked per record above)
        from arena.verdicts.turns import group_turns

        res = dataclasses.replace(res, matches=group_turns(res.matches))
    summary = ImportSummary(run_id, name, fmt, len(res.matches), sum(len(m.games) for m in res.matches), res.skipped_self,
                            res.models, judges, base, pool_name, res.sources)

    with store.transaction():
        if pool_name is not None and (prompts or outputs):  # answers of a file without prompt texts need a --pool to join
            store.write_pool(pool_name, prompts.values(), outputs.values(), source=res.sources[0], format=f"verdicts:{fmt}")
        store.create_run(run_id, name, {"spec": spec, "judge": judge, "pool": pool_name}, digest.hexdigest(), 0)
        matches = [Match(f"r{i:06d}", m.prompt_id, m.model_a, m.model_b) for i, m in enumerate(res.matches)]
        store.add_matches(run_id, matches, status="done")
        decided = []
        for match, m in zip(matches, res.matches):
            games = [
                Game(match.match_id, _game_judge(g, m), g.order, g.label, g.raw, _parse_status(g.label),  # type: ignore[arg-type]
                     cost_usd=0.0, calls=0, error=None if g.label != "error" else "no verdict recorded",
                     detail={**g.detail, **({"meta": m.meta} if m.meta else {}), **_judged_turn(fmt, m)})
                for g in m.games
            ]
            decided.append((_match_verdict(match.match_id, games), games))
        store.record_verdicts(run_id, decided)
        store.set_run_status(run_id, "done", {"imported": summary.to_dict(), "matches_done": len(matches), "calls": 0, "cost_usd": 0.0})
    return summary


def _pool_of_import(store, res, fmt: str, name: str, pool: str | None):
    """(pool name or None, prompts to write, answers to write, the read result) of an import: the
    file's texts become pool `pool` (default `name`); an existing pool is never relabelled and
    nothing in it is overwritten (its prompts must be the judged questions, only answers it lacks
    are added). A judged question whose id the pool lacks is the pool's prompt with the same text
    (`arena.io.prompt_key`; AlpacaEval's files carry no ids): its matches take that prompt's id.
    Raises `NotFound` / `BadInput` before anything is written."""
    prompts: dict[str, Prompt] = {}
    outputs: dict[tuple[str, str], Output] = {}
    for m in res.matches:
        if m.prompt is not None and m.prompt_id not in prompts:
            prompts[m.prompt_id] = Prompt(m.prompt_id, m.prompt, m.category)
        for model, text in ((m.model_a, m.answer_a), (m.model_b, m.answer_b)):
            if text is not None:
                outputs.setdefault((m.prompt_id, model), Output(m.prompt_id, model, text))
    pool_name = None
    if prompts:
        pool_name = pool or name
    elif pool is not None:
        if not store.pool_exists(pool):
            raise naming_options(NotFound, f"<p>: pool {pool!r} is not in {store.path} and {res.sources[0]} holds no prompt texts", p=("pool", "--pool"))
        pool_name = pool
    if pool_name is not None and store.pool_exists(pool_name):
        # an existing pool is never relabelled, and nothing in it is overwritten: the judged questions
        # must be its prompts (same texts), and only answers it lacks are added
        known = {p.prompt_id: p for p in store.prompts(pool_name)}
        res = _ids_by_text(res, known)
        known_out = {(o.prompt_id, o.model): o for o in store.outputs(pool_name)}
        outputs = pool_additions(pool_name, res, known, known_out)
        prompts = {}
    elif fmt == "mt_bench":
        from arena.verdicts.formats import question_of

        check_turns(res.matches, {question_of(m): 1 for m in res.matches if m.prompt is not None}, None)  # a file's `question` is one turn
    return pool_name, prompts, outputs, res


def _ids_by_text(res: ReadResult, known: dict[str, Prompt]) -> ReadResult:
    """`res` with each single-turn judgment whose question id is not in `known` (a pool's prompts by
    id) but whose question text is a prompt of it (compared on `arena.io.prompt_key`, as `pool
    import` matches prompts across files) given that prompt's id."""
    from arena.io import prompt_key

    by_text: dict[str, str] | None = None
    matches = []
    for m in res.matches:
        if m.prompt_id not in known and m.prompt is not None and not isinstance(m.meta.get("turn"), int):
            if by_text is None:
                by_text = {}
                for p in known.values():
                    if p.n_turns == 1:
                        by_text.setdefault(prompt_key(p.text), p.prompt_id)
            pid = by_text.get(prompt_key(m.prompt))
            if pid is not None:
                m = dataclasses.replace(m, prompt_id=pid)
        matches.append(m)
    return dataclasses.replace(res, matches=matches)


def _match_verdict(match_id: str, games: list[Game]):
    """The verdict of a recorded match: its games' (`combine_games`), or for the games of several
    judged turns each turn's verdict added up (`combine_turns`), as an llm judge's `turn = "each"`."""
    from arena.judges import combine_games
    from arena.judges._conversation import combine_turns, game_turn

    by_turn: dict = {}
    for g in games:
        by_turn.setdefault(game_turn(g), []).append(g)
    if len(by_turn) < 2:
        return combine_games(match_id, games)
    return combine_turns(match_id, [combine_games(match_id, gs) for _, gs in sorted(by_turn.items(), key=lambda kv: kv[0] or 0)])


def _game_judge(g, m: RecordedMatch) -> str:
    """A recorded game's judge as stored: `judge@turnN` for a game of one turn of a match whose games
    judged several turns (`turns.group_turns`), as an llm judge's `turn = "each"` names its games
    (a match's games are one per judge and order)."""
    from arena.judges._conversation import judge_of_turns, turn_judge_name

    t = g.detail.get("turn")
    name = g.judge or "recorded"
    several = len({x.detail.get("turn") for x in m.games}) > 1
    return turn_judge_name(judge_of_turns(name), t) if several and isinstance(t, int) and not isinstance(t, bool) else name


def check_turns(matches: list[RecordedMatch], n_turns: dict[str, int], pool: str | None) -> None:
    """`VerdictFileError` for an MT-Bench judgment of a turn its question does not have (`n_turns`:
    {question id: answered turns}; a question missing there is not checked)."""
    from arena.verdicts.formats import question_of

    for m in matches:
        turn = m.meta.get("turn")
        n = n_turns.get(question_of(m))
        if isinstance(turn, int) and n is not None and turn > n:
            where = f"in pool {pool!r}" if pool else "in this file (its `question` is one user turn)"
            raise VerdictFileError(f"{m.where}: field 'turn': expected 1..{n} (question {question_of(m)!r} has {n} turn{'s' * (n != 1)} {where}), got {turn}")


def pool_additions(pool: str, res: ReadResult, known: dict[str, Prompt], known_out: dict[tuple[str, str], Output]) -> dict[tuple[str, str], Output]:
    """The answers an import of judgments adds to existing pool `pool` ({(prompt_id, model): Output}).

    Pure check of the recorded matches against the pool's prompts (`known`) and answers (`known_out`),
    raising `VerdictFileError` (one line naming file:line) when: the file shares no question with the
    pool; a judged question is not in the pool; a question's text (the record's `question`) differs
    from the pool's prompt (compared on `arena.io.prompt_key`); a judged turn is one the prompt lacks;
    a model's answer in the file differs from its answer in the pool. Answers of models the pool lacks
    are added for single-turn prompts (a conversation needs every turn's answer: those stay out)."""
    from arena.io import prompt_key
    from arena.verdicts.formats import question_of

    if not any(question_of(m) in known for m in res.matches):
        sample = ", ".join(sorted({question_of(m) for m in res.matches})[:3])
        raise VerdictFileError(
            f"{res.sources[0]}: --pool {pool!r} shares no prompt with this file (its questions: {sample}, ...);"
            " name a new pool with --pool NEW (an existing pool is never merged with unrelated prompts)"
        )
    added: dict[tuple[str, str], Output] = {}
    for m in res.matches:
        qid, turn = question_of(m), m.meta.get("turn") or 1
        p = known.get(qid)
        if p is None:
            raise VerdictFileError(f"{m.where}: question_id {qid!r} is not in pool {pool!r}; name a new pool with --pool NEW")
        if m.prompt is not None and prompt_key(m.prompt) != prompt_key(p.text):
            raise VerdictFileError(
                f"{m.where}: question {qid!r} is in pool {pool!r} with a different text; name a new pool with --pool NEW"
            )
        check_turns([m], {qid: p.n_turns}, pool)
        for model, text in ((m.model_a, m.answer_a), (m.model_b, m.answer_b)):
            if text is None:
                continue
            have = known_out.get((qid, model))
            if have is not None:
                turns = have.all_turns
                if turn > len(turns) or prompt_key(turns[turn - 1]) != prompt_key(text):
                    raise VerdictFileError(
                        f"{m.where}: {model}'s answer to question {qid!r} differs from its answer in pool {pool!r};"
                        " name a new pool with --pool NEW"
                    )
            elif p.n_turns == 1:
                added.setdefault((qid, model), Output(qid, model, text))
    return added


def _judged_turn(fmt: str, m: RecordedMatch) -> dict:
    """`{"turn": N}` for a judgment of turn N of a conversation (MT-Bench's judgments, expert or GPT-4,
    name the turn they judged); {} otherwise. Chatbot Arena's `turn` counts a conversation's turns
    (its vote is on the whole conversation), so it stays in `meta` only."""
    turn = m.meta.get("turn") if fmt == "mt_bench" else None
    return {"turn": turn} if isinstance(turn, int) and not isinstance(turn, bool) else {}


def _game_weights(store, run_id: str) -> dict[str, float]:
    rows = store.game_details(run_id, '"weight"')
    out = {}
    for mid, detail in rows:
        try:
            w = json.loads(detail).get("weight")
        except (ValueError, AttributeError):
            continue
        if isinstance(w, (int, float)):
            out[mid] = float(w)
    return out


def run_battles(store, run_id: str, spec: dict | None = None) -> list[Battle]:
    """A run's rating battles: one per decided match (`battles_from_verdicts`), its weight
    `strong_weight` for a strong verdict times the row's recorded `weight` (battle files); or,
    for runs whose spec says `battle_unit = "game"` (imported Arena-Hard judgments), one per
    decisive game, as Arena-Hard-Auto's `show_result.py` counts them (a strong game weighs
    `strong_weight`, a tied game is a tie)."""
    return run_battles_with_ids(store, run_id, spec)[0]


def run_battles_with_ids(store, run_id: str, spec: dict | None = None, unit: str | None = None) -> tuple[list[Battle], list[str]]:
    """`run_battles` and, aligned with it, the match id each battle came from. `unit` ("match" or
    "game") overrides the spec's `battle_unit`. Verdicts become battles by `records.battle_of`
    (a forfeit is a loss of the side without an answer, or left out with the spec's `forfeit = "skip"`)."""
    from arena.records import LABEL_SCORE, battle_of

    run = store.get_run(run_id)
    rid = run.run_id
    spec = spec if spec is not None else run.spec.get("spec", {})
    sw = float(spec.get("strong_weight") or 3.0)
    if (unit or spec.get("battle_unit")) == "game":
        weights = _game_weights(store, rid)
        matches = {r.match_id: r for r in store.matches(rid)}
        out, ids = [], []
        for g in store.games(rid):
            s = LABEL_SCORE.get(g.label)
            m = matches.get(g.match_id)
            if s is None or m is None:
                continue
            outcome = "a" if s > 0 else "b" if s < 0 else "tie"
            w = (sw if abs(s) == 2 else 1.0) * weights.get(g.match_id, 1.0)
            out.append(Battle(m.prompt_id, m.model_a, m.model_b, outcome, w, g.judge))  # type: ignore[arg-type]
            ids.append(g.match_id)
        return out, ids
    forfeit = spec.get("forfeit") or "loss"
    weights = _game_weights(store, rid)
    names = store.judge_names(rid)
    # one judge (the usual run): its name for every judged match (a forfeit has no game: ""), without a
    # dict of every match's judge
    only = next(iter(names)) if len(names) == 1 else None
    judges = {} if only is not None else store.match_judges(rid)
    battles, ids = [], []
    questions: dict[str, str] | None = None
    for m, v in store.decided(rid):
        b = battle_of(m, v, strong_weight=sw, forfeit=forfeit)
        if b is not None:
            pid = b.prompt_id
            if ":turn" in pid:  # an MT-Bench turn-N judgment imported before turns belonged to their question
                questions = _old_turn_questions(store, rid) if questions is None else questions
                pid = questions.get(m.match_id, pid)
            judge = judges.get(m.match_id, "") if only is None else "" if v.outcome.startswith("forfeit") else only
            battles.append(Battle(pid, b.model_a, b.model_b, b.outcome, b.weight * weights.get(m.match_id, 1.0), judge))
            ids.append(m.match_id)
    return battles, ids


def _old_turn_questions(store, run_id: str) -> dict[str, str]:
    """{match_id: question} for matches on prompts `qid:turnN` whose games judged turn N (MT-Bench imports
    written before `turns.group_turns`): categories and the bootstrap's clusters then use the question."""
    from arena.verdicts.turns import prompt_question

    turns: dict[str, int] = {}
    for mid, detail in store.game_details(run_id, '"turn"'):
        try:
            t = json.loads(detail).get("turn")
        except (ValueError, AttributeError):
            continue
        if isinstance(t, int) and not isinstance(t, bool):
            turns[mid] = t
    return {r.match_id: prompt_question(r.prompt_id, turns[r.match_id]) for r in store.matches(run_id) if r.match_id in turns}


def run_turn_battles(store, run_id: str, spec: dict | None = None) -> dict[int, list[Battle]]:
    """A run's rating battles per conversation turn: {turn: battles}, from the games that judged one
    turn (`detail.turn`: an llm judge's `turn = "each"`, "last" or N, or an imported MT-Bench
    judgment's; a panel's per-turn games; of a cascade, the games of the stage that decided). Each
    (match, turn)'s games make one verdict
    (`combine_games`) and one battle (`records.battle_of`); a forfeit counts in every turn (the
    conversation was not answered). Empty when no game judged a single turn."""
    from arena.judges._base import combine_games
    from arena.judges._conversation import game_turn
    from arena.records import battle_of
    from arena.verdicts.turns import prompt_question

    run = store.get_run(run_id)
    rid = run.run_id
    spec = spec if spec is not None else (run.spec or {}).get("spec", {})
    sw = float(spec.get("strong_weight") or 3.0)
    forfeit = spec.get("forfeit") or "loss"
    by_turn: dict[tuple[str, int], list[Game]] = {}
    for g in store.iter_games(rid):  # streamed: a single-turn run of 450,000 matches keeps none
        t = game_turn(g)
        if t is not None and (g.detail.get("cascade") or {}).get("decides", True):  # a cascade: the deciding stage's games
            by_turn.setdefault((g.match_id, t), []).append(g)
    if not by_turn:
        return {}
    matches = {r.match_id: r.match for r in store.matches(rid)}
    out: dict[int, list[Battle]] = {}
    for (mid, t), games in sorted(by_turn.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        m = matches.get(mid)
        b = battle_of(m, combine_games(mid, games), strong_weight=sw, forfeit=forfeit) if m is not None else None
        if b is not None:  # an import written before turns belonged to their question: its `qid:turnN` is qid
            out.setdefault(t, []).append(b if b.prompt_id == (q := prompt_question(b.prompt_id, t)) else dataclasses.replace(b, prompt_id=q))
    turns = sorted({t for _, t in by_turn})
    for m, v in store.decided(rid):
        if v.outcome.startswith("forfeit"):
            b = battle_of(m, v, strong_weight=sw, forfeit=forfeit)
            for t in turns if b is not None else ():
                out.setdefault(t, []).append(b)
    return dict(sorted(out.items()))


from arena.verdicts.export import export_verdicts  # noqa: E402
