"""Whose data an answer carries: the insured persons' numbers (``psn_no``) that the audit log
records for every answer that shows a card, a sale with its card, or a card lead."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from rxtrace.trace.resolve.service import Resolution, resolve_case

if TYPE_CHECKING:
    from rxtrace.trace.investigate import Lead

__all__ = ["in_case", "in_leads", "in_resolution"]


def in_resolution(resolution: Resolution) -> set[str]:
    return {sale.psn_no for box in resolution.boxes for sale in box.sales}


def _cards_in(value: Any) -> Iterator[str]:
    # The evidence names cards under "card" and "cards", as the masking in the domain does.
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "card" and isinstance(item, str):
                yield item
            elif key == "cards" and isinstance(item, list | tuple):
                yield from (c for c in item if isinstance(c, str))
            else:
                yield from _cards_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _cards_in(item)


def in_leads(leads: Iterable[Lead]) -> set[str]:
    found: set[str] = set()
    for lead in leads:
        if lead.kind == "card":
            found.add(lead.id)
        found.update(_cards_in(lead.evidence))
        for rule in lead.rules:
            found.update(_cards_in(rule.evidence))
    return found


def in_case(case_id: str, *, session: Session) -> set[str]:
    """The cards that paid for a case's boxes: whom its chart and timeline show."""
    return in_resolution(resolve_case(case_id, session=session))
