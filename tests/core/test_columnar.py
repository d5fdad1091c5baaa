"""The columnar load path stores exactly what the row path stores: the same rows taken, the same
rows set aside with the same reasons and text, the same values, on both engines.

Every file of the contract's sample and every awkward file the load and reading tests use (bad
values, bytes in the wrong encoding, an over-long line, quotes, blank lines, trailing commas,
BOM and CRLF, unknown and missing columns, every odd spelling the converter tests draw from) is
loaded both ways, with blocks small enough that each file is cut into many, and the stored
tables are compared row for row.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rxtrace.trace.ingest import columnar, load
from rxtrace.trace.ingest.load import FileReport, load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.store import models

from .builders import DISPENSING_COLUMNS, returned, sale, write_csv
from .test_convert_batch import POOLS

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "sample"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason="shared/contract/sample absent")


def _line(row: dict[str, Any], columns: tuple[str, ...] = DISPENSING_COLUMNS) -> str:
    return ",".join(str(row.get(c, "")) for c in columns)


def _code(i: int) -> str:
    return f"8339563000{i:010d}"


def _awkward_files(folder: Path) -> list[Path]:
    """Dispensing files holding everything the load and reading tests feed the loader."""
    header = ",".join(DISPENSING_COLUMNS)
    files: list[Path] = []

    def add(name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        files.append(path)

    def plain(first: int, count: int, **overrides: Any) -> list[str]:
        return [_line(sale(_code(first + i), **overrides)) for i in range(count)]

    bad = [
        _line(sale(_code(1))),
        _line(sale(_code(2), hifp_pay="abc")),
        _line(sale(_code(3), sel_retn_time="yesterday")),
        _line(sale("hello-world")),
        _line(sale(_code(5), psn_no="")),
        _line(sale(_code(6), hifp_pay="1.234")),
        _line(sale(_code(7), sel_retn_cnt="0")),
        _line(sale(_code(8), hifp_pay="-1.00")),
        _line(sale(_code(9), sel_retn_time="2025-02-30 10:00:00")),
        _line(sale(_code(10), expy_end="2027-02-29")),
        _line(sale(_code(11))),
    ]
    add("bad_rows.csv", ("\n".join([header, *bad]) + "\nS1,M1,C1,P1").encode())
    add("last_line_without_newline.csv", ("\n".join([header, *plain(20, 30)])).encode())
    add(
        "wrong_encoding.csv",
        ("\n".join([header, *plain(60, 40)]) + "\n").encode()
        + _line(sale(_code(100))).encode()
        + b"\xff\xfe\n"
        + ("\n".join(plain(101, 40)) + "\n").encode(),
    )
    add(
        "long_line.csv",
        ("\n".join([header, *plain(150, 40)]) + "\nS2,").encode()
        + b"x" * ((1 << 20) + 10)
        + ("\n" + "\n".join(plain(190, 40)) + "\n").encode(),
    )
    add(
        "gb18030_late.csv",
        ("\n".join([header, *plain(250, 60, psn_name="x")]) + "\n").encode()
        + (_line(sale(_code(310), psn_name="居民甲")) + "\n").encode("gb18030"),
    )
    add(
        "gb18030.csv",
        ("\n".join([header, *plain(320, 60, psn_name="居民乙")]) + "\n").encode("gb18030"),
    )
    trailing = [line + "," for line in plain(400, 30)]
    trailing[5] = trailing[5][:-1]  # one row without the spreadsheet's trailing comma
    trailing[9] = trailing[9] + "spill"  # one with something in the unnamed column
    trailing[12] = trailing[12] + ","  # and one with two
    add("trailing_commas.csv", ("\n".join([header + ",", *trailing]) + "\n").encode())
    upper = ",".join(c.upper() for c in DISPENSING_COLUMNS)
    crlf = [upper, *plain(450, 30), "", "   ", *plain(480, 30)]
    add("bom_crlf.csv", codecs.BOM_UTF8 + ("\r\n".join(crlf) + "\r\n").encode())
    extra_columns = (*DISPENSING_COLUMNS, "insutype", "memo")
    unknown = [
        _line(sale(_code(520 + i)) | {"insutype": "310" if i % 2 else "", "memo": ""}, extra_columns)
        for i in range(30)
    ]
    add("unknown_columns.csv", ("\n".join([",".join(extra_columns), *unknown]) + "\n").encode())
    required = (
        "setl_id",
        "fixmedins_code",
        "psn_no",
        "med_list_codg",
        "drug_trac_codg",
        "sel_retn_cnt",
        "sel_retn_time",
        "hifp_pay",
    )
    only = [_line(sale(_code(560 + i)), required) for i in range(30)]
    add("required_columns_only.csv", ("\n".join([",".join(required), *only]) + "\n").encode())
    returns = [
        _line(
            returned(
                _code(600 + i), sel_retn_cnt="1" if i % 2 else "-1", hifp_pay="49.50" if i % 3 else "-49.5"
            )
        )
        for i in range(30)
    ]
    add("returns.csv", ("\n".join([header, *returns]) + "\n").encode())
    # The same sales again in a later export, with new ones: the repeated ones are duplicates.
    add(
        "overlap.csv", ("\n".join([header, *returns[10:], *plain(640, 20), plain(640, 1)[0]]) + "\n").encode()
    )
    mixed = [
        header,
        *plain(700, 60),
        "",
        "  ",
        _line(sale(_code(761))) + ",too,many",
        "S1,M1,C1",
        *plain(765, 40),
        _line(sale(_code(805), psn_name='"张,三"')).replace('"张,三"', '"张,三"'),
        _line(sale(_code(806), rxno='"two\nlines"')),
        *plain(807, 20),
        _line(sale(_code(827), rxno='"never closed')),
        *plain(828, 20),
    ]
    add("quotes_and_blank_lines.csv", ("\n".join(mixed) + "\n").encode() + b"S9,bad \xff byte\n")
    # Values past their column's integer type: set aside with a reason on both engines, not a
    # driver error that stops the load (PostgreSQL) or an overflow in sqlite3 (past 64 bits).
    too_large = [
        _line(sale(_code(3000), sel_retn_cnt="2147483647")),  # the largest count that fits
        _line(sale(_code(3001), sel_retn_cnt="2147483648")),
        _line(sale(_code(3002), sel_retn_cnt="99999999999999999999")),
        _line(returned(_code(3003), sel_retn_cnt="-2147483648")),  # fits as written and stored
        _line(returned(_code(3004), sel_retn_cnt="-2147483649")),
        _line(sale(_code(3005), sel_retn_cnt="9" * 5000)),  # past Python's int-from-text limit
        _line(sale(_code(3006), sel_retn_cnt="3e9")),
        _line(sale(_code(3007), hifp_pay="92233720368547758.07")),  # the largest amount that fits
        _line(sale(_code(3008), hifp_pay="92233720368547758.08")),
        _line(sale(_code(3009), hifp_pay="1e30")),
        _line(sale(_code(3010), hifp_pay="1e999999")),  # past the decimal context's exponent
        _line(sale(_code(3011), finl_trns_pric="922337203685477.5808")),
        _line(sale(_code(3012), finl_trns_pric="0000000000000000000066.0")),  # leading zeros fit
    ]
    add(
        "too_large.csv", ("\n".join([header, *plain(3100, 20), *too_large, *plain(3120, 20)]) + "\n").encode()
    )
    add("blank_first_line.csv", ("\n".join(["", header, *plain(900, 10)]) + "\n").encode())
    add("header_only.csv", (header + "\n").encode())
    # Every odd spelling the converter tests draw from, each alone in a row of plain values.
    names = tuple(name for name in POOLS if name != "vendor_note")
    odd: list[str] = []
    quoted = io.StringIO()
    writer = csv.writer(quoted, lineterminator="\n")
    writer.writerow(names)
    number = 1000
    for name, pool in POOLS.items():
        if name == "vendor_note":
            continue
        for value in pool:
            number += 1
            row = sale(_code(number)) | {name: value or ""}
            if any(ch in (value or "") for ch in ',"\n\r'):
                writer.writerow([row[c] for c in names])
            else:
                odd.append(_line(row, names))
    add("odd_values.csv", ("\n".join([",".join(names), *odd, *odd[:5]]) + "\n").encode())
    add("odd_values_quoted.csv", quoted.getvalue().encode())
    return files


def _snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every loaded table's rows (surrogate ids left out, file ids as file names), sorted."""
    files = {
        id_: Path(path).name
        for id_, path in session.execute(select(models.LoadedFile.id, models.LoadedFile.path))
    }
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in models.Base.metadata.sorted_tables:
        if "file_id" not in table.c:
            continue
        columns = [c for c in table.columns if c.name != "id"]
        at = [c.name for c in columns].index("file_id")
        rows = [
            tuple(files.get(v, v) if k == at else v for k, v in enumerate(row))
            for row in session.execute(select(*columns))
        ]
        out[table.name] = sorted(rows, key=repr)
    return out


