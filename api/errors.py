"""Domain errors to HTTP status codes: one table, installed by one function.

A client never sees a stack trace or its own input echoed back: validation errors say where
and what was wrong, not what was sent; anything unforeseen is a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from rxtrace.trace.errors import (
    AuthenticationError,
    ConflictError,
    ContractError,
    MissingDependencyError,
    NotFoundError,
    ParseError,
    PermissionDeniedError,
    RxtraceError,
    TooLargeError,
    TooManyAttemptsError,
)

__all__ = ["DEFAULT_STATUS_CODES", "add_exception_handlers", "error_responses"]

DEFAULT_STATUS_CODES: dict[type[RxtraceError], int] = {
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    TooLargeError: 413,
    ParseError: 422,
    ContractError: 422,
    TooManyAttemptsError: 429,
    MissingDependencyError: 503,
    RxtraceError: 400,
}

_log = logging.getLogger("rxtrace.api")


def _headers(exc: Exception) -> dict[str, str] | None:
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyAttemptsError):
        return {"Retry-After": str(exc.retry_after)}
    return None


def add_exception_handlers(app: FastAPI, status_codes: dict[type[RxtraceError], int] | None = None) -> None:
    table = status_codes or DEFAULT_STATUS_CODES

    def handler(_request: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in table.items() if isinstance(exc, kind)), 500)
        return JSONResponse(status_code=status, content={"detail": str(exc)}, headers=_headers(exc))

    # Most specific first, so a NotFoundError never lands on the root's 400.
    for kind in sorted(table, key=lambda k: len(k.__mro__), reverse=True):
        app.add_exception_handler(kind, handler)

    def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Pydantic's errors carry the input (and its context) back: a 10 MB code would be
        # echoed whole. Only where and what.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()[:20]
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    def unstorable(_request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL refuses some values SQLite takes (a NUL character in text, an integer
        # beyond 64 bits): what a client sent, not a fault of the server.
        return JSONResponse(
            status_code=422,
            content={"detail": "A value in the request cannot be stored or looked up (a NUL character?)."},
        )

    def unforeseen(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(status_code=500, content={"detail": "Internal error; the server log has it."})

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(DataError, unstorable)
    app.add_exception_handler(Exception, unforeseen)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can answer, each with the ``detail`` shape."""
    described = {
        400: "The request cannot be carried out as asked.",
        401: "Not logged in, or the session has ended.",
        403: "The role may not do this.",
        404: "No such record.",
        409: "Contradicts what is stored.",
        413: "Over a size limit.",
        422: "A value is malformed, or a required one is missing.",
        429: "Too many failed logins; see Retry-After.",
    }
    schema = {
        "type": "object",
        "properties": {
            "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
        },
        "required": ["detail"],
    }
    return {
        status: {"description": described[status], "content": {"application/json": {"schema": schema}}}
        for status in statuses
    }
