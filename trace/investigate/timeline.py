"""A case on one time axis: the sales and returns that paid for its boxes, its seizures and
the shipments they were found in, lane by lane (per card and per institution)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.money import fen_to_yuan
from rxtrace.trace.protect import mask_id
from rxtrace.trace.resolve.service import Resolution, resolve_case
from rxtrace.trace.store import models

__all__ = ["EVENT_KINDS", "Timeline", "TimelineEvent", "case_timeline"]

EVENT_KINDS = ("sale", "return", "seizure", "shipment")


@dataclass(frozen=True)
class TimelineEvent:
    """One dated fact. A sale names its card and institution, so it shows in both lanes."""

    time: datetime
    kind: str
    label: str
    card: str | None = None
    institution: str | None = None
    institution_name: str | None = None
    setl_id: str | None = None
    box: str | None = None
    fund: Decimal | None = None
    seizure_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "label": self.label,
            "card": self.card,
            "institution": self.institution,
            "institution_name": self.institution_name,
            "setl_id": self.setl_id,
            "box": self.box,
            "fund": self.fund,
            "seizure_id": self.seizure_id,
        }


@dataclass(frozen=True)
class Timeline:
    case_id: str
    events: tuple[TimelineEvent, ...]

    @property
    def start(self) -> datetime | None:
        return self.events[0].time if self.events else None

    @property
    def end(self) -> datetime | None:
        return self.events[-1].time if self.events else None

    def lanes(self, by: str) -> list[str]:
        """Cards or institutions, the busiest first (ties by name)."""
        counts: dict[str, int] = {}
        for event in self.events:
            lane = event.card if by == "card" else event.institution
            if lane is not None:
                counts[lane] = counts.get(lane, 0) + 1
        return sorted(counts, key=lambda lane: (-counts[lane], lane))

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "start": self.start,
            "end": self.end,
            "events": [e.to_dict() for e in self.events],
        }


def case_timeline(
    case_id: str,
    *,
    session: Session,
    reveal: bool = False,
    resolution: Resolution | None = None,
) -> Timeline:
    resolution = resolution or resolve_case(case_id, session=session)
    events: list[TimelineEvent] = []
    seen_sales: set[tuple[str, str]] = set()
    for box in resolution.boxes:
        for sale in box.sales:
            marker = (sale.setl_id, box.key or box.code)
            if marker in seen_sales:
                continue
            seen_sales.add(marker)
            kind = "return" if sale.count < 0 else "sale"
            events.append(
                TimelineEvent(
                    time=sale.time,
                    kind=kind,
                    label=f"{kind} {sale.setl_id} ({sale.med_list_codg})",
                    card=sale.psn_no if reveal else mask_id(sale.psn_no),
                    institution=sale.fixmedins_code,
                    institution_name=sale.institution,
                    setl_id=sale.setl_id,
                    box=box.key,
                    fund=fen_to_yuan(sale.hifp_pay_fen),
                    seizure_id=box.seizure_id,
                )
            )
    seizures = session.scalars(select(models.Seizure).where(models.Seizure.case_id == case_id)).all()
    for seizure in seizures:
        events.append(
            TimelineEvent(
                time=seizure.seized_at,
                kind="seizure",
                label=f"seizure {seizure.seizure_id}" + (f" at {seizure.address}" if seizure.address else ""),
                seizure_id=seizure.seizure_id,
            )
        )
    bills = sorted({s.waybill_no for s in seizures if s.waybill_no})
    if bills:
        for bill in session.scalars(select(models.Waybill).where(models.Waybill.waybill_no.in_(bills))):
            events.append(
                TimelineEvent(
                    time=bill.ship_time,
                    kind="shipment",
                    label=f"shipment {bill.waybill_no} to {bill.receiver_adcode}",
                )
            )
    order = {k: i for i, k in enumerate(EVENT_KINDS)}
    events.sort(key=lambda e: (e.time, order[e.kind], e.setl_id or "", e.box or ""))
    return Timeline(case_id, tuple(events))
