"""Accounts and login sessions: users with a role and an argon2 password hash, sessions kept
server-side (only a token's SHA-256 is stored), and failed logins throttled per name and per
address."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from rxtrace.trace.accounts.plain import Driver
from rxtrace.trace.accounts.roles import Role
from rxtrace.trace.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ParseError,
    TooManyAttemptsError,
)
from rxtrace.trace.store import models

__all__ = [
    "MAX_FAILURES",
    "MIN_PASSWORD",
    "THROTTLE_WINDOW",
    "Account",
    "LoginSession",
    "add_user",
    "authenticate",
    "csrf_matches",
    "disable_user",
    "end_session",
    "list_users",
    "open_session",
    "session_for",
    "set_password",
]

MIN_PASSWORD = 10
MAX_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
_HASHER = PasswordHasher()  # argon2id with RFC 9106's low-memory parameters


@cache
def _dummy_hash() -> str:
    """Checked against when a name is unknown, so a wrong name costs the same time as a wrong
    password. Made at the first login, not at import: hashing takes a fifth of a second, which
    every command paid."""
    return _HASHER.hash("rxtrace-no-such-user")


def _verify(password: str, password_hash: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    disabled: bool
    created_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role.value,
            "disabled": self.disabled,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class LoginSession:
    """A session as its holder knows it: the token (shown once), its CSRF token and expiry."""

    token: str
    csrf_token: str
    user: Account
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(row: models.UserAccount) -> Account:
    return Account(row.name, Role(row.role), row.disabled, row.created_at)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise ParseError(
            f"Failed to parse '{name[:64]}' as a user name: expected 1-64 letters, digits or . _ - @."
        )
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ParseError(f"A password needs at least {MIN_PASSWORD} characters, got {len(password)}.")


def add_user(name: str, password: str, role: Role | str, *, session: Session) -> Account:
    name = _check_name(name)
    _check_password(password)
    role = Role(role)
    if session.scalar(select(models.UserAccount).where(models.UserAccount.name == name)):
        raise ConflictError(f"A user named '{name}' exists already.")
    row = models.UserAccount(
        name=name,
        role=role.value,
        password_hash=_HASHER.hash(password),
        disabled=False,
        created_at=datetime.now().replace(microsecond=0),
    )
    session.add(row)
    session.flush()
    return _account(row)


def _user(name: str, session: Session) -> models.UserAccount:
    row = session.scalar(select(models.UserAccount).where(models.UserAccount.name == name))
    if row is None:
        raise NotFoundError(f"No user named '{name}'.")
    return row


def list_users(*, session: Session) -> list[Account]:
    return [
        _account(r) for r in session.scalars(select(models.UserAccount).order_by(models.UserAccount.name))
    ]


def disable_user(name: str, *, session: Session) -> Account:
    """Disable a user; their sessions stop working at once (every request checks the user)."""
    row = _user(name, session)
    row.disabled = True
    session.flush()
    return _account(row)


def set_password(name: str, password: str, *, session: Session) -> Account:
    """A new password; the user's open sessions end with the old one."""
    _check_password(password)
    row = _user(name, session)
    row.password_hash = _HASHER.hash(password)
    now = datetime.now()
    for open_session in session.scalars(
        select(models.LoginSession).where(
            models.LoginSession.user_id == row.id, models.LoginSession.ended_at.is_(None)
        )
    ):
        open_session.ended_at = now
    session.flush()
    return _account(row)


def _recent_failures(
    session: Session, column: InstrumentedAttribute[str], value: str, since: datetime
) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(), func.min(models.LoginFailure.at)).where(
            column == value, models.LoginFailure.at >= since
        )
    ).one()
    return int(count), oldest


def authenticate(
    name: str, password: str, *, address: str, session: Session, now: datetime | None = None
) -> Account:
    """The account, if the name and password match and it is enabled. After ``MAX_FAILURES``
    failures within ``THROTTLE_WINDOW`` for a name or for an address, every try is refused
    until the oldest of them leaves the window, whatever the password."""
    now = now or datetime.now()
    since = now - THROTTLE_WINDOW
    for column, value in ((models.LoginFailure.user_name, name), (models.LoginFailure.address, address)):
        count, oldest = _recent_failures(session, column, value, since)
        if count >= MAX_FAILURES and oldest is not None:
            wait = max(1, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)
            raise TooManyAttemptsError(
                f"Too many failed logins; try again in {wait} seconds.", retry_after=wait
            )
    row = session.scalar(select(models.UserAccount).where(models.UserAccount.name == name))
    ok = _verify(password, row.password_hash if row else _dummy_hash())
    if row is None or not ok or row.disabled:
        session.add(models.LoginFailure(user_name=name[:64], address=address[:64], at=now))
        session.flush()
        raise AuthenticationError("Wrong user name or password, or the user is disabled.")
    return _account(row)


def open_session(
    account: Account, *, hours: float, address: str, session: Session, now: datetime | None = None
) -> LoginSession:
    now = now or datetime.now()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    expires = (now + timedelta(hours=hours)).replace(microsecond=0)
    row = _user(account.name, session)
    session.add(
        models.LoginSession(
            token_sha256=_digest(token),
            csrf_sha256=_digest(csrf),
            user_id=row.id,
            created_at=now.replace(microsecond=0),
            expires_at=expires,
            address=address[:64],
        )
    )
    session.flush()
    return LoginSession(token, csrf, account, expires)


_SESSION_SQL = (
    "SELECT s.ended_at, s.expires_at, s.csrf_sha256, u.name, u.role, u.disabled, u.created_at "
    "FROM login_session s JOIN user_account u ON u.id = s.user_id WHERE s.token_sha256 = ?"
)


def session_for(token: str, *, session: Session, now: datetime | None = None) -> tuple[Account, str]:
    """The account behind a session token, and the SHA-256 of the session's CSRF token;
    refused when the session ended, expired, or its user was disabled."""
    now = now or datetime.now()
    # Plain SQL on the driver: every request of the server runs this, and through SQLAlchemy
    # (a statement built, its cache key, a result object) it cost ten times the query.
    plain = Driver(session)
    found = plain.first(_SESSION_SQL, (_digest(token),))
    if found is None:
        raise AuthenticationError("Not logged in, or the session is unknown.")
    ended_at, expires_at, csrf_sha256, name, role, disabled, created_at = found
    expires = plain.time_out(expires_at)
    if ended_at is not None or expires is None or expires <= now:
        raise AuthenticationError("The session has ended; log in again.")
    if plain.bool_out(disabled):
        raise AuthenticationError("The user is disabled.")
    created = plain.time_out(created_at)
    assert created is not None  # NOT NULL
    return Account(name, Role(role), False, created), csrf_sha256


def csrf_matches(token: str, csrf_sha256: str) -> bool:
    return secrets.compare_digest(_digest(token), csrf_sha256)


def end_session(token: str, *, session: Session) -> None:
    login = session.scalar(
        select(models.LoginSession).where(models.LoginSession.token_sha256 == _digest(token))
    )
    if login is not None and login.ended_at is None:
        login.ended_at = datetime.now()
        session.flush()
