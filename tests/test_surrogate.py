"""The offline surrogate judge: features, antisymmetry, tie band, training, the shipped weights, the judge, the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from arena.records import MatchContext, swap_label

FIX = Path(__file__).resolve().parent / "fixtures" / "surrogate"


# --- features -----------------------------------------------------------------------------
def test_dense_features_see_structure_refusal_and_truncation():
    from arena.surrogate.features import DENSE_NAMES, Hasher, answer_features, prompt_info

    info = prompt_info("Write a Python function that reverses a list.")
    h = Hasher(1 << 10)
    md = answer_features(info, "## Answer\n\n- **one**\n- two\n\n```python\ndef f(x):\n    return x[::-1]\n```\n", h).dense
    refusal = answer_features(info, "I'm sorry, but I cannot help with that request.", h).dense
    cut = answer_features(info, " ".join(["word"] * 40) + " and then the", h).dense
    f = dict(zip(DENSE_NAMES, md))
    assert f["headers"] > 0 and f["list_items"] > 0 and f["bold"] > 0 and f["code_blocks"] > 0 and f["unclosed_fence"] == 0
    r = dict(zip(DENSE_NAMES, refusal))
    assert r["refusal"] == 1 and r["apology"] == 1 and r["headers"] == 0
    c = dict(zip(DENSE_NAMES, cut))
    assert c["truncated"] == 1 and c["repeated_trigrams"] > 0.5 and r["truncated"] == 0
    other = answer_features(prompt_info("Comment dit-on bonjour ?"), "Здравствуйте, это приветствие.", h).dense
    assert dict(zip(DENSE_NAMES, other))["script_mismatch"] == 1


def test_hashing_is_stable_across_instances_and_normalised():
    from arena.surrogate.features import Hasher, tokenize

    words = tokenize("The quick brown fox jumps over the lazy dog. The dog sleeps.")
    i1, v1 = Hasher(1 << 12).hash_words(words)
    i2, v2 = Hasher(1 << 12).hash_words(words)
    assert np.array_equal(i1, i2) and np.array_equal(v1, v2)
    assert np.all(np.diff(i1) > 0) and abs(float(np.sum(v1.astype(np.float64) ** 2)) - 1.0) < 1e-5
    assert len(Hasher(1 << 12).hash_words([])[0]) == 0
    with pytest.raises(ValueError):
        Hasher(1000)


# --- tie band and antisymmetry ------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "label"),
    [(0.99, "A>>B"), (0.85, "A>>B"), (0.84, "A>B"), (0.61, "A>B"), (0.60, "A=B"), (0.5, "A=B"), (0.40, "A=B"), (0.39, "B>A"), (0.16, "B>A"), (0.15, "B>>A"), (0.0, "B>>A")],
)
def test_tie_band(p, label):
    from arena.surrogate.model import label_for

    assert label_for(p) == label
    assert label_for(1 - p) == swap_label(label) or abs(p - 0.85) < 1e-9 or abs(p - 0.15) < 1e-9 or abs(p - 0.6) < 1e-9 or abs(p - 0.4) < 1e-9


def test_label_band_is_symmetric_away_from_edges():
    from arena.surrogate.model import label_for

    for p in np.linspace(0.001, 0.999, 301):
        if min(abs(p - e) for e in (0.15, 0.4, 0.6, 0.85)) > 1e-6:
            assert label_for(1 - p) == swap_label(label_for(p))


@pytest.fixture(scope="module")
def shipped():
    from arena.surrogate.model import SurrogateModel

    return SurrogateModel.load()


def test_antisymmetric_by_construction(shipped):
    outs = json.loads(__import__("gzip").open(FIX / "outputs" / "gpt4_0613.json.gz", "rt").read())
    other = {r["instruction"]: r["output"] for r in json.loads(__import__("gzip").open(FIX / "outputs" / "vicuna-7b-v1.5.json.gz", "rt").read())}
    for r in outs[:10]:
        p_ab = shipped.prob_a(r["instruction"], r["output"], other[r["instruction"]])
        p_ba = shipped.prob_a(r["instruction"], other[r["instruction"]], r["output"])
        assert p_ab + p_ba == pytest.approx(1.0, abs=1e-12)
        assert shipped.prob_a(r["instruction"], r["output"], r["output"]) == 0.5


# --- the shipped weights ------------------------------------------------------------------
def test_shipped_weights_are_small_and_carry_provenance(shipped):
    from arena.surrogate.features import DENSE_NAMES
    from arena.surrogate.model import WEIGHTS_FILE

    assert WEIGHTS_FILE.stat().st_size < 2_000_000
    prov = shipped.provenance
    assert "cd543a149df8" in prov["data_source"] and "alpaca_eval" in prov["data_source"]
    assert prov["date"] and prov["dense_features"] == list(DENSE_NAMES)
    assert len(prov["trained_on_models"]) >= 40
    assert "vicuna-7b-v1.5" in prov["overlap_with_demo_models"]["same"]
    h = prov["held_out"]
    # held out by model, on the judge's decisive verdicts: better than "longer answer wins"
    assert h["decisive_rows"] > 30_000
    assert h["agreement"] > h["longer_wins_agreement"] > 0.8
    assert h["agreement_shorter_won"] > 0.25


# --- training -----------------------------------------------------------------------------
def _small_params(**kw):
    from arena.surrogate.train import TrainParams

    return TrainParams(n_buckets=1 << 12, maxiter=60, folds=3, **kw)


def test_training_is_deterministic_and_learns(tmp_path):
    from arena.surrogate.data import load_judgments
    from arena.surrogate.evaluate import judgment_agreement
    from arena.surrogate.train import train

    pairs = load_judgments(FIX / "judgments")
    assert len(pairs) == 180
    m1 = train(pairs, _small_params(), cv=False, date="2000-01-01")
    m2 = train(pairs, _small_params(), cv=False, date="2000-01-01")
    m1.save(tmp_path / "a.npz")
    m2.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    ag = judgment_agreement(m1, pairs)  # in-sample: it must at least fit its training data
    assert ag["agreement"] > 0.85
    from arena.surrogate.model import SurrogateModel

    back = SurrogateModel.load(tmp_path / "a.npz")
    p = pairs[0]
    assert back.prob_a(p.instruction, p.output_1, p.output_2) == pytest.approx(m1.prob_a(p.instruction, p.output_1, p.output_2), abs=2e-3)


def test_cross_validation_holds_out_whole_models():
    from arena.surrogate.data import load_judgments
    from arena.surrogate.train import cross_validate, featurise, model_folds

    folds = model_folds(["m1", "m2", "m3", "m4", "m5", "m1"], 2, seed=0)
    assert sorted(sum(folds, [])) == ["m1", "m2", "m3", "m4", "m5"] and all(folds)
    fx = featurise(load_judgments(FIX / "judgments"), 1 << 12)
    res = cross_validate(fx, _small_params())
    assert sorted(sum(res["fold_models"], [])) == sorted(set(fx.model))
    assert res["rows"] == 180 and 0 <= res["agreement"] <= 1 and res["decisive_rows"] <= 180


def test_agreement_metrics_known_values():
    from arena.surrogate.train import agreement_metrics

    pref = np.array([1.0, 2.0, 1.5, 1.9, 1.1])
    p2 = np.array([0.2, 0.9, 0.5, 0.3, 0.4])
    len1 = np.array([10, 10, 10, 10, 10])
    len2 = np.array([5, 20, 30, 8, 30])
    m = agreement_metrics(pref, p2, len1, len2)
    assert m["decisive_rows"] == 4
    assert m["agreement"] == pytest.approx(3 / 4)
    assert m["longer_wins_agreement"] == pytest.approx(2 / 4)  # rows 0, 1 right; 3, 4 shorter won
    assert m["shorter_won_rows"] == 2 and m["agreement_shorter_won"] == pytest.approx(1 / 2)


def test_bad_judgment_file_names_file_and_line(tmp_path):
    from arena.surrogate.data import SurrogateDataError, load_judgments

    (tmp_path / "m.jsonl").write_text('{"instruction": "x", "output_1": "a", "generator_1": "b", "output_2": "c", "generator_2": "m", "preference": 1.5}\n{"instruction": "x"}\n')
    with pytest.raises(SurrogateDataError, match=r"m\.jsonl:2: expected"):
        load_judgments(tmp_path)


# --- the judge ----------------------------------------------------------------------------
def _ctx(i=0, a="A short answer.", b="## A longer answer\n\n- with a list\n- and **bold** text\n\nThat explains more."):
    return MatchContext(f"m{i}", f"p{i}", "Explain what a list is.", "x", "y", a, b)


def test_judge_plays_one_game_offline():
    from arena.judges import load_judge

    judge = load_judge("surrogate")
    assert judge.calls_per_match() == 0 and judge.call_estimates(_ctx()) == []
    assert judge.description == "surrogate (imitates GPT-4-Turbo; offline)"
    res = asyncio.run(judge.judge(_ctx()))
    (g,) = res.games
    assert g.order == "AB" and g.cost_usd == 0 and g.calls == 0 and g.raw.startswith("P(A better)=")
    p = g.detail["p_a"]
    assert g.raw == f"P(A better)={p:.2f}" and g.label == judge.model.label(p)
    assert res.verdict.outcome in ("a", "b", "tie") and res.verdict.consistent is None
    swapped = asyncio.run(judge.judge(_ctx(a=_ctx().answer_b, b=_ctx().answer_a)))
    assert swapped.games[0].detail["p_a"] == pytest.approx(1 - p)
    assert swapped.games[0].label == swap_label(g.label)


def test_judge_batch_matches_single():
    from arena.judges import load_judge

    judge = load_judge("surrogate")
    ctxs = [_ctx(i, a=f"Answer number {i}. " * (i + 1)) for i in range(20)]
    batch = judge.judge_batch(ctxs)
    for c, r in zip(ctxs, batch):
        one = judge.judge_sync(c)
        assert r.games[0].label == one.games[0].label and r.verdict == one.verdict
        assert r.games[0].detail["p_a"] == pytest.approx(one.games[0].detail["p_a"])


def test_preset_options_and_errors(tmp_path):
    from arena.errors import SpecError
    from arena.judges import load_judge

    (tmp_path / "lc.toml").write_text('kind = "surrogate"\nlength_control = true\ntie = 0.2\n')
    j = load_judge(tmp_path / "lc.toml")
    assert j.model.length_control and j.model.tie == 0.2
    assert j.model.label(0.65) == "A=B"
    (tmp_path / "bad.toml").write_text('kind = "surrogate"\ntie = 0.7\n')
    with pytest.raises(SpecError, match=r"bad\.toml: key 'tie': expected a number between 0.0 and 0.5"):
        load_judge(tmp_path / "bad.toml")
    (tmp_path / "nofile.toml").write_text('kind = "surrogate"\nweights = "missing.npz"\n')
    with pytest.raises(Exception, match="missing.npz: no such weights file"):
        load_judge(tmp_path / "nofile.toml")


# --- the ranking check and the CLI ---------------------------------------------------------
def test_ranking_check_on_fixture(shipped):
    from arena.surrogate.data import load_outputs, load_reference
    from arena.surrogate.evaluate import ranking_check

    outs = load_outputs(FIX / "outputs")
    ref = load_reference(FIX / "reference_rankings.csv")
    r = ranking_check(shipped, outs, ref, bootstrap=20)
    assert r["models"] == 4 and r["matches"] == 6 * 30
    assert {row["model"] for row in r["leaderboard"]} == set(outs)
    assert -1 <= r["spearman"] <= 1
    assert "teacher_spearman" not in r
    # the imitated judge's own ranking: compared with the reference and with the surrogate's
    ratings = {row["model"]: row["rating"] for row in r["leaderboard"]}
    t = ranking_check(shipped, outs, ref, teacher=ratings, bootstrap=20)
    assert t["teacher_spearman"] == pytest.approx(1.0)
    assert t["teacher_reference_spearman"] == pytest.approx(r["spearman"])
    reverse = {m: -v for m, v in ratings.items()}
    assert ranking_check(shipped, outs, ref, teacher=reverse, bootstrap=20)["teacher_spearman"] == pytest.approx(-1.0)


def test_cli_train_and_eval(cli, tmp_path):
    out = tmp_path / "w.npz"
    r = cli("surrogate", "train", "--data", FIX / "judgments", "--out", out, "--no-cv", "--buckets", "4096", "--date", "2000-01-01", "--format", "json")
    assert r.code == 0, r.err
    info = json.loads(r.out)
    assert info["date"] == "2000-01-01" and info["rows"] == 180 and out.exists()
    r = cli("surrogate", "eval", "--data", FIX / "judgments", "--weights", out, "--outputs", FIX / "outputs", "--reference", FIX / "reference_rankings.csv", "--bootstrap", "10", "--format", "json")
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert res["on_data"]["rows"] == 180 and res["ranking"]["matches"] == 180
    # the fixture's reference file has alpacaeval2_winrate: used as the imitated judge's ranking by default
    assert res["ranking"]["teacher"].endswith(":alpacaeval2_winrate") and -1 <= res["ranking"]["teacher_spearman"] <= 1
    r = cli("surrogate", "eval", "--data", FIX / "judgments", "--weights", out, "--outputs", FIX / "outputs", "--reference", FIX / "reference_rankings.csv", "--teacher-column", "nope")
    assert r.code == 2 and "expected a CSV with columns model and nope" in r.err
    r = cli("surrogate", "eval", "--data", FIX / "judgments")
    assert r.code == 0 and "longer answer wins" in r.out and "held-out models" in r.out


def test_cli_errors(cli, tmp_path):
    r = cli("surrogate", "train", "--data", tmp_path / "nope", "--out", tmp_path / "w.npz")
    assert r.code == 2 and r.err.strip() == f"Error: {tmp_path / 'nope'}: no such folder"
    r = cli("surrogate", "eval", "--data", FIX / "judgments", "--weights", tmp_path / "none.npz")
    assert r.code == 2 and "none.npz: no such weights file" in r.err
    r = cli("surrogate", "train", "--data", FIX / "judgments", "--out", tmp_path / "w.npz", "--buckets", "1000")
    assert r.code == 2 and r.err.strip() == "Error: --buckets: expected a power of two, got 1000"
    for cmd in ("train", "eval"):
        assert cli("surrogate", cmd, "--help").code == 0


def test_judge_list_names_the_surrogate_honestly(cli):
    r = cli("judge", "list", "--format", "json")
    assert r.code == 0, r.err
    (row,) = [x for x in json.loads(r.out) if x["name"] == "surrogate"]
    assert row["kind"] == "surrogate" and row["description"] == "surrogate (imitates GPT-4-Turbo; offline)"
