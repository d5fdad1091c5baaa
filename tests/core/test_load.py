"""Loading the contract: every sample file unchanged, idempotent, bad rows set aside with reasons."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.trace.coords import wgs84_to_gcj02
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.load import ensure_key, load_paths
from rxtrace.trace.ingest.reading import MAX_LINE_BYTES
from rxtrace.trace.protect import Protector
from rxtrace.trace.store import models

from .builders import DISPENSING_COLUMNS, returned, sale, write_csv, write_jsonl

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "sample"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason="shared/contract/sample absent")


def count(session: Session, model: type[models.Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def rejects(session: Session) -> list[models.RejectedRow]:
    return list(session.scalars(select(models.RejectedRow).order_by(models.RejectedRow.line_no)))


@needs_sample
def test_sample_loads_unchanged_on_both_engines(any_session: Session, protector: Protector) -> None:
    report = load_paths([SAMPLE], session=any_session, protector=protector)
    assert not report.refused
    tables = report.per_table()
    assert all(t["rejected"] == 0 for t in tables.values()), tables
    expected_lines = {
        "dispensing": 474 * 3,
        "institutions": 234,
        "insured": 60,
        "catalog": 34,
        "aggregation": 5,
        "waybills": 6,
        "seizures": 1,
        "seized_codes": 25,
    }
    assert {name: t["taken"] for name, t in tables.items()} == expected_lines
    encodings = {Path(f.path).name: (f.file_format, f.encoding) for f in report.files}
    assert encodings["dispensing_part2_gb18030.csv"] == ("csv", "gb18030")
    assert encodings["dispensing_part3.jsonl"] == ("jsonl", "utf-8")
    # GB18030 text arrives intact.
    name = any_session.scalar(
        select(models.CatalogProduct.name).where(models.CatalogProduct.product_id == "8339563")
    )
    assert name == "琥珀酸美托洛尔缓释片(倍他乐克)"
    # Loading again adds nothing.
    again = load_paths([SAMPLE], session=any_session, protector=protector)
    assert {f.status for f in again.files} == {"already_loaded"}
    assert count(any_session, models.Dispensing) == 474 * 3


@needs_sample
def test_sample_gcj02_point_is_stored_as_wgs84(session: Session, protector: Protector) -> None:
    load_paths([SAMPLE / "seizures.csv"], session=session, protector=protector)
    seizure = session.get(models.Seizure, "SAMPLE-1")
    assert seizure is not None and seizure.crs_in == "gcj02"
    assert seizure.lon is not None and seizure.lat is not None
    back = wgs84_to_gcj02(seizure.lon, seizure.lat)
    assert back == pytest.approx((121.4, 31.25), abs=1e-8)
    assert seizure.lon < 121.4  # GCJ-02 lies east of WGS-84 in Shanghai


def test_sensitive_fields_are_never_stored_in_clear(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "d.csv",
        [sale("83395630003642750912", certno="310119461691164854", psn_name="张三丰")],
        DISPENSING_COLUMNS,
    )
    load_paths([path], session=session, protector=protector)
    row = session.scalars(select(models.Dispensing)).one()
    stored = " ".join(str(v) for v in vars(row).values())
    assert "310119461691164854" not in stored and "张三丰" not in stored
    assert row.certno_masked == "310119********4854"
    assert row.certno_hmac == protector.digest("310119461691164854")


def test_another_key_is_refused(session: Session, protector: Protector, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [sale("83395630003642750912")], DISPENSING_COLUMNS)
    load_paths([path], session=session, protector=protector)
    with pytest.raises(RxtraceError, match="another secret key"):
        load_paths([path], session=session, protector=Protector(b"other-key-" + b"1" * 30))


def _first_read_misses(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's first look for the key's fingerprint finds none, as it would have before
    another load, started at the same moment, stored its own."""
    real = session.get
    misses = [True]

    def get(entity: Any, ident: Any, **kwargs: Any) -> Any:
        if misses and entity is models.Meta:
            misses.pop()
            return None
        return real(entity, ident, **kwargs)

    monkeypatch.setattr(session, "get", get)


