"""The block reader: records, their first line numbers and their text, whatever the block size.

A file is read in blocks for speed; a record, a multi-byte character or an over-long line may
straddle a block's end. These tests read the same awkward file with blocks of a few bytes and
of the real size and demand the same records, line numbers, reasons and raw text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxtrace.trace.ingest import reading
from rxtrace.trace.ingest.reading import RecordReader, _BlockLines, sniff

AWKWARD = (
    (
        "\ufeffsetl_id,note,amount\r\n"
        "S1,plain,1.00\r\n"
        '"S2","two\nlines",2.00\n'
        "\n"
        "S3,中文,3.00\n"
        "S4,too,many,fields\n"
    ).encode()
    + b"S5,bad \xff byte,5.00\n"
    + (
        "S6," + "x" * 80 + ",6.00\n"  # over the (patched) line limit
        'S7,"quoted, with comma",7.00\n'
        "S8,last"  # a field short, and at the file's very end no newline either
    ).encode()
)


def _read(path: Path, size: int) -> list[Any]:
    shape = sniff(path)
    out: list[Any] = []
    for batch in RecordReader(path, shape).batches(size):
        for index, row in enumerate(batch.rows):
            out.append(("row", batch.line_nos[index], row, batch.raw(index)))
        out.extend(("reject", rec.line_no, rec.error, rec.raw) for rec in batch.rejects)
    return sorted(out, key=lambda item: item[1])


@pytest.fixture
def awkward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(reading, "MAX_LINE_BYTES", 60)
    path = tmp_path / "awkward.csv"
    path.write_bytes(AWKWARD + b"\n" + AWKWARD.split(b"\n", 1)[1].replace(b"\xef\xbb\xbf", b""))
    return path


def test_records_line_numbers_and_reasons(awkward: Path) -> None:
    got = _read(awkward, 1000)
    first = got[:9]
    assert first[0] == ("row", 2, ["S1", "plain", "1.00"], "S1,plain,1.00\r\n")
    assert first[1] == ("row", 3, ["S2", "two\nlines", "2.00"], '"S2","two\nlines",2.00\n')
    assert first[2] == ("row", 6, ["S3", "中文", "3.00"], "S3,中文,3.00\n")
    assert first[3][:3] == ("reject", 7, "expected 3 fields, got 4")
    assert first[4][:2] == ("reject", 8) and "not valid utf-8" in first[4][2]
    assert first[5][:2] == ("reject", 9) and "over the limit of 60" in first[5][2]
    assert first[6][:3] == ("row", 10, ["S7", "quoted, with comma", "7.00"])
    # The first "S8,last" is not the file's end: the second copy follows on the next line.
    assert first[7] == ("reject", 11, "expected 3 fields, got 2", "S8,last\n")
    assert [item[1] for item in got] == [2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21]
    assert got[-1] == ("reject", 21, "expected 3 fields, got 2 (the file ends inside this row)", "S8,last")


@pytest.mark.parametrize("block", [1, 2, 3, 7, 13, 64, 4096])
@pytest.mark.parametrize("batch", [1, 2, 5, 1000])
def test_block_and_batch_sizes_change_nothing(
    awkward: Path, monkeypatch: pytest.MonkeyPatch, block: int, batch: int
) -> None:
    expected = _read(awkward, 1000)
    monkeypatch.setattr(reading, "BLOCK_BYTES", block)
    assert _read(awkward, batch) == expected


def test_gb18030_after_ascii_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sample is ASCII, so the file is taken as UTF-8 until a line proves it GB18030.
    monkeypatch.setattr(reading, "SAMPLE_BYTES", 40)
    monkeypatch.setattr(reading, "BLOCK_BYTES", 16)
    path = tmp_path / "gb.csv"
    path.write_bytes(("a,b\n" + "x,1\n" * 20 + "中文,2\n上海,3\n").encode("gb18030"))
    got = _read(path, 7)
    assert [item[0] for item in got] == ["row"] * 22
    assert got[-2][2] == ["中文", "2"] and got[-1][2] == ["上海", "3"]


_FIELD = st.sampled_from(["", "a", "S1", "中文", " x ", "1.00", '"q"', '"a,b"', '"two\nlines"', '"x""y"'])
_ENDING = st.sampled_from(["\n", "\r\n"])


@st.composite
def _csv_text(draw: st.DrawFn) -> str:
    lines = ["a,b,c" + draw(_ENDING)]
    for _ in range(draw(st.integers(0, 30))):
        fields = draw(st.lists(_FIELD, min_size=0, max_size=4))
        lines.append(",".join(fields) + draw(_ENDING))
    text = "".join(lines)
    return text if draw(st.booleans()) else text.rstrip("\r\n")


@settings(max_examples=150, deadline=None)
@given(text=_csv_text(), block=st.sampled_from([8, 32, 100, 4096]), batch=st.sampled_from([1, 3, 1000]))
def test_plain_blocks_read_as_the_csv_reader_reads_them(
    tmp_path_factory: pytest.TempPathFactory, text: str, block: int, batch: int
) -> None:
    # Blocks without quotes are split at commas, the rest go through the CSV reader: the two
    # must agree on every record, line number, reason and raw text.
    path = tmp_path_factory.mktemp("plain") / "f.csv"
    path.write_bytes(text.encode())
    original = _BlockLines._decode

    def never_plain(self: _BlockLines, data: bytes) -> tuple[list[str], int]:
        return original(self, data)[0], 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reading, "BLOCK_BYTES", block)
        got = _read(path, batch)
        patch.setattr(_BlockLines, "_decode", never_plain)
        expected = _read(path, 1000)
    assert got == expected


AWKWARD_JSONL = (
    (
        '\ufeff{"setl_id": "S1", "amount": "1.00"}\n'
        "\n"
        '{"setl_id": "S2", "note": "中文", "amount": 2.5}\r\n'
        "not json\n"
        "[1, 2]\n"
    ).encode()
    + b'{"setl_id": "S3 \xff"}\n'
    + (
        '{"setl_id": "S4", "note": "' + "x" * 80 + '"}\n'  # over the (patched) line limit
        '{"setl_id": "S5", "nested": {"a": [1, 2]}, "flag": true}'  # and no newline at the end
    ).encode()
)


def _read_jsonl(path: Path, size: int) -> list[Any]:
    shape = sniff(path)
    assert shape.file_format == "jsonl"
    out: list[Any] = []
    for batch in RecordReader(path, shape).batches(size):
        for index, row in enumerate(batch.rows):
            values = dict(zip(batch.columns, row, strict=True))
            out.append(("row", batch.line_nos[index], values, batch.raw(index)))
        out.extend(("reject", rec.line_no, rec.error, rec.raw) for rec in batch.rejects)
    return sorted(out, key=lambda item: item[1])


@pytest.mark.parametrize("block", [1, 2, 3, 7, 13, 64, 4096])
@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_json_lines_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, batch: int
) -> None:
    monkeypatch.setattr(reading, "MAX_LINE_BYTES", 60)
    path = tmp_path / "awkward.jsonl"
    path.write_bytes(AWKWARD_JSONL)
    monkeypatch.setattr(reading, "BLOCK_BYTES", block)
    got = _read_jsonl(path, batch)
    assert [item[:2] for item in got] == [
        ("row", 1), ("row", 3), ("reject", 4), ("reject", 5), ("reject", 6), ("reject", 7), ("row", 8),
    ]  # fmt: skip
    assert got[0][2]["setl_id"] == "S1" and got[0][2]["amount"] == "1.00"
    assert got[1][2]["amount"] == "2.5" and got[1][2]["note"] == "中文"
    assert "not valid JSON" in got[2][2] and got[2][3] == "not json\n"
    assert got[3][2] == "not a JSON object"
    assert "not valid utf-8" in got[4][2] and got[4][3].startswith('{"setl_id": "S3 \ufffd"}')
    assert "over the limit of 60" in got[5][2]
    # Numbers stay as written, nested ones too: money must not pass through a float.
    assert got[6][2]["nested"] == '{"a": ["1", "2"]}' and got[6][2]["flag"] == "1"


def _swallowing_file(path: Path) -> dict[int, str]:
    """3,000 data lines; two quotes that open and never close, one of them at the very end
    with no quote after it, and other bad lines inside what the first would have swallowed.
    Returns the line numbers that must be set aside, with a word of their reasons."""
    lines = ["setl_id,note,amount\n"]
    bad: dict[int, bytes] = {
        1000: b'S1000,"never closed,1.00\n',
        1003: b"S1003,too,many,fields\n",
        1006: b"S1006,bad \xff byte,6.00\n",
        1009: b"S1009," + b"x" * 300 + b",9.00\n",
        2990: b'S2990,"never closed either,1.00\n',
    }
    reasons = {
        1000: "quoted field opens",
        1003: "expected 3 fields, got 4",
        1006: "not valid utf-8",
        1009: "over the limit of 200",
        2990: "quoted field opens",
    }
    data = bytearray("".join(lines).encode())
    for number in range(2, 3002):
        if number in bad:
            data += bad[number]
        elif number == 1500:
            data += b'S1500,"quoted ""twice"", and a comma",1.00\n'
        elif number == 2000:
            data += b'S2000,"a note\nover two lines",2.00\n'  # lines 2000 and 2001: one record
        elif number == 2001:
            continue
        else:
            data += f"S{number},plain,{number}.00\n".encode()
    path.write_bytes(bytes(data))
    return reasons


@pytest.mark.parametrize("block", [64, 4096, 1 << 18])
@pytest.mark.parametrize("batch", [7, 1000])
def test_an_unclosed_quote_costs_its_own_line_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, batch: int
) -> None:
    # One unterminated quote once swallowed the 7,767 good lines after it into one rejected
    # "row", and hid the other bad lines in that span.
    monkeypatch.setattr(reading, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(reading, "BLOCK_BYTES", block)
    path = tmp_path / "swallow.csv"
    reasons = _swallowing_file(path)
    shape = sniff(path)
    reader = RecordReader(path, shape)
    taken: dict[int, list[str | None]] = {}
    set_aside: dict[int, str] = {}
    for chunk in reader.batches(batch):
        taken.update(zip(chunk.line_nos, [list(row) for row in chunk.rows], strict=True))
        set_aside.update((rec.line_no, rec.error or "") for rec in chunk.rejects)
    assert sorted(set_aside) == sorted(reasons)
    for number, word in reasons.items():
        assert word in set_aside[number], (number, set_aside[number])
    assert set_aside[1000] == reading.UNCLOSED_QUOTE
    assert len(taken) == 3000 - len(reasons) - 1  # line 2001 belongs to the record of 2000
    assert taken[1001] == ["S1001", "plain", "1001.00"]
    assert taken[1500] == ["S1500", 'quoted "twice", and a comma', "1.00"]
    assert taken[2000] == ["S2000", "a note\nover two lines", "2.00"]
    assert taken[3001] == ["S3001", "plain", "3001.00"]
    # Every physical line is accounted for: a record's first line, or the header, or the
    # second line of the note.
    tally = reader.tally
    assert (tally.lines, tally.header, tally.blank, tally.continued) == (3001, 1, 0, 1)
    assert len(taken) + len(set_aside) + tally.outside_records == tally.lines


def test_the_tally_counts_blank_lines_and_the_header(awkward: Path) -> None:
    reader = RecordReader(awkward, sniff(awkward))
    records = sum(len(b.rows) + len(b.rejects) for b in reader.batches(1000))
    tally = reader.tally
    assert tally.header == 1 and tally.blank == 2 and tally.continued == 2
    assert records + tally.outside_records == tally.lines == 21
