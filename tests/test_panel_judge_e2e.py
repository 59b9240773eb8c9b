"""A panel judge end to end against the loopback server: a tournament through arena.runner, and
judge-reliability runs (`arena judge eval`) whose result files then weight a panel's members."""

from __future__ import annotations

import asyncio
import json

from test_network_judge import NetworkScript
from test_network_judge_e2e import MODELS, write_pairs
from test_panel_judge import llm_preset, panel_preset

from arena.judges import load_judge, load_preset
from arena.judges.panel import member_agreement
from arena.runner import Runner, prepare_run
from arena.tournaments import make_scheduler, spec_from_dict


def contrarian(loopback_module_rule, names):
    """Hook: models in `names` end with the opposite of the loopback's quality rule; others follow it
    (and network prompts go to a NetworkScript)."""
    from loopback import judge_rule

    script = NetworkScript()

    def hook(req):
        if req.model in names:
            text = judge_rule(req)
            for a, b in (("A>>B", "X1"), ("B>>A", "A>>B"), ("X1", "B>>A"), ("[[A>B]]", "[[X2]]"), ("[[B>A]]", "[[A>B]]"), ("[[X2]]", "[[B>A]]")):
                text = text.replace(a, b)
            return text
        if req.model == "net":
            return script(req)
        return None

    return hook


def test_tournament_with_a_panel_judge(tmp_path, loopback, loop_judge, store):
    loopback.hook = contrarian(None, {"liar"})
    pool = loop_judge.pool(MODELS, 2)
    llm_preset(tmp_path, "honest", loopback)
    llm_preset(tmp_path, "liar", loopback)
    (tmp_path / "net.toml").write_text(
        f'kind = "network"\nmodel = "openai/net"\napi_base = "{loopback.api_base}"\napi_key_env = "ARENA_TEST_KEY"\nwidth = 2\ndepth = 1\n'
    )
    panel = panel_preset(tmp_path, ["honest", "liar", "net"], name="jury")
    spec = spec_from_dict({"name": "panel-e2e", "pool": str(pool), "judge": str(panel), "scheduler": {"kind": "round-robin"}, "seed": 2, "concurrency": 3})
    preset, _ = load_preset(panel)
    prepared = prepare_run(store, spec, preset)
    sched = make_scheduler(spec.scheduler, prepared.prompts, prepared.answered, prepared.models, spec.seed)
    judge = load_judge(panel, store=store)
    assert judge.calls_per_match() == 2 + 2 + 5

    async def go():
        try:
            return await Runner(store, prepared, judge, sched).run()
        finally:
            await judge.aclose()

    stats = asyncio.run(go())
    assert prepared.status == "done" and stats.matches_done == 6
    assert stats.calls == loopback.requests == 6 * 9
    for v in store.verdicts(prepared.run_id):  # the honest majority wins every match
        better = v.model_a if MODELS[v.model_a] > MODELS[v.model_b] else v.model_b
        assert (v.model_a if v.outcome == "a" else v.model_b) == better
    games = store.games(prepared.run_id)
    assert len(games) == 12 and {g.judge for g in games} == {"jury"}
    agreement = member_agreement(games)  # read back from the stored detail
    assert agreement["honest"] == {"agree": 12, "n": 12, "rate": 1.0}
    assert agreement["net"]["rate"] == 1.0 and agreement["liar"] == {"agree": 0, "n": 12, "rate": 0.0}


def test_reliability_runs_with_panels_weighted_by_measured_reliability(tmp_path, loopback, db_path, cli):
    loopback.hook = contrarian(None, {"liar", "liar2"})
    for name in ("honest", "liar", "liar2"):
        llm_preset(tmp_path, name, loopback)
    pairs = write_pairs(tmp_path / "pairs.jsonl", 8)

    def evaluate(preset, out):
        r = cli("judge", "eval", "--judge", preset, "--pairs", pairs, "--format", "json", "--replicates", "100", "--out", out)
        assert r.code == 0, r.err + r.out
        return json.loads(r.out)

    for name in ("honest", "liar", "liar2"):
        res = evaluate(tmp_path / f"{name}.toml", tmp_path / f"{name}.json")
        assert res["metrics"]["accuracy"]["value"] == (1.0 if name == "honest" else 0.0)

    # two liars outvote the honest member in a plain majority ...
    majority = panel_preset(tmp_path, ["honest", "liar", "liar2"], name="majority")
    before = loopback.requests
    res = evaluate(majority, tmp_path / "majority.json")
    assert res["metrics"]["accuracy"]["value"] == 0.0 and res["judge"]["kind"] == "panel"
    assert loopback.requests == before  # every member call was answered by the cache
    assert res["usage"]["calls_per_pair"] == 6
    # ... but weighted by their measured accuracy (0 -> weight 0) the panel is always right
    members = [{"preset": n, "reliability": f"{n}.json"} for n in ("honest", "liar", "liar2")]
    weighted = panel_preset(tmp_path, members, name="weighted", aggregation="weighted")
    res = evaluate(weighted, tmp_path / "weighted.json")
    assert res["metrics"]["accuracy"]["value"] == 1.0 and res["metrics"]["consistency"]["value"] == 1.0


def test_report_shows_each_panel_members_agreement(tmp_path, loopback, loop_judge, store):
    """The report of a panel tournament lists every member's agreement with the panel."""
    test_tournament_with_a_panel_judge(tmp_path, loopback, loop_judge, store)
    from arena.reports import build_report, render

    run_id = store.list_runs()[0].run_id
    report = build_report(store, run_id, bootstrap=20)
    assert report["judge_stats"]["member_agreement"]["liar"]["rate"] == 0.0
    html = render(report, "html")
    assert 'id="panel-members"' in html and "liar" in html
    assert "panel member honest: agrees with the panel on 100.0% of 12 games" in render(report, "md")
