"""Rendering judge prompts (Jinja2) with model outputs fenced as untrusted data.

Model outputs (and prompts from a pool) are untrusted text. Each is placed between start and
end markers carrying a tag the text cannot predict: the first 16 hex digits of a sha256 over
everything the render shows (prompt and answers in their order) and the template's salt. The
tag is deterministic, so the same match in the same order renders the same messages and the
call cache still hits on a re-run, yet an answer cannot contain its own closing marker without
knowing a hash of itself. Any marker-like line inside a fenced text is also defused.

A template may define blocks `system` and `user`; they become the system and user messages.
A template without blocks renders to one user message. Templates get:
`question`, `answer_a`, `answer_b`, `reference` (may be None), `category`, `tag`, and
`fence(name, text)`, which returns `<|The Start of NAME TAG|>\ntext\n<|The End of NAME TAG|>`.
Network and panel judges reuse `load_template`, `fence_tag` and `render_messages`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

from arena.errors import SpecError

_MARKER = re.compile(r"<\|(The (?:Start|End) of [^|\n]*)\|>")


def fence_tag(*parts: str | None, salt: str = "arena-fence-v1") -> str:
    """A tag derived from everything a render shows: deterministic, unpredictable to the texts."""
    h = hashlib.sha256(salt.encode())
    for p in parts:
        b = (p or "").encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:16]


def defuse(text: str) -> str:
    """Break anything in untrusted text that looks like one of our fence markers."""
    return _MARKER.sub(lambda m: "<|\u200b" + m.group(1) + "\u200b|>", text or "")


def fence(name: str, text: str | None, tag: str) -> str:
    return f"<|The Start of {name} {tag}|>\n{defuse(text or '')}\n<|The End of {name} {tag}|>"


@functools.lru_cache(maxsize=64)
def _environment(folder: str):
    """Jinja2's immutable sandbox: a template (from a preset anyone may share) can reach no
    attribute starting with `_`, call no unsafe method and mutate nothing, so it cannot run
    commands or read files; includes stay inside the template's folder (FileSystemLoader
    refuses `..`)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def find_template(name_or_path: str | Path, base_dir: Path | None = None) -> Path:
    """A template by path (relative to the preset's folder first) or shipped name in `prompts/`."""
    from arena.resources import resolve

    p = Path(name_or_path)
    if base_dir is not None and not p.is_absolute() and (base_dir / p).exists():
        return (base_dir / p).resolve()
    return resolve("prompts", name_or_path, ".j2").resolve()


@functools.lru_cache(maxsize=64)
def _load(path: str):
    import jinja2

    p = Path(path)
    try:
        if not p.read_text(encoding="utf-8").strip():
            raise SpecError(f"{p}: the template is empty (expected the judge's prompt, see prompts/pairwise.j2)")
        return _environment(str(p.parent)).get_template(p.name)
    except jinja2.TemplateSyntaxError as e:
        raise SpecError(f"{e.filename or p}:{e.lineno}: template syntax error: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        raise SpecError(f"{p}: template {e.name!r} it includes was not found next to it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: cannot read the template: {e}") from None


def _where(template, exc: BaseException) -> str:
    """`file:line` of the template line that failed (Jinja2 rewrites tracebacks to template lines)."""
    import traceback

    name = getattr(template, "filename", None) or "<template>"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == name or frame.filename.endswith((".j2", ".jinja", ".jinja2", ".txt")):
            name, line = frame.filename, frame.lineno
    return f"{name}:{line}" if line else name


def load_template(name_or_path: str | Path, base_dir: Path | None = None):
    """The compiled Jinja2 template (cached per file)."""
    return _load(str(find_template(name_or_path, base_dir)))


def render_messages(template, variables: dict[str, Any], *, tag: str) -> list[dict]:
    """Render a template into chat messages (system + user when it defines those blocks)."""
    import jinja2

    env_vars = dict(variables)
    env_vars["tag"] = tag
    env_vars["fence"] = lambda name, text: fence(name, text, tag)
    try:
        if "user" in template.blocks:
            ctx = template.new_context(env_vars)
            messages = []
            if "system" in template.blocks:
                system = "".join(template.blocks["system"](ctx)).strip()
                if system:
                    messages.append({"role": "system", "content": system})
            ctx = template.new_context(env_vars)
            messages.append({"role": "user", "content": "".join(template.blocks["user"](ctx)).strip()})
            return messages
        return [{"role": "user", "content": template.render(env_vars).strip()}]
    except jinja2.UndefinedError as e:
        raise SpecError(f"{_where(template, e)}: {e.message} (variables: {', '.join(sorted(env_vars))})") from None
    except jinja2.exceptions.SecurityError as e:
        raise SpecError(f"{_where(template, e)}: the template tried something unsafe, refused by the sandbox ({e})") from None
    except jinja2.TemplateNotFound as e:
        raise SpecError(f"{_where(template, e)}: included template {e.name!r} was not found") from None
    except jinja2.TemplateError as e:
        raise SpecError(f"{_where(template, e)}: {type(e).__name__}: {e}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, RecursionError) as e:
        raise SpecError(f"{_where(template, e)}: the template failed to render: {type(e).__name__}: {e}") from None


def pairwise_variables(question: str, first: str, second: str, *, reference: str | None = None, category: str | None = None) -> dict:
    """The variables of a pairwise template with `first` shown as A and `second` as B."""
    return {"question": question, "answer_a": first, "answer_b": second, "reference": reference, "category": category}
