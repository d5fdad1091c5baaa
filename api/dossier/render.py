"""The dossier in four formats: self-contained HTML, PDF, XLSX and CSV."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rxtrace.api.dossier.charts import graph_png, timeline_png
from rxtrace.api.dossier.model import (
    REPEAT_UPLOAD_TEXT,
    STATUS_HELP_ZH,
    STATUS_TEXT,
    TERMS,
    Dossier,
    date_range,
)
from rxtrace.trace.investigate.leads import DOCTOR_AT

__all__ = ["BOX_COLUMNS", "FORMATS", "WRITERS", "write_csv", "write_html", "write_pdf", "write_xlsx"]

FORMATS = ("html", "pdf", "xlsx", "csv")
BOX_COLUMNS = (
    "no",
    "seizure_id",
    "code",
    "via_case",
    "status",
    "status_text",
    "product",
    "sales",
    "setl_id",
    "sale_time",
    "institution",
    "institution_name",
    "card",
    "doctor",
    "drug",
    "fund_loss",
    "clone",
    "all_setl_ids",
    "repeat_uploads",
)
_URL = re.compile(r"(?i)\b(https?)://")


def _defang(value: Any) -> Any:
    """A code written as a GS1 Digital Link is a URL; the dossier must link nowhere, so the
    scheme is written ``https[:]//`` (readable, not clickable, not fetched)."""
    if isinstance(value, str):
        return _URL.sub(lambda m: f"{m.group(1)}[:]//", value)
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    # GS1 codes carry the FNC1 separator (GS, 0x1d); spreadsheets and PDFs refuse control
    # characters, so it is written the way scanners print it.
    return _CONTROL.sub(_show_control, str(value))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _show_control(match: re.Match[str]) -> str:
    char = match.group(0)
    return "<GS>" if char == "\x1d" else f"\\x{ord(char):02x}"


def _param_rows(d: Dossier) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for section, values in d.parameters.items():
        if isinstance(values, dict):
            out.append((section, [(k, _text(v)) for k, v in values.items()]))
        else:
            out.append((section, [("value", _text(values))]))
    return out


def _rankings(d: Dossier) -> list[tuple[str, list[Any], bool, str]]:
    """Each ranking with the heading of its name column: a card's holder is not named (names
    are kept only as keyed hashes), and a doctor's "name" is where they practise."""
    return [
        ("Cards 医保卡", d.ranking("cards"), True, "Holder 持卡人 (not stored in clear 不明文保存)"),
        ("Institutions 机构", d.ranking("institutions"), False, "Name 名称"),
        ("Doctors 医生", d.ranking("doctors"), False, "Practises at 执业机构"),
    ]


def _doctor_place(name: str | None) -> str:
    """Where a ranked doctor practises: their ranking names them "doctor at PLACE"."""
    return (name or "").removeprefix(DOCTOR_AT)


_STATISTICS_NOTE = (
    "Rates are compared with the peers' (Poisson surprise: how unlikely so many were by chance; "
    "shrunk relative risk: how many times the peers' rate, pulled towards 1 when the numbers are "
    "small) so a large institution is not a lead for its size."
)


# The leads (and their statistics) printed in the HTML and PDF; the XLSX holds every one.
LEADS_SHOWN = 40


def _leads_shown(total: int) -> str:
    """What the leads table holds: every lead, or the first few and where the rest are."""
    if total <= LEADS_SHOWN:
        return f"共 {total} 条线索 · {total} leads, highest score first."
    return (
        f"显示前 {LEADS_SHOWN} 条，共 {total} 条 · The first {LEADS_SHOWN} of {total} leads, "
        "highest score first; every one is in the XLSX dossier's Leads sheet."
    )


def write_html(d: Dossier, out: Path) -> None:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("rxtrace.api.dossier", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        finalize=lambda v: _defang(_text(v)) if not isinstance(v, str) else _defang(v),
    )
    page = env.get_template("dossier.html.j2").render(
        d=d,
        s=d.summary,
        status_text=STATUS_TEXT,
        status_help_zh=STATUS_HELP_ZH,
        terms=TERMS,
        leads_shown=_leads_shown(len(d.leads)),
        shown=LEADS_SHOWN,
        statistics_note=_STATISTICS_NOTE,
        repeat_upload_text=REPEAT_UPLOAD_TEXT,
        date_range=date_range(d),
        rankings=_rankings(d),
        doctor_place=_doctor_place,
        card=d.card,
        boxes=d.box_rows(),
        params=_param_rows(d),
        graph_png=base64.b64encode(graph_png(d.chart)).decode("ascii"),
        timeline_png=base64.b64encode(timeline_png(d.timeline)).decode("ascii"),
        maps=[(name, base64.b64encode(png).decode("ascii")) for name, png in d.maps.items()],
    )
    out.write_text(page, encoding="utf-8")


def write_csv(d: Dossier, out: Path) -> None:
    """The per-box table, one row a box with its source sale; UTF-8 with a BOM so spreadsheet
    software reads the Chinese right."""
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("case_id", *BOX_COLUMNS))
        for row in d.box_rows():
            writer.writerow((d.case_id, *(_text(row[c]) for c in BOX_COLUMNS)))


