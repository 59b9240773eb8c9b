"""What the live progress of `arena tournament run` and `arena pool generate` shows, on a terminal
(a stream that says it is a TTY: the rich dashboard and progress bar, ANSI codes stripped) and in a
pipe (plain lines): counts of matches, games, calls, turns, cached and failed, as the run made them.
Real HTTP to the loopback server, a real SQLite file, the CLI in process."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from loopback import Reply
from test_run_e2e import MODELS

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Terminal(io.StringIO):
    """An output stream that says it is a terminal, as a user's console does."""

    def isatty(self) -> bool:
        return True


def _text(stream: io.StringIO) -> str:
    return ANSI.sub("", stream.getvalue())


def _arena(*args) -> int:
    from arena.cli import main

    return main([str(a) for a in args])


def _spec(loop_judge):
    """4 models on 3 prompts: 6 pairs x 3 prompts = 18 matches, 36 judge calls on the loopback server."""
    judge = loop_judge.preset(timeout=10)
    return loop_judge.spec(judge, loop_judge.pool(MODELS, 3), name="live", seed=7, concurrency=4, bootstrap=20)


def test_tournament_run_in_a_pipe_prints_plain_progress_lines(tmp_path, loopback, loop_judge, capsys):
    spec = _spec(loop_judge)
    assert _arena("tournament", "run", spec, "--yes", "--db", tmp_path / "a.db", "--out", tmp_path / "rep") == 0
    err = capsys.readouterr().err  # not a terminal: the plain display, on stderr
    assert re.search(r"^run live-\S+: pool \S+, round-robin, judge .*loop-judge.*, seed 7$", err, re.M), err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"\[\s*[\d.]+s\] matches 18/18 games 36 in flight 0/4 matches, calls 36 \(cached 0, saved 0\) retries 0 errors 0 unparsed 0 cost \S+ eta \S+",
        last,
    ), last
    assert "\x1b[" not in err  # no control codes in a pipe


def test_tournament_run_on_a_terminal_draws_the_dashboard_with_the_counts(tmp_path, loopback, loop_judge, capsys, monkeypatch):
    spec = _spec(loop_judge)
    monkeypatch.setenv("COLUMNS", "160")
    tty = Terminal()
    with contextlib.redirect_stdout(tty):  # restored on exit (a monkeypatch would restore capsys's closed stream)
        assert _arena("tournament", "run", spec, "--yes", "--db", tmp_path / "a.db", "--out", tmp_path / "rep") == 0
    raw = tty.getvalue()
    assert "\x1b[" in raw  # drawn live (cursor moves and styles), not printed line by line
    out = _text(tty)
    final = out[out.rindex("latest verdicts") - 4000 :]  # the last frame drawn (at the run's end)
    assert re.search(r"matches .*18/18", final), final
    assert "36 done, 0/4 matches in flight" in final and "resumed 0, forfeits 0" in final
    assert "36 paid, 0 cached, 0 saved by resume" in final
    assert "retries 0  errors 0  unparsed 0" in final
    assert "leaderboard (live, 95% CI)" in final and all(m in final for m in MODELS)
    board = [line for line in final.splitlines() if re.search(r"│\s+1\s+│", line)]
    assert board and "alpha" in board[0]  # the best-marked model leads the live board
    assert not capsys.readouterr().err.strip()  # nothing of the dashboard went to stderr

    # the same spec again: every match resumed from the store, no call made
    before = loopback.requests
    tty2 = Terminal()
    with contextlib.redirect_stdout(tty2):
        assert _arena("tournament", "run", spec, "--yes", "--db", tmp_path / "a.db", "--out", tmp_path / "rep") == 0
    out2 = _text(tty2)
    assert loopback.requests == before
    assert "Resuming run" in out2 and "0 paid, 0 cached, 36 saved by resume" in out2 and "resumed 18, forfeits 0" in out2


def _talk_db(tmp_path):
    from arena.conversations import make_prompt, user_messages
    from arena.store import Store

    db = tmp_path / "g.db"
    s = Store(db)
    prompts = [make_prompt(f"c{i}", user_messages([f"First question {i}?", f"Now the second {i}."]), "t") for i in range(2)]
    s.write_pool("talk", prompts, [], source="t", format="native")
    s.close()
    return db


def _generate(db, api_base, *extra) -> int:
    return _arena("pool", "generate", "--model", "hosted_vllm/m", "--pool", "talk", "--api-base", api_base, "--db", db, "-c", "1", *extra)


def test_pool_generate_on_a_terminal_shows_a_bar_of_turns_cached_and_failed(tmp_path, loopback, monkeypatch, capsys):
    db = _talk_db(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    loopback.hook = lambda r: Reply(status=400) if r.messages[-1]["content"] == "Now the second 1." else None
    tty = Terminal()
    with contextlib.redirect_stderr(tty):
        assert _generate(db, loopback.api_base) == 3  # one turn failed
    out = _text(tty)
    assert "\x1b[" in tty.getvalue() and "Generating" not in out  # the live bar, not plain lines
    frames = re.findall(r"generating\s.*?(\d+)/(\d+) turns \((\d+) cached, (\d+) failed\)", out)
    assert frames and frames[-1] == ("4", "4", "0", "1")  # 2 conversations x 2 turns; c1's second turn failed
    assert all(int(t) == 4 and int(d) <= 4 for d, t, _, _ in frames)
    assert "1 failed" in capsys.readouterr().out  # the summary line (stdout)

    loopback.hook = None
    tty2 = Terminal()
    with contextlib.redirect_stderr(tty2):
        assert _generate(db, loopback.api_base) == 0  # c0 is there; c1 again: turn 1 from the cache, turn 2 paid
    frames = re.findall(r"(\d+)/(\d+) turns \((\d+) cached, (\d+) failed\)", _text(tty2))
    assert frames[-1] == ("2", "2", "1", "0")


def test_pool_generate_in_a_pipe_prints_a_line_every_tenth(tmp_path, loopback, capsys):
    db = _talk_db(tmp_path)
    assert _generate(db, loopback.api_base) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Generating 4 answer turns"
    counts = [re.fullmatch(r"  (\d+)/4 turns \((\d+) cached, (\d+) failed\), [\d.]+ s", line).groups() for line in err[1:]]
    assert counts == [(str(n), "0", "0") for n in range(1, 5)]  # 4 turns: a tenth is less than one, so a line each
    assert _generate(db, loopback.api_base, "--overwrite") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Generating 4 answer turns" and err[-1].startswith("  4/4 turns (4 cached, 0 failed)")


@pytest.fixture(autouse=True)
def _no_saved_terminal(monkeypatch):
    """rich reads these to decide colours and size: the tests decide through the stream alone."""
    for var in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)
