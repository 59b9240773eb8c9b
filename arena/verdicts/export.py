"""Write a run's judgments, and a pool's answers, in the peers' own formats.

- `battles`: Chatbot Arena-style battle rows (`question_id, model_a, model_b, winner, weight,
  judge`, and `prompt` when the pool has it; for a conversation, each side's whole dialogue in
  `conversation_a` / `conversation_b` as Chatbot Arena's battles hold it): one row per rating battle
  of the run (`run_battles`: per decided match, or per game for Arena-Hard-counted runs), so that
  `arena ratings fit` and `verdicts import --format chatbot_arena` read the same leaderboard.
- `arena_hard`: `<out>/<judge>/<model>.jsonl` as Arena-Hard-Auto's `gen_judgment.py` writes them
  (game 1 with the baseline as assistant A, game 2 swapped; `baseline` added as in its v2).
- `alpaca_eval`: `<out>/<model>.json`, AlpacaEval annotations (`output_1` the baseline,
  `preference` the recorded one, or the verdict's label through `LABEL_PREFERENCE`).
- `mt_bench`: FastChat's pairwise judgments (`model_judgment/<judge>_pair.jsonl`, or one .jsonl
  file): one record per match, judge and judged turn, both orders (`arena.verdicts.mt_bench`).
- `jsonl`: arena's own, one game a line (what `verdicts import --format jsonl` reads).

File names are safe slugs of model and judge names; the names themselves are kept in the rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from arena.errors import BadInput, naming_options
from arena.outpaths import check_out, write_atomic, writing
from arena.records import Game, MatchRow, VerdictRow, swap_label
from arena.verdicts.formats import LABEL_PREFERENCE
from arena.verdicts.mt_bench import mt_bench_judgments


def slug(name: str, taken: set[str] | None = None) -> str:
    """A file-name-safe form of a model or judge name (unique within `taken`, which it updates)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    if taken is not None:
        base, k = s, 2
        while s.lower() in taken:
            s, k = f"{base}-{k}", k + 1
        taken.add(s.lower())
    return s


def _run_context(store, run_id: str):
    run = store.get_run(run_id)
    spec = run.spec.get("spec", {})
    pool = run.spec.get("pool")
    prompts, answers = {}, {}
    if pool and store.pool_exists(pool):
        prompts = {p.prompt_id: p for p in store.prompts(pool)}
        answers = {(o.prompt_id, o.model): o for o in store.outputs(pool)}
    return run, spec, prompts, answers


def run_baseline(spec: dict, override: str | None = None) -> str | None:
    """The run's baseline: `override`, the spec's `baseline`, or an anchored scheduler's."""
    if override:
        return override
    if spec.get("baseline"):
        return spec["baseline"]
    sched = spec.get("scheduler") or {}
    if isinstance(sched, dict) and sched.get("kind") == "anchored":
        models = spec.get("models")
        return sched.get("baseline") or (models[0] if isinstance(models, list) and models else None)
    return None


def check_anchor(anchor: str, models) -> None:
    """`BadInput` (naming `anchor` through the API, `--anchor` in the CLI) when a requested anchor is
    blank or none of `models` (the run's: its battles' and its pool's), e.g. a typo'd model name;
    a report would otherwise fall back to the mean with a warning."""
    from arena.errors import BadInput, naming_options

    known = sorted(set(models))
    if not anchor.strip() or anchor not in known:
        shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        raise naming_options(BadInput, f"<a>: expected a model of the run ({shown or 'none'}), got {anchor!r}", a=("anchor", "--anchor"))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, text)


_EXPECTED = {
    "battles": ("file", "a battle file (.jsonl, .json or .csv)"),
    "jsonl": ("file", "a JSON lines file"),
    "arena_hard": ("folder", "a folder (<judge>/<model>.jsonl)"),
    "alpaca_eval": ("folder", "a folder (<model>.json)"),
}


