"""The `arena` command. Each command group is a module here defining `app` (a typer.Typer) and `NAME`.

Groups are found by listing this package, so adding a group is adding a module. Importing a
group must stay cheap: heavy libraries (litellm, vllm, matplotlib) load inside commands.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from arena.cli._common import run_cli

_SETTINGS = dict(
    name="arena",
    help="Rank language models without reference answers: tournaments, LLM judges, Bradley-Terry with confidence intervals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**_SETTINGS)
_GROUPS: dict[str, typer.Typer] = {}  # group name -> its typer app


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:  # a module may add top-level commands instead of a group
            register(app)
        else:
            app.add_typer(module.app, name=module.NAME)
            _GROUPS[module.NAME] = module.app


_register()


def app_for(argv: list[str]) -> typer.Typer:
    """The app that runs `argv`: when it starts with a group's name, an app holding only that group
    (typer builds the click command of every registered command on each call, about 60 of them,
    which a run paid before its first judge call); otherwise the whole app (top-level help, the
    top-level commands, a misspelled group)."""
    if argv and argv[0] in _GROUPS:
        one = typer.Typer(**_SETTINGS)
        one.add_typer(_GROUPS[argv[0]], name=argv[0])
        return one
    return app


def main(argv: list[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    return run_cli(app_for(argv), argv)
