"""``rxtrace user`` and ``rxtrace audit``: the server's accounts, and who saw whose data."""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from rxtrace.api.commands.common import FormatOption, app_context
from rxtrace.api.output import Format, err, print_csv, print_json, print_table
from rxtrace.trace.accounts import Role
from rxtrace.trace.errors import ParseError, RxtraceError

__all__ = ["register"]

users = typer.Typer(help="Accounts of the server: add, list, disable, set a password.", no_args_is_help=True)
audit = typer.Typer(
    help="The audit log: who saw whose data, when, from where, and why.", invoke_without_command=True
)


def _password(prompt: bool) -> str:
    """From standard input when it is not a terminal (one line), else asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    if not prompt:
        raise RxtraceError("No password given.")
    first = typer.prompt("Password", hide_input=True, err=True)
    again = typer.prompt("Again", hide_input=True, err=True)
    if first != again:
        raise RxtraceError("The two passwords differ.")
    return str(first)


@users.command("add")
def user_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name."),
    role: Role = typer.Option(..., "--role", help="investigator, supervisor or admin.", case_sensitive=False),
) -> None:
    """Add a user; the password is read from standard input, or asked twice on a terminal."""
    from rxtrace.trace.accounts import add_user

    password = _password(prompt=True)
    with app_context(ctx).session() as session:
        account = add_user(name, password, role, session=session)
    err.print(f"user {account.name} added as {account.role.value}", markup=False, highlight=False)


@users.command("list")
def user_list(ctx: typer.Context, output: Format = FormatOption()) -> None:
    """Every user: name, role, disabled or not, since when."""
    from rxtrace.trace.accounts import list_users

    with app_context(ctx).session() as session:
        found = list_users(session=session)
    if output is Format.json:
        print_json({"users": [a.to_dict() for a in found]})
        return
    rows = [(a.name, a.role.value, "disabled" if a.disabled else "", a.created_at) for a in found]
    if output is Format.csv:
        print_csv(("name", "role", "disabled", "created_at"), rows)
        return
    print_table("Users", ("name", "role", "disabled", "created"), rows)


@users.command("disable")
def user_disable(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Disable a user: their sessions stop working at once."""
    from rxtrace.trace.accounts import disable_user

    with app_context(ctx).session() as session:
        disable_user(name, session=session)
    err.print(f"user {name} disabled", markup=False, highlight=False)


@users.command("passwd")
def user_passwd(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Set a new password (standard input, or asked twice); the user's sessions end."""
    from rxtrace.trace.accounts import set_password

    password = _password(prompt=True)
    with app_context(ctx).session() as session:
        set_password(name, password, session=session)
    err.print(f"password of {name} changed; their sessions ended", markup=False, highlight=False)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(
            f"Failed to parse '{text[:40]}' as a time: expected like 2026-12-01 or 2026-12-01T08:00."
        ) from None


@audit.callback()
def audit_list(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", help="Only this user's events."),
    since: str | None = typer.Option(None, "--since", help="Only events at or after this time."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many, newest first."),
    output: Format = FormatOption(),
) -> None:
    """List audit events, newest first (`rxtrace audit verify` checks the chain)."""
    if ctx.invoked_subcommand is not None:
        return
    from rxtrace.trace.accounts import events

    with app_context(ctx).session() as session:
        found = events(session=session, user=user, since=_since(since), limit=limit)
    if output is Format.json:
        print_json({"events": [e.to_dict() for e in found]})
        return
    rows = [
        (
            e.id,
            e.at,
            e.actor,
            e.address or "",
            e.action,
            len(e.persons),
            "yes" if e.revealed else "",
            e.reason or "",
        )
        for e in found
    ]
    columns = ("id", "at", "who", "from", "what", "persons", "revealed", "why")
    if output is Format.csv:
        print_csv(columns, rows)
        return
    print_table("Audit log", columns, rows, caption=f"{len(rows)} event(s) shown")


@audit.command("verify")
def audit_verify(ctx: typer.Context, output: Format = FormatOption()) -> None:
    """Walk the hash chain: exits non-zero if an event was removed or changed."""
    from rxtrace.trace.accounts import verify

    with app_context(ctx).session() as session:
        check = verify(session=session)
    if output is Format.json:
        print_json(check.to_dict())
    else:
        print_table("Audit chain", ("what", "value"), list(check.to_dict().items()))
    if not check.intact:
        raise RxtraceError(f"The audit chain is broken at event {check.broken_at}: {check.problem}.")


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="user")
    app.add_typer(audit, name="audit")
