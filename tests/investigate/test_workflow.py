"""Lead workflow: new → investigating → escalated → closed, with who, when and why."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from rxtrace.trace.errors import ConflictError, NotFoundError
from rxtrace.trace.investigate import change_status, find_leads, lead_history, save_leads

from .builders import World


def _one_lead(session: Session, world: World) -> int:
    stored = save_leads(find_leads(session=session, kind="card"), session=session)
    session.commit()
    return next(s.lead_id for s in stored if s.lead.id == "RENTED")


def test_legal_path_is_recorded_with_who_when_why(session: Session, case_world: World) -> None:
    lead_id = _one_lead(session, case_world)
    t = datetime(2026, 1, 2, 3, 4, 5)
    change_status(lead_id, session=session, status="investigating", note="pull CCTV", by="li", now=t)
    change_status(lead_id, session=session, status="escalated", note="to prosecutor", by="wang")
    stored, events = change_status(lead_id, session=session, status="closed", note="charged", by="wang")
    assert stored.status == "closed"
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "new"),
        ("new", "investigating"),
        ("investigating", "escalated"),
        ("escalated", "closed"),
    ]
    assert events[1].by == "li" and events[1].at == t and events[1].note == "pull CCTV"
    assert events[0].by == "rxtrace"


def test_illegal_moves_and_closing_without_reason(session: Session, case_world: World) -> None:
    lead_id = _one_lead(session, case_world)
    with pytest.raises(ConflictError, match="not escalated"):
        change_status(lead_id, session=session, status="escalated")
    with pytest.raises(ConflictError, match="needs a reason"):
        change_status(lead_id, session=session, status="closed")
    with pytest.raises(ConflictError):
        change_status(lead_id, session=session, status="new")
    change_status(lead_id, session=session, status="closed", note="false alarm")
    with pytest.raises(ConflictError, match="needs a reason"):
        change_status(lead_id, session=session, status="investigating")
    stored, _ = change_status(lead_id, session=session, status="investigating", note="new box")
    assert stored.status == "investigating"
    with pytest.raises(NotFoundError):
        lead_history(999_999, session=session)


def test_rerun_keeps_state_and_number(session: Session, case_world: World) -> None:
    lead_id = _one_lead(session, case_world)
    change_status(lead_id, session=session, status="investigating", note="on it", by="li")
    session.commit()
    again = save_leads(find_leads(session=session, kind="card"), session=session)
    mine = next(s for s in again if s.lead.id == "RENTED")
    assert (mine.lead_id, mine.status) == (lead_id, "investigating")
    _, events = lead_history(lead_id, session=session)
    assert len(events) == 2  # raised once, moved once: a re-run adds no event
    stored, _ = lead_history(lead_id, session=session)
    assert stored.lead.score == pytest.approx(mine.lead.score)
    assert {r.rule for r in stored.lead.rules} == {r.rule for r in mine.lead.rules}
