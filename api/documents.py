"""The JSON answer to each question, built in one place: the command line prints it with
``--format json`` and the web API returns it, so the two never drift apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.api.output import Streamed
from rxtrace.trace.store import models

if TYPE_CHECKING:
    from rxtrace.trace.ingest.load import LoadReport
    from rxtrace.trace.investigate import BasisInfo, Lead
    from rxtrace.trace.investigate.workflow import LeadEvent, StoredLead
    from rxtrace.trace.resolve import Summary
    from rxtrace.trace.resolve.service import Resolution

__all__ = [
    "cases_document",
    "drug_names",
    "lead_document",
    "leads_document",
    "load_document",
    "rejects_document",
    "resolution_document",
    "seizures_document",
]


def resolution_document(
    resolution: Resolution, *, reveal: bool, top: int = 10, stream: bool = False
) -> dict[str, Any]:
    """What ``rxtrace resolve`` answers: every box with its sales, and the summary's rankings.

    With ``stream``, the boxes are a :class:`~rxtrace.api.output.Streamed` list, made as they
    are written (``print_json``, ``json_chunks``): the same bytes, a fraction of the memory.
    """
    document = resolution.to_dict(reveal=reveal, top=top, lazy=stream)
    if stream:
        document["codes"] = Streamed(document["codes"])
    return document


def leads_document(
    found: Sequence[Lead],
    stored: Sequence[StoredLead],
    *,
    reveal: bool,
    limit: int,
    case_id: str | None,
) -> dict[str, Any]:
    """What ``rxtrace leads`` answers: the leads shown, each with its number and status."""
    numbers = {(s.lead.kind, s.lead.id): (s.lead_id, s.status) for s in stored}
    shown = found if limit == 0 else found[:limit]
    documents = []
    for lead in shown:
        lead_id, status = numbers.get((lead.kind, lead.id), (None, None))
        documents.append({**lead.to_dict(reveal=reveal), "lead_id": lead_id, "status": status})
    return {"leads": documents, "total": len(found), "case_id": case_id}


def _drug_codes(value: Any) -> set[str]:
    """Every catalogue code (``med_list_codg``) named anywhere in a lead's evidence."""
    if isinstance(value, Mapping):
        found: set[str] = set()
        for key, item in value.items():
            if key in ("drug", "drugs", "box_med_list_codg"):
                found |= {item} if isinstance(item, str) else {x for x in item or () if isinstance(x, str)}
            else:
                found |= _drug_codes(item)
        return found
    if isinstance(value, list):
        return set().union(*(_drug_codes(item) for item in value)) if value else set()
    return set()


def lead_document(
    stored: StoredLead, events: Sequence[LeadEvent], *, reveal: bool, session: Session
) -> dict[str, Any]:
    """What ``rxtrace lead N`` answers: the lead, its evidence and its history, and the
    names of the drugs its evidence names by catalogue code (``drug_names``), so a reader
    sees the drug rather than its code."""
    document = {**stored.to_dict(reveal=reveal), "history": [e.to_dict() for e in events]}
    document["drug_names"] = drug_names(
        [rule.get("evidence") for rule in document.get("rules", [])], session=session
    )
    return document


def drug_names(evidence: Any, *, session: Session) -> dict[str, str | None]:
    """The catalogue's name of every drug code (``med_list_codg``) named in ``evidence``
    (None for a code the catalogue lacks)."""
    codes = sorted(_drug_codes(evidence))
    names: dict[str, str] = {}
    if codes:
        query = select(models.CatalogProduct.med_list_codg, models.CatalogProduct.name).where(
            models.CatalogProduct.med_list_codg.in_(codes)
        )
        names = {code: name for code, name in session.execute(query) if code}
    return {code: names.get(code) for code in codes}


def load_document(report: LoadReport, *, seconds: float, basis: BasisInfo | None) -> dict[str, Any]:
    """What ``rxtrace load`` answers: every file's fate and the rows per table."""
    return {
        "files": [vars(f) for f in report.files],
        "tables": report.per_table(),
        "seconds": round(seconds, 3),
        "lead_basis": None if basis is None else basis.to_dict(),
    }


def rejects_document(*, session: Session, table: str | None, file: str | None, limit: int) -> dict[str, Any]:
    """What ``rxtrace rejects`` answers: rows set aside, as written, and files refused whole."""
    query = (
        select(models.RejectedRow, models.LoadedFile.path)
        .join(models.LoadedFile, models.LoadedFile.id == models.RejectedRow.file_id)
        .order_by(models.RejectedRow.file_id, models.RejectedRow.line_no)
        .limit(limit)
    )
    if table:
        query = query.where(models.RejectedRow.table_name == table)
    if file:
        query = query.where(models.LoadedFile.path.contains(file))
    refused = session.scalars(select(models.LoadedFile).where(models.LoadedFile.status == "refused")).all()
    return {
        "rejects": [
            {
                "file": path,
                "table": row.table_name,
                "line": row.line_no,
                "reason": row.reason,
                "raw": (row.raw or "").rstrip("\r\n"),
            }
            for row, path in session.execute(query)
        ],
        "refused_files": [{"file": f.path, "reason": f.error} for f in refused],
    }


def _with_summary(item: dict[str, Any], summary: Summary) -> dict[str, Any]:
    """Codes read and, resolved, the boxes they stand for (a carton's code expands into its
    boxes) by status."""
    return {**item, "boxes": summary.boxes, "statuses": summary.statuses}


def cases_document(*, session: Session) -> dict[str, Any]:
    """What ``rxtrace cases`` answers: every case, the latest seized first, its boxes by status."""
    from rxtrace.trace.resolve import list_cases, resolve_case

    return {
        "cases": [
            _with_summary(c.to_dict(), resolve_case(c.case_id, session=session).summary)
            for c in list_cases(session=session)
        ]
    }


def seizures_document(*, session: Session, case_id: str | None) -> dict[str, Any]:
    """What ``rxtrace seizures`` answers: seizures newest first, each one's boxes by status."""
    from rxtrace.trace.resolve import list_seizures, resolve_seizure

    return {
        "seizures": [
            _with_summary(s.to_dict(), resolve_seizure(s.seizure_id, session=session).summary)
            for s in list_seizures(session=session, case_id=case_id)
        ]
    }
