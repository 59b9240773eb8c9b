"""Plans: matches, judge calls, tokens and dollars before any call; the `arena tournament plan` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.judges import CallEstimate, Judge
from arena.pools import load_pool_files
from arena.tournaments import DisconnectedPlan, spec_from_dict
from arena.tournaments.plan import format_cost, plan_tournament

FIX = Path(__file__).resolve().parent / "fixtures" / "tournaments"


class FakeJudge(Judge):
    """A stand-in judge: `calls` calls a match, tokens = a quarter of the characters it would send."""

    kind = "fake"

    def __init__(self, calls: int = 2, model: str | None = "gpt-4o-mini", max_tokens: int = 1000) -> None:
        super().__init__("fake")
        self.calls, self.model, self.max_tokens = calls, model, max_tokens
        self.seen = 0

    def calls_per_match(self) -> int:
        return self.calls

    def call_estimates(self, ctx):
        self.seen += 1
        if not self.model:
            return []
        n = (len(ctx.prompt) + len(ctx.answer_a) + len(ctx.answer_b)) // 4 + 100
        return [CallEstimate(self.model, n, 200, self.max_tokens) for _ in range(self.calls)]

    async def judge(self, ctx):  # pragma: no cover - plans never judge
        raise AssertionError("a plan must not call the judge")


@pytest.fixture(scope="module")
def pool():
    data = load_pool_files([FIX / "pool"])
    return data.prompts, data.outputs


def spec(**kw):
    base = {"name": "t", "pool": str(FIX / "pool"), "scheduler": {"kind": "round-robin"}}
    return spec_from_dict({**base, **kw})


def test_round_robin_plan_counts_and_prices(pool):
    import litellm

    prompts, outputs = pool
    plan = plan_tournament(spec(), prompts, outputs, FakeJudge())
    # 6 prompts x 6 pairs, minus the 3 pairs of gamma on q5 (forfeits)
    assert (plan.matches, plan.matches_exact, plan.matches_worst, plan.forfeits) == (33, 33, 33, 3)
    assert plan.judge_calls == plan.judge_calls_worst == 66
    assert plan.sampled_matches == 33  # small plan: every match is token-counted
    assert plan.output_tokens_expected == 66 * 200 and plan.output_tokens_worst == 66 * 1000
    pin, pout = litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=plan.input_tokens, completion_tokens=plan.output_tokens_expected)
    assert plan.cost_usd_expected == pytest.approx(pin + pout, rel=1e-6)
    pin, pout = litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=plan.input_tokens, completion_tokens=66 * 1000)
    assert plan.cost_usd_worst == pytest.approx(pin + pout, rel=1e-6)
    assert plan.cost_usd_worst > plan.cost_usd_expected > 0
    assert plan.price_known and plan.judge_models == ["gpt-4o-mini"]
    keys = plan.to_dict().keys()
    for k in ("matches", "judge_calls", "input_tokens", "output_tokens_expected", "cost_usd_expected", "cost_usd_worst"):
        assert k in keys


def test_large_pools_are_sampled(pool):
    prompts, outputs = pool
    judge = FakeJudge()
    plan = plan_tournament(spec(), prompts, outputs, judge, sample=5)
    assert judge.seen == 5 and plan.sampled_matches == 5
    assert plan.judge_calls == 66 and plan.input_tokens > 0


def test_an_offline_judge_costs_exactly_zero(pool):
    prompts, outputs = pool
    plan = plan_tournament(spec(scheduler={"kind": "single-elimination"}), prompts, outputs, FakeJudge(calls=0))
    assert plan.matches_exact == 5 * 3 + 2  # q5 has 3 answers
    assert plan.judge_calls == 0 and plan.input_tokens == 0
    assert plan.cost_usd_expected == 0.0 and plan.cost_usd_worst == 0.0
    assert format_cost(plan.cost_usd_worst) == "$0.00"


def test_unknown_price_is_unknown_never_zero(pool):
    prompts, outputs = pool
    plan = plan_tournament(spec(), prompts, outputs, FakeJudge(model="hosted_vllm/my-own-judge"))
    assert plan.cost_usd_expected is None and plan.cost_usd_worst is None
    assert not plan.price_known and plan.unknown_price_models == ["hosted_vllm/my-own-judge"]
    assert plan.input_tokens > 0
    assert format_cost(None) == "unknown"
    # a judge that makes calls but gives no estimates: unknown too
    plan = plan_tournament(spec(), prompts, outputs, FakeJudge(model=None))
    assert plan.cost_usd_expected is None


def test_dynamic_schedules_give_expected_and_worst(pool):
    prompts, outputs = pool
    plan = plan_tournament(spec(scheduler={"kind": "adaptive", "max_matches": 20}), prompts, outputs, FakeJudge())
    assert plan.matches_exact is None and plan.matches_worst == 20 and plan.judge_calls_worst == 40
    assert plan.cost_usd_worst >= plan.cost_usd_expected > 0


def test_max_calls_caps_the_plan(pool):
    prompts, outputs = pool
    plan = plan_tournament(spec(max_calls=10), prompts, outputs, FakeJudge())
    assert plan.matches == 33 and plan.judge_calls == 10 and plan.judge_calls_worst == 10
    assert any("max_calls = 10" in w for w in plan.warnings)


def test_a_disconnected_plan_is_refused_before_any_call():
    data = load_pool_files([FIX / "split"])
    judge = FakeJudge()
    with pytest.raises(DisconnectedPlan, match=r"2 separate groups.*\{a1, a2\}; \{b1, b2\}"):
        plan_tournament(spec(pool=str(FIX / "split")), data.prompts, data.outputs, judge)
    assert judge.seen == 0


# -- the command ----------------------------------------------------------------------------------


@pytest.fixture
def fake_judge(monkeypatch):
    import arena.judges

    made = []

    def load_judge(name, **options):
        made.append(name)
        return FakeJudge(model="hosted_vllm/unpriced" if "unpriced" in str(name) else "gpt-4o-mini")

    monkeypatch.setattr(arena.judges, "load_judge", load_judge)
    return made


def write_spec(tmp_path, **kw) -> Path:
    lines = ['name = "cli"', f'pool = "{FIX / "pool"}"', f'judge = "{kw.pop("judge", "gpt-4o-mini")}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    lines += ["[scheduler]", 'kind = "anchored"', 'baseline = "alpha"']
    p = tmp_path / "cli.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_plan_command_json(cli, tmp_path, fake_judge):
    r = cli("tournament", "plan", write_spec(tmp_path), "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["matches"] == 17 and data["judge_calls"] == 34 and data["forfeits"] == 1
    assert data["cost_usd_expected"] > 0 and data["scheduler"] == "anchored"
    assert fake_judge == ["gpt-4o-mini"]


def test_plan_command_table_shows_unknown_cost(cli, tmp_path, fake_judge):
    r = cli("tournament", "plan", write_spec(tmp_path, judge="unpriced"))
    assert r.code == 0, r.err
    assert "17 (exact)" in r.out
    assert "unknown expected, unknown at most" in r.out
    assert "$0" not in r.out


def test_plan_command_errors_are_one_line(cli, tmp_path, fake_judge):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\npool = "p"\n[scheduler]\nkind = "ladder"\n')
    r = cli("tournament", "plan", bad)
    assert r.code == 2
    assert r.err == f"Error: {bad}: key 'scheduler.kind': expected one of single-elimination, round-robin, anchored, swiss or adaptive (got 'ladder')\n"
    split = tmp_path / "split.toml"
    split.write_text(f'name = "x"\npool = "{FIX / "split"}"\n')
    r = cli("tournament", "plan", split)
    assert r.code == 2 and r.err.startswith("Error: ") and r.err.count("\n") == 1
    assert "separate groups" in r.err
    r = cli("tournament", "plan", write_spec(tmp_path), "--format", "yaml")
    assert r.code == 2 and "--format" in r.err


def test_plan_command_has_help(cli):
    r = cli("tournament", "plan", "--help")
    assert r.code == 0 and "before any judge call" in r.out


def test_plan_command_reads_a_pool_from_the_store(cli, tmp_path, db_path, fake_judge):
    from arena.store import Store

    data = load_pool_files([FIX / "pool"])
    s = Store(db_path)
    s.write_pool("fixture-pool", data.prompts, data.outputs)
    s.close()
    p = tmp_path / "stored.toml"
    p.write_text('name = "s"\npool = "fixture-pool"\n[scheduler]\nkind = "round-robin"\n')
    r = cli("tournament", "plan", p, "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["matches"] == 33
    p.write_text('name = "s"\npool = "no-such-pool"\n')
    r = cli("tournament", "plan", p)
    assert r.code == 2 and "pool 'no-such-pool' is not in" in r.err


def test_a_sampled_plan_states_its_error_and_the_margin_covers_the_truth(pool):
    prompts, outputs = pool
    full = plan_tournament(spec(), prompts, outputs, FakeJudge())
    assert full.input_tokens_error == 0  # every call counted: no sampling error
    covered = 0
    for seed in range(20):
        part = plan_tournament(spec(seed=seed), prompts, outputs, FakeJudge(), sample=8)
        assert part.sampled_matches == 8 and part.input_tokens_error > 0
        covered += abs(part.input_tokens - full.input_tokens) <= part.input_tokens_error
    assert covered >= 16  # a 95% margin: most samples' margins hold the full count


def test_t_quantile_agrees_with_scipy():
    """The plan's sampling error uses a stdlib t quantile (no scipy import before the first call)."""
    from scipy.special import stdtrit

    from arena.tournaments.plan import t_quantile

    for df in (2, 9, 10, 25, 39, 400):
        for p in (0.9, 0.975, 0.995):
            assert abs(t_quantile(p, df) - float(stdtrit(df, p))) < 1e-4 * (1 if df >= 10 else 1e-6), (df, p)
