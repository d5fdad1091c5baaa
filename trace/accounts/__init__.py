"""Who may use rxtrace and what they did: accounts with a role, login sessions kept
server-side, failed logins throttled, and the append-only, hash-chained audit log of every
read of a person's data. Sits on the store alone; the web and the command line call it."""

from rxtrace.trace.accounts.audit import (
    MIN_REASON_WORDS,
    AuditEvent,
    AuditWriter,
    ChainCheck,
    Entry,
    check_reason,
    events,
    record,
    verify,
)
from rxtrace.trace.accounts.roles import MATRIX, Permission, Role, allows, require
from rxtrace.trace.accounts.service import (
    MAX_FAILURES,
    MIN_PASSWORD,
    THROTTLE_WINDOW,
    Account,
    LoginSession,
    add_user,
    authenticate,
    csrf_matches,
    disable_user,
    end_session,
    list_users,
    open_session,
    session_for,
    set_password,
)

__all__ = [
    "MATRIX",
    "MAX_FAILURES",
    "MIN_PASSWORD",
    "MIN_REASON_WORDS",
    "THROTTLE_WINDOW",
    "Account",
    "AuditEvent",
    "AuditWriter",
    "ChainCheck",
    "Entry",
    "LoginSession",
    "Permission",
    "Role",
    "add_user",
    "allows",
    "authenticate",
    "check_reason",
    "csrf_matches",
    "disable_user",
    "end_session",
    "events",
    "list_users",
    "open_session",
    "record",
    "require",
    "session_for",
    "set_password",
    "verify",
]
