"""The case dossier: one case's boxes, leads, link chart, timeline and evidence, for a reader
who has never seen rxtrace, as HTML, PDF, XLSX or CSV."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session

from rxtrace.api.dossier.model import Dossier, gather
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.investigate import LeadParams

__all__ = ["FORMATS", "Dossier", "ReportFormat", "gather", "write_report"]


class ReportFormat(StrEnum):
    """The dossier's formats."""

    html = "html"
    pdf = "pdf"
    xlsx = "xlsx"
    csv = "csv"


FORMATS = tuple(fmt.value for fmt in ReportFormat)


def write_report(
    case_id: str,
    *,
    session: Session,
    fmt: str,
    out: Path,
    maps: dict[str, Path] | None = None,
    reveal: bool = False,
    params: LeadParams | None = None,
) -> Dossier:
    """Write the case's dossier to ``out`` in ``fmt``; ``maps`` (name → PNG file) are embedded.

    Returns what was written, so a caller can report the figures it contains.
    """
    if fmt not in FORMATS:
        raise RxtraceError(f"Unknown report format '{fmt}': use one of {', '.join(FORMATS)}.")
    pictures: dict[str, bytes] = {}
    for name, path in (maps or {}).items():
        try:
            pictures[name] = Path(path).read_bytes()
        except OSError as exc:
            raise RxtraceError(f"Cannot read map '{name}' at {path}: {exc.strerror}.") from exc
    dossier = gather(case_id, session=session, reveal=reveal, params=params, maps=pictures)
    # Heavy renderers (matplotlib, reportlab, openpyxl) load only when a report is written.
    from rxtrace.api.dossier.render import WRITERS

    out.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[fmt](dossier, out)
    return dossier
