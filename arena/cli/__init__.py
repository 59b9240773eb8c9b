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

app = typer.Typer(
    name="arena",
    help="Rank language models without reference answers: tournaments, LLM judges, Bradley-Terry with confidence intervals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


_register()


def main(argv: list[str] | None = None) -> int:
    return run_cli(app, argv if argv is not None else sys.argv[1:])
