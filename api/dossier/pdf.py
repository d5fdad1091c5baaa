"""The dossier as a PDF: landscape A4, Chinese and Latin fonts embedded, one function per
section so each can be read (and changed) on its own."""

from __future__ import annotations

import io
import os
from itertools import groupby
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from rxtrace.api.dossier.charts import graph_png, timeline_png
from rxtrace.api.dossier.model import (
    REPEAT_UPLOAD_TEXT,
    STATUS_HELP_ZH,
    STATUS_TEXT,
    TERMS,
    Dossier,
    date_range,
)
from rxtrace.api.dossier.render import (
    _STATISTICS_NOTE,
    LEADS_SHOWN,
    _doctor_place,
    _leads_shown,
    _param_rows,
    _rankings,
    _text,
)

__all__ = ["write_pdf"]

_PAGE = landscape(A4)


class _Kit:
    """The PDF's fonts, styles and text width, and the blocks every section is made of."""

    def __init__(self) -> None:
        self.font, self.cjk = _pdf_fonts()
        styles = getSampleStyleSheet()
        self.body = ParagraphStyle(
            "body",
            parent=styles["BodyText"],
            fontName=self.font,
            fontSize=8.5,
            leading=11,
            alignment=TA_LEFT,
            wordWrap="CJK",
        )
        self.small = ParagraphStyle("small", parent=self.body, fontSize=7, leading=8.5)
        self.h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontName=self.font, fontSize=16)
        self.h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontName=self.font, fontSize=12)
        self.width = _PAGE[0] - 30 * mm

    def p(self, value: Any, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(_runs(_text(value), self.cjk), style or self.body)

    def heading(self, value: Any) -> Paragraph:
        return self.p(value, self.h2)

    def table(
        self,
        header: list[str],
        rows: list[list[Any]],
        widths: list[float] | None = None,
        style: ParagraphStyle | None = None,
    ) -> Table:
        style = style or self.small
        data = [[self.p(h, style) for h in header]] + [[self.p(v, style) for v in r] for r in rows]
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

    def picture(self, png: bytes, max_height: float) -> Image:
        reader = ImageReader(io.BytesIO(png))
        w, h = reader.getSize()
        ratio = min(self.width / w, max_height / h)
        return Image(io.BytesIO(png), width=w * ratio, height=h * ratio)


def write_pdf(d: Dossier, out: Path) -> None:
    """Write the dossier to ``out``: summary, leads, charts, boxes, evidence, appendix."""
    k = _Kit()
    story = [
        *_summary(k, d),
        PageBreak(),
        *_leads(k, d),
        *_pictures(k, d),
        PageBreak(),
        *_boxes(k, d),
        PageBreak(),
        *_evidence(k, d),
        *_appendix(k, d),
    ]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(k.font, 7)
        canvas.drawString(
            15 * mm,
            8 * mm,
            f"Case {d.case_id} — rxtrace {d.version} — {_text(d.generated_at)} — page {doc.page}",
        )
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(out),
        pagesize=_PAGE,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"Case dossier {d.case_id}",
        author=f"rxtrace {d.version}",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def _summary(k: _Kit, d: Dossier) -> list[Flowable]:
    """1-2: the figures, what each status means, and how to read the rest."""
    s = d.summary
    width = k.width
    return [
        Paragraph(_runs(f"Case dossier 案件卷宗: {_text(d.case_id)}", k.cjk), k.h1),
        k.p(
            f"Made {_text(d.generated_at)} by rxtrace {d.version}. Card numbers are "
            f"{'shown in full' if d.reveal else 'masked'}."
        ),
        Spacer(1, 4 * mm),
        k.heading("1. Summary 摘要"),
        k.table(
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
            k.body,
        ),
        Spacer(1, 3 * mm),
        k.table(
            ["Status 状态", "Boxes", "What it means"],
            [
                [f"{STATUS_TEXT[key][0]} ({key})", v, f"{STATUS_HELP_ZH[key]}\n{STATUS_TEXT[key][1]}"]
                for key, v in s.statuses.items()
            ],
            [60 * mm, 20 * mm, width - 80 * mm],
            k.body,
        ),
        k.heading("2. How to read this 说明"),
        k.p(
            "Every box of medicine sold in China carries its own traceability code (追溯码). When "
            "the medical insurance fund pays for a box, the pharmacy or hospital records that code "
            "with the sale. A seized box's code therefore tells which insurance settlement paid for "
            "it: the card, the institution, the doctor, the day and the fund's money. A box the "
            "fund paid for that turns up on the market was diverted."
        ),
        Spacer(1, 2 * mm),
        k.table(
            ["Term 术语", "English", "Meaning"],
            [list(t) for t in TERMS],
            [60 * mm, 50 * mm, width - 110 * mm],
            k.body,
        ),
    ]


def _leads(k: _Kit, d: Dossier) -> list[Flowable]:
    """3-4: the leads in plain words, then the cards, institutions and doctors ranked."""
    story: list[Flowable] = [
        k.heading("3. Leads 线索"),
        k.p(_leads_shown(len(d.leads))),
        k.table(
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
                for i, (lead, words) in enumerate(zip(d.leads[:LEADS_SHOWN], d.lead_words, strict=False), 1)
            ]
            or [["", "", "", "none fired", "", ""]],
            [8 * mm, 20 * mm, 40 * mm, 40 * mm, 14 * mm, k.width - 122 * mm],
        ),
        k.heading("4. Rankings 排名"),
    ]
    for title, items, is_card, name_header in _rankings(d):
        story += [
            k.p(title),
            k.table(
                ["#", "Id", name_header, "Boxes", "Fund 元"],
                [
                    [i, d.card(r.id) if is_card else r.id, _doctor_place(r.name), r.boxes, r.fund]
                    for i, r in enumerate(items, 1)
                ],
                [10 * mm, 45 * mm, 80 * mm, 20 * mm, 30 * mm],
            ),
            Spacer(1, 2 * mm),
        ]
    return story


