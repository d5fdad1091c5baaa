"""Reading the audit log (supervisor): who saw whose data, and whether the chain holds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from rxtrace.api.auth import Caller, permitted
from rxtrace.api.deps import SessionDep
from rxtrace.api.errors import error_responses
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.trace.accounts import Permission, events, verify

__all__ = ["router"]

router = APIRouter(tags=["audit"])
Auditor = Annotated[Caller, Depends(permitted(Permission.audit))]


@router.get("/audit", responses=error_responses(401, 403, 422))
def audit(
    caller: Auditor,
    session: SessionDep,
    user: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Any:
    """The same JSON as ``rxtrace audit --format json``: events newest first."""
    found = events(session=session, user=user, since=since, limit=limit)
    return JSONAnswer({"events": [e.to_dict() for e in found]})


@router.get("/audit/verify", responses=error_responses(401, 403))
def audit_verify(caller: Auditor, session: SessionDep) -> Any:
    """The same JSON as ``rxtrace audit verify --format json``."""
    return JSONAnswer(verify(session=session).to_dict())