def _wipe(session: Session) -> None:
    for table in reversed(models.Base.metadata.sorted_tables):
        if "file_id" in table.c:
            session.execute(delete(table))
    session.execute(delete(models.LoadedFile))
    session.commit()


def _report(files: list[FileReport]) -> list[tuple[Any, ...]]:
    return [
        (Path(f.path).name, f.status, f.table, f.encoding, f.taken, f.duplicate, f.rejected, f.error)
        for f in files
    ]


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls = [0]
    original: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@needs_sample
@pytest.mark.parametrize("workers", [False, True])
def test_columnar_and_row_by_row_loads_store_the_same(
    any_session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    files = sorted(SAMPLE.iterdir()) + _awkward_files(folder)
    # Blocks of a few dozen rows: every file is cut into several, and the hand-over to the
    # row reader falls in the middle of a file.
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 4096)
    blocks = _counting(monkeypatch, load, "convert_block")
    by_row = _counting(monkeypatch, columnar, "convert_row")

    by_columns = load_paths(files, session=any_session, protector=protector, columnar=True, workers=workers)
    stored_by_columns = _snapshot(any_session)
    _wipe(any_session)
    if not workers:  # forked converting processes count in their own memory
        assert blocks[0] > 30 and by_row[0] > 50  # both ways within the columnar path were taken
    blocks[0] = 0
    row_by_row = load_paths(files, session=any_session, protector=protector, columnar=False, workers=False)
    assert blocks[0] == 0
    stored_row_by_row = _snapshot(any_session)

    assert _report(by_columns.files) == _report(row_by_row.files)
    assert stored_by_columns.keys() == stored_row_by_row.keys()
    for table, rows in stored_row_by_row.items():
        assert stored_by_columns[table] == rows, table
    taken = {f.path: f.taken for f in row_by_row.files}
    assert sum(taken.values()) > 2500 and len(stored_row_by_row["rejected_row"]) > 30