def _pictures(k: _Kit, d: Dossier) -> list[Flowable]:
    """5-6 and the maps: one picture to a page."""
    story: list[Flowable] = [
        PageBreak(),
        k.heading("5. Link chart 关系图"),
        k.picture(graph_png(d.chart), 150 * mm),
        PageBreak(),
        k.heading("6. Timeline 时间线"),
        k.picture(timeline_png(d.timeline), 150 * mm),
    ]
    for name, png in d.maps.items():
        story += [PageBreak(), k.heading(f"Map 地图: {_text(name)}"), k.picture(png, 150 * mm)]
    return story


def _boxes(k: _Kit, d: Dossier) -> list[Flowable]:
    """7: every box, one row each."""
    header = [
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
    ]
    rows = [
        [
            b["no"],
            b["seizure_id"],
            b["code"] + (f" (in {b['via_case']})" if b["via_case"] else ""),
            # Narrow columns break Chinese anywhere, and so Latin words mid-word:
            # each part on its own line keeps the words whole.
            b["status_text"].replace(" ", "\n", 1)
            + (f"\n({REPEAT_UPLOAD_TEXT}: {b['repeat_uploads']})" if b["repeat_uploads"] else ""),
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
    ]
    widths = [8, 25, 34, 22, 29, 20, 22, 35, 20, 25, 14]
    return [
        k.heading("7. Boxes 药盒明细"),
        k.table(header, rows, [w * mm for w in widths] + [k.width - 254 * mm]),
    ]


def _evidence(k: _Kit, d: Dossier) -> list[Flowable]:
    """8-9: the hashes of every scanned and loaded file, and the analysis's parameters."""
    width = k.width
    return [
        k.heading("8. Evidence integrity 证据完整性"),
        k.p("Scan sources 扫描来源 (SHA-256)"),
        k.table(
            ["Seizure", "File", "Kind", "Scanned", "SHA-256"],
            [[x["seizure_id"], x["path"], x["kind"], x["scanned_at"], x["sha256"]] for x in d.scan_sources]
            or [["—", "no camera or image scans", "", "", ""]],
            [25 * mm, 80 * mm, 15 * mm, 30 * mm, width - 150 * mm],
        ),
        Spacer(1, 3 * mm),
        k.p("Loaded files 导入文件 (SHA-256)"),
        k.table(
            ["File", "Table", "Rows", "Status", "Loaded", "SHA-256"],
            [
                [f["path"], f["table"], f["rows"], f["status"], f["loaded_at"], f["sha256"]]
                for f in d.loaded_files
            ],
            [85 * mm, 20 * mm, 14 * mm, 14 * mm, 30 * mm, width - 163 * mm],
        ),
        k.heading("9. Parameters 分析参数"),
        k.table(
            ["Analysis", "Parameter", "Value"],
            [[section, key, v] for section, values in _param_rows(d) for key, v in values],
            [30 * mm, 50 * mm, width - 80 * mm],
        ),
    ]


def _appendix(k: _Kit, d: Dossier) -> list[Flowable]:
    """A: each shown lead's rules with their statistics, for the reader who wants them."""
    if not d.leads:
        return []
    return [
        k.heading("A. Lead statistics 线索统计"),
        k.p(_STATISTICS_NOTE),
        k.table(
            ["#", "Rule", "Share", "Statistics"],
            [
                [i, r.title, f"{r.contribution:.2f}", r.detail]
                for i, lead in enumerate(d.leads[:LEADS_SHOWN], 1)
                for r in lead.rules
            ],
            [8 * mm, 50 * mm, 14 * mm, k.width - 72 * mm],
        ),
    ]


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
    parts = []
    for is_cjk, chars in groupby(value, key=_is_cjk):
        chunk = escape("".join(chars)).replace("\n", "<br/>")
        parts.append(f'<font name="{cjk}">{chunk}</font>' if is_cjk else chunk)
    return "".join(parts)