def _out_kind(fmt: str, out: Path) -> tuple[str, str]:
    """("file" | "folder", what belongs at `out`) for export format `fmt`."""
    if fmt == "mt_bench":
        if out.suffix.lower() == ".jsonl":
            return "file", "a JSON lines file of FastChat judgments"
        if out.suffix.lower() in (".json", ".csv", ".tsv", ".gz", ".txt"):
            raise naming_options(BadInput, "<o>: FastChat's judgments are JSON lines: expected a folder (model_judgment/<judge>_pair.jsonl) or a .jsonl file", o=(str(out), f"--out {out}"))
        return "folder", "a folder (model_judgment/<judge>_pair.jsonl)"
    return _EXPECTED[fmt]


def export_verdicts(store, run_id: str, fmt: str, out: str | Path, *, baseline: str | None = None, per: str | None = None) -> list[Path]:
    """Write run `run_id` in format `fmt` (`battles`: a .jsonl/.json/.csv file; `arena_hard`,
    `alpaca_eval`: a folder; `jsonl`: a file; `mt_bench`: a folder or a .jsonl file). Returns the written paths. `baseline` overrides
    the run's (arena_hard and alpaca_eval keep only the matches against it). `per` ("verdict" or
    "game") chooses battle rows per decided match or per decisive game (default: as the run's
    ratings count them). Raises `BadInput`."""
    from arena.verdicts import EXPORT_FORMATS

    if fmt not in EXPORT_FORMATS:
        raise naming_options(BadInput, f"<f>: {fmt!r} is not an export format (expected one of: {', '.join(EXPORT_FORMATS)})", f=("format", "--format"))
    if per not in (None, "verdict", "game"):
        raise naming_options(BadInput, f"<per>: {per!r} (expected verdict or game)", per=("per", "--per"))
    out = Path(out)
    kind, expected = _out_kind(fmt, out)
    check_out(out, kind, expected)  # before any work
    run, spec, prompts, answers = _run_context(store, run_id)
    with writing(out, kind, expected):
        return _export(store, run, spec, prompts, answers, fmt, out, baseline, per)


def _export(store, run, spec, prompts, answers, fmt, out: Path, baseline, per) -> list[Path]:
    rid = run.run_id
    if fmt == "battles":
        rows = _battle_rows(store, rid, spec, prompts, per, answers)
        conv = next((r for r in rows if "conversation_a" in r), None)
        if conv is not None and out.name.lower().endswith(".csv"):
            raise naming_options(BadInput, f"<o>: a CSV battle file has no column for a conversation (prompt {conv['question_id']!r}); write .jsonl or .json", o=(str(out), f"--out {out}"))
        return [_write(out, _rows_text(out, rows))]
    games: dict[str, list[Game]] = {}
    for g in store.games(rid):
        games.setdefault(g.match_id, []).append(g)
    matches = store.matches(rid)
    if fmt == "jsonl":
        return [_write(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _game_lines(matches, games, prompts, answers)))]
    if fmt == "mt_bench":
        return _write_mt_bench(out, mt_bench_judgments(store, rid, prompts, answers))
    base = run_baseline(spec, baseline)
    if base is None:
        raise naming_options(BadInput, f"<format>: run {rid} has no baseline (pass <baseline>)",
                             format=(f"format={fmt!r}", f"--format {fmt}"), baseline=('baseline="NAME"', "--baseline NAME"))
    verdicts = {v.match_id: v for v in store.verdicts(rid)}
    per_model: dict[tuple[str, str], list[dict]] = {}
    for m in matches:
        if base not in (m.model_a, m.model_b) or m.model_a == m.model_b:
            continue
        flip = m.model_b == base
        model = m.model_a if flip else m.model_b
        gs = games.get(m.match_id, [])
        judge = gs[0].judge if gs else "recorded"
        if fmt == "arena_hard":
            row = _arena_hard_row(m, gs, base, model, judge, flip)
        else:
            row = _alpaca_eval_row(m, gs, verdicts.get(m.match_id), base, model, judge, flip, prompts, answers)
        if row is not None:
            per_model.setdefault((judge if fmt == "arena_hard" else "", model), []).append(row)
    if not per_model:
        raise naming_options(BadInput, f"<fv>: run {rid} has no match against the baseline {base!r}", fv=(f"format={fmt!r}", f"--format {fmt}"))
    return _write_per_model(out, fmt, per_model)


