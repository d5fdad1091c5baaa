"""Resolution: a seized box's code to the insurance sales that paid for it. The rules (the
only home of what makes a box resold, a code cloned, and how deep a case is expanded into its
boxes), the resolve service over codes, seizures and cases, and the scan records that put boxes
on a seizure."""

from rxtrace.trace.resolve.cases import CaseInfo, SeizureInfo, list_cases, list_seizures, seizure_info
from rxtrace.trace.resolve.rules import (
    MAX_DEPTH,
    BoxResolution,
    Ranked,
    Sale,
    Status,
    Summary,
    classify,
    clone_reasons,
    summarise,
)
from rxtrace.trace.resolve.scans import (
    PROVISIONAL,
    CameraRead,
    RecordedScan,
    ScannedSource,
    is_provisional,
    open_seizure,
    record_scan,
    require_seizure,
)
from rxtrace.trace.resolve.service import (
    Resolution,
    SeizedRead,
    resolve_case,
    resolve_codes,
    resolve_reads,
    resolve_seizure,
    sales_of_boxes,
    seized_boxes,
)

__all__ = [
    "MAX_DEPTH",
    "PROVISIONAL",
    "BoxResolution",
    "CameraRead",
    "CaseInfo",
    "Ranked",
    "RecordedScan",
    "Resolution",
    "Sale",
    "ScannedSource",
    "SeizedRead",
    "SeizureInfo",
    "Status",
    "Summary",
    "classify",
    "clone_reasons",
    "is_provisional",
    "list_cases",
    "list_seizures",
    "open_seizure",
    "record_scan",
    "require_seizure",
    "resolve_case",
    "resolve_codes",
    "resolve_reads",
    "resolve_seizure",
    "sales_of_boxes",
    "seized_boxes",
    "seizure_info",
    "summarise",
]