@pytest.mark.parametrize("same_key", [True, False])
def test_a_key_stored_by_another_load_at_the_same_moment_is_checked_not_stored_again(
    any_session: Session, protector: Protector, monkeypatch: pytest.MonkeyPatch, same_key: bool
) -> None:
    """Two loads into a new database both found no fingerprint and both stored one; the second
    failed on the duplicate key (a CI run of test_concurrent on PostgreSQL)."""
    with Session(any_session.get_bind()) as other:
        ensure_key(other, protector)
    _first_read_misses(any_session, monkeypatch)
    if same_key:
        ensure_key(any_session, protector)
    else:
        with pytest.raises(RxtraceError, match="another secret key"):
            ensure_key(any_session, Protector(b"other-key-" + b"1" * 30))
    stored = any_session.scalars(select(models.Meta.value)).all()
    assert stored == [protector.fingerprint]


def test_same_rows_in_a_new_export_are_not_doubled(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    # On PostgreSQL the second file's copy straight into the table fails on its first stored
    # row and is made again through staging: nothing of the failed copy may remain.
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [sale("83395630003642750912"), sale("83395630003721997697")]
    write_csv(folder / "a.csv", rows, DISPENSING_COLUMNS)
    write_jsonl(folder / "b.jsonl", [sale("83395630003801185475"), *rows, sale("83395630003801185476")])
    report = load_paths([folder], session=any_session, protector=protector)
    assert [(f.taken, f.duplicate) for f in report.files] == [(2, 0), (2, 2)]
    assert count(any_session, models.Dispensing) == 4


def test_returns_are_stored_negative_whatever_sign_was_written(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    code = "83395630003642750912"
    path = write_csv(
        tmp_path / "d.csv",
        [
            returned(code),
            returned(code, sel_retn_cnt="1", hifp_pay="49.50", sel_retn_time="2025-03-05 10:00:00"),
        ],
        DISPENSING_COLUMNS,
    )
    load_paths([path], session=session, protector=protector)
    assert sorted(
        session.execute(select(models.Dispensing.sel_retn_cnt, models.Dispensing.hifp_pay_fen))
    ) == [(-1, -4950), (-1, -4950)]


def test_unknown_columns_are_kept_aside(session: Session, protector: Protector, tmp_path: Path) -> None:
    row = sale("83395630003642750912") | {"insutype": "310", "memo": ""}
    path = write_csv(tmp_path / "d.csv", [row], [*DISPENSING_COLUMNS, "insutype", "memo"])
    load_paths([path], session=session, protector=protector)
    assert session.scalars(select(models.Dispensing.extra)).one() == {"insutype": "310"}


def test_utf8_bom_and_crlf_and_upper_case_header(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    text = (
        "\r\n".join(
            [
                ",".join(c.upper() for c in DISPENSING_COLUMNS),
                ",".join(sale("83395630003642750912")[c] for c in DISPENSING_COLUMNS),
            ]
        )
        + "\r\n"
    )
    path = tmp_path / "d.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    report = load_paths([path], session=session, protector=protector)
    assert report.files[0].encoding == "utf-8-sig" and report.files[0].taken == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        ("setl_id,psn_no\n".encode("utf-16"), "UTF-16 or binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "UTF-16 or binary"),
        (b"just some words\n", "the header has 1 column"),
        (
            b"setl_id,fixmedins_code,psn_no\nS1,C1,P1\n",
            "closest is dispensing, which lacks required column(s) med_list_codg",
        ),
    ],
)
def test_refused_files_say_why_and_stop_nothing_else(
    session: Session, protector: Protector, tmp_path: Path, content: bytes, reason: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_bad.csv").write_bytes(content)
    write_csv(folder / "b_good.csv", [sale("83395630003642750912")], DISPENSING_COLUMNS)
    report = load_paths([folder], session=session, protector=protector)
    bad, good = report.files
    assert bad.status == "refused" and reason in (bad.error or ""), bad.error
    assert good.status == "loaded" and good.taken == 1
    stored = session.scalars(select(models.LoadedFile).where(models.LoadedFile.status == "refused")).one()
    assert reason in (stored.error or "")


def test_header_only_file_loads_nothing(session: Session, protector: Protector, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [], DISPENSING_COLUMNS)
    report = load_paths([path], session=session, protector=protector)
    assert (report.files[0].status, report.files[0].taken, report.files[0].rejected) == ("loaded", 0, 0)


def test_bad_rows_are_set_aside_with_file_line_and_reason(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    code = "83395630003642750912"
    rows = [
        sale(code),  # line 2: good
        sale("83395630003721997697", hifp_pay="abc"),  # 3: non-numeric amount
        sale("83395630003801185475", sel_retn_time="yesterday"),  # 4: unparseable time
        sale("hello-world"),  # 5: code of no family
        sale("83395630003880342133", psn_no=""),  # 6: missing required value
        sale("83395630003959539350", hifp_pay="1.234"),  # 7: sub-fen amount
        sale("83395630004038744838"),  # 8: good
    ]
    path = write_csv(tmp_path / "d.csv", rows, DISPENSING_COLUMNS)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("S1,M1,C1,P1")  # 9: truncated last line
    report = load_paths([path], session=session, protector=protector)
    assert (report.files[0].taken, report.files[0].rejected) == (2, 6)
    got = [(r.line_no, r.reason) for r in rejects(session)]
    assert [n for n, _ in got] == [3, 4, 5, 6, 7, 9]
    reasons = dict(got)
    assert reasons[3] == "Failed to parse 'abc' as hifp_pay: expected an amount in yuan."
    assert "as sel_retn_time: expected a time" in reasons[4]
    assert "Failed to parse 'hello-world' as traceability code" in reasons[5]
    assert reasons[6] == "Missing required value 'psn_no'."
    assert "more than 2 decimals" in reasons[7]
    assert reasons[9] == "expected 19 fields, got 4 (the file ends inside this row)"
    assert rejects(session)[0].raw and "abc" in (rejects(session)[0].raw or "")


def test_a_value_too_large_for_its_integer_column_is_set_aside_on_both_engines(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    # A count past sel_retn_cnt's 32 bits stopped a PostgreSQL load on the row path with the
    # driver's error ("out of range for type integer"), and on the columnar path was stored
    # wrapped (3000000000 as -1294967296: psycopg 3.3's binary COPY with set_types("int4"),
    # which takes a block the encoder declines, wraps instead of refusing). Every integer
    # column of the contract tables is checked alike.
    sales = [
        sale("83395630003642750912", sel_retn_cnt="2147483647"),  # 2: the largest that fits
        sale("83395630003721997697", sel_retn_cnt="2147483648"),  # 3
        returned("83395630003801185475", sel_retn_cnt="-2147483649"),  # 4
        sale("83395630003880342133", hifp_pay="92233720368547758.08"),  # 5: past 64 bits of fen
    ]
    dispensing = write_csv(tmp_path / "d.csv", sales, DISPENSING_COLUMNS)
    catalog = write_csv(
        tmp_path / "c.csv",
        [
            {"product_id": "8339563", "name": "A", "units_per_box": "2147483648", "price": ""},
            {"product_id": "8339564", "name": "B", "units_per_box": "7", "price": "1e20"},
            {"product_id": "8339565", "name": "C", "units_per_box": "7", "price": "12.5"},
        ],
    )
    waybill = {"waybill_no": "W1", "ship_time": "2026-01-10 10:00:00", "receiver_adcode": "440300"}
    waybills = write_csv(
        tmp_path / "w.csv",
        [waybill | {"pieces": "99999999999"}, waybill | {"waybill_no": "W2", "pieces": "3"}],
    )
    report = load_paths([dispensing, catalog, waybills], session=any_session, protector=protector)
    assert [(f.status, f.taken, f.rejected) for f in report.files] == [
        ("loaded", 1, 3),
        ("loaded", 1, 2),
        ("loaded", 1, 1),
    ]
    reasons = [r.reason for r in rejects(any_session)]
    between_32 = "expected a whole number from -2147483648 to 2147483647."
    assert sorted(reasons) == sorted(
        [
            f"Failed to parse '2147483648' as sel_retn_cnt: {between_32}",
            f"Failed to parse '-2147483649' as sel_retn_cnt: {between_32}",
            "Failed to parse '92233720368547758.08' as hifp_pay: expected an amount from "
            "-92233720368547758.07 to 92233720368547758.07.",
            f"Failed to parse '2147483648' as units_per_box: {between_32}",
            "Failed to parse '1e20' as price: expected an amount from "
            "-92233720368547758.07 to 92233720368547758.07.",
            f"Failed to parse '99999999999' as pieces: {between_32}",
        ]
    )
    stored = any_session.scalar(select(models.Dispensing.sel_retn_cnt))
    assert stored == 2147483647


def test_wrong_encoding_line_is_set_aside(session: Session, protector: Protector, tmp_path: Path) -> None:
    good = sale("83395630003642750912", psn_name="居民")
    path = write_csv(tmp_path / "d.csv", [good], DISPENSING_COLUMNS)
    bad_line = ",".join(sale("83395630003721997697")[c] for c in DISPENSING_COLUMNS).encode() + b"\xff\xfe\n"
    path.write_bytes(path.read_bytes() + bad_line)
    report = load_paths([path], session=session, protector=protector)
    assert (report.files[0].taken, report.files[0].rejected) == (1, 1)
    assert "not valid utf-8" in rejects(session)[0].reason


def test_a_line_of_tens_of_megabytes_is_refused_without_holding_it(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "d.csv", [sale("83395630003642750912")], DISPENSING_COLUMNS)
    with path.open("ab") as handle:
        handle.write(b"S2,")
        chunk = b"x" * (1 << 20)
        for _ in range(20):  # 20 MiB on one line
            handle.write(chunk)
        handle.write(b"\n")
        handle.write(",".join(sale("83395630003721997697")[c] for c in DISPENSING_COLUMNS).encode() + b"\n")
    import tracemalloc

    # A first load in this process imports what the columnar path uses (pyarrow brings pandas
    # in on first use, 20 MB of modules): not memory this file's line holds.
    warm = write_csv(tmp_path / "warm.csv", [sale("83395630003801185475")], DISPENSING_COLUMNS)
    load_paths([warm], session=session, protector=protector)
    tracemalloc.start()
    report = load_paths([path], session=session, protector=protector)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (report.files[0].taken, report.files[0].rejected) == (2, 1)
    (reject,) = rejects(session)
    assert reject.line_no == 3 and "over the limit of 1,048,576" in reject.reason
    assert peak < 4 * MAX_LINE_BYTES + (8 << 20)


def test_gb18030_after_an_ascii_start_is_read_as_gb18030(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    rows = [sale(f"833956300036427{i:05d}", psn_name="x") for i in range(3)]
    path = write_csv(tmp_path / "d.csv", rows, DISPENSING_COLUMNS)
    late = sale("83395630003721997697", psn_name="居民甲")
    path.write_bytes(
        path.read_bytes() + ",".join(late[c] for c in DISPENSING_COLUMNS).encode("gb18030") + b"\n"
    )
    report = load_paths([path], session=session, protector=protector)
    assert (report.files[0].taken, report.files[0].rejected) == (4, 0)
    masked = session.scalars(
        select(models.Dispensing.psn_name_masked).where(
            models.Dispensing.drug_trac_codg == "83395630003721997697"
        )
    ).one()
    assert masked == "居**"


def _interrupted_load(session: Session, protector: Protector, tmp_path: Path, *, at_batch: int) -> Path:
    """A file of 50 sales whose load, 10 rows a batch and a commit, is stopped at ``at_batch``."""
    rows = [sale(f"8339563000364{i:07d}") for i in range(50)]
    path = write_csv(tmp_path / "d.csv", rows, DISPENSING_COLUMNS)
    calls = 0

    def crash(*_: object) -> None:
        nonlocal calls
        calls += 1
        if calls == at_batch:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_paths(
            [path], session=session, protector=protector, progress=crash, batch_rows=10, commit_rows=10
        )
    return path


def test_an_interrupted_load_completes_when_run_again(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    path = _interrupted_load(session, protector, tmp_path, at_batch=2)
    session.rollback()
    assert 0 < count(session, models.Dispensing) < 50
    report = load_paths([path], session=session, protector=protector, batch_rows=10)
    assert report.files[0].status == "loaded"
    assert count(session, models.Dispensing) == 50


@pytest.mark.parametrize("at_batch", [2, 4])
def test_a_resumed_load_counts_every_row_the_file_stored(
    any_session: Session, protector: Protector, tmp_path: Path, at_batch: int
) -> None:
    # After a resumed load, loaded_file.rows_taken held only the last run's rows.
    path = _interrupted_load(any_session, protector, tmp_path, at_batch=at_batch)
    any_session.rollback()
    assert 0 < count(any_session, models.Dispensing) < 50
    # Another export holding the file's last row, loaded meanwhile: that one is a duplicate.
    header, *lines = path.read_text().splitlines(keepends=True)
    other = tmp_path / "other.csv"
    other.write_text(header + lines[-1])
    load_paths([other], session=any_session, protector=protector)
    report = load_paths([path], session=any_session, protector=protector, batch_rows=10)
    assert (report.files[0].taken, report.files[0].duplicate, report.files[0].rejected) == (49, 1, 0)
    stored = any_session.scalars(
        select(models.LoadedFile).where(models.LoadedFile.sha256 == report.files[0].sha256)
    ).one()
    assert (stored.status, stored.rows_taken, stored.rows_duplicate) == ("done", 49, 1)
    assert count(any_session, models.Dispensing) == 50


def test_seized_codes_keep_malformed_reads(session: Session, protector: Protector, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        [
            {"seizure_id": "Z1", "code": "8123456789", "scanned_at": "", "box_med_list_codg": ""},
            {"seizure_id": "Z1", "code": "83395630003642750912", "scanned_at": "", "box_med_list_codg": "X9"},
        ],
    )
    load_paths([path], session=session, protector=protector)
    stored = {c.code: c for c in session.scalars(select(models.SeizedCode))}
    assert "expected 20 digits, got 10" in (stored["8123456789"].parse_error or "")
    assert stored["83395630003642750912"].box_med_list_codg == "X9"


def test_trailing_commas_from_spreadsheets_are_ignored(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    row = sale("83395630003642750912")
    lines = [",".join(DISPENSING_COLUMNS) + ",", ",".join(row[c] for c in DISPENSING_COLUMNS) + ","]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load_paths([path], session=session, protector=protector)
    assert (report.files[0].table, report.files[0].taken, report.files[0].rejected) == ("dispensing", 1, 0)


def _stored(session: Session) -> list[tuple[object, ...]]:
    rows = session.execute(
        select(
            models.Dispensing.line_no,
            models.Dispensing.setl_id,
            models.Dispensing.key_hi,
            models.Dispensing.key_lo,
            models.Dispensing.sel_retn_time,
            models.Dispensing.hifp_pay_fen,
            models.Dispensing.row_digest,
        ).order_by(models.Dispensing.line_no)
    )
    return [tuple(row) for row in rows]


def test_a_second_process_converts_exactly_as_this_one(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    rows = [sale(f"8339563000364{i:07d}", setl_id=f"S{i}") for i in range(120)]
    rows[7]["hifp_pay"] = "abc"
    rows[50]["sel_retn_time"] = "2025/03/04 09:12:45"
    path = write_csv(tmp_path / "d.csv", rows, DISPENSING_COLUMNS)
    here = load_paths([path], session=any_session, protector=protector, batch_rows=25, workers=False)
    expected, expected_rejects = _stored(any_session), [(r.line_no, r.reason) for r in rejects(any_session)]
    any_session.execute(delete(models.Dispensing))
    any_session.execute(delete(models.RejectedRow))
    any_session.execute(delete(models.LoadedFile))
    any_session.commit()
    there = load_paths([path], session=any_session, protector=protector, batch_rows=25, workers=True)
    totals = {"dispensing": {"taken": 119, "duplicate": 0, "rejected": 1}}
    assert there.per_table() == here.per_table() == totals
    assert _stored(any_session) == expected
    assert [(r.line_no, r.reason) for r in rejects(any_session)] == expected_rejects


def test_a_failing_conversion_process_is_reported(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rxtrace.trace.ingest import load

    def broken(*_: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(load, "convert_batch", broken)  # the forked process inherits it
    monkeypatch.setattr(load, "convert_block", broken)  # the columnar path's converter too
    path = write_csv(tmp_path / "d.csv", [sale("83395630003642750912")], DISPENSING_COLUMNS)
    with pytest.raises(RxtraceError, match="MemoryError: out of memory"):
        load_paths([path], session=session, protector=protector, workers=True)


def _indexes(session: Session) -> set[str]:
    return _index_names(session.connection())


def _index_names(conn: Connection) -> set[str]:
    return {str(ix["name"]) for ix in inspect(conn).get_indexes("dispensing")}


def _indexes_at_each_batch(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The dispensing table's indexes as each batch is written, seen on the writing connection."""
    from rxtrace.trace.ingest import load

    seen: list[set[str]] = []
    # The names load imported, patched below: rows by COPY or executemany, or (the columnar
    # path on PostgreSQL) whole in binary COPY format.
    for name in ("insert_rows", "insert_binary_copy"):
        original = getattr(load, name)

        def spy(conn: Connection, *args: Any, original: Any = original, **kwargs: Any) -> int:
            if args[0].name == "dispensing":
                seen.append(_index_names(conn))
            return int(original(conn, *args, **kwargs))

        monkeypatch.setattr(load, name, spy)
    return seen


@pytest.fixture
def small_files_are_big(monkeypatch: pytest.MonkeyPatch) -> None:
    from rxtrace.trace.ingest import load

    # A few hundred bytes count as a big file of many rows, so these tests take the bulk path.
    monkeypatch.setattr(load, "DEFER_BYTES", 1)
    monkeypatch.setattr(load, "ROW_BYTES", 10)


def test_a_big_load_builds_the_secondary_indexes_after_its_rows(
    any_session: Session,
    protector: Protector,
    tmp_path: Path,
    small_files_are_big: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rxtrace.trace.ingest import load

    expected_indexes = _indexes(any_session)
    assert {"ix_dispensing_key", "ix_dispensing_psn_no"} <= expected_indexes
    rows = [sale(f"8339563000364{i:07d}", setl_id=f"S{i}") for i in range(120)]
    path = write_csv(tmp_path / "d.csv", rows, DISPENSING_COLUMNS)
    seen = _indexes_at_each_batch(monkeypatch)
    stages: list[tuple[str, str]] = []
    load_paths(
        [path],
        session=any_session,
        protector=protector,
        batch_rows=25,
        stage=lambda *told: stages.append(told),
    )
    assert len(seen) == 5 and not any("ix_dispensing_key" in names for names in seen)
    refreshed = (
        [("d.csv", "refreshing the planner's statistics of dispensing")]
        if any_session.get_bind().dialect.name == "postgresql"
        else []
    )
    assert stages == [("d.csv", "building 3 indexes of dispensing"), *refreshed]
    assert _indexes(any_session) == expected_indexes
    deferred = _stored(any_session)
    any_session.execute(delete(models.Dispensing))
    any_session.execute(delete(models.LoadedFile))
    any_session.commit()
    monkeypatch.setattr(load, "DEFER_BYTES", 1 << 60)
    load_paths([path], session=any_session, protector=protector, batch_rows=25)
    assert "ix_dispensing_key" in seen[-1]
    assert _stored(any_session) == deferred


def test_a_table_bigger_than_the_file_keeps_its_indexes(
    session: Session,
    protector: Protector,
    tmp_path: Path,
    small_files_are_big: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [sale(f"8339563000364{i:07d}") for i in range(200)]
    first = write_csv(tmp_path / "a.csv", rows, DISPENSING_COLUMNS)
    load_paths([first], session=session, protector=protector)
    seen = _indexes_at_each_batch(monkeypatch)
    second = write_csv(tmp_path / "b.csv", [sale("83395630003721997697")], DISPENSING_COLUMNS)
    load_paths([second], session=session, protector=protector)
    assert seen and all("ix_dispensing_key" in names for names in seen)


def test_a_failed_big_load_keeps_its_committed_rows_and_its_indexes(
    any_session: Session, protector: Protector, tmp_path: Path, small_files_are_big: None
) -> None:
    expected_indexes = _indexes(any_session)
    path = _interrupted_load(any_session, protector, tmp_path, at_batch=3)
    assert _indexes(any_session) == expected_indexes
    assert count(any_session, models.Dispensing) == 30
    report = load_paths([path], session=any_session, protector=protector, batch_rows=10)
    # The 30 rows the failed load committed are the file's own: taken by it, not duplicates.
    assert (report.files[0].taken, report.files[0].duplicate) == (50, 0)


def test_the_next_load_rebuilds_indexes_a_killed_load_left_dropped(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    session.execute(text("DROP INDEX ix_dispensing_key"))  # as a load killed mid-way leaves it
    session.commit()
    assert "ix_dispensing_key" not in _indexes(session)
    path = write_csv(tmp_path / "d.csv", [sale("83395630003721997697")], DISPENSING_COLUMNS)
    load_paths([path], session=session, protector=protector)
    assert "ix_dispensing_key" in _indexes(session)


@pytest.mark.parametrize("workers", [False, True])
def test_a_load_whose_lines_do_not_add_up_says_so(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    # A reader that loses a record (as one unclosed quote once did with 7,767 lines) must not
    # end in "loaded": taken + duplicate + set aside + header and blank lines != lines read.
    from rxtrace.trace.ingest import reading

    # The row reader is the one made to lose records here (test_columnar has the columnar twin).
    monkeypatch.setenv("RXTRACE_LOAD_ROW_BY_ROW", "1")
    rows = [sale(f"8339563000364{i:07d}") for i in range(30)]
    path = write_csv(tmp_path / "d.csv", rows, DISPENSING_COLUMNS)
    good = load_paths([path], session=session, protector=protector, batch_rows=7, workers=workers)
    assert (good.files[0].status, good.files[0].error, good.incomplete) == ("loaded", None, [])

    original = reading.RecordReader.batches

    def losing(self: reading.RecordReader, size: int) -> Any:
        for batch in original(self, size):
            yield reading.RecordBatch(
                batch.columns,
                batch.rows[1:],
                batch.line_nos[1:],
                batch.rejects,
                _shifted(batch.raws),
            )

    monkeypatch.setattr(reading.RecordReader, "batches", losing)
    again = write_csv(
        tmp_path / "e.csv", [sale(f"8339563000365{i:07d}") for i in range(30)], DISPENSING_COLUMNS
    )
    report = load_paths([again], session=session, protector=protector, batch_rows=7, workers=workers)
    lost = report.files[0]
    assert lost.status == "incomplete" and report.incomplete == [lost]
    assert lost.taken == 25
    assert lost.error == (
        "read 31 lines but accounted for 26: 25 records (taken, duplicate or set aside), "
        "1 header, 0 blank, 0 inside quoted fields; 5 lines are missing"
    )
    stored = session.scalars(select(models.LoadedFile).where(models.LoadedFile.path == str(again))).one()
    assert (stored.status, stored.error) == ("incomplete", lost.error)


def test_a_killed_load_takes_its_converting_processes_with_it(tmp_path: Path) -> None:
    # A SIGKILL of a big SQLite load left its two converting processes running (180 MB each).
    import os
    import signal
    import subprocess
    import sys
    import time

    rows = [sale(f"8339563000{i:010d}") for i in range(60_000)]
    path = write_csv(tmp_path / "big.csv", rows, DISPENSING_COLUMNS)
    script = (
        "import sys\n"
        "from rxtrace.trace.store.db import connect\n"
        "from rxtrace.trace.ingest.load import load_paths\n"
        "from rxtrace.trace.protect import Protector\n"
        "from pathlib import Path\n"
        "engine, factory = connect(sys.argv[1])\n"
        "with factory() as session:\n"
        "    load_paths([Path(sys.argv[2])], session=session, protector=Protector(b'k' * 32),\n"
        "               workers=True, batch_rows=500,\n"
        "               progress=lambda *a: (print('batch', flush=True), __import__('time').sleep(0.2)))\n"
    )
    loading = subprocess.Popen(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'k.db'}", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert loading.stdout is not None
        assert loading.stdout.readline().strip() == "batch", loading.stderr.read() if loading.stderr else ""
        children = _children(loading.pid)
        assert len(children) == 2, children  # the two converting processes, busy
        os.kill(loading.pid, signal.SIGKILL)
        loading.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children), "converting processes outlived their parent"
    finally:
        loading.kill()
        loading.wait(timeout=10)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped by whoever adopted it."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _shifted(raws: Callable[[int], str]) -> Callable[[int], str]:
    return lambda index: raws(index + 1)


def _months_of_sales(count: int) -> list[dict[str, Any]]:
    # A year's months of a thousand sales: without statistics the planner takes each partition
    # for a row or two and scans them all (from a few thousand rows a month it probes the key
    # index anyway; below a few hundred a scan is the better plan either way).
    return [
        sale(f"8339563{i:013d}", sel_retn_time=f"2025-{1 + i % 12:02d}-04 09:{i % 60:02d}:00")
        for i in range(count)
    ]


def _reltuples(session: Session, table: str) -> float:
    found = session.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar()
    assert found is not None, table
    return float(found)


@pytest.mark.postgres
def test_a_load_leaves_postgres_the_statistics_to_plan_its_key_lookups_from(
    pg_engine: Engine, protector: Protector, tmp_path: Path
) -> None:
    """Right after a load, a batch of keys is joined to the sales through the key index.

    Without statistics (this server runs no autovacuum, as a unit's may not in time) the
    planner took each month partition for one row and scanned them all for a case's boxes."""
    session = sessionmaker(pg_engine)()
    path = write_csv(tmp_path / "d.csv", _months_of_sales(12_000), DISPENSING_COLUMNS)
    stages: list[tuple[str, str]] = []
    load_paths([path], session=session, protector=protector, stage=lambda *told: stages.append(told))
    assert ("d.csv", "refreshing the planner's statistics of dispensing") in stages
    assert _reltuples(session, "dispensing") == 12_000
    assert _reltuples(session, "dispensing_p2025_02") == 1000
    estimate = session.execute(
        text("EXPLAIN (FORMAT JSON) SELECT id FROM dispensing_p2025_02 WHERE mdtrt_setl_type = 1")
    ).scalar_one()
    assert estimate[0]["Plan"]["Plan Rows"] == 1000  # a few without statistics
    keys = session.execute(text("SELECT key_hi, key_lo FROM dispensing ORDER BY id LIMIT 10")).all()
    plan = "\n".join(
        row[0]
        for row in session.execute(
            text(
                "EXPLAIN SELECT d.id "
                "FROM unnest(CAST(:his AS bigint[]), CAST(:los AS bigint[])) AS k(hi, lo) "
                "CROSS JOIN dispensing d WHERE d.key_hi = k.hi AND d.key_lo = k.lo AND d.mdtrt_setl_type = 1"
            ),
            {"his": [k[0] for k in keys], "los": [k[1] for k in keys]},
        )
    )
    assert "Index Scan" in plan and "Seq Scan" not in plan, plan
    session.close()


@pytest.mark.postgres
def test_statistics_are_refreshed_where_a_load_changed_much_or_made_a_month(
    pg_engine: Engine, protector: Protector, tmp_path: Path
) -> None:
    from rxtrace.trace.store.db import STALE_SHARE, refresh_statistics

    with pg_engine.connect() as conn:
        assert refresh_statistics(conn, {"dispensing": 1, "institution": 0}) == [
            "dispensing"
        ]  # never sampled
    session = sessionmaker(pg_engine)()
    year = write_csv(tmp_path / "year.csv", _months_of_sales(1000), DISPENSING_COLUMNS)
    load_paths([year], session=session, protector=protector)
    with pg_engine.connect() as conn:
        small = int(STALE_SHARE * 1000)
        assert refresh_statistics(conn, {"dispensing": small}) == []
        assert refresh_statistics(conn, {"dispensing": small + 1, "no_such_table": 5}) == ["dispensing"]
    # A few rows of a month already sampled: nothing to refresh, nothing said.
    stages: list[tuple[str, str]] = []
    may = [sale(f"8339563{i:013d}", sel_retn_time="2025-05-04 09:00:00") for i in range(4000, 4005)]
    path = write_csv(tmp_path / "may.csv", may, DISPENSING_COLUMNS)
    load_paths([path], session=session, protector=protector, stage=lambda *told: stages.append(told))
    assert stages == []
    # A few rows of a new month: its partition is sampled, the table's grown sample is kept.
    month = [sale(f"8339563{i:013d}", sel_retn_time="2026-03-04 09:00:00") for i in range(5000, 5005)]
    path = write_csv(tmp_path / "m.csv", month, DISPENSING_COLUMNS)
    load_paths([path], session=session, protector=protector, stage=lambda *told: stages.append(told))
    assert stages == [("m.csv", "refreshing the planner's statistics of dispensing_p2026_03")]
    assert _reltuples(session, "dispensing_p2026_03") == 5
    assert _reltuples(session, "dispensing") == 1000
    session.close()


def test_sqlite_gathers_no_statistics_after_a_load(session: Session) -> None:
    from rxtrace.trace.store.db import refresh_statistics

    assert refresh_statistics(session.connection(), {"dispensing": 1000}) == []
    assert session.execute(text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is None


@pytest.mark.postgres
@needs_sample
def test_the_server_samples_at_its_start_what_no_load_sampled(
    pg_url: str, protector: Protector, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database restored from a dump carries no statistics: ``rxtrace serve`` gathers them
    before its first question, once."""
    import uvicorn

    from rxtrace.api.commands.serve import run_server
    from rxtrace.api.config import Settings
    from rxtrace.trace.ingest import load
    from rxtrace.trace.ingest.contract import TABLES
    from rxtrace.trace.store.db import make_engine, migrate, never_sampled

    engine = make_engine(pg_url)
    migrate(engine)
    tables = {spec.model_table for spec in TABLES.values()}
    with engine.connect() as conn:
        assert never_sampled(conn, tables) == []  # empty: nothing to sample
    monkeypatch.setattr(load, "refresh_statistics", lambda *_args, **_kwargs: [])  # as a restored dump
    with sessionmaker(engine)() as session:
        load_paths([SAMPLE], session=session, protector=protector)
    with engine.connect() as conn:
        assert "dispensing" in never_sampled(conn, tables)
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **_kwargs: None)
    settings = Settings(database_url=pg_url, secret_key="s" * 32)
    run_server(settings, host="127.0.0.1", port=1)
    assert "for the query planner (never sampled)" in capsys.readouterr().err
    with engine.connect() as conn:
        assert never_sampled(conn, tables) == []
        assert (
            conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'dispensing'")).scalar()
            == 474 * 3
        )
    run_server(settings, host="127.0.0.1", port=1)
    assert "query planner" not in capsys.readouterr().err
    engine.dispose()
