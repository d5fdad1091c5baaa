"""The dossier in every format is a valid file that says what the case is."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from rxtrace.api.dossier import write_report
from rxtrace.trace.errors import NotFoundError, RxtraceError

from .builders import World

FUND = "91.65"  # 5 hub boxes 10.01..10.05 + the resold box twice (20.00 × 2) + 1.50 split


def test_pdf_is_a_pdf_naming_the_case(session: Session, case_world: World, tmp_path: Path) -> None:
    out = tmp_path / "k1.pdf"
    dossier = write_report("K1", session=session, fmt="pdf", out=out)
    assert str(dossier.fund_loss) == FUND
    assert out.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
        assert "K1" in text and FUND in text
        assert "案件卷宗" in text  # the Chinese made it into the file as text
        # Narrow columns keep Latin words whole ("dispense / d" was the complaint).
        assert "dispensed once" in text and not re.search(r"dispense\s*\n\s*d\b", text)


def test_html_is_self_contained(session: Session, case_world: World, tmp_path: Path) -> None:
    out = tmp_path / "k1.html"
    map_png = tmp_path / "map.png"
    shutil.copyfile(Path(__file__).with_name("tiny.png"), map_png)
    write_report("K1", session=session, fmt="html", out=out, maps={"seizure sites": map_png})
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)
    assert "https[:]//id.gs1.org" in page  # the malformed URL code is shown, defanged
    assert page.count("data:image/png;base64,") == 3  # link chart, timeline, the map
    assert "K1" in page and FUND in page and "RENTED" not in page
    # The leads were read from a basis; the dossier says what data it described.
    assert "leads_basis" in page and "highest_sale_id" in page


def test_xlsx_opens_with_exact_money(session: Session, case_world: World, tmp_path: Path) -> None:
    out = tmp_path / "k1.xlsx"
    write_report("K1", session=session, fmt="xlsx", out=out)
    book = load_workbook(out)
    assert {"Summary", "Boxes", "Leads", "Evidence", "Parameters", "Link chart", "Timeline"} <= set(
        book.sheetnames
    )
    assert book["Summary"]["B1"].value == "K1"
    assert str(book["Summary"]["B6"].value) == FUND
    assert book["Boxes"].max_row == 1 + 9


def test_csv_has_one_row_a_box(session: Session, case_world: World, tmp_path: Path) -> None:
    out = tmp_path / "k1.csv"
    write_report("K1", session=session, fmt="csv", out=out, reveal=True)
    with out.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and {r["case_id"] for r in rows} == {"K1"}
    resold = [r for r in rows if r["status"] == "dispensed_repeatedly"]
    assert len(resold) == 1 and resold[0]["card"] == "FIRST"
    assert sum(float(r["fund_loss"]) for r in rows) == pytest.approx(float(FUND))


def test_bad_requests(session: Session, case_world: World, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        write_report("NOPE", session=session, fmt="html", out=tmp_path / "x.html")
    with pytest.raises(RxtraceError):
        write_report("K1", session=session, fmt="docx", out=tmp_path / "x.docx")
    with pytest.raises(RxtraceError, match="Cannot read map"):
        write_report(
            "K1", session=session, fmt="html", out=tmp_path / "x.html", maps={"m": tmp_path / "missing.png"}
        )


def test_gs1_separators_do_not_break_the_spreadsheet(session: Session, tmp_path: Path) -> None:
    """A GS1 code keeps its GS (0x1d) separator; XLSX refuses control characters outright."""
    world = World(session)
    world.seize("G1", "KG", ["]d2010690123456789221AB\x1d17271231"])
    world.commit()
    out = tmp_path / "kg.xlsx"
    write_report("KG", session=session, fmt="xlsx", out=out)
    codes = [row[2] for row in load_workbook(out)["Boxes"].iter_rows(min_row=2, values_only=True)]
    assert codes == ["]d2010690123456789221AB<GS>17271231"]
    pdf = tmp_path / "kg.pdf"
    write_report("KG", session=session, fmt="pdf", out=pdf)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_leads_are_in_plain_words_and_the_table_says_how_many(
    session: Session, case_world: World, tmp_path: Path
) -> None:
    out = tmp_path / "k1.html"
    dossier = write_report("K1", session=session, fmt="html", out=out)
    assert dossier.leads and len(dossier.lead_words) == len(dossier.leads)
    assert all(
        len(words) == len(lead.rules) for lead, words in zip(dossier.leads, dossier.lead_words, strict=True)
    )
    page = out.read_text(encoding="utf-8")
    assert f"共 {len(dossier.leads)} 条线索" in page or f"of {len(dossier.leads)} leads" in page
    assert "Why 为什么" in page and "A. Lead statistics" in page
    from rxtrace.api.dossier.model import STATUS_HELP_ZH

    assert STATUS_HELP_ZH["dispensed"] in page  # statuses explained in Chinese as well
    # Every rule that fired has plain words (no fallback to the statistics' own text), and
    # the statistics are in the appendix.
    details = {r.detail for lead in dossier.leads for r in lead.rules}
    assert not details & {en for words in dossier.lead_words for _, en in words}
    assert "Poisson surprise" in page and all(r.title in page for lead in dossier.leads for r in lead.rules)


def test_a_repeated_upload_is_named_beside_its_box(session: Session, tmp_path: Path) -> None:
    # A prosecutor reading "dispensed repeatedly" must see when the second row is the same
    # settlement uploaded again minutes later.
    from datetime import timedelta

    from .builders import T0

    w = World(session)
    w.drug("8200001", "XA", 7)
    w.institution("COUNTER")
    code = w.new_code("8200001")
    setl = w.sale(inst="COUNTER", card="C1", code=code, med="XA", at=T0)
    w.sale(inst="COUNTER", card="C1", code=code, med="XA", at=T0 + timedelta(minutes=3), setl_id=setl)
    w.seize("Z9", "K9", [code])
    w.commit()
    csv_out, html_out = tmp_path / "k9.csv", tmp_path / "k9.html"
    write_report("K9", session=session, fmt="csv", out=csv_out)
    write_report("K9", session=session, fmt="html", out=html_out)
    write_report("K9", session=session, fmt="pdf", out=tmp_path / "k9.pdf")
    with csv_out.open(encoding="utf-8-sig") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["status"] == "dispensed_repeatedly" and row["repeat_uploads"] == setl
    assert f"uploaded twice minutes apart, maybe one sale: {setl}" in html_out.read_text(encoding="utf-8")
    if shutil.which("pdftotext"):
        pdf = str(tmp_path / "k9.pdf")
        text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
        assert "maybe one sale" in " ".join(text.split())