def _battle_rows(store, rid: str, spec: dict, prompts: dict, per: str | None, answers: dict) -> list[dict]:
    """Battle rows; a conversation's row holds each side's whole dialogue as Chatbot Arena's battles
    do (`conversation_a` / `conversation_b`: system message, user turns, fixed assistant turns and
    the model's answers), not a `prompt` that would be its first turn only."""
    from arena.conversations import dialogue
    from arena.verdicts import run_battles_with_ids

    rows = []
    unit = {"verdict": "match", "game": "game"}.get(per or "")
    for b in run_battles_with_ids(store, rid, spec, unit)[0]:
        row = {"question_id": b.prompt_id, "model_a": b.model_a, "model_b": b.model_b,
               "winner": {"a": "model_a", "b": "model_b", "tie": "tie"}[b.outcome], "weight": b.weight, "judge": b.judge}
        p = prompts.get(b.prompt_id)
        if p is not None and p.is_conversation:
            for side, model in (("a", b.model_a), ("b", b.model_b)):
                o = answers.get((b.prompt_id, model))
                row[f"conversation_{side}"] = dialogue(p, o.all_turns if o is not None else ())
        elif p is not None:
            row["prompt"] = p.text
        rows.append(row)
    return rows


def _game_lines(matches: list[MatchRow], games: dict, prompts: dict, answers: dict) -> list[dict]:
    lines = []
    for m in matches:
        for g in sorted(games.get(m.match_id, []), key=lambda g: g.order):
            rec = {"match_id": m.match_id, "prompt_id": m.prompt_id, "model_a": m.model_a, "model_b": m.model_b,
                   "order": g.order, "label": g.label, "judge": g.judge, "raw": g.raw or ""}
            detail = dict(g.detail)
            if "weight" in detail:
                rec["weight"] = detail.pop("weight")
            if detail:
                rec["detail"] = detail
            p = prompts.get(m.prompt_id)
            if p is not None:
                a, b = answers.get((m.prompt_id, m.model_a)), answers.get((m.prompt_id, m.model_b))
                rec.update(prompt=p.text, category=p.category, answer_a=a and a.text, answer_b=b and b.text)
                if p.is_conversation:  # the whole dialogue: the pool's messages and each side's turns
                    rec.update(messages=[{"role": x.role, "content": x.content} for x in p.messages],
                               turns_a=a and list(a.all_turns), turns_b=b and list(b.all_turns))
            lines.append(rec)
    return lines


def _arena_hard_row(m: MatchRow, gs: list[Game], base: str, model: str, judge: str, flip: bool) -> dict | None:
    """One Arena-Hard judgment line: game 1 with the baseline as A, game 2 swapped (scores in each game's positions)."""
    first, second = None, None
    for g in gs:
        lab = swap_label(g.label) if flip else g.label  # from the baseline's point of view
        base_first = (g.order == "AB") != flip
        score = None if lab in ("unparsed", "error") else (lab if base_first else swap_label(lab))
        entry = {"user_prompt": None, "judgment": g.raw or "", "score": score}
        if base_first:
            first = entry
        else:
            second = entry
    if first is None and second is None:
        return None
    row_games = [first] if second is None else [first, second]  # game 2 keeps its place
    return {"question_id": m.prompt_id, "model": model, "judge": judge, "baseline": base, "games": row_games}


