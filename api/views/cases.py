"""Cases and seizures, a case's link chart, its timeline and its dossier."""

from __future__ import annotations

import hashlib
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from rxtrace.api import persons
from rxtrace.api.auth import Caller, DisclosureDep, audit_read, audit_resolution, permitted
from rxtrace.api.deps import SessionDep
from rxtrace.api.documents import cases_document, resolution_document, seizures_document
from rxtrace.api.dossier import ReportFormat
from rxtrace.api.errors import error_responses
from rxtrace.api.views.answer import JSONAnswer, JSONStream
from rxtrace.trace.accounts import Permission
from rxtrace.trace.resolve import resolve_case, resolve_seizure, seizure_info

__all__ = ["router"]

router = APIRouter(tags=["cases"])
Reader = Annotated[Caller, Depends(permitted(Permission.cases))]
Charter = Annotated[Caller, Depends(permitted(Permission.graph))]
Timeliner = Annotated[Caller, Depends(permitted(Permission.timeline))]
Reporter = Annotated[Caller, Depends(permitted(Permission.dossier))]
_ERRORS = error_responses(401, 403, 404, 422)


class GraphFormat(StrEnum):
    json = "json"
    graphml = "graphml"


_MEDIA = {
    ReportFormat.html: "text/html; charset=utf-8",
    ReportFormat.pdf: "application/pdf",
    ReportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.csv: "text/csv; charset=utf-8",
}


@router.get("/cases", responses=error_responses(401, 403))
def cases(caller: Reader, session: SessionDep) -> Any:
    """The same JSON as ``rxtrace cases --format json``."""
    return JSONAnswer(cases_document(session=session))


@router.get("/cases/{case_id}", responses=_ERRORS)
def case(
    case_id: str,
    request: Request,
    caller: Reader,
    disclosure: DisclosureDep,
    session: SessionDep,
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> Any:
    """The same JSON as ``rxtrace resolve --case ID --format json``."""
    resolution = resolve_case(case_id, session=session)
    document = resolution_document(resolution, reveal=disclosure.reveal, top=top, stream=True)
    audit_resolution(request, resolution, session=session, caller=caller, disclosure=disclosure)
    return JSONStream(document)


@router.get("/seizures", responses=error_responses(401, 403, 422))
def seizures(caller: Reader, session: SessionDep, case: str | None = None) -> Any:
    """The same JSON as ``rxtrace seizures [--case ID] --format json``."""
    return JSONAnswer(seizures_document(session=session, case_id=case))


@router.get("/seizures/{seizure_id}", responses=_ERRORS)
def seizure(
    seizure_id: str,
    request: Request,
    caller: Reader,
    disclosure: DisclosureDep,
    session: SessionDep,
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> Any:
    """The seizure, and the same JSON as ``rxtrace resolve --seizure ID --format json``."""
    info = seizure_info(seizure_id, session=session)
    resolution = resolve_seizure(seizure_id, session=session)
    document = resolution_document(resolution, reveal=disclosure.reveal, top=top, stream=True)
    audit_resolution(request, resolution, session=session, caller=caller, disclosure=disclosure)
    return JSONStream({**document, "seizure": info.to_dict()})


@router.get(
    "/cases/{case_id}/graph",
    responses={**_ERRORS, 200: {"content": {"application/json": {}, "application/xml": {}}}},
)
def graph(
    case_id: str,
    request: Request,
    caller: Charter,
    disclosure: DisclosureDep,
    session: SessionDep,
    format: GraphFormat = GraphFormat.json,
) -> Any:
    """The link chart: the same JSON as ``rxtrace graph --case ID --format json``, or GraphML."""
    from rxtrace.trace.investigate.graph import build_case_graph, graph_document

    resolution = resolve_case(case_id, session=session)
    chart = build_case_graph(case_id, session=session, reveal=disclosure.reveal, resolution=resolution)
    audit_resolution(request, resolution, session=session, caller=caller, disclosure=disclosure)
    if format is GraphFormat.graphml:
        import networkx as nx

        return Response("\n".join(nx.generate_graphml(chart.graph)), media_type="application/xml")
    return JSONAnswer(graph_document(chart))


@router.get("/cases/{case_id}/timeline", responses=_ERRORS)
def timeline(
    case_id: str, request: Request, caller: Timeliner, disclosure: DisclosureDep, session: SessionDep
) -> Any:
    """The same JSON as ``rxtrace timeline --case ID --format json``."""
    from rxtrace.trace.investigate.timeline import case_timeline

    resolution = resolve_case(case_id, session=session)
    line = case_timeline(case_id, session=session, reveal=disclosure.reveal, resolution=resolution)
    audit_resolution(request, resolution, session=session, caller=caller, disclosure=disclosure)
    return JSONAnswer(line.to_dict())


@router.get(
    "/cases/{case_id}/report",
    responses={**_ERRORS, 200: {"content": {media: {} for media in _MEDIA.values()}}},
)
def report(
    case_id: str,
    request: Request,
    caller: Reporter,
    disclosure: DisclosureDep,
    session: SessionDep,
    format: ReportFormat = ReportFormat.html,
) -> Response:
    """The case dossier as ``rxtrace report --case ID --format F`` writes it."""
    from rxtrace.api.dossier import write_report
    from rxtrace.trace.investigate import LeadParams, ensure_basis

    ensure_basis(session=session, params=LeadParams())  # the dossier lists the case's leads
    with tempfile.TemporaryDirectory(prefix="rxtrace-report-") as folder:
        target = Path(folder) / f"dossier.{format.value}"
        write_report(case_id, session=session, fmt=format.value, out=target, reveal=disclosure.reveal)
        content = target.read_bytes()
    audit_read(
        request,
        session=session,
        caller=caller,
        persons=persons.in_case(case_id, session=session),
        disclosure=disclosure,
        params={"sha256": hashlib.sha256(content).hexdigest()},
    )
    name = f"dossier-{''.join(c if c.isalnum() or c in '-_' else '_' for c in case_id)}.{format.value}"
    return Response(
        content, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
