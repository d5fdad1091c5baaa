"""Images, video and live cameras to traceability codes.

Pure: no database, no web. Typical use::

    from rxtrace.scanners import scan_paths
    result = scan_paths(["seizure-17/"], catalog_products=frozenset({"8339563"}))
    for box in result.boxes:
        print(box.code, box.confidence, box.source, box.polygon)

See :mod:`rxtrace.scanners.service` for the confidence rule, :mod:`.decode` for the decoding
pipeline, :mod:`.sources` for how inputs are opened, :mod:`.render` and :mod:`.harsh` for synthetic
test data.
"""

from .decode import FrameReads, Sighting, UnreadSpot, decode_frame
from .models import (
    Confidence,
    Polygon,
    ScanError,
    ScanIssue,
    ScannedBox,
    ScanResult,
    SourceFile,
    UnreadRegion,
)
from .service import DEFAULT_BUDGET_MS, decide_confidence, scan_array, scan_paths, scan_stream

__all__ = [
    "DEFAULT_BUDGET_MS",
    "Confidence",
    "FrameReads",
    "Polygon",
    "ScanError",
    "ScanIssue",
    "ScanResult",
    "ScannedBox",
    "Sighting",
    "SourceFile",
    "UnreadRegion",
    "UnreadSpot",
    "decide_confidence",
    "decode_frame",
    "scan_array",
    "scan_paths",
    "scan_stream",
]
