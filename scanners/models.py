"""Value types of the scanner: what was read, where, how sure, and what could not be read.

All are frozen dataclasses; :meth:`ScanResult.as_dict` / :meth:`ScanResult.to_json` give the
JSON shape the API and the evidence store use::

    {"boxes": [{"code", "symbology", "source", "frame", "polygon", "confidence", ...}],
     "unread": [{"source", "frame", "polygon", "symbology_hint", "reason"}],
     "rejected": [...boxes of confidence "low"...], "files": [...], "frames": n, "errors": [...]}

Confidence (decided in :mod:`rxtrace.scanners.service`, where the rule is documented):
``high`` and ``medium`` reads are boxes; ``low`` reads are never boxes, they are listed under
``rejected`` so an officer can look at the spot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from rxtrace.trace.errors import RxtraceError

__all__ = [
    "Confidence",
    "Polygon",
    "ScanError",
    "ScanIssue",
    "ScanResult",
    "ScannedBox",
    "SourceFile",
    "SourceKind",
    "UnreadRegion",
]

Polygon = tuple[tuple[int, int], ...]
"""Corners in pixel coordinates of the frame, in the order the decoder reported them."""

Confidence = Literal["high", "medium", "low"]
SourceKind = Literal["image", "video", "stream"]


class ScanError(RxtraceError):
    """An input that cannot be scanned: unreadable, corrupt, not an image, too large.

    A subclass of the project's one exception root, so every front end reports it the same
    way. The scanner already leans on ``rxtrace.trace`` for what a well-formed code is; it
    knows nothing of seizures or the database.

    Batch scans catch it per file and record it in :attr:`ScanResult.errors`; the batch goes on.
    """


def _polygon_json(polygon: Polygon) -> list[list[int]]:
    return [[x, y] for x, y in polygon]


@dataclass(frozen=True)
class ScannedBox:
    """One box: a code read off a source, with the evidence of where and how it was read."""

    code: str
    """As the symbol carries it: 20 digits, or a GS1 element string with its symbology
    identifier (``]d2``, ``]Q3``, ``]C1``) and ``\\x1d`` separators, or the plain text."""
    symbology: str
    """``code128``, ``datamatrix``, ``qrcode`` or ``ean13``."""
    source: str
    frame: int | None
    """Frame number in a video or stream (0-based); None for a still image."""
    polygon: Polygon
    confidence: Confidence
    engine: str
    """Which decoder and pre-processing produced the best read, e.g. ``zxing``,
    ``pyzbar/crop-clahe``."""
    source_sha256: str | None = None
    symbology_identifier: str = ""
    frames_seen: int = 1
    votes: int = 1
    """Independent decodes that agreed (engines × pre-processing variants × frames)."""
    reason: str = ""
    """Why this confidence, in a few words (``catalog``, ``ecc``, ``2 frames``...)."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready mapping (polygon as ``[[x, y], ...]``)."""
        return {
            "code": self.code,
            "symbology": self.symbology,
            "source": self.source,
            "frame": self.frame,
            "polygon": _polygon_json(self.polygon),
            "confidence": self.confidence,
            "engine": self.engine,
            "source_sha256": self.source_sha256,
            "symbology_identifier": self.symbology_identifier,
            "frames_seen": self.frames_seen,
            "votes": self.votes,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class UnreadRegion:
    """A place where a symbol was seen but nothing trustworthy was decoded."""

    source: str
    frame: int | None
    polygon: Polygon
    symbology_hint: str | None
    """``code128`` etc. when a decoder recognised the symbology, ``linear``/``matrix`` when
    only the shape detector saw it, None if unknown."""
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready mapping (polygon as ``[[x, y], ...]``)."""
        return {
            "source": self.source,
            "frame": self.frame,
            "polygon": _polygon_json(self.polygon),
            "symbology_hint": self.symbology_hint,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SourceFile:
    """One input scanned: its SHA-256 (None for a live stream) and how many frames it gave."""

    source: str
    kind: SourceKind
    sha256: str | None
    frames: int
    size_bytes: int | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready mapping."""
        return {
            "source": self.source,
            "kind": self.kind,
            "sha256": self.sha256,
            "frames": self.frames,
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True)
class ScanIssue:
    """An input that could not be scanned, and why (the :class:`ScanError` message)."""

    source: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready mapping."""
        return {"source": self.source, "message": self.message}


@dataclass(frozen=True)
class ScanResult:
    """Everything a scan produced. ``boxes`` holds each distinct box once."""

    boxes: tuple[ScannedBox, ...] = ()
    unread: tuple[UnreadRegion, ...] = ()
    rejected: tuple[ScannedBox, ...] = ()
    files: tuple[SourceFile, ...] = ()
    frames: int = 0
    errors: tuple[ScanIssue, ...] = field(default=())

    @property
    def codes(self) -> frozenset[str]:
        """The distinct codes of :attr:`boxes`."""
        return frozenset(b.code for b in self.boxes)

    def as_dict(self) -> dict[str, object]:
        """The whole result as JSON-ready data (see the module docstring for the shape)."""
        return {
            "boxes": [b.as_dict() for b in self.boxes],
            "unread": [u.as_dict() for u in self.unread],
            "rejected": [b.as_dict() for b in self.rejected],
            "files": [f.as_dict() for f in self.files],
            "frames": self.frames,
            "errors": [e.as_dict() for e in self.errors],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`as_dict` as JSON; control characters such as GS are escaped (``\\u001d``)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=indent)
