"""Keeping credentials out of the store, logs and reports.

Two rules, applied at the edges:

- `check_api_base(url, where)`: a URL given as `api_base` must not carry a credential
  (`https://user:key@host`, `?api_key=...`, `?key=...`, `?token=...`, ...). It is refused
  with a line saying to put the key in an environment variable named by `api_key_env`, because
  `api_base` is stored with the run (runs table, run.json) and shown in plans.
- `redact(text, secrets)`: error text from a provider can echo the key (in a header dump, a
  URL or a body). Every known secret value, and anything shaped like a bearer token or an
  `api_key=` pair, is replaced by `***` BEFORE the text is cut to length, so no fragment of a
  key survives a cut.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from arena.errors import BadInput

# query parameters that carry credentials by convention (Google `key`, Azure `sig`, ...)
SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "api-key", "token", "access_token", "auth", "secret", "password", "sig", "signature", "code"}
)
_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|key|token|access_token|secret|password|authorization|x-api-key)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]{6,}"),
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{12,}"),
    re.compile(r"(//[^/@\s:]+:)[^/@\s]+@"),
)


def check_api_base(url: str | None, where: str) -> str | None:
    """`url` unchanged when it carries no credential; raises BadInput (`where: ...`) otherwise."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise BadInput(f"{where}: expected a URL string")
    try:
        parts = urlsplit(url)
        userinfo = parts.password is not None or (parts.username is not None)
        params = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    except ValueError as e:
        raise BadInput(f"{where}: not a valid URL ({e})") from None
    leaked = sorted(params & SECRET_PARAMS)
    if userinfo or leaked or parts.fragment:
        what = "a user name / password before '@'" if userinfo else f"the query parameter {leaked[0]!r}" if leaked else "a '#' fragment"
        raise BadInput(
            f"{where}: the URL carries {what}, which would be stored with the run; remove it and put the key in an"
            " environment variable named by api_key_env"
        )
    return url


def redact(text: str | None, secrets: Iterable[str | None] = (), *, patterns: bool = True) -> str:
    """`text` with every value in `secrets` (and, with `patterns`, anything shaped like a
    credential: bearer tokens, `api_key=...`, `sk-...`, `user:pass@`) as `***`.

    Call it before truncating: a cut key leaves a fragment a search for the key would miss.
    Model replies are redacted with `patterns=False` (only the known keys), so an answer that
    merely talks about tokens is kept as written."""
    if not text:
        return text or ""
    out = str(text)
    for s in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(s, "***")
    if not patterns:
        return out
    out = _PATTERNS[0].sub(lambda m: f"{m.group(1)} ***", out)
    out = _PATTERNS[1].sub(lambda m: f"{m.group(1)}***", out)
    out = _PATTERNS[2].sub("***", out)
    out = _PATTERNS[3].sub(lambda m: f"{m.group(1)}***@", out)
    return out


def env_secrets(names: Iterable[str | None]) -> list[str]:
    """The values of the environment variables `names` (those set)."""
    return [os.environ[n] for n in names if n and os.environ.get(n)]


def missing_env(names: Iterable[str | None]) -> list[str]:
    """Which of the variables `names` are unset or empty."""
    return sorted({n for n in names if n and not os.environ.get(n)})


def preset_key_paths(preset: object, key: str, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted path, value) of every `key` anywhere in a (nested) preset dict, list items by index:
    `("deployments.0.api_key_env", "VLLM_KEY_1")`, a panel's inline members too."""
    found: list[tuple[str, object]] = []
    items = preset.items() if isinstance(preset, dict) else enumerate(preset) if isinstance(preset, list) else ()
    for k, v in items:
        path = f"{prefix}{k}"
        if k == key and isinstance(preset, dict):
            found.append((path, v))
        else:
            found.extend(preset_key_paths(v, key, path + "."))
    return found


def preset_values(preset: object, key: str) -> list:
    """Every value of `key` anywhere in a (nested) preset dict: a panel's inline members too."""
    found: list = []
    if isinstance(preset, dict):
        for k, v in preset.items():
            if k == key:
                found.append(v)
            else:
                found.extend(preset_values(v, key))
    elif isinstance(preset, list):
        for v in preset:
            found.extend(preset_values(v, key))
    return found
