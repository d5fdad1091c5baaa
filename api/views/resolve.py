"""Seized codes to the insurance sales that paid for them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from rxtrace.api.auth import Asker, Caller, Disclosure, audit_resolution, permitted_disclosing
from rxtrace.api.config import Settings
from rxtrace.api.deps import SessionDep, SettingsDep
from rxtrace.api.documents import resolution_document
from rxtrace.api.errors import error_responses
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.trace.accounts import Permission
from rxtrace.trace.errors import ParseError, TooLargeError
from rxtrace.trace.resolve.service import resolve_codes

__all__ = ["router"]

router = APIRouter(tags=["resolve"])
Resolver = Annotated[Asker, Depends(permitted_disclosing(Permission.resolve))]
_ERRORS = error_responses(401, 403, 413, 422)


class CodesIn(BaseModel):
    codes: list[str] = Field(min_length=1, description="Codes as read, in any written form.")
    top: int = Field(10, ge=1, le=1000, description="How many cards, institutions and doctors to rank.")


def _check(codes: list[str], settings: Settings) -> None:
    if len(codes) > settings.max_codes:
        raise TooLargeError(f"{len(codes)} codes in one request; the limit is {settings.max_codes}.")
    for number, code in enumerate(codes, 1):
        if len(code) > settings.max_code_length:
            raise ParseError(
                f"Code {number} is {len(code)} characters long; the limit is {settings.max_code_length}."
            )


def _answer(
    codes: list[str],
    top: int,
    request: Request,
    caller: Caller,
    disclosure: Disclosure,
    session: Session,
    settings: Settings,
) -> Any:
    _check(codes, settings)
    resolution = resolve_codes(codes, session=session)
    document = resolution_document(resolution, reveal=disclosure.reveal, top=top)
    audit_resolution(
        request,
        resolution,
        session=session,
        caller=caller,
        disclosure=disclosure,
        params={"codes": len(codes)},
    )
    return JSONAnswer(document)


@router.get("/resolve", responses=_ERRORS)
def resolve_get(
    request: Request,
    asker: Resolver,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[list[str], Query(min_length=1, description="A code; repeat for more.")],
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> Any:
    """The same JSON as ``rxtrace resolve CODE... --format json``."""
    return _answer(code, top, request, asker.caller, asker.disclosure, session, settings)


@router.post("/resolve", responses=_ERRORS)
def resolve_post(
    request: Request,
    body: CodesIn,
    asker: Resolver,
    session: SessionDep,
    settings: SettingsDep,
) -> Any:
    """The same JSON as ``rxtrace resolve CODE... --format json``, for many codes."""
    return _answer(body.codes, body.top, request, asker.caller, asker.disclosure, session, settings)
