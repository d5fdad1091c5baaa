"""The accounts (admin): list them, add one, disable one. Every change is in the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from rxtrace.api.auth import Caller, permitted
from rxtrace.api.deps import SessionDep
from rxtrace.api.errors import error_responses
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.trace.accounts import Entry, Permission, Role, add_user, disable_user, list_users, record

__all__ = ["router"]

router = APIRouter(tags=["users"])
Admin = Annotated[Caller, Depends(permitted(Permission.users))]
UserName = Annotated[str, Path(min_length=1, max_length=64)]


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=1, max_length=1024)


def _audited(request: Request, caller: Caller, session: SessionDep, name: str, **params: str) -> None:
    entry = Entry.of(
        actor=caller.account.name,
        address=caller.address,
        action=f"{request.method} {request.url.path}",
        params={"user": name, **params},
        persons=[],
    )
    record(entry, session=session)


@router.get("/users", responses=error_responses(401, 403))
def users(caller: Admin, session: SessionDep) -> Any:
    """The same JSON as ``rxtrace user list --format json``."""
    return JSONAnswer({"users": [a.to_dict() for a in list_users(session=session)]})


@router.post("/users", status_code=201, responses=error_responses(401, 403, 409, 422))
def user_add(body: UserIn, request: Request, caller: Admin, session: SessionDep) -> Any:
    """Add an account; the password follows the same rules as ``rxtrace user add``."""
    account = add_user(body.name, body.password, body.role, session=session)
    _audited(request, caller, session, account.name, role=account.role.value)
    session.commit()
    return JSONAnswer(account.to_dict(), status_code=201)


@router.post("/users/{name}/disable", responses=error_responses(401, 403, 404, 422))
def user_disable(name: UserName, request: Request, caller: Admin, session: SessionDep) -> Any:
    """Disable an account: its sessions stop working at once."""
    account = disable_user(name, session=session)
    _audited(request, caller, session, account.name)
    session.commit()
    return JSONAnswer(account.to_dict())
