"""Domain errors to HTTP status codes: one table, installed by one function."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from rxtrace.trace.errors import (
    ConflictError,
    ContractError,
    NotFoundError,
    ParseError,
    RxtraceError,
)

__all__ = ["DEFAULT_STATUS_CODES", "add_exception_handlers"]

DEFAULT_STATUS_CODES: dict[type[RxtraceError], int] = {
    NotFoundError: 404,
    ParseError: 422,
    ContractError: 422,
    ConflictError: 409,
    RxtraceError: 400,
}


def add_exception_handlers(app: FastAPI, status_codes: dict[type[RxtraceError], int] | None = None) -> None:
    table = status_codes or DEFAULT_STATUS_CODES

    def handler(_request: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in table.items() if isinstance(exc, kind)), 500)
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    # Most specific first, so a NotFoundError never lands on the root's 400.
    for kind in sorted(table, key=lambda k: len(k.__mro__), reverse=True):
        app.add_exception_handler(kind, handler)
