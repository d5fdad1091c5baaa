"""Leads: the analysis's cards, institutions, doctors and codes, and their workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from rxtrace.api import persons
from rxtrace.api.auth import Caller, DisclosureDep, audit_read, permitted
from rxtrace.api.deps import SessionDep
from rxtrace.api.documents import lead_document, leads_document
from rxtrace.api.errors import error_responses
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.trace.accounts import Permission, require
from rxtrace.trace.investigate import (
    LeadKind,
    LeadParams,
    LeadStatus,
    change_status,
    ensure_basis,
    find_leads,
    lead_history,
    save_leads,
)

__all__ = ["router"]

router = APIRouter(tags=["leads"])
Reader = Annotated[Caller, Depends(permitted(Permission.leads_read))]
Noter = Annotated[Caller, Depends(permitted(Permission.leads_note))]
_ERRORS = error_responses(401, 403, 404, 422)
# A lead number as the database stores it (64-bit): a larger one is a 422, not an overflow.
LeadId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The lead's number.")]


class StatusIn(BaseModel):
    status: LeadStatus
    note: str | None = Field(None, max_length=4000)


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


@router.get("/leads", responses=error_responses(401, 403, 404, 422))
def leads(
    request: Request,
    caller: Reader,
    disclosure: DisclosureDep,
    session: SessionDep,
    kind: LeadKind | None = None,
    case: str | None = None,
    status: LeadStatus | None = None,
    limit: Annotated[int, Query(ge=0, le=10_000, description="At most this many (0: all).")] = 50,
) -> Any:
    """The same JSON as ``rxtrace leads --format json``: found leads are raised (numbered)."""
    ensure_basis(session=session, params=LeadParams())
    found = find_leads(session=session, kind=kind.value if kind else None, case_id=case)
    stored = save_leads(found, session=session, scope=case)
    if status is not None:
        keep = {(s.lead.kind, s.lead.id) for s in stored if s.status == status.value}
        found = [lead for lead in found if (lead.kind, lead.id) in keep]
    document = leads_document(found, stored, reveal=disclosure.reveal, limit=limit, case_id=case)
    shown = found if limit == 0 else found[:limit]
    audit_read(
        request, session=session, caller=caller, persons=persons.in_leads(shown), disclosure=disclosure
    )
    return JSONAnswer(document)


@router.get("/leads/{lead_id}", responses=_ERRORS)
def lead(
    lead_id: LeadId, request: Request, caller: Reader, disclosure: DisclosureDep, session: SessionDep
) -> Any:
    """The same JSON as ``rxtrace lead N --format json``."""
    stored, events = lead_history(lead_id, session=session)
    document = lead_document(stored, events, reveal=disclosure.reveal, session=session)
    audit_read(
        request,
        session=session,
        caller=caller,
        persons=persons.in_leads([stored.lead]),
        disclosure=disclosure,
    )
    return JSONAnswer(document)


@router.post("/leads/{lead_id}/status", responses=error_responses(401, 403, 404, 409, 422))
def move(lead_id: LeadId, body: StatusIn, request: Request, caller: Reader, session: SessionDep) -> Any:
    """Move a lead: an investigator takes a new lead up (investigating); escalating, closing
    and reopening are a supervisor's. Closing and reopening need a note."""
    current, _ = lead_history(lead_id, session=session)
    taking_up = current.status == LeadStatus.new.value and body.status is LeadStatus.investigating
    require(caller.account.role, Permission.leads_investigate if taking_up else Permission.leads_workflow)
    stored, events = change_status(
        lead_id, session=session, status=body.status.value, note=body.note, by=caller.account.name
    )
    document = lead_document(stored, events, reveal=False, session=session)
    audit_read(request, session=session, caller=caller, persons=persons.in_leads([stored.lead]))
    return JSONAnswer(document)


@router.post("/leads/{lead_id}/notes", responses=_ERRORS)
def note(lead_id: LeadId, body: NoteIn, request: Request, caller: Noter, session: SessionDep) -> Any:
    """Add a note to a lead's history, its status unchanged."""
    stored, events = change_status(lead_id, session=session, note=body.note, by=caller.account.name)
    document = lead_document(stored, events, reveal=False, session=session)
    audit_read(request, session=session, caller=caller, persons=persons.in_leads([stored.lead]))
    return JSONAnswer(document)
