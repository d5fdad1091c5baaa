"""Small pieces every command module shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from rxtrace.api.context import AppContext
from rxtrace.api.output import Format, err

__all__ = ["FormatOption", "app_context", "progress_bar"]


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


def FormatOption(default: Format = Format.table, help_text: str = "Output format.") -> Format:  # noqa: N802
    return typer.Option(default, "--format", "-f", help=help_text, case_sensitive=False)  # type: ignore[no-any-return]


@contextmanager
def progress_bar(*, counting: str = "rows") -> Iterator[Progress]:
    """A progress bar on stderr; it hides itself when stderr is not a terminal."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn() if counting == "items" else TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        yield progress
