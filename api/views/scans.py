"""Scanning over HTTP: photos or a video of a seizure's boxes, read and recorded."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from rxtrace.api.auth import Caller, permitted
from rxtrace.api.deps import ContextDep
from rxtrace.api.errors import error_responses
from rxtrace.api.uploads import store_uploads
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.trace.accounts import Permission
from rxtrace.trace.codes import key_and_family
from rxtrace.trace.errors import ParseError, RxtraceError

__all__ = ["router"]

router = APIRouter(tags=["scans"])
Scanner = Annotated[Caller, Depends(permitted(Permission.scan))]


@router.post("/scans", responses=error_responses(400, 401, 403, 404, 413, 422))
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
    _known(context, seizure)  # before taking a byte of the upload
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
    return JSONAnswer(document)


class ClientRead(BaseModel):
    code: str = Field(min_length=1, max_length=256, description="The code as the client decoded it.")
    symbology: str | None = Field(None, max_length=32)
    image: str = Field(
        min_length=1,
        max_length=16 << 20,
        description="The frame or crop the code was read in, as base64 PNG or JPEG: the evidence.",
    )


class ReadsIn(BaseModel):
    seizure: str = Field(min_length=1, max_length=64)
    reads: list[ClientRead] = Field(min_length=1, max_length=500)


def _known(context: Any, seizure_id: str) -> None:
    from rxtrace.trace.resolve.scans import require_seizure

    with context.session() as session:
        require_seizure(seizure_id, session=session)


class SeizureIn(BaseModel):
    seizure_id: str = Field(min_length=1, max_length=64)
    case_id: str = Field(min_length=1, max_length=64)


@router.post("/seizures", status_code=201, responses=error_responses(401, 403, 409, 422))
def open_seizure_here(body: SeizureIn, caller: Scanner, context: ContextDep) -> Any:
    """Open a seizure at the scene, before its seizures file is loaded: provisional (dated now,
    place unknown) until a loaded row with its id replaces it, boxes kept."""
    from rxtrace.trace.resolve.scans import open_seizure

    with context.session() as session:
        seizure = open_seizure(body.seizure_id, case_id=body.case_id, session=session)
        session.commit()
        document = {
            "seizure_id": seizure.seizure_id,
            "case_id": seizure.case_id,
            "seized_at": seizure.seized_at,
        }
    return JSONAnswer(document, status_code=201)


def _key(code: str) -> str | None:
    try:
        return key_and_family(code)[0]
    except ParseError:
        return None


@router.post("/scans/reads", responses=error_responses(401, 403, 404, 413, 422))
async def client_reads(body: ReadsIn, caller: Scanner, context: ContextDep) -> Any:
    """Codes a client (a phone's page) decoded itself, each with its frame or crop. The trust
    rule: a read becomes a box only when the server reads the same code in that evidence image
    itself; the box is recorded with the server's read (symbology, outline, confidence) and
    the image is kept. Anything else is listed as rejected, with why."""
    from rxtrace.api.scanning import catalog_products, record_result
    from rxtrace.scanners.models import ScanResult, SourceFile
    from rxtrace.scanners.service import scan_array
    from rxtrace.scanners.sources import decode_image_bytes, sha256_file

    settings = context.settings
    _known(context, body.seizure)
    folder = (
        settings.data_dir
        / "uploads"
        / "scans"
        / f"{datetime.now():%Y%m%d-%H%M%S}-reads-{secrets.token_hex(3)}"
    )
    folder.mkdir(parents=True)

    def run() -> dict[str, Any]:
        with context.session() as session:
            known = catalog_products(session)
        boxes, files, rejected = [], [], []
        for number, read in enumerate(body.reads, 1):
            try:
                data = base64.b64decode(read.image, validate=True)
            except (binascii.Error, ValueError):
                rejected.append(
                    {"read": number, "code": read.code[:64], "reason": "The image is not base64."}
                )
                continue
            suffix = (
                ".png"
                if data[:8] == b"\x89PNG\r\n\x1a\n"
                else ".jpg"
                if data[:3] == b"\xff\xd8\xff"
                else None
            )
            if suffix is None:
                rejected.append(
                    {"read": number, "code": read.code[:64], "reason": "The image is not PNG or JPEG."}
                )
                continue
            path = folder / f"read-{number:03d}{suffix}"
            path.write_bytes(data)
            try:
                pixels = decode_image_bytes(data, path.name)
            except RxtraceError as exc:
                rejected.append({"read": number, "code": read.code[:64], "reason": str(exc)})
                continue
            seen = scan_array(pixels, source=str(path), catalog_products=known)
            wanted = _key(read.code)
            match = next((b for b in seen.boxes if wanted is not None and _key(b.code) == wanted), None)
            files.append(SourceFile(str(path), "image", sha256_file(path), 1, len(data)))
            if match is None:
                rejected.append(
                    {
                        "read": number,
                        "code": read.code[:64],
                        "reason": "The server could not read this code in its image; take a closer photo.",
                    }
                )
                continue
            boxes.append(match)
        result = ScanResult(boxes=tuple(boxes), files=tuple(files), frames=len(files))
        with context.session() as session:
            recorded = record_result(result, session=session, seizure_id=body.seizure)
        document = result.as_dict()
        document["recorded"] = vars(recorded)
        document["client_rejected"] = rejected
        return document

    return JSONAnswer(await run_in_threadpool(run))
