"""The Batch API outside tournaments and on the dashboard (issue 18's leftovers), against the
loopback server with the files and batches API (tests/loopback_batch.py): the live display shows a
pending batch's id and status; `arena pool generate --batch` answers a pool through one batch per
turn; `arena pool curate` with a `mode = "batch"` annotator preset annotates through one batch,
priced at the batch rate; both refuse a model without an OpenAI-format batch API before any call."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loopback_batch import BatchLoopbackServer
from test_batch import JUDGE_MODEL, _spec

import arena
from arena.dashboard import PlainDisplay, RichDisplay
from arena.store import Store


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-loopback-test")
    srv = BatchLoopbackServer().start()
    yield srv
    srv.stop()


def test_the_live_display_shows_a_pending_batch_id_and_status(tmp_path, server):
    from rich.console import Console

    server.held = True  # the batch stays in_progress until the display has shown it
    spec = _spec(tmp_path, server.api_base)
    plain_out = io.StringIO()
    plain = PlainDisplay(stream=plain_out, every=0.0)
    rich = RichDisplay(console=Console(file=io.StringIO(), width=160))
    shown: list[str] = []

    def sink(event):
        plain(event)
        rich(event)
        # the first ticks show arena's own job ref (uploading); then the provider's batch id and status
        if event.kind == "tick" and server.held and any(ref in server.batches for ref, _, _ in event.stats.batches):
            rec = Console(record=True, width=160, file=io.StringIO())
            rec.print(rich.render())
            shown.append(rec.export_text())
            server.held = False

    result = arena.run_tournament(spec, db=tmp_path / "b.db", yes=True, write_reports=False, handle_sigint=False, on_event=sink)
    rich.close()
    assert result.status == "done" and server.batch_creations == 1
    (batch_id,) = server.batches
    pending = [ln for ln in plain_out.getvalue().splitlines() if f"pending: batch {batch_id} " in ln]
    assert pending and f"pending: batch {batch_id} in_progress (72 calls)" in pending[0]
    (panel,) = shown
    (row,) = [ln for ln in panel.splitlines() if batch_id in ln]
    assert row.split()[1:5] == ["batch", batch_id, "in_progress", "72"], row
    assert "pending:" not in plain_out.getvalue().splitlines()[-1]  # the finished line has no pending batch
