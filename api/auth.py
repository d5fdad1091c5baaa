"""Who is asking, and may they: the caller behind a bearer token or the session cookie, the
role check per route, CSRF on cookie requests that change state, and the audit of every
answer that carries a person's data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from rxtrace.api import persons
from rxtrace.api.context import AppContext
from rxtrace.api.deps import SessionDep
from rxtrace.trace.accounts import (
    Account,
    Entry,
    Permission,
    check_reason,
    csrf_matches,
    record,
    require,
    session_for,
)
from rxtrace.trace.errors import AuthenticationError, PermissionDeniedError

if TYPE_CHECKING:
    from rxtrace.trace.resolve.service import Resolution

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Asker",
    "Caller",
    "CallerDep",
    "Disclosure",
    "DisclosureDep",
    "audit_read",
    "audit_resolution",
    "permitted",
    "permitted_disclosing",
]

SESSION_COOKIE = "rxtrace_session"
CSRF_COOKIE = "rxtrace_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/login", auto_error=False)
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Set by /api/auth/login.")


@dataclass(frozen=True)
class Caller:
    account: Account
    address: str
    token: str
    via_cookie: bool


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def get_caller(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    token = bearer or cookie
    if not token:
        raise AuthenticationError("Not logged in: send a bearer token or the session cookie.")
    account, csrf_sha256 = session_for(token, session=session)
    via_cookie = not bearer
    if via_cookie and request.method not in _SAFE_METHODS:
        # A cookie rides along with any request the browser makes, also one a hostile page
        # triggers; only our own pages can read the CSRF token and send it back.
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not csrf_matches(sent, csrf_sha256):
            raise PermissionDeniedError(f"A cookie request that changes data needs the {CSRF_HEADER} header.")
    return Caller(account, client_address(request), token, via_cookie)


CallerDep = Annotated[Caller, Depends(get_caller)]


def permitted(permission: Permission) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency: the caller, if their role has ``permission``; 403 otherwise."""

    async def check(caller: CallerDep) -> Caller:
        require(caller.account.role, permission)
        return caller

    check.__name__ = f"permitted_{permission.name}"
    return check


@dataclass(frozen=True)
class Disclosure:
    reveal: bool
    reason: str | None


_Reveal = Annotated[bool, Query(description="Show identity data unmasked (supervisor, with a reason).")]
_Reason = Annotated[
    str | None, Query(max_length=500, description="Why identity data must be seen: a few words.")
]


def _disclosure(caller: Caller, reveal: bool, reason: str | None) -> Disclosure:
    if not reveal:
        return Disclosure(False, None)
    require(caller.account.role, Permission.reveal)
    return Disclosure(True, check_reason(reason))


async def get_disclosure(caller: CallerDep, reveal: _Reveal = False, reason: _Reason = None) -> Disclosure:
    return _disclosure(caller, reveal, reason)


DisclosureDep = Annotated[Disclosure, Depends(get_disclosure)]


@dataclass(frozen=True)
class Asker:
    """Who asks, permitted, and how much of the persons' data they asked to see."""

    caller: Caller
    disclosure: Disclosure


def permitted_disclosing(permission: Permission) -> Callable[..., Awaitable[Asker]]:
    """A dependency: :func:`permitted` and :data:`DisclosureDep` in one. A route that takes the
    two apart has FastAPI solve the caller's whole dependency tree twice per request (its
    cache saves the calls, not the solving); the checks and their order are the same."""

    # A default, not an annotation: annotations are strings here, and FastAPI resolves them
    # in the module's names, where ``permission`` is not.
    permitted_caller = Depends(permitted(permission))

    async def check(
        caller: Caller = permitted_caller, reveal: _Reveal = False, reason: _Reason = None
    ) -> Asker:
        return Asker(caller, _disclosure(caller, reveal, reason))

    check.__name__ = f"permitted_disclosing_{permission.name}"
    return check


def audit_read(
    request: Request,
    *,
    session: Session,
    caller: Caller,
    persons: Iterable[str],
    disclosure: Disclosure | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Record that ``caller`` was shown these persons' data, committed before the answer
    leaves: an answer is never given without its audit event.

    On PostgreSQL an answer that changed nothing through the session (a resolution, a case)
    ends its transaction and has its event written by the application's :class:`AuditWriter`,
    with whatever other answers' events are waiting, one flush for them all; one that changed
    something writes the event in its own transaction, so the change and its event are
    committed together or not at all. On SQLite every answer writes its own
    (:attr:`AppContext.audit_inline`)."""
    shown = dict(request.query_params) | (params or {})
    shown.pop("reason", None)  # kept in its own field
    entry = Entry.of(
        actor=caller.account.name,
        address=caller.address,
        action=f"{request.method} {request.url.path}",
        params=shown,
        persons=sorted(set(persons)),
        revealed=bool(disclosure and disclosure.reveal),
        reason=disclosure.reason if disclosure else None,
    )
    context: AppContext = request.app.state.context
    if context.audit_inline or context.changed(session):
        record(entry, session=session)
        session.commit()
    else:
        session.commit()  # a read's transaction: nothing to write, its connection goes back
        context.audit_writer.append(entry)


def audit_resolution(
    request: Request,
    resolution: Resolution,
    *,
    session: Session,
    caller: Caller,
    disclosure: Disclosure,
    params: dict[str, Any] | None = None,
) -> None:
    """:func:`audit_read` for an answer built on a resolution: the persons are its sales' cards."""
    audit_read(
        request,
        session=session,
        caller=caller,
        persons=persons.in_resolution(resolution),
        disclosure=disclosure,
        params=params,
    )
