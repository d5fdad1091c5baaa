"""The ``rxtrace`` command line.

Every reporting command prints a readable table by default and exactly one JSON document on
stdout with ``--format json``; messages and progress go to stderr; a failure exits non-zero
with a one-line reason. Command modules live in ``rxtrace.api.commands`` and import heavy
libraries inside the command, so ``rxtrace --help`` stays quick.
"""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.api.output import err
from rxtrace.trace.errors import RxtraceError

__all__ = ["app", "main"]

app = typer.Typer(
    name="rxtrace",
    help="Turn seized drug boxes into evidence: scan, resolve, link, map, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    ctx.obj = AppContext(Settings())


def _register() -> None:
    from rxtrace.api.commands import data, demo, resolve, serve

    for module in (data, resolve, demo, serve):
        module.register(app)
    for optional in ("scan", "geo", "investigate"):
        try:
            module = __import__(f"rxtrace.api.commands.{optional}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"rxtrace.api.commands.{optional}":
                raise
            continue
        module.register(app)


_register()


def main() -> None:
    try:
        app()
    except RxtraceError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        err.print(f"error: database: {reason}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
