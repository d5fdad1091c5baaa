"""Logging in and out: a bearer token for programs, an HttpOnly cookie for the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from rxtrace.api.auth import CSRF_COOKIE, SESSION_COOKIE, CallerDep, client_address
from rxtrace.api.deps import SessionDep, SettingsDep
from rxtrace.api.errors import error_responses
from rxtrace.api.output import to_jsonable
from rxtrace.trace.accounts import authenticate, end_session, open_session

__all__ = ["router"]

router = APIRouter(tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: str
    csrf_token: str
    user: str
    role: str


@router.get("/health", tags=["health"])
async def health() -> dict[str, str]:
    """The only route open without a session."""
    # A coroutine: a plain function would be sent to the thread pool, a hop that costs
    # several times this answer (bench/api_bench.py).
    return {"status": "ok"}


@router.post("/auth/login", responses=error_responses(401, 422, 429))
def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """The OAuth2 password flow: form fields ``username`` and ``password``."""
    address = client_address(request)
    try:
        account = authenticate(form.username, form.password, address=address, session=session)
    finally:
        session.commit()  # a failure is counted even though the answer is an error
    opened = open_session(account, hours=settings.session_hours, address=address, session=session)
    session.commit()
    secure = request.url.scheme == "https"
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    # Readable by our own pages' script, which sends it back in a header.
    response.set_cookie(
        CSRF_COOKIE,
        opened.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return Token(
        access_token=opened.token,
        expires_at=to_jsonable(opened.expires_at),
        csrf_token=opened.csrf_token,
        user=account.name,
        role=account.role.value,
    )


@router.post("/auth/logout", responses=error_responses(401, 403))
def logout(caller: CallerDep, response: Response, session: SessionDep) -> dict[str, str]:
    end_session(caller.token, session=session)
    session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return {"status": "logged out"}


@router.get("/auth/me", responses=error_responses(401))
def me(caller: CallerDep) -> dict[str, Any]:
    """Who the session belongs to, and what the role may do."""
    from rxtrace.trace.accounts import MATRIX

    return {
        "user": caller.account.name,
        "role": caller.account.role.value,
        "permissions": sorted(p.value for p in MATRIX[caller.account.role]),
        "now": to_jsonable(datetime.now().replace(microsecond=0)),
    }
