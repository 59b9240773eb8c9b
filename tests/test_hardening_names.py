"""Untrusted names never become paths, templates or markup (issue 21, first section)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.names import slug, slug_map

HOSTILE = ["openai/gpt-4o-mini", "../../x", "/abs/path", "my model", "模型", "bad$\\frac{$model", "<script>alert(1)</script>|*_", ".hidden", "A", "a"]


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@given(st.text(min_size=1, max_size=200))
@settings(max_examples=300, deadline=None)
def test_a_slug_is_a_safe_file_name_and_keeps_safe_names(name):
    s = slug(name)
    assert s and len(s) <= 100
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in s)
    assert not s.startswith((".", "-")) and "/" not in s and s not in (".", "..")
    if s == name:  # only names already safe are kept as they are
        assert name.isascii() and not name.startswith((".", "-"))


@given(st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=20, unique=True))
@settings(max_examples=200, deadline=None)
def test_slugs_of_names_sharing_a_folder_differ_even_ignoring_case(names):
    slugs = slug_map(names)
    assert len({s.lower() for s in slugs.values()}) == len(names)


def _hostile_pool(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(4):
            outs = {m: f"answer {j} of {i}" for j, m in enumerate(HOSTILE)}
            f.write(json.dumps({"prompt_id": f"p{i}", "text": f"question {i}", "category": "../c" if i % 2 else "/etc", "outputs": outs}) + "\n")
    return path


def test_pool_export_native_names_files_by_slug_and_round_trips_every_name(cli, db_path, tmp_path):
    src = _hostile_pool(tmp_path / "pool.jsonl")
    assert cli("pool", "import", src, "--name", "hostile", "--format", "jsonl").code == 0
    out = tmp_path / "deep" / "export"
    before = _files_under(tmp_path)
    r = cli("pool", "export", "hostile", "--format", "native", "--out", out)
    assert r.code == 0, r.err
    written = {p for p in _files_under(tmp_path) - before if not p.name.startswith("arena.db")}  # the store's -wal/-shm aside
    assert written and all(out in p.parents for p in written), written  # nothing outside --out
    assert not Path("/abs/path.jsonl").exists()
    mapping = json.loads((out / "outputs" / "models.json").read_text(encoding="utf-8"))
    assert set(mapping.values()) == {n for n, s in slug_map(HOSTILE).items() if s != n}
    assert all((out / "outputs" / f).is_file() for f in mapping)
    # read back: the same models and answers, under their exact names
    assert cli("pool", "import", out, "--name", "back", "--format", "native").code == 0
    from arena.store import Store

    s = Store(db_path)
    assert sorted(s.models("back")) == sorted(HOSTILE)
    assert sorted((o.prompt_id, o.model, o.text) for o in s.outputs("back")) == sorted((o.prompt_id, o.model, o.text) for o in s.outputs("hostile"))


def test_a_spec_named_dotdot_and_hostile_model_names_keep_reports_inside_reports(cli, db_path, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    src = _hostile_pool(work / "pool.jsonl")
    assert cli("pool", "import", src, "--name", "hostile", "--format", "jsonl").code == 0
    spec = work / "t.toml"
    spec.write_text('name = "../../x"\npool = "hostile"\njudge = "surrogate"\nbootstrap = 20\n[scheduler]\nkind = "round-robin"\n')
    before = _files_under(tmp_path)
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code == 0, r.err
    new = _files_under(tmp_path) - before
    reports = [p for p in new if p.suffix in (".md", ".html", ".csv", ".json")]
    assert {p.name for p in reports} == {"leaderboard.md", "report.html", "leaderboard.csv", "run.json"}
    assert all((work / "reports") in p.parents for p in reports), reports
    md = next(p for p in reports if p.name == "leaderboard.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "&lt;script&gt;" in md  # escaped like the HTML report
    assert "\\|\\*\\_" in md  # a name cannot break the table or start emphasis
    html = next(p for p in reports if p.name == "report.html").read_text(encoding="utf-8")
    assert "bad$\\frac{$model" in html  # drawn literally in the plots (no mathtext)
    assert "<script>alert" not in html


def test_plots_draw_mathtext_characters_literally():
    from arena.reports.plots import ci_plot

    svg = ci_plot([{"model": "bad$\\frac{$model", "rating": 1000, "ci_low": 990, "ci_high": 1010}, {"model": "x_1^2$", "rating": 990, "ci_low": 980, "ci_high": 1000}])
    assert "bad$\\frac{$model" in svg and "x_1^2$" in svg


def test_markdown_escape_of_names():
    from arena.reports.text import _md

    assert _md("a|b\nc") == "a\\|b c"
    assert _md("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert _md("[x](javascript:alert(1)) *y* `z`") == "\\[x\\](javascript:alert(1)) \\*y\\* \\`z\\`"


# -- templates: Jinja2's sandbox --------------------------------------------------------------------

ATTACKS = {
    "globals": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "read_file": "{{ self._TemplateReference__context.cycler.__init__.__globals__.__builtins__.open('/etc/hostname').read() }}",
    "include_outside": "{% include '../secret.txt' %}",
}


def _preset(tmp_path: Path, template: str, name: str = "tpl.j2") -> Path:
    (tmp_path / name).write_text(template, encoding="utf-8")
    preset = tmp_path / "judge.toml"
    preset.write_text(f'kind = "llm"\nmodel = "openai/x"\ntemplate = "{name}"\n')
    return preset


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_template_fails_with_one_line_and_runs_nothing(cli, db_path, tmp_path, monkeypatch, attack):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    sub = tmp_path / "judges"
    sub.mkdir()
    preset = _preset(sub, "Question: {{ question }}\n" + ATTACKS[attack] + "\n{{ fence('A', answer_a) }}{{ fence('B', answer_b) }}")
    spec = tmp_path / "t.toml"
    spec.write_text(f'name = "t"\npool = "data/demo"\njudge = "{preset}"\n')
    r = cli("tournament", "plan", spec)
    assert r.code == 2, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "tpl.j2" in lines[0]
    assert not (tmp_path / "PWNED").exists()
    assert "TOP-SECRET" not in r.out + r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("line one\n{{ 1 // 0 }}\n", ":2: the template failed to render: ZeroDivisionError"),
        ("a\nb\n{{ not_a_variable }}\n", ":3: 'not_a_variable' is undefined"),
        ("x\n{% include 'missing.j2' %}\n", "'missing.j2'"),
        ("   \n\n", "the template is empty"),
        ("{% if %}", ":1: template syntax error"),
    ],
)
def test_a_template_that_fails_names_the_template_and_line(tmp_path, body, expected):
    from arena.errors import SpecError
    from arena.judges._render import load_template, render_messages

    path = tmp_path / f"t{abs(hash(body))}.j2"
    path.write_text(body)
    with pytest.raises(SpecError) as e:
        render_messages(load_template(path), {"question": "q", "answer_a": "a", "answer_b": "b"}, tag="t")
    msg = str(e.value)
    assert "\n" not in msg and str(path.name) in msg and expected in msg, msg


def test_model_output_is_never_rendered_as_a_template(tmp_path):
    from arena.judges._render import load_template, render_messages

    t = load_template("pairwise")
    msgs = render_messages(t, {"question": "{{ 7*7 }}", "answer_a": "{% for x in range(3) %}X{% endfor %}", "answer_b": "b", "reference": None, "category": None}, tag="t")
    text = "\n".join(m["content"] for m in msgs)
    assert "{{ 7*7 }}" in text and "{% for x in range(3) %}X{% endfor %}" in text and "49" not in text


def test_names_are_not_rich_markup_in_the_terminal_leaderboard():
    from arena.cli._common import console
    from arena.cli._tournament_run import _leaderboard_table

    report = {"leaderboard": [{"rank_ub": 1, "model": "[/]oops[bold]", "rating": 1000.0, "ci_low": 990.0, "ci_high": 1010.0, "win_rate": 0.5, "battles": 3, "wins": 1, "losses": 1, "ties": 1, "coverage": 1.0}]}
    c = console()
    with c.capture() as cap:
        c.print(_leaderboard_table(report, "[/]spec"))
    assert "[/]oops[bold]" in cap.get() and "[/]spec" in cap.get()
