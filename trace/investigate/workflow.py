"""The leads' workflow: leads saved with their state, their history, and status changes."""

from __future__ import annotations

import getpass
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import ConflictError, LeadNotFoundError, ReasonRequiredError, RxtraceError
from rxtrace.trace.investigate.params import STATUSES, TRANSITIONS, Lead, RuleHit
from rxtrace.trace.store import models

__all__ = ["LeadEvent", "StoredLead", "change_status", "default_user", "lead_history", "save_leads"]


_SYSTEM = "rxtrace"


@dataclass(frozen=True)
class StoredLead:
    """A lead as kept: its number for the workflow, its state and its last findings."""

    lead_id: int
    status: str
    lead: Lead
    first_seen_at: datetime
    updated_at: datetime

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "status": self.status,
            **self.lead.to_dict(reveal=reveal),
            "first_seen_at": self.first_seen_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class LeadEvent:
    at: datetime
    by: str
    from_status: str | None
    to_status: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_user() -> str:
    """The operating-system user, so every change names who made it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def _ident(lead: Lead) -> str:
    return lead.id


def save_leads(
    leads: Sequence[Lead],
    *,
    session: Session,
    scope: str | None = None,
    now: datetime | None = None,
) -> list[StoredLead]:
    """Raise new leads (status ``new``) and refresh known ones, keeping their state."""
    now = now or datetime.now().replace(microsecond=0)
    wanted = {(lead.kind, _ident(lead)): lead for lead in leads}
    existing: dict[tuple[str, str], models.LeadRecord] = {}
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, ident in wanted:
        by_kind[kind].append(ident)
    for kind, idents in by_kind.items():
        for start in range(0, len(idents), 500):
            for record in session.scalars(
                select(models.LeadRecord).where(
                    models.LeadRecord.kind == kind,
                    models.LeadRecord.entity_id.in_(idents[start : start + 500]),
                )
            ):
                existing[(record.kind, record.entity_id)] = record
    out: list[StoredLead] = []
    fresh: list[models.LeadRecord] = []
    for key, lead in wanted.items():
        known = existing.get(key)
        document = lead.to_dict(reveal=True)
        if known is None:
            record = models.LeadRecord(
                kind=lead.kind,
                entity_id=key[1],
                name=lead.name,
                status="new",
                score=lead.score,
                rules=document["rules"],
                evidence=document["evidence"],
                scope=scope,
                first_seen_at=now,
                last_seen_at=now,
                updated_at=now,
            )
            session.add(record)
            fresh.append(record)
        else:
            record = known
            record.name, record.score = lead.name, lead.score
            record.rules, record.evidence = document["rules"], document["evidence"]
            record.scope, record.last_seen_at = scope, now
        existing[key] = record
    session.flush()
    for record in fresh:
        session.add(
            models.LeadEvent(
                lead_id=record.id,
                at=now,
                by=_SYSTEM,
                from_status=None,
                to_status="new",
                note=f"raised, score {record.score:g}",
            )
        )
    session.flush()
    for key, lead in wanted.items():
        record = existing[key]
        out.append(StoredLead(record.id, record.status, lead, record.first_seen_at, record.updated_at))
    return out


def _stored(record: models.LeadRecord) -> StoredLead:
    rules = tuple(
        RuleHit(r["rule"], r["title"], float(r["contribution"]), r["detail"], r.get("evidence") or {})
        for r in record.rules or []
    )
    lead = Lead(record.kind, record.entity_id, record.name, rules)
    return StoredLead(record.id, record.status, lead, record.first_seen_at, record.updated_at)


def lead_history(lead_id: int, *, session: Session) -> tuple[StoredLead, list[LeadEvent]]:
    """A stored lead and every step of its history, oldest first."""
    record = session.get(models.LeadRecord, lead_id)
    if record is None:
        raise LeadNotFoundError(f"No lead {lead_id}.")
    events = [
        LeadEvent(e.at, e.by, e.from_status, e.to_status, e.note)
        for e in session.scalars(
            select(models.LeadEvent).where(models.LeadEvent.lead_id == lead_id).order_by(models.LeadEvent.id)
        )
    ]
    return _stored(record), events


def change_status(
    lead_id: int,
    *,
    session: Session,
    status: str | None = None,
    note: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> tuple[StoredLead, list[LeadEvent]]:
    """Move a lead along its workflow, or add a note; every change is kept with who and why.

    Closing and reopening need a reason; a move the workflow does not allow is refused.
    """
    record = session.get(models.LeadRecord, lead_id)
    if record is None:
        raise LeadNotFoundError(f"No lead {lead_id}.")
    note = (note or "").strip() or None
    if status is None and note is None:
        raise RxtraceError("Nothing to change: a new status, a note or both are needed.")
    if status is not None:
        if status not in STATUSES:
            raise RxtraceError(f"Unknown status '{status}': use one of {', '.join(STATUSES)}.")
        if status not in TRANSITIONS[record.status]:
            allowed = ", ".join(sorted(TRANSITIONS[record.status]))
            raise ConflictError(f"Lead {lead_id} is {record.status}; it can go to {allowed}, not {status}.")
        if (status == "closed" or record.status == "closed") and note is None:
            verb = "Closing" if status == "closed" else "Reopening"
            raise ReasonRequiredError(f"{verb} lead {lead_id} needs a reason.")
    now = now or datetime.now().replace(microsecond=0)
    previous = record.status
    target = status or previous
    session.add(
        models.LeadEvent(
            lead_id=lead_id,
            at=now,
            by=(by or default_user())[:64],
            from_status=previous,
            to_status=target,
            note=note,
        )
    )
    record.status, record.updated_at = target, now
    session.flush()
    return lead_history(lead_id, session=session)
