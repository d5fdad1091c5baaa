"""Loading contract files over HTTP, and what loads took and set aside (admin)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from rxtrace.api.auth import Caller, audit_read, permitted
from rxtrace.api.deps import ContextDep, SessionDep
from rxtrace.api.documents import load_document, rejects_document
from rxtrace.api.errors import error_responses
from rxtrace.api.uploads import LOAD_SUFFIXES, store_uploads
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.trace.accounts import Permission
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest import load_paths
from rxtrace.trace.store import models

__all__ = ["router"]

router = APIRouter(tags=["loads"])
Loader = Annotated[Caller, Depends(permitted(Permission.loads))]


@router.post("/loads", responses=error_responses(400, 401, 403, 413, 422))
async def load(
    caller: Loader,
    context: ContextDep,
    files: Annotated[list[UploadFile], File(description="Contract files: CSV or JSON Lines.")],
) -> Any:
    """Load contract files: the same report as ``rxtrace load --format json``, plus the
    uploads refused before loading. Each file is kept under the data folder as received."""
    settings = context.settings
    stored = await store_uploads(
        files,
        root=settings.data_dir / "uploads" / "loads",
        label=caller.account.name,
        suffixes=LOAD_SUFFIXES,
        max_bytes=settings.max_upload_mb << 20,
    )

    def run() -> dict[str, Any]:
        from rxtrace.trace.investigate import LeadParams, ensure_basis

        started = time.monotonic()
        basis = None
        with context.session() as session:
            report = load_paths(stored.paths, session=session, protector=context.protector)
            grown = {"dispensing", "institutions", "catalog"} & {
                name for name, t in report.per_table().items() if t["taken"]
            }
            if grown:
                session.commit()
                basis = ensure_basis(session=session, params=LeadParams())
        return load_document(report, seconds=time.monotonic() - started, basis=basis)

    if not stored.paths:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in stored.refused[:3])
        raise RxtraceError(f"No file could be taken: {reasons or 'none was sent'}.")
    document = await run_in_threadpool(run)
    document["refused_uploads"] = [r.to_dict() for r in stored.refused]
    return JSONAnswer(document)


@router.get("/loads", responses=error_responses(401, 403))
def loads(caller: Loader, session: SessionDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> Any:
    """The files loaded, newest first: table, status, rows taken, duplicate and set aside."""
    rows = session.scalars(select(models.LoadedFile).order_by(models.LoadedFile.id.desc()).limit(limit))
    return JSONAnswer(
        {
            "loads": [
                {
                    column.name: getattr(row, column.key)
                    for column in models.LoadedFile.__table__.columns
                    if column.name != "fingerprint"
                }
                for row in rows
            ]
        }
    )


@router.get("/rejects", responses=error_responses(401, 403, 422))
def rejects(
    request: Request,
    caller: Loader,
    session: SessionDep,
    table: str | None = None,
    file: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> Any:
    """The same JSON as ``rxtrace rejects --format json``. A set-aside row is shown as it was
    written, card numbers included: the read is audited."""
    document = rejects_document(session=session, table=table, file=file, limit=limit)
    audit_read(request, session=session, caller=caller, persons=[], params={"rows": len(document["rejects"])})
    return JSONAnswer(document)
