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
from rxtrace.api.dossier.model import STATUS_HELP_ZH, STATUS_TEXT, TERMS, Dossier, date_range

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
    return (name or "").removeprefix("doctor at ")


_STATISTICS_NOTE = (
    "Rates are compared with the peers' (Poisson surprise: how unlikely so many were by chance; "
    "shrunk relative risk: how many times the peers' rate, pulled towards 1 when the numbers are "
    "small) so a large institution is not a lead for its size."
)


def _leads_shown(total: int) -> str:
    """What the leads table holds: every lead, or the first 40 and where the rest are."""
    if total <= 40:
        return f"共 {total} 条线索 · {total} leads, highest score first."
    return (
        f"显示前 40 条，共 {total} 条 · The first 40 of {total} leads, highest score first; "
        "every one is in the XLSX dossier's Leads sheet."
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
        statistics_note=_STATISTICS_NOTE,
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
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import (
        Image,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )
    from reportlab.platypus.flowables import Flowable

    latin, cjk = _pdf_fonts()
    font = latin
    styles = getSampleStyleSheet()
    body = ParagraphStyle(
        "body",
        parent=styles["BodyText"],
        fontName=font,
        fontSize=8.5,
        leading=11,
        alignment=TA_LEFT,
        wordWrap="CJK",
    )
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=8.5)
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontName=font, fontSize=16)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontName=font, fontSize=12)
    page = landscape(A4)
    width = page[0] - 30 * mm

    def p(value: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(_runs(_text(value), cjk), style)

    def table(
        header: list[str],
        rows: list[list[Any]],
        widths: list[float] | None = None,
        style: ParagraphStyle = small,
    ) -> Table:
        data = [[p(h, style) for h in header]] + [[p(v, style) for v in r] for r in rows]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 2),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return t

    def picture(png: bytes, max_height: float) -> Image:
        reader = ImageReader(io.BytesIO(png))
        w, h = reader.getSize()
        ratio = min(width / w, max_height / h)
        return Image(io.BytesIO(png), width=w * ratio, height=h * ratio)

    s = d.summary
    story: list[Flowable] = [
        Paragraph(_runs(f"Case dossier 案件卷宗: {_text(d.case_id)}", cjk), h1),
        p(
            f"Made {_text(d.generated_at)} by rxtrace {d.version}. Card numbers are "
            f"{'shown in full' if d.reveal else 'masked'}."
        ),
        Spacer(1, 4 * mm),
        Paragraph(_runs("1. Summary 摘要", cjk), h2),
        table(
            ["", ""],
            [
                ["Boxes 药盒", s.boxes],
                ["Fund loss 医保基金损失", f"{_text(d.fund_loss)} yuan 元"],
                ["Suspected cloned codes 疑似克隆码", s.clone_suspects],
                ["Drugs 药品", ", ".join(f"{n} ({c})" for n, c in d.drugs) or "—"],
                ["Cards 医保卡", len(s.cards)],
                ["Institutions 机构", len(s.institutions)],
                ["Doctors 医生", len(s.doctors)],
                ["Sales dated 销售日期", date_range(d)],
                [
                    "Seizures 查获",
                    "; ".join(
                        f"{z['seizure_id']} ({_text(z['seized_at'])}"
                        f"{', ' + z['address'] if z['address'] else ''})"
                        for z in d.seizures
                    ),
                ],
            ],
            [60 * mm, width - 60 * mm],
            body,
        ),
        Spacer(1, 3 * mm),
        table(
            ["Status 状态", "Boxes", "What it means"],
            [
                [f"{STATUS_TEXT[k][0]} ({k})", v, f"{STATUS_HELP_ZH[k]}\n{STATUS_TEXT[k][1]}"]
                for k, v in s.statuses.items()
            ],
            [60 * mm, 20 * mm, width - 80 * mm],
            body,
        ),
        Paragraph(_runs("2. How to read this 说明", cjk), h2),
        p(
            "Every box of medicine sold in China carries its own traceability code (追溯码). When "
            "the medical insurance fund pays for a box, the pharmacy or hospital records that code "
            "with the sale. A seized box's code therefore tells which insurance settlement paid for "
            "it: the card, the institution, the doctor, the day and the fund's money. A box the "
            "fund paid for that turns up on the market was diverted."
        ),
        Spacer(1, 2 * mm),
        table(
            ["Term 术语", "English", "Meaning"],
            [list(t) for t in TERMS],
            [60 * mm, 50 * mm, width - 110 * mm],
            body,
        ),
        PageBreak(),
        Paragraph(_runs("3. Leads 线索", cjk), h2),
        p(_leads_shown(len(d.leads))),
        table(
            ["#", "Kind", "Id", "Name", "Score", "Why 为什么"],
            [
                [
                    i,
                    lead.kind,
                    lead.display_id(reveal=d.reveal),
                    lead.name or "",
                    f"{lead.score:.2f}",
                    " · ".join(f"{zh} ({en})" for zh, en in words),
                ]
                for i, (lead, words) in enumerate(zip(d.leads[:40], d.lead_words, strict=False), 1)
            ]
            or [["", "", "", "none fired", "", ""]],
            [8 * mm, 20 * mm, 40 * mm, 40 * mm, 14 * mm, width - 122 * mm],
        ),
        Paragraph(_runs("4. Rankings 排名", cjk), h2),
    ]
    for title, items, is_card, name_header in _rankings(d):
        story += [
            p(title),
            table(
                ["#", "Id", name_header, "Boxes", "Fund 元"],
                [
                    [i, d.card(r.id) if is_card else r.id, _doctor_place(r.name), r.boxes, r.fund]
                    for i, r in enumerate(items, 1)
                ],
                [10 * mm, 45 * mm, 80 * mm, 20 * mm, 30 * mm],
            ),
            Spacer(1, 2 * mm),
        ]
    story += [
        PageBreak(),
        Paragraph(_runs("5. Link chart 关系图", cjk), h2),
        picture(graph_png(d.chart), 150 * mm),
        PageBreak(),
        Paragraph(_runs("6. Timeline 时间线", cjk), h2),
        picture(timeline_png(d.timeline), 150 * mm),
    ]
    for name, png in d.maps.items():
        story += [PageBreak(), Paragraph(_runs(f"Map 地图: {_text(name)}", cjk), h2), picture(png, 150 * mm)]
    story += [
        PageBreak(),
        Paragraph(_runs("7. Boxes 药盒明细", cjk), h2),
        table(
            [
                "#",
                "Seizure",
                "Code 追溯码",
                "Status",
                "Product",
                "Source setl_id",
                "Sold",
                "Institution",
                "Card",
                "Doctor",
                "Fund 元",
                "Clone",
            ],
            [
                [
                    b["no"],
                    b["seizure_id"],
                    b["code"] + (f" (in {b['via_case']})" if b["via_case"] else ""),
                    # Narrow columns break Chinese anywhere, and so Latin words mid-word:
                    # each part on its own line keeps the words whole.
                    b["status_text"].replace(" ", "\n", 1),
                    b["product"],
                    b["setl_id"],
                    _text(b["sale_time"]).replace(" ", "\n", 1),
                    f"{b['institution'] or ''}\n{b['institution_name'] or ''}",
                    b["card"],
                    b["doctor"],
                    b["fund_loss"],
                    b["clone"],
                ]
                for b in d.box_rows()
            ],
            [
                8 * mm,
                25 * mm,
                34 * mm,
                22 * mm,
                29 * mm,
                20 * mm,
                22 * mm,
                35 * mm,
                20 * mm,
                25 * mm,
                14 * mm,
                width - 254 * mm,
            ],
        ),
    ]
    story += [
        PageBreak(),
        Paragraph(_runs("8. Evidence integrity 证据完整性", cjk), h2),
        p("Scan sources 扫描来源 (SHA-256)"),
        table(
            ["Seizure", "File", "Kind", "Scanned", "SHA-256"],
            [[x["seizure_id"], x["path"], x["kind"], x["scanned_at"], x["sha256"]] for x in d.scan_sources]
            or [["—", "no camera or image scans", "", "", ""]],
            [25 * mm, 80 * mm, 15 * mm, 30 * mm, width - 150 * mm],
        ),
        Spacer(1, 3 * mm),
        p("Loaded files 导入文件 (SHA-256)"),
        table(
            ["File", "Table", "Rows", "Status", "Loaded", "SHA-256"],
            [
                [f["path"], f["table"], f["rows"], f["status"], f["loaded_at"], f["sha256"]]
                for f in d.loaded_files
            ],
            [85 * mm, 20 * mm, 14 * mm, 14 * mm, 30 * mm, width - 163 * mm],
        ),
        Paragraph(_runs("9. Parameters 分析参数", cjk), h2),
        table(
            ["Analysis", "Parameter", "Value"],
            [[section, k, v] for section, values in _param_rows(d) for k, v in values],
            [30 * mm, 50 * mm, width - 80 * mm],
        ),
    ]
    if d.leads:
        story += [
            Paragraph(_runs("A. Lead statistics 线索统计", cjk), h2),
            p(_STATISTICS_NOTE),
            table(
                ["#", "Rule", "Share", "Statistics"],
                [
                    [i, r.title, f"{r.contribution:.2f}", r.detail]
                    for i, lead in enumerate(d.leads[:40], 1)
                    for r in lead.rules
                ],
                [8 * mm, 50 * mm, 14 * mm, width - 72 * mm],
            ),
        ]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(
            15 * mm,
            8 * mm,
            f"Case {d.case_id} — rxtrace {d.version} — {_text(d.generated_at)} — page {doc.page}",
        )
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(out),
        pagesize=page,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"Case dossier {d.case_id}",
        author=f"rxtrace {d.version}",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