def _alpaca_eval_row(m: MatchRow, gs: list[Game], v: VerdictRow | None, base: str, model: str, judge: str, flip: bool,
                     prompts: dict, answers: dict) -> dict:
    """One AlpacaEval annotation: the recorded preference where the match has one, else the verdict's."""
    pref = None
    if len(gs) == 1 and "preference" in gs[0].detail:
        pref = gs[0].detail.get("preference")
        if pref is not None and flip:
            pref = 3.0 - pref
    if pref is None and v is not None and v.label in LABEL_PREFERENCE:
        pref = LABEL_PREFERENCE[swap_label(v.label) if flip else v.label]
    p = prompts.get(m.prompt_id)
    if p is not None and p.is_conversation:
        raise naming_options(BadInput, f"<fa>: has no turns; prompt {p.prompt_id!r} of the run is a conversation ({p.n_turns} turns); use jsonl", fa=("format='alpaca_eval'", "--format alpaca_eval"))
    out_1, out_2 = answers.get((m.prompt_id, base)), answers.get((m.prompt_id, model))
    return {
        "instruction": p.text if p is not None else m.prompt_id,
        "dataset": p.category if p is not None else None,
        "output_1": out_1.text if out_1 is not None else "",
        "generator_1": base,
        "output_2": out_2.text if out_2 is not None else "",
        "generator_2": model,
        "annotator": judge,
        "preference": pref,
    }


def _write_mt_bench(out: Path, records: list[dict]) -> list[Path]:
    """One `.jsonl` file when `out` names one, else FastChat's layout: `<out>/model_judgment/<judge>_pair.jsonl`
    per judge model (`judge[0]`, as `gen_judgment.py` names its output)."""
    def lines(rows: list[dict]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    if out.suffix.lower() == ".jsonl":
        return [_write(out, lines(records))]
    if out.suffix.lower() in (".json", ".csv", ".tsv", ".gz", ".txt"):
        raise naming_options(BadInput, "<o>: FastChat's judgments are JSON lines: expected a folder (model_judgment/<judge>_pair.jsonl) or a .jsonl file", o=(str(out), f"--out {out}"))
    by_judge: dict[str, list[dict]] = {}
    for r in records:
        j = r.get("judge")
        name = j[0] if isinstance(j, list) and j else r.get("judge_model") or j or "judge"
        by_judge.setdefault(str(name), []).append(r)
    taken: set[str] = set()
    return [_write(out / "model_judgment" / f"{slug(j, taken)}_pair.jsonl", lines(rows)) for j, rows in by_judge.items()]


def _write_per_model(out: Path, fmt: str, per_model: dict[tuple[str, str], list[dict]]) -> list[Path]:
    paths = []
    taken: dict[str, set[str]] = {}
    judge_dirs: dict[str, str] = {}
    for (judge, model), rows in per_model.items():
        if fmt == "arena_hard":
            jdir = judge_dirs.setdefault(judge, slug(judge, taken.setdefault("", set())))
            path = out / jdir / f"{slug(model, taken.setdefault(jdir, set()))}.jsonl"
            paths.append(_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)))
        else:
            path = out / f"{slug(model, taken.setdefault('', set()))}.json"
            paths.append(_write(path, json.dumps(rows, ensure_ascii=False, indent=1)))
    return paths


