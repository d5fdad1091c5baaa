"""Between the scanners and the store: what the catalog knows, and a scan's boxes recorded on
a seizure with each read's evidence. Used by ``rxtrace scan`` and ``POST /api/scans``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.resolve.scans import CameraRead, RecordedScan, ScannedSource, record_scan
from rxtrace.trace.store import models

__all__ = ["catalog_products", "record_result"]


def catalog_products(session: Session) -> frozenset[str]:
    """Product identifiers the catalog knows: a read of a known product is trusted sooner."""
    return frozenset(session.scalars(select(models.CatalogProduct.product_id)))


def record_result(result: Any, *, session: Session, seizure_id: str) -> RecordedScan:
    """Store a scanner result's boxes on the seizure, with each read's evidence."""
    return record_scan(
        session=session,
        seizure_id=seizure_id,
        sources=[ScannedSource(f.source, f.sha256, f.kind, f.frames) for f in result.files],
        reads=[
            CameraRead(b.code, b.source, b.symbology, b.frame, [list(p) for p in b.polygon], b.confidence)
            for b in result.boxes
        ],
    )
