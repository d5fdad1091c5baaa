"""What is on record: the cases and their seizures, with how many codes were read in each (a
carton's code counts once here; resolution expands it into its boxes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import NotFoundError
from rxtrace.trace.store import models

__all__ = ["CaseInfo", "SeizureInfo", "list_cases", "list_seizures", "seizure_info"]


@dataclass(frozen=True)
class SeizureInfo:
    seizure_id: str
    case_id: str
    seized_at: datetime
    place_kind: str | None
    address: str | None
    lon: float | None
    lat: float | None
    waybill_no: str | None
    codes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class CaseInfo:
    case_id: str
    seizures: int
    codes: int
    first_seized_at: datetime
    last_seized_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _codes_per_seizure() -> Any:
    return (
        select(models.SeizedCode.seizure_id, func.count().label("codes"))
        .group_by(models.SeizedCode.seizure_id)
        .subquery()
    )


def list_seizures(*, session: Session, case_id: str | None = None) -> list[SeizureInfo]:
    """Seizures newest first, of one case or of all."""
    reads = _codes_per_seizure()
    query = (
        select(models.Seizure, func.coalesce(reads.c.codes, 0))
        .outerjoin(reads, reads.c.seizure_id == models.Seizure.seizure_id)
        .order_by(models.Seizure.seized_at.desc(), models.Seizure.seizure_id)
    )
    if case_id is not None:
        query = query.where(models.Seizure.case_id == case_id)
    return [
        SeizureInfo(
            s.seizure_id, s.case_id, s.seized_at, s.place_kind, s.address, s.lon, s.lat, s.waybill_no, int(n)
        )
        for s, n in session.execute(query)
    ]


def seizure_info(seizure_id: str, *, session: Session) -> SeizureInfo:
    reads = _codes_per_seizure()
    found = session.execute(
        select(models.Seizure, func.coalesce(reads.c.codes, 0))
        .outerjoin(reads, reads.c.seizure_id == models.Seizure.seizure_id)
        .where(models.Seizure.seizure_id == seizure_id)
    ).first()
    if found is None:
        raise NotFoundError(f"No seizure '{seizure_id}'.")
    s, n = found
    return SeizureInfo(
        s.seizure_id, s.case_id, s.seized_at, s.place_kind, s.address, s.lon, s.lat, s.waybill_no, int(n)
    )


def list_cases(*, session: Session) -> list[CaseInfo]:
    """Every case on record, the latest seized first."""
    reads = _codes_per_seizure()
    query = (
        select(
            models.Seizure.case_id,
            func.count(),
            func.coalesce(func.sum(reads.c.codes), 0),
            func.min(models.Seizure.seized_at),
            func.max(models.Seizure.seized_at),
        )
        .outerjoin(reads, reads.c.seizure_id == models.Seizure.seizure_id)
        .group_by(models.Seizure.case_id)
        .order_by(func.max(models.Seizure.seized_at).desc(), models.Seizure.case_id)
    )
    return [CaseInfo(c, int(s), int(b), first, last) for c, s, b, first, last in session.execute(query)]
