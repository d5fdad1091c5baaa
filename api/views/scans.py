"""Scanning over HTTP: photos or a video of a seizure's boxes, read and recorded."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from rxtrace.api.auth import Caller, permitted
from rxtrace.api.deps import ContextDep
from rxtrace.api.errors import error_responses
from rxtrace.api.output import to_jsonable
from rxtrace.api.uploads import store_uploads
from rxtrace.trace.accounts import Permission
from rxtrace.trace.errors import RxtraceError

__all__ = ["router"]

router = APIRouter(tags=["scans"])
Scanner = Annotated[Caller, Depends(permitted(Permission.scan))]


@router.post("/scans", responses=error_responses(400, 401, 403, 413, 422))
async def scan(
    caller: Scanner,
    context: ContextDep,
    seizure: Annotated[
        str, Query(min_length=1, max_length=64, description="The seizure the boxes belong to.")
    ],
    files: Annotated[list[UploadFile], File(description="Photos (JPEG, PNG, WebP…) or videos of the boxes.")],
) -> Any:
    """Read every code off the photos or videos and record the boxes on the seizure: the same
    JSON as ``rxtrace scan --format json``, plus the uploads refused. The files are kept
    under the data folder as the evidence each box was read from."""
    from rxtrace.api.scanning import catalog_products, record_result
    from rxtrace.scanners.service import scan_paths
    from rxtrace.scanners.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    settings = context.settings
    stored = await store_uploads(
        files,
        root=settings.data_dir / "uploads" / "scans",
        label=seizure,
        suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES,
        max_bytes=settings.max_upload_mb << 20,
    )
    if not stored.paths:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in stored.refused[:3])
        raise RxtraceError(f"No file could be taken: {reasons or 'none was sent'}.")

    def run() -> dict[str, Any]:
        started = time.monotonic()
        with context.session() as session:
            known = catalog_products(session)
        result = scan_paths(stored.paths, catalog_products=known)
        with context.session() as session:
            recorded = record_result(result, session=session, seizure_id=seizure)
        document = result.as_dict()
        document["recorded"] = vars(recorded)
        document["seconds"] = round(time.monotonic() - started, 3)
        return document

    document = await run_in_threadpool(run)
    document["refused_uploads"] = [r.to_dict() for r in stored.refused]
    return to_jsonable(document)
