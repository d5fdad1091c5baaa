"""Record what a camera read off a seizure's boxes, with the evidence of each read.

The scanner (``rxtrace.scanners``) knows pixels, not seizures; this module knows seizures, not
pixels. The command line hands each read over as plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import ConflictError, ParseError, SeizureNotFoundError
from rxtrace.trace.ingest.contract import seized_code_values
from rxtrace.trace.store import models
from rxtrace.trace.store.bulk import insert_ignore

__all__ = [
    "PROVISIONAL",
    "CameraRead",
    "RecordedScan",
    "ScannedSource",
    "is_provisional",
    "open_seizure",
    "record_scan",
    "require_seizure",
]

# What marks a seizure opened at the scene before its seizures file was loaded. It carries no
# file (file_id is NULL); a loaded row with its id takes its place (ingest/load.py).
PROVISIONAL = {"provisional": "opened by rxtrace scan --new-seizure; a loaded seizures row replaces it"}


@dataclass(frozen=True)
class ScannedSource:
    """An image, a video or a camera session, identified by the SHA-256 of its bytes."""

    path: str
    sha256: str | None
    kind: str
    frames: int


@dataclass(frozen=True)
class CameraRead:
    """One box read by the camera, with where in which source it was read."""

    code: str
    source: str
    symbology: str
    frame: int | None
    polygon: Sequence[Sequence[int]]
    confidence: str


@dataclass(frozen=True)
class RecordedScan:
    seizure_id: str
    sources: int
    added: int
    already_recorded: int
    seizure_known: bool


def is_provisional(seizure: models.Seizure) -> bool:
    """A seizure opened at the scene, waiting for its row from a seizures file."""
    return seizure.file_id is None and bool((seizure.extra or {}).get("provisional"))


def require_seizure(seizure_id: str, *, session: Session) -> models.Seizure:
    """The seizure boxes are about to be recorded on; refused when no such seizure exists, so
    a mistyped id does not file boxes under a seizure nobody made."""
    found = session.get(models.Seizure, seizure_id)
    if found is None:
        raise SeizureNotFoundError(seizure_id)
    return found


def open_seizure(
    seizure_id: str, *, case_id: str, session: Session, now: datetime | None = None
) -> models.Seizure:
    """Open a seizure at the scene (scanning before the seizures file exists): provisional,
    dated now, place unknown, until a loaded row with its id replaces it."""
    if not seizure_id.strip() or not case_id.strip():
        raise ParseError("A new seizure needs an id and a case.")
    if session.get(models.Seizure, seizure_id) is not None:
        raise ConflictError(f"Seizure '{seizure_id}' exists already: scan into it with --seizure alone.")
    seizure = models.Seizure(
        seizure_id=seizure_id,
        case_id=case_id,
        seized_at=(now or datetime.now()).replace(microsecond=0),
        place_kind="other",
        extra=dict(PROVISIONAL),
        file_id=None,
    )
    session.add(seizure)
    session.flush()
    return seizure


def record_scan(
    *,
    session: Session,
    seizure_id: str,
    sources: Sequence[ScannedSource],
    reads: Sequence[CameraRead],
    scanned_at: datetime | None = None,
) -> RecordedScan:
    """Store the sources and the reads on ``seizure_id``; scanning the same file twice adds nothing."""
    when = scanned_at or datetime.now()
    conn = session.connection()
    insert_ignore(
        conn,
        models.ScanSource.__table__,  # type: ignore[arg-type]
        [
            {
                "seizure_id": seizure_id,
                "path": s.path,
                # A live stream has no file to hash; its time stands in for its identity.
                "sha256": s.sha256 or f"stream:{s.path}:{when.isoformat()}",
                "kind": s.kind,
                "frames": s.frames,
                "scanned_at": when,
            }
            for s in sources
        ],
    )
    ids = {
        path: (ident, sha)
        for ident, path, sha in session.execute(
            select(models.ScanSource.id, models.ScanSource.path, models.ScanSource.sha256)
            .where(models.ScanSource.seizure_id == seizure_id)
            .order_by(models.ScanSource.id)
        )
    }
    rows = []
    for read in reads:
        source_id, sha = ids.get(read.source, (None, None))
        values = seized_code_values(seizure_id, read.code, when, None, "camera", evidence=sha or read.source)
        values.update(
            scan_source_id=source_id,
            frame=read.frame,
            polygon=[list(point) for point in read.polygon],
            symbology=read.symbology,
            confidence=read.confidence,
        )
        rows.append(values)
    added = insert_ignore(conn, models.SeizedCode.__table__, rows)  # type: ignore[arg-type]
    session.commit()
    return RecordedScan(
        seizure_id=seizure_id,
        sources=len(sources),
        added=added,
        already_recorded=len(rows) - added,
        seizure_known=session.get(models.Seizure, seizure_id) is not None,
    )