def write_xlsx(d: Dossier, out: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    wb = Workbook()
    _xlsx_summary(wb, d)
    _xlsx_tables(wb, d)
    _xlsx_evidence(wb, d)
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                cell.alignment = Alignment(vertical="top", wrap_text=False)
    wb.save(out)


def _xlsx_summary(wb: Any, d: Dossier) -> None:
    """The first sheet: the case in figures and what each status means."""
    from openpyxl.styles import Font

    bold = Font(bold=True)
    ws = wb.active
    ws.title = "Summary"
    s = d.summary
    rows: list[tuple[Any, ...]] = [
        ("Case dossier 案件卷宗", d.case_id),
        ("Made", _text(d.generated_at)),
        ("rxtrace version", d.version),
        (),
        ("Boxes 药盒", s.boxes),
        ("Fund loss 基金损失 (yuan)", d.fund_loss),
        ("Suspected clones", s.clone_suspects),
        ("Drugs", len(d.drugs)),
        ("Cards", len(s.cards)),
        ("Institutions", len(s.institutions)),
        ("Doctors", len(s.doctors)),
        ("Sales dated", date_range(d)),
        (),
        ("Status 状态", "Boxes", "Meaning"),
    ]
    rows += [(f"{STATUS_TEXT[k][0]} ({k})", v, STATUS_TEXT[k][1]) for k, v in s.statuses.items()]
    for row in rows:
        ws.append(list(row))
    for cell in ws["A"]:
        cell.font = bold
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["C"].width = 90
    # Exact money: stored as a number with two decimals, formatted as such.
    ws["B6"].number_format = "0.00"


def _xlsx_tables(wb: Any, d: Dossier) -> None:
    """Every box with its source sale, every lead's rules, the rankings."""
    from openpyxl.styles import Font

    bold = Font(bold=True)
    boxes = wb.create_sheet("Boxes")
    boxes.append(list(BOX_COLUMNS))
    for box in d.box_rows():
        boxes.append(
            [box[c] if isinstance(box[c], int | Decimal | datetime) else _text(box[c]) for c in BOX_COLUMNS]
        )
    for cell in boxes[1]:
        cell.font = bold
    for cell in boxes["P"][1:]:
        cell.number_format = "0.00"

    leads = wb.create_sheet("Leads")
    leads.append(["kind", "id", "name", "score", "rule", "contribution", "detail", "setl_ids"])
    for lead in d.leads:
        for rule in lead.rules:
            leads.append(
                [
                    lead.kind,
                    lead.display_id(reveal=d.reveal),
                    lead.name,
                    lead.score,
                    rule.rule,
                    round(rule.contribution, 3),
                    rule.detail,
                    ", ".join(rule.evidence.get("setl_ids", [])),
                ]
            )
    for title, items, is_card, _ in _rankings(d):
        sheet = wb.create_sheet(title.split()[0])
        sheet.append(["id", "name", "boxes", "fund_yuan"])
        for r in items:
            sheet.append([d.card(r.id) if is_card else r.id, r.name, r.boxes, r.fund])


def _xlsx_evidence(wb: Any, d: Dossier) -> None:
    """The evidence (scans, loaded files, their hashes), the parameters and the pictures."""
    from openpyxl.drawing.image import Image

    evidence = wb.create_sheet("Evidence")
    evidence.append(["Scan sources"])
    evidence.append(["seizure_id", "path", "kind", "scanned_at", "sha256"])
    for x in d.scan_sources:
        evidence.append([x["seizure_id"], x["path"], x["kind"], _text(x["scanned_at"]), x["sha256"]])
    evidence.append([])
    evidence.append(["Loaded files"])
    evidence.append(["path", "table", "rows", "status", "loaded_at", "sha256"])
    for f in d.loaded_files:
        evidence.append([f["path"], f["table"], f["rows"], f["status"], _text(f["loaded_at"]), f["sha256"]])
    params = wb.create_sheet("Parameters")
    params.append(["analysis", "parameter", "value"])
    for section, values in _param_rows(d):
        for key, value in values:
            params.append([section, key, value])
    for name, png in (
        ("Link chart", graph_png(d.chart)),
        ("Timeline", timeline_png(d.timeline)),
        *((f"Map {k}"[:31], v) for k, v in d.maps.items()),
    ):
        sheet = wb.create_sheet(name)
        image = Image(io.BytesIO(png))
        sheet.add_image(image, "A1")


def write_pdf(d: Dossier, out: Path) -> None:
    """The dossier as a landscape A4 PDF (reportlab loads only when one is written)."""
    from rxtrace.api.dossier.pdf import write_pdf as write

    write(d, out)


WRITERS: dict[str, Callable[[Dossier, Path], None]] = {
    "html": write_html,
    "pdf": write_pdf,
    "xlsx": write_xlsx,
    "csv": write_csv,
}
