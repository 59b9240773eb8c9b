"""Only calls a provider answered are "paid": a call that failed (HTTP 500) or never reached a
server (connection refused) counts as an error, in the run's line, its totals over invocations
and `tournament show`."""

from __future__ import annotations

import re
import socket

MODELS = {"alpha": 9, "beta": 5, "gamma": 1}


def _paid(text: str, pattern: str) -> int:
    m = re.search(pattern, text)
    assert m, text
    return int(m.group(1))


def test_failed_calls_are_not_paid(cli, db_path, tmp_path, loopback, loop_judge):
    loopback.set_faults(f500=1.0)
    judge = loop_judge.preset(max_retries=0)
    spec = loop_judge.spec(judge, loop_judge.pool(MODELS, 2), name="fails", seed=1, bootstrap=10)
    first = cli("tournament", "run", spec, "--yes", "--plain")
    assert loopback.requests > 0 and loopback.counts.get("500", 0) == loopback.requests
    assert _paid(first.out + first.err, r"Calls: (\d+) paid") == 0, first.out + first.err
    assert _paid(first.out + first.err, r"(\d+) errors") > 0
    cli("tournament", "run", spec, "--yes", "--plain")
    show = cli("tournament", "show", "fails")
    assert _paid(show.out, r"calls (\d+) paid") == 0, show.out
    assert _paid(show.out, r"over 2 invocations: calls (\d+) paid") == 0, show.out


def test_answered_calls_are_paid_and_failed_ones_not(cli, db_path, tmp_path, loopback, loop_judge):
    loopback.set_faults(f500=0.5)
    judge = loop_judge.preset(max_retries=0)
    spec = loop_judge.spec(judge, loop_judge.pool(MODELS, 4), name="half", seed=1, bootstrap=10)
    r = cli("tournament", "run", spec, "--yes", "--plain")
    answered = loopback.requests - loopback.counts.get("500", 0)
    assert 0 < answered < loopback.requests
    assert _paid(r.out + r.err, r"Calls: (\d+) paid") == answered, r.out + r.err


def test_calls_that_never_reached_a_server_are_not_paid(cli, db_path, tmp_path, loop_judge):
    with socket.socket() as s:  # a port with nothing listening: every connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = loop_judge.preset(api_base=f"http://127.0.0.1:{port}/v1", api_key_env=None, max_retries=0)
    spec = loop_judge.spec(judge, loop_judge.pool(MODELS, 2), name="down", seed=1, bootstrap=10)
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert _paid(r.out + r.err, r"Calls: (\d+) paid") == 0, r.out + r.err
    assert _paid(r.out + r.err, r"(\d+) errors") > 0
