"""Small pieces every command module shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from sqlalchemy.orm import Session

    from rxtrace.trace.investigate import BasisInfo

__all__ = ["FormatOption", "app_context", "audit_shown", "leads_basis", "progress_bar"]


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


def leads_basis(session: Session) -> BasisInfo:
    """The leads' basis for the default parameters, built first, on every core, if the data
    changed since it was (saying so on stderr: it takes minutes on tens of millions of sales)."""
    from rxtrace.trace.investigate import LeadParams, ensure_basis

    def say() -> None:
        err.print(
            "Preparing the leads' basis from every sale first (once per load; "
            "`rxtrace load` does it unless told not to): minutes on tens of millions."
        )

    return ensure_basis(session=session, params=LeadParams(), parallel=True, on_build=say)


def audit_shown(
    session: Session,
    *,
    command: str,
    params: dict[str, Any],
    persons: Iterable[str],
    revealed: bool,
    reason: str | None = None,
) -> None:
    """Record in the audit log that the operating-system user was shown these persons' data
    (a command line read is audited as a web one is), in the command's own transaction."""
    from rxtrace.trace.accounts import Entry, record
    from rxtrace.trace.investigate.workflow import default_user

    entry = Entry.of(
        actor=default_user(),
        address="cli",
        action=f"rxtrace {command}",
        params={k: v for k, v in params.items() if v not in (None, [], ())},
        persons=sorted(set(persons)),
        revealed=revealed,
        reason=reason or ("RXTRACE_SHOW_SENSITIVE on the local command line" if revealed else None),
    )
    record(entry, session=session)