_CJK_FILES = (
    "NotoSansCJK",
    "SourceHanSans",
    "wqy-zenhei",
    "wqy-microhei",
    "DroidSansFallback",
    "simhei",
    "msyh",
)


def _pdf_fonts() -> tuple[str, str]:
    """(Latin font, CJK font) for the PDF, embedded when a file exists.

    Latin text uses DejaVu Sans, which matplotlib carries, so it is there offline. Chinese
    uses the first CJK TrueType font installed (``RXTRACE_CJK_FONT`` names one), embedded as a
    subset so any reader shows it; without one, the CID font STSong-Light, which needs no
    file but relies on the reader's own Chinese fonts.
    """
    import os

    import matplotlib
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    registered = set(pdfmetrics.getRegisteredFontNames())
    latin = "RxLatin"
    if latin not in registered:
        dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        pdfmetrics.registerFont(TTFont(latin, str(dejavu)))
    cjk = "RxCJK"
    if cjk in registered:
        return latin, cjk
    for candidate in _cjk_font_files(os.environ.get("RXTRACE_CJK_FONT")):
        try:
            pdfmetrics.registerFont(TTFont(cjk, str(candidate), subfontIndex=0))
            return latin, cjk
        except Exception:  # noqa: S112 - an unreadable font file: try the next one
            continue
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return latin, "STSong-Light"


def _cjk_font_files(explicit: str | None) -> list[Path]:
    from matplotlib import font_manager

    found = [Path(explicit)] if explicit else []
    paths = sorted({f.fname for f in font_manager.fontManager.ttflist})
    for stem in _CJK_FILES:
        found += [Path(p) for p in paths if stem.lower() in Path(p).name.lower()]
    return [p for p in found if p.suffix.lower() in (".ttf", ".ttc", ".otf") and p.exists()]


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x3000 <= code <= 0x303F
    )


def _runs(value: str, cjk: str) -> str:
    """Paragraph markup with every run of Chinese characters in the CJK font."""
    from itertools import groupby
    from xml.sax.saxutils import escape

    parts = []
    for is_cjk, chars in groupby(value, key=_is_cjk):
        chunk = escape("".join(chars)).replace("\n", "<br/>")
        parts.append(f'<font name="{cjk}">{chunk}</font>' if is_cjk else chunk)
    return "".join(parts)


WRITERS: dict[str, Callable[[Dossier, Path], None]] = {
    "html": write_html,
    "pdf": write_pdf,
    "xlsx": write_xlsx,
    "csv": write_csv,
}
