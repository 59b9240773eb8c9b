"""No credential in the store, a log or a report (issue 21, secrets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.credentials import check_api_base, redact
from arena.errors import BadInput

KEY = "sk-planted-9f8e7d6c5b4a39281706"


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{KEY}@api.example.com/v1",
        f"https://{KEY}@api.example.com/v1",
        f"https://api.example.com/v1?api_key={KEY}",
        f"https://api.example.com/v1?key={KEY}",
        f"https://api.example.com/v1?x=1&token={KEY}",
        f"https://api.example.com/v1?Access_Token={KEY}",
    ],
)
def test_a_credential_in_api_base_is_refused_with_a_pointer_to_api_key_env(url):
    with pytest.raises(BadInput) as e:
        check_api_base(url, "judge.toml: key 'api_base'")
    msg = str(e.value)
    assert msg.startswith("judge.toml: key 'api_base': ") and "api_key_env" in msg and KEY not in msg


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1", "https://api.openai.com/v1", "http://localhost:11434", None])
def test_plain_urls_pass(url):
    assert check_api_base(url, "x") == url


def test_redaction_happens_before_the_cut():
    from arena.backends._base import _one_line

    text = "x" * 290 + f" key {KEY} more"
    cut = _one_line(redact(text, [KEY]))
    assert KEY[:8] not in cut and KEY[-8:] not in cut
    for form in (f"Authorization: Bearer {KEY}", f"?api_key={KEY}&a=1", f'"x-api-key": "{KEY}"', f"https://u:{KEY}@h/"):
        assert KEY not in redact(form) and KEY[4:16] not in redact(form), form
    assert redact("a reply about tokens: token budget", patterns=False) == "a reply about tokens: token budget"


def _spec(tmp: Path, api_base: str, *, pool: Path, key_env: str = "ARENA_TEST_KEY") -> Path:
    judge = tmp / "loop.toml"
    judge.write_text(
        f'kind = "llm"\nmodel = "openai/loop-judge"\napi_base = "{api_base}"\napi_key_env = "{key_env}"\n'
        f"max_tokens = 64\ntimeout = 3\nmax_retries = 1\nconcurrency = 4\n"
    )
    spec = tmp / "t.toml"
    spec.write_text(f'name = "sec"\npool = "{pool}"\njudge = "{judge}"\nseed = 3\nbootstrap = 20\n[scheduler]\nkind = "round-robin"\n')
    return spec


def _pool(folder: Path) -> Path:
    (folder / "outputs").mkdir(parents=True)
    with open(folder / "prompts.jsonl", "w") as f:
        for i in range(4):
            f.write(json.dumps({"prompt_id": f"q{i}", "text": f"Question {i}"}) + "\n")
    for model, q in {"alpha": 9, "bravo": 5, "charlie": 2}.items():
        with open(folder / "outputs" / f"{model}.jsonl", "w") as f:
            for i in range(4):
                f.write(json.dumps({"prompt_id": f"q{i}", "output": f"Answer of {model}. <!-- quality={q} -->"}) + "\n")
    return folder


def _all_bytes(*roots: Path) -> bytes:
    out = b""
    for root in roots:
        for p in [root] if root.is_file() else root.rglob("*"):
            if p.is_file():
                out += p.read_bytes()
    return out


def test_a_key_planted_everywhere_reaches_no_byte_of_store_logs_or_reports(cli, db_path, tmp_path, loopback, monkeypatch):
    from loopback import Reply

    monkeypatch.setenv("ARENA_TEST_KEY", KEY)
    seen_auth = []

    def hook(req):
        auth = req.headers.get("Authorization", "")
        seen_auth.append(auth)
        if req.index % 3 == 0:  # an error body echoing the header, the key in a URL and a query, cut across 300 chars
            pad = "y" * (280 - len(auth) % 7)
            return Reply(status=400, error=f"bad request {pad} you sent {auth} from https://u:{KEY}@h/v1?api_key={KEY} key={KEY}")
        if req.index % 3 == 1:  # a 500 whose body is the raw header dump, retried
            return Reply(status=500, error=f"headers: {dict(req.headers)}")
        return None  # a normal judgement

    loopback.hook = hook
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, loopback.api_base, pool=_pool(tmp_path / "pool"))
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code in (0, 3), r.err
    assert any(KEY in a for a in seen_auth)  # the key really went out, and came back in bodies
    blob = _all_bytes(tmp_path) + r.out.encode() + r.err.encode()
    assert (tmp_path / "reports").is_dir() and (tmp_path / "arena.db").exists()
    for fragment in (KEY, KEY[:12], KEY[-12:], KEY[6:18]):
        assert fragment.encode() not in blob, fragment
    # the errors are still there, redacted
    from arena.store import Store

    games = Store(db_path).games(Store(db_path).list_runs()[0]["run_id"])
    errors = [g.error for g in games if g.error]
    assert errors and any("***" in e for e in errors)


def test_a_key_in_api_base_is_refused_before_anything_is_stored(cli, db_path, tmp_path, loopback):
    spec = _spec(tmp_path, f"{loopback.api_base}?api_key={KEY}", pool=_pool(tmp_path / "pool"))
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "api_key_env" in r.err and KEY not in r.err + r.out
    assert loopback.requests == 0
    assert not db_path.exists() or KEY.encode() not in db_path.read_bytes()


def test_a_missing_key_variable_is_one_line_before_any_call(cli, db_path, tmp_path, loopback, monkeypatch):
    monkeypatch.delenv("ARENA_NOT_SET_KEY", raising=False)
    spec = _spec(tmp_path, loopback.api_base, pool=_pool(tmp_path / "pool"), key_env="ARENA_NOT_SET_KEY")
    r = cli("tournament", "run", spec, "--yes", "--plain")
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "ARENA_NOT_SET_KEY" in lines[0] and lines[0].startswith("Error: ")
    assert loopback.requests == 0
    from arena.store import Store

    assert Store(db_path).list_runs() == []  # no run left behind


def test_generate_refuses_a_key_in_api_base_and_a_missing_variable(cli, db_path, tmp_path, monkeypatch):
    assert cli("pool", "import", _pool(tmp_path / "pool"), "--name", "p").code == 0
    r = cli("pool", "generate", "--pool", "p", "--model", "openai/x", "--api-base", f"http://h/v1?token={KEY}")
    assert r.code == 2 and "api_key_env" in r.err and KEY not in r.err
    monkeypatch.delenv("ARENA_NOT_SET_KEY", raising=False)
    r = cli("pool", "generate", "--pool", "p", "--model", "openai/x", "--api-key-env", "ARENA_NOT_SET_KEY")
    assert r.code == 2 and "ARENA_NOT_SET_KEY" in r.err