def test_the_setting_forces_the_row_path(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "d.csv", [sale(_code(1)), sale(_code(2))], DISPENSING_COLUMNS)
    blocks = _counting(monkeypatch, load, "convert_block")
    monkeypatch.setenv("RXTRACE_LOAD_ROW_BY_ROW", "1")
    load_paths([path], session=session, protector=protector, workers=False)
    assert blocks[0] == 0
    monkeypatch.delenv("RXTRACE_LOAD_ROW_BY_ROW")
    load_paths(
        [write_csv(tmp_path / "e.csv", [sale(_code(3))])], session=session, protector=protector, workers=False
    )
    assert blocks[0] == 1


@pytest.mark.parametrize("workers", [False, True])
def test_a_columnar_load_whose_lines_do_not_add_up_says_so(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    # The columnar twin of test_load's: a block parser that loses a record must not end in "loaded".
    original = load.parse_block

    def losing(block: columnar.PlainBlock, shape: Any) -> columnar.ParsedBlock:
        parsed = original(block, shape)
        parsed.table, parsed.line_nos = parsed.table.slice(1), parsed.line_nos[1:]
        return parsed

    monkeypatch.setattr(load, "parse_block", losing)
    path = write_csv(tmp_path / "e.csv", [sale(_code(i)) for i in range(30)], DISPENSING_COLUMNS)
    report = load_paths([path], session=session, protector=protector, batch_rows=7, workers=workers)
    lost = report.files[0]
    assert (lost.status, lost.taken) == ("incomplete", 25)
    assert lost.error == (
        "read 31 lines but accounted for 26: 25 records (taken, duplicate or set aside), "
        "1 header, 0 blank, 0 inside quoted fields; 5 lines are missing"
    )


def test_a_value_too_large_for_binary_copy_is_left_to_the_ordinary_writer() -> None:
    import pyarrow as pa

    assert columnar.pg_binary_copy([pa.array([1, 2**31], pa.int64())], ["int4"]) is None
    assert columnar.pg_binary_copy([pa.array([1, 2**31 - 1], pa.int64())], ["int4"]) is not None


@needs_sample
def test_rows_the_binary_encoder_declines_are_stored_as_by_it(
    pg_engine: Any, protector: Protector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A block pg_binary_copy declines (a value too large for its column) is written by text
    # COPY: the same stored rows either way.
    from sqlalchemy.orm import sessionmaker

    files = sorted(SAMPLE.glob("dispensing*"))
    with sessionmaker(pg_engine)() as session:
        load_paths(files, session=session, protector=protector, columnar=True, workers=False)
        encoded = _snapshot(session)
        _wipe(session)
        monkeypatch.setattr(columnar, "pg_binary_copy", lambda *_: None)
        load_paths(files, session=session, protector=protector, columnar=True, workers=False)
        assert _snapshot(session) == encoded
        assert len(encoded["dispensing"]) > 1000


def test_a_value_the_binary_encoder_declines_is_refused_by_the_server_not_wrapped(
    pg_engine: Any, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The last guard behind the contract's range checks: psycopg's binary COPY with
    # set_types("int4") stored 3000000000 as -1294967296 without a word; text COPY is refused.
    import psycopg
    import pyarrow as pa
    from sqlalchemy import func
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import sessionmaker

    original = load.convert_block

    def too_large(spec: Any, parsed: Any, protector: Protector) -> tuple[columnar.ConvertedBlock, list[int]]:
        block, line_nos = original(spec, parsed, protector)
        block.arrays["sel_retn_cnt"] = pa.array([3_000_000_000] * len(block.taken), pa.int64())
        return block, line_nos

    monkeypatch.setattr(load, "convert_block", too_large)
    path = write_csv(tmp_path / "d.csv", [sale(_code(i)) for i in range(3)], DISPENSING_COLUMNS)
    with sessionmaker(pg_engine)() as session:
        with pytest.raises((DBAPIError, psycopg.Error), match="out of range"):
            load_paths([path], session=session, protector=protector, workers=False)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(models.Dispensing)) == 0
