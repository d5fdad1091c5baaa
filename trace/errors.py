"""One exception root for everything rxtrace's domain can refuse.

The web layer maps these to HTTP status codes in one table (``rxtrace.api.errors``); the
command line prints the message on one line and exits non-zero. Nothing here knows of either.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CaseNotFoundError",
    "ConflictError",
    "ContractError",
    "KeyMismatchError",
    "LeadNotFoundError",
    "MissingDependencyError",
    "NotFoundError",
    "ParseError",
    "PartitionError",
    "PermissionDeniedError",
    "ReasonRequiredError",
    "RxtraceError",
    "SeizureNotFoundError",
    "TooLargeError",
    "TooManyAttemptsError",
]


class RxtraceError(Exception):
    """Root of every error rxtrace raises on purpose."""


class ParseError(RxtraceError, ValueError):
    """A value could not be parsed as what it claims to be (a code, a time, an amount)."""


class ContractError(RxtraceError):
    """A whole input file breaks the data contract (no table fits its header, bad encoding)."""


class NotFoundError(RxtraceError, LookupError):
    """A case, seizure or record named by the user does not exist."""


class ConflictError(RxtraceError):
    """The request contradicts what is stored (e.g. a workflow step out of order)."""


class CaseNotFoundError(NotFoundError):
    """No seizure names the case: every command says it in these words.

    >>> str(CaseNotFoundError("K9"))
    "No case 'K9': no seizure names it."
    """

    def __init__(self, case_id: str) -> None:
        super().__init__(f"No case '{case_id}': no seizure names it.")
        self.case_id = case_id


class SeizureNotFoundError(NotFoundError):
    """Boxes were to be recorded on a seizure that does not exist (a mistyped id, say)."""

    def __init__(self, seizure_id: str) -> None:
        super().__init__(f"No seizure '{seizure_id}': load its seizures file first, or open it at the scene.")
        self.seizure_id = seizure_id


class LeadNotFoundError(NotFoundError):
    """No lead has that number (leads are numbered when they are first raised)."""


class KeyMismatchError(ConflictError):
    """The database's identity hashes were made with another secret key than the one given."""


class ReasonRequiredError(ConflictError):
    """A workflow step that must say why (closing or reopening a lead) came without a note."""


class PartitionError(ConflictError):
    """A month's partition of the sales table could not be added (PostgreSQL): another load
    held the table past the wait, or the server refused."""


class AuthenticationError(RxtraceError):
    """No valid login: a wrong name or password, an unknown, ended or expired session, a
    disabled user."""


class PermissionDeniedError(RxtraceError):
    """The user is known but their role may not do this."""


class TooManyAttemptsError(RxtraceError):
    """Too many failed logins in a short time; ``retry_after`` says in how many seconds to try."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLargeError(RxtraceError):
    """An input goes past a stated limit (a body, an upload, a list, a code's length)."""


class MissingDependencyError(RxtraceError):
    """A system library rxtrace needs is not installed on this machine (zbar, say)."""
