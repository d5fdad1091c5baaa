"""The ``rxtrace`` command line.

Every reporting command prints a readable table by default and exactly one JSON document on
stdout with ``--format json``; messages and progress go to stderr; a failure exits non-zero
with a one-line reason. Command modules live in ``rxtrace.api.commands`` and import heavy
libraries inside the command, so ``rxtrace --help`` stays quick.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import Any, NoReturn

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.api.output import err
from rxtrace.trace.errors import (
    KeyMismatchError,
    LeadNotFoundError,
    ReasonRequiredError,
    RxtraceError,
    SeizureNotFoundError,
)

__all__ = ["REMEDIES", "app", "main"]

app = typer.Typer(
    name="rxtrace",
    help="Turn seized drug boxes into evidence: scan, resolve, link, map, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# Commands that only read: pointed at a SQLite file that is not there, they say so instead of
# creating an empty database and answering "no such case".
READ_ONLY = frozenset(
    {"resolve", "cases", "seizures", "rejects", "graph", "timeline", "hotspots", "routes", "map", "audit"}
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"rxtrace {version('rxtrace')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = AppContext(Settings(), must_exist=ctx.invoked_subcommand in READ_ONLY)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from rxtrace.api.commands import accounts, cases, data, demo, resolve, serve, spark

    for module in (data, resolve, cases, demo, serve, accounts, spark):
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


# What a user of the command line does about a domain error: the domain's messages name no
# flag and no environment variable, the command line does.
REMEDIES: dict[type[RxtraceError], str] = {
    SeizureNotFoundError: "Open it here with --new-seizure --case CASE.",
    KeyMismatchError: "Set RXTRACE_SECRET_KEY or RXTRACE_KEY_FILE to that key.",
    LeadNotFoundError: "Run `rxtrace leads` to raise leads.",
    ReasonRequiredError: "Give --note.",
}


def _plain_flags(command: Any) -> Any:
    """Typer labels every flag ``<bool>`` in ``--help``; a flag takes no value, so show none
    (``--help`` itself included, which is made when help is asked for)."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub)
    return command


def main() -> NoReturn:
    """The installed ``rxtrace`` command: run it, then leave at once (see :func:`_leave`)."""
    try:
        _run()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code: object) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` would, without the interpreter's teardown.

    Freeing every module and object one by one takes 0.2-0.35 s after a command here (779
    modules; measured with bench/json_bench.py), for memory the operating system takes back
    at once. What must happen still does: the atexit handlers run (logging, finalizers, child
    processes), the database was closed with the command's context, and the output is flushed.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(status)


def _run() -> None:
    # A lost server makes psycopg log, besides the error this command reports in one line, a
    # warning of its own as it drops the interrupted COPY ("error ignored terminating …"):
    # with nowhere to go, logging would print it as a second line on stderr.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    try:
        _plain_flags(typer.main.get_command(app))(standalone_mode=True)
    except RxtraceError as exc:
        remedy = next((text for kind, text in REMEDIES.items() if isinstance(exc, kind)), None)
        err.print(f"error: {exc}" + (f" {remedy}" if remedy else ""), markup=False, highlight=False)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        err.print(f"error: database: {reason}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