def _rows_text(path: Path, rows: list[dict]) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        buf = io.StringIO()
        cols = ["question_id", "model_a", "model_b", "winner", "weight", "judge", "prompt"]
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    if name.endswith(".json"):
        return json.dumps(rows, ensure_ascii=False, indent=1)
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def export_pool_peer(store, pool: str, fmt: str, out: str | Path) -> list[Path]:
    """Write a pool's answers as the peers' scripts read them: `arena_hard` (`question.jsonl` and
    `model_answer/<model>.jsonl`, Arena-Hard-Auto v0.1) or `alpaca_eval` (`<model>.json`, a list of
    `{instruction, output, generator, dataset}`, AlpacaEval's model_outputs) or `mt_bench`
    (FastChat's `question.jsonl`, `model_answer/`, `reference_answer/`: see
    `arena.conversations.mt_bench_files`). Conversations keep their turns (Arena-Hard: `turns`
    per user turn and answer turn); AlpacaEval has no turns and refuses them. Returns the paths.

    `out` is a folder: new, empty, or holding only files this export writes again (a re-export).
    A folder holding other files (an older export's answer files, say) raises `BadInput` before
    anything is written: the peers' readers, and `pool import`, read every file there. An `out`
    that cannot be a folder is `BadInput` too (`arena.outpaths`), checked before any work."""
    if fmt not in ("arena_hard", "alpaca_eval", "mt_bench"):
        raise naming_options(BadInput, f"<f>: {fmt!r} is not a peer pool format (expected arena_hard, mt_bench or alpaca_eval)", f=("format", "--format"))
    expected = {"mt_bench": "a folder (question.jsonl, model_answer/, reference_answer/)",
                "arena_hard": "a folder (question.jsonl, model_answer/)", "alpaca_eval": "a folder (<model>.json)"}[fmt]
    out = check_out(out, "folder", expected)  # before any work
    files = pool_peer_files(store.prompts(pool), store.outputs(pool), fmt, pool, store.pool_extras(pool) if fmt == "mt_bench" else None)
    from arena.pools import refuse_stale_files

    refuse_stale_files(out, [rel for rel, _ in files])
    with writing(out, "folder", expected):
        return [_write(out / rel, text) for rel, text in files]


def pool_peer_files(prompts, outputs, fmt: str, pool: str, extras=None) -> list[tuple[str, str]]:
    """(relative path, text) of each file `export_pool_peer` writes (pure; `BadInput` for a pool the format cannot hold)."""
    if fmt == "mt_bench":
        from arena.conversations import mt_bench_files

        return list(mt_bench_files(prompts, outputs, *(extras or ({}, {}))))
    if fmt == "alpaca_eval":
        conv = next((p for p in prompts if p.is_conversation), None)
        if conv is not None:
            raise naming_options(BadInput, f"<f>: alpaca_eval has no turns; pool {pool!r} holds conversations ({conv.prompt_id!r}: {conv.n_turns} turns); use mt_bench, arena_hard, native or jsonl", f=("format", "--format"))
    by_model: dict[str, list] = {}
    for o in outputs:
        by_model.setdefault(o.model, []).append(o)
    order = {p.prompt_id: i for i, p in enumerate(prompts)}
    text = {p.prompt_id: p for p in prompts}
    taken: set[str] = set()
    files: list[tuple[str, str]] = []
    if fmt == "arena_hard":
        from arena.conversations import refuse_fixed_turns

        refuse_fixed_turns(prompts, fmt)
        q = "".join(
            json.dumps({"question_id": p.prompt_id, "category": p.category or "", "turns": [{"content": t} for t in p.user_turns]}, ensure_ascii=False) + "\n"
            for p in prompts
        )
        files.append(("question.jsonl", q))
        for model, outs in by_model.items():
            outs.sort(key=lambda o: order.get(o.prompt_id, 0))
            lines = "".join(
                json.dumps({"question_id": o.prompt_id, "answer_id": f"{o.prompt_id}-{i}", "model_id": model,
                            "choices": [{"index": 0, "turns": [{"content": t} for t in o.all_turns]}]}, ensure_ascii=False) + "\n"
                for i, o in enumerate(outs)
            )
            files.append((f"model_answer/{slug(model, taken)}.jsonl", lines))
        return files
    if fmt == "alpaca_eval":
        for model, outs in by_model.items():
            outs.sort(key=lambda o: order.get(o.prompt_id, 0))
            rows = [{"instruction": text[o.prompt_id].text, "output": o.text, "generator": model,
                     "dataset": text[o.prompt_id].category} for o in outs if o.prompt_id in text]
            files.append((f"{slug(model, taken)}.json", json.dumps(rows, ensure_ascii=False, indent=1)))
        return files
    raise naming_options(BadInput, f"<f>: {fmt!r} is not a peer pool format (expected arena_hard, mt_bench or alpaca_eval)", f=("format", "--format"))
