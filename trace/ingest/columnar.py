"""The columnar path: a dispensing CSV read in Arrow record batches and checked a column at a time.

The common file (a dispensing export in CSV, UTF-8 or GB18030, no quotes) is cut into blocks of
whole lines, each parsed by pyarrow's CSV reader and checked by ``pyarrow.compute`` over whole
columns; the keyed hashes are taken once per distinct value. Every check accepts only a value's
plain spelling, whose stored value is certain; a row with any other value is converted again by
the row path's :func:`convert_row`, which takes it or words why it is set aside. So this path
decides speed, never outcome: the same rows taken, the same set aside, for the same reasons.

A block the row reader would read otherwise (a quote, a NUL, a carriage return not ending a line,
an over-long line, bytes not in the file's encoding) hands the rest of the file to the row
reader from that block's first line. The blocks before it hold no quote, so each of their lines
is one record and that line starts a record: nothing is read twice, nothing skipped.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from rxtrace.trace.errors import ParseError
from rxtrace.trace.ingest import reading
from rxtrace.trace.ingest.contract import (
    _DIGEST_AFTER_KEY,
    _DIGEST_BEFORE_KEY,
    TableSpec,
    convert_row,
)
from rxtrace.trace.ingest.reading import FileShape, LineTally, Record, RecordBatch, RecordReader
from rxtrace.trace.protect import Protector, mask_certno, mask_name

__all__ = [
    "BLOCK_BYTES",
    "BlockReader",
    "ConvertedBlock",
    "ParsedBlock",
    "PlainBlock",
    "convert_block",
    "parse_block",
    "pg_binary_copy",
]

BLOCK_BYTES = 2 << 20
"""About 10,000 contract rows: enough that the sixty-odd compute calls of a block cost little a
row, few enough that a line running on past its block is let go within a few MiB (a line of tens
of MiB is set aside without being held) and that two converting processes and the writer hold a
few blocks at once whatever the file's size."""


@dataclass(frozen=True)
class PlainBlock:
    """Whole lines of a file, in its own encoding, each one a record: no quote, no NUL, every
    carriage return ending a line, no line over the limit, every byte in the file's encoding."""

    data: bytes
    text: bytes
    """The block as UTF-8 (the same bytes for a UTF-8 file), as pyarrow reads it."""
    first_line: int
    bytes_read: int


class BlockReader:
    """A CSV file's data lines as plain blocks, then, from the first block that is not plain (or
    from the start, when the header is not alone on the first line), the row reader's batches.

    ``tally`` is filled as the row reader fills it, but for the blank lines of plain blocks:
    :func:`parse_block` finds those, and each block's owner counts them.
    """

    def __init__(
        self, path: Path, shape: FileShape, tally: LineTally, block_bytes: int | None = None
    ) -> None:
        self.path, self.shape, self.tally = path, shape, tally
        self.block_bytes = block_bytes or BLOCK_BYTES
        self._read = 0
        self._rows: RecordReader | None = None

    @property
    def bytes_read(self) -> int:
        return self._rows.bytes_read if self._rows is not None else self._read

    def items(self, batch_rows: int) -> Iterator[PlainBlock | RecordBatch]:
        """Plain blocks of at most ``batch_rows`` lines and about ``block_bytes``, then the row
        reader's batches of ``batch_rows`` records from where a block is not plain."""
        encoding = "utf-8" if self.shape.encoding == "utf-8-sig" else self.shape.encoding
        with self.path.open("rb") as handle:
            bom = handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
            offset = len(codecs.BOM_UTF8) if bom else 0
            handle.seek(offset)
            header = handle.readline(reading.MAX_LINE_BYTES + 1)
            if not header.endswith(b"\n") or not header.strip() or _transcoded(header, encoding) is None:
                yield from self._row_reader(batch_rows, None)
                return
            self.tally.header = 1
            line, offset = 1, offset + len(header)
            self._read = offset
            buffer, end = b"", False
            while True:
                newlines = np.flatnonzero(np.frombuffer(buffer, np.uint8) == 10)
                whole = int(newlines[-1]) + 1 if len(newlines) else 0
                if len(newlines) >= batch_rows:
                    cut = int(newlines[batch_rows - 1]) + 1
                elif end:
                    cut = len(buffer)
                elif whole and (
                    len(buffer) >= self.block_bytes or len(buffer) - whole > reading.MAX_LINE_BYTES
                ):
                    cut = whole
                elif len(buffer) - whole > reading.MAX_LINE_BYTES:
                    break  # a line over the limit: the row reader sets it aside
                else:
                    chunk = handle.read(self.block_bytes)
                    buffer, end = buffer + chunk, not chunk
                    continue
                if not cut:
                    self.tally.lines = line
                    return
                block, buffer = buffer[:cut], buffer[cut:]
                text = _transcoded(block, encoding)
                if text is None:
                    break
                self._read = offset + cut
                yield PlainBlock(block, text, line + 1, offset + cut)
                line += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                offset += cut
        yield from self._row_reader(batch_rows, (offset, line))

    def _row_reader(self, batch_rows: int, start: tuple[int, int] | None) -> Iterator[RecordBatch]:
        self._rows = RecordReader(self.path, self.shape)
        self._rows.tally = self.tally
        yield from self._rows.batches(batch_rows, start=start)


def _transcoded(block: bytes, encoding: str) -> bytes | None:
    """The block as UTF-8 if it is plain (see :class:`PlainBlock`), else None."""
    if b'"' in block or b"\x00" in block or block.count(b"\r") != block.count(b"\r\n"):
        return None
    # Quote, CR and NUL bytes are never part of a UTF-8 or GB18030 multi-byte character.
    newlines = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
    ends = np.append(newlines, len(block))
    if int(np.diff(ends, prepend=-1).max()) - 1 > reading.MAX_LINE_BYTES:
        return None
    if block.isascii():
        return block
    try:
        decoded = block.decode(encoding)
    except UnicodeDecodeError:
        return None
    return block if encoding == "utf-8" else decoded.encode("utf-8")


@dataclass
class ParsedBlock:
    """A plain block's records: ``table`` holds the ones of the header's width as text, one
    row each, in file order; ``odd`` those the row reader reads another way (values given);
    ``rejects`` the records set aside as unreadable, and ``blank`` the blank lines."""

    table: pa.Table
    line_nos: list[int]
    odd: list[tuple[int, list[str]]] = field(default_factory=list)
    rejects: list[Record] = field(default_factory=list)
    blank: int = 0
    raw: Callable[[int], str] = str
    """The text of physical line ``n`` of the block, as the row reader keeps it."""


def parse_block(block: PlainBlock, shape: FileShape) -> ParsedBlock:
    """The records of a plain block, read as the row reader reads them."""
    width = len(shape.columns)
    names = [*shape.columns, *(f"\x00trailing{k}" for k in range(shape.trailing_empty))]
    invalid: list[int] = []

    def skip(row: Any) -> str:
        invalid.append(row.number)
        return "skip"

    table = pa_csv.read_csv(
        pa.py_buffer(block.text),
        read_options=pa_csv.ReadOptions(
            column_names=names, use_threads=False, block_size=max(len(block.text), 1 << 16)
        ),
        parse_options=pa_csv.ParseOptions(
            quote_char=False,
            double_quote=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
            invalid_row_handler=skip,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            check_utf8=False,  # checked (or transcoded) by Python's codec, as the row reader does
        ),
    )
    data = block.data
    starts = np.concatenate(([0], np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1))
    if starts[-1] == len(data):
        starts = starts[:-1]
    count = len(starts)
    encoding = "gb18030" if block.text is not data else "utf-8"

    def text(line_no: int) -> str:
        index = line_no - block.first_line
        end = int(starts[index + 1]) if index + 1 < count else len(data)
        return data[int(starts[index]) : end].decode(encoding)

    def raw(line_no: int) -> str:
        return reading._clip(text(line_no))

    first = block.first_line
    lines = np.arange(first, first + count)
    out = ParsedBlock(table, [], raw=raw)
    if invalid:
        lines = np.delete(lines, np.asarray(invalid) - 1)
        for number in invalid:
            _odd_record(out, first + number - 1, text(first + number - 1), width, shape.trailing_empty)
    keep: np.ndarray | None = None
    # An empty line is a row of empty fields to pyarrow, a blank line to the row reader. In a
    # plain block a carriage return only ever comes before a newline.
    first_bytes = np.frombuffer(data, np.uint8)[starts]
    empty_lines = first + np.flatnonzero((first_bytes == 10) | (first_bytes == 13))
    if len(empty_lines):
        keep = ~np.isin(lines, empty_lines)
        out.blank += int(np.count_nonzero(~keep))
    if shape.trailing_empty:
        extras = [pc.not_equal(table.column(name), "") for name in names[width:]]
        spilled = np.asarray(pc.or_(*extras) if len(extras) > 1 else extras[0])
        spilled &= True if keep is None else keep
        for index in np.flatnonzero(spilled):
            number = int(lines[index])
            out.rejects.append(
                Record(number, None, raw(number), f"expected {width} fields, got {len(names)}")
            )
        keep = ~spilled if keep is None else keep & ~spilled
        table = table.select(list(shape.columns))
    if keep is not None:
        table = table.filter(pa.array(keep))
        lines = lines[keep]
    out.table, out.line_nos = table, lines.tolist()
    return out


def _odd_record(out: ParsedBlock, number: int, text: str, width: int, trailing: int) -> None:
    """A line pyarrow would not take as a row of the file's width, judged as the row reader
    judges it (``_CsvRecords._consider``)."""
    row = text.removesuffix("\n").removesuffix("\r").split(",")
    raw = reading._clip(text)
    if len(row) == 1 and not row[0].strip():
        out.blank += 1
        return
    if len(row) == width:
        out.odd.append((number, row))
    elif len(row) == width + trailing and not any(row[width:]):
        out.odd.append((number, row[:width]))
    else:
        reason = f"expected {width} fields, got {len(row)}"
        if len(row) < width and not raw.endswith("\n"):
            reason += " (the file ends inside this row)"
        out.rejects.append(Record(number, None, raw, reason))


# ---- conversion ----------------------------------------------------------------------------


@functools.cache
def _untrimmed() -> str:
    """A pattern for a value that starts or ends with a character Python's ``str.strip`` removes
    (the row path stores it stripped): every such character, as an RE2 class. Made on first use:
    going over every code point takes 50 ms."""
    space = "".join(f"\\x{{{c:x}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace())
    return f"^[{space}]|[{space}]$"


_DAY = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = _DAY + r" ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
_DATE = _DAY + "$"
_CODE = r"^8[0-9]{19}$"
_COUNT = r"^[0-9]{1,9}$"  # within a 32-bit column; longer ones take the row path as before


@dataclass
class _Checks:
    """The plain-spelling verdicts of a batch's columns, combined at the end."""

    n: int
    verdicts: list[pa.Array] = field(default_factory=list)

    def need(self, plain: Any) -> None:
        self.verdicts.append(pc.fill_null(plain, False))

    def ok(self) -> np.ndarray:
        every = np.ones(self.n, dtype=bool)
        for verdict in self.verdicts:
            every &= np.asarray(verdict, dtype=bool)
        return every


def _null_where(values: Any, mask: Any) -> Any:
    """``values`` with nulls where ``mask`` holds, its buffers shared: pyarrow's ``if_else`` on
    text copies every value (280 ms for 80,000 times against 1 ms for this)."""
    keep = pc.invert(pc.fill_null(mask, True))
    if values.null_count:
        keep = pc.and_(keep, pc.is_valid(values))
    if values.offset or keep.offset:
        return pc.if_else(keep, values, pa.scalar(None, values.type))
    buffers = values.buffers()
    return pa.Array.from_buffers(values.type, len(values), [keep.buffers()[1], *buffers[1:]])


def _text(values: Any, checks: _Checks, *, required: bool, limit: int = 64) -> Any:
    empty = pc.equal(values, "")
    fits = pc.and_(
        pc.invert(pc.match_substring_regex(values, _untrimmed())),
        pc.less_equal(pc.utf8_length(values), limit),
    )
    checks.need(pc.and_(pc.invert(empty), fits) if required else pc.or_(empty, fits))
    return values if required else _null_where(values, empty)


def _choice(values: Any, table: dict[str, Any], out_type: pa.DataType, checks: _Checks) -> Any:
    index = pc.index_in(values, value_set=pa.array(list(table)))
    checks.need(pc.is_valid(index))
    return pa.array(list(table.values()), out_type).take(pc.fill_null(index, 0))


def _units(values: Any, places: int, checks: _Checks, *, optional: bool) -> Any:
    """Amounts written ``-?digits(.digits)?`` with at most ``places`` decimals, in units of
    ``10**-places``, as :func:`parse_amount` reads them (null where absent)."""
    pattern = rf"^(?P<sign>-?)(?P<whole>[0-9]{{1,{17 - places}}})(?:\.(?P<frac>[0-9]{{0,{places}}}))?$"
    parts = pc.extract_regex(values, pattern)
    plain = pc.is_valid(parts)
    checks.need(pc.or_(plain, pc.equal(values, "")) if optional else plain)
    # Where the pattern does not match, its groups are empty: nulls, not numbers to cast.
    unmatched = pc.invert(plain)
    whole = pc.cast(_null_where(pc.struct_field(parts, "whole"), unmatched), pa.int64())
    frac = pc.utf8_rpad(pc.struct_field(parts, "frac"), places, "0")
    units = pc.add(pc.multiply(whole, 10**places), pc.cast(_null_where(frac, unmatched), pa.int64()))
    negative = pc.equal(pc.struct_field(parts, "sign"), "-")
    return pc.if_else(negative, pc.negate(units), units)


def _stamp(values: Any, pattern: str, fmt: str, checks: _Checks, *, optional: bool) -> Any:
    """Times (dates) in one spelling, every field in range: the pattern bounds the month, hour,
    minute and second, and the day is compared after parsing, since pyarrow's parser carries
    30 February over to March."""
    plain = pc.match_substring_regex(values, pattern)
    parsed = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    day = pc.cast(_null_where(pc.utf8_slice_codeunits(values, 8, 10), pc.invert(plain)), pa.int64())
    same = pc.fill_null(pc.and_(plain, pc.equal(pc.day(parsed), day)), False)
    checks.need(pc.or_(same, pc.equal(values, "")) if optional else same)
    return pc.if_else(same, parsed, pa.scalar(None, parsed.type))


def _protected(values: Any, protector: Protector, mask: Callable[[str], str]) -> tuple[Any, Any]:
    """(keyed hash, masked) of each value, each distinct value hashed once (a card's number
    recurs on every one of its sales), as the row path takes them; null where absent."""
    encoded = pc.dictionary_encode(values)
    distinct = _pylist(encoded.dictionary)
    digest = protector.digest
    digests = [digest(v) if v and not v.isspace() else None for v in distinct]
    masked = [mask(v.strip())[:32] if v and not v.isspace() else None for v in distinct]
    indices = encoded.indices
    return pa.array(digests, pa.string()).take(indices), pa.array(masked, pa.string()).take(indices)


_SALE_TYPES = {"": "sale", "sale": "sale", "return": "return", "3505": "sale", "3506": "return"}
_FLAGS = {"": 0, "0": 0, "1": 1, "true": 1, "false": 0}
_SETL_TYPES = {"": 1, "1": 1, "2": 2}


def _convert_plain(
    table: pa.Table, spec: TableSpec, protector: Protector
) -> tuple[dict[str, Any], np.ndarray]:
    """The stored values of every row as if its spelling were plain, and which rows' are."""
    n = table.num_rows
    checks = _Checks(n)
    # A column the file lacks is empty text on every row, as the row path reads it.
    offsets = pa.py_buffer(np.zeros(n + 1, dtype=np.int32).tobytes())
    absent = pa.Array.from_buffers(pa.string(), n, [None, offsets, pa.py_buffer(b"")])

    def col(name: str) -> Any:
        return table.column(name).combine_chunks() if name in table.column_names else absent

    code = col("drug_trac_codg")
    is_code = pc.match_substring_regex(code, _CODE)
    checks.need(is_code)
    not_code = pc.invert(is_code)
    kind = _choice(col("sel_retn_type"), _SALE_TYPES, pa.string(), checks)
    counts_in = col("sel_retn_cnt")
    plain_count = pc.match_substring_regex(counts_in, _COUNT)
    checks.need(plain_count)
    count = pc.cast(_null_where(counts_in, pc.invert(plain_count)), pa.int64())
    pay = _units(col("hifp_pay"), 2, checks, optional=False)
    sale = pc.equal(kind, "sale")
    # A sale of nothing, or one paying the fund back, is set aside by the row path with its reason.
    checks.need(pc.or_(pc.invert(sale), pc.and_(pc.greater(count, 0), pc.greater_equal(pay, 0))))
    # Exports disagree on the sign of a return; the contract's meaning is money back.
    count = pc.if_else(sale, count, pc.negate(pc.abs(count)))
    pay = pc.if_else(sale, pay, pc.negate(pc.abs(pay)))
    certno_hmac, certno_masked = _protected(col("certno"), protector, mask_certno)
    name_hmac, name_masked = _protected(col("psn_name"), protector, mask_name)
    time_text = col("sel_retn_time")
    date_text = col("expy_end")
    out: dict[str, Any] = {
        "setl_id": _text(col("setl_id"), checks, required=True),
        "mdtrt_sn": _text(col("mdtrt_sn"), checks, required=False),
        "fixmedins_code": _text(col("fixmedins_code"), checks, required=True),
        "psn_no": _text(col("psn_no"), checks, required=True),
        "certno_hmac": certno_hmac,
        "certno_masked": certno_masked,
        "psn_name_hmac": name_hmac,
        "psn_name_masked": name_masked,
        "dr_code": _text(col("dr_code"), checks, required=False),
        "rxno": _text(col("rxno"), checks, required=False),
        "med_list_codg": _text(col("med_list_codg"), checks, required=True),
        "drug_trac_codg": code,
        "code_family": pa.array(["national"]).take(pa.array(np.zeros(n, dtype=np.int32))),
        "key_hi": pc.cast(_null_where(pc.utf8_slice_codeunits(code, 0, 10), not_code), pa.int64()),
        "key_lo": pc.cast(_null_where(pc.utf8_slice_codeunits(code, 10, 20), not_code), pa.int64()),
        "trdn_flag": _choice(col("trdn_flag"), _FLAGS, pa.int64(), checks),
        "sel_retn_cnt": count,
        "sel_retn_time": pc.cast(
            _stamp(time_text, _TIME, "%Y-%m-%d %H:%M:%S", checks, optional=False), pa.timestamp("us")
        ),
        "sel_retn_type": kind,
        "mdtrt_setl_type": _choice(col("mdtrt_setl_type"), _SETL_TYPES, pa.int64(), checks),
        "finl_trns_pric_e4": _units(col("finl_trns_pric"), 4, checks, optional=True),
        "hifp_pay_fen": pay,
        "manu_lotnum": _text(col("manu_lotnum"), checks, required=False),
        "expy_end": pc.cast(_stamp(date_text, _DATE, "%Y-%m-%d", checks, optional=True), pa.date32()),
    }
    ok = checks.ok()
    # The digest's text as the row path writes it: a plain time or date is written back as it
    # was read, and an absent value as nothing.
    texts = {name: out[name] for name in (*_DIGEST_BEFORE_KEY, *_DIGEST_AFTER_KEY)}
    texts["sel_retn_time"] = time_text
    texts["expy_end"] = date_text
    parts = [texts[name] for name in _DIGEST_BEFORE_KEY] + [code]
    parts += [texts[name] for name in _DIGEST_AFTER_KEY]
    out["\x00digest_text"] = pc.binary_join_element_wise(
        *(pc.cast(part, pa.string()) for part in parts),
        "\x1f",
        null_handling="replace",
        null_replacement="",
    )
    return out, ok


@dataclass
class ConvertedBlock:
    """A block's taken rows as Arrow columns (``arrays[name]``, ``extra`` as Python values, for
    JSON), in file order; ``taken`` the record index of each, ``failed`` the reason each other
    record is set aside."""

    arrays: dict[str, pa.Array]
    extra: list[dict[str, Any] | None]
    taken: list[int]
    failed: dict[int, str]

    def python_columns(self) -> tuple[list[str], list[list[Any]]]:
        """The same rows as Python values, column by column, as the row path makes them."""
        names = [*self.arrays, "extra"]
        return names, [*(_pylist(array) for array in self.arrays.values()), self.extra]


def convert_block(
    spec: TableSpec, parsed: ParsedBlock, protector: Protector
) -> tuple[ConvertedBlock, list[int]]:
    """Every record of a parsed block converted as :func:`convert_row` converts it, and the
    line number of each record (``taken`` and ``failed`` index into it)."""
    table = parsed.table
    n = table.num_rows
    line_nos = parsed.line_nos + [number for number, _ in parsed.odd]
    values, ok = _convert_plain(table, spec, protector)
    good = pa.array(ok)
    arrays = {name: values[name].filter(good) for name in values if name != "\x00digest_text"}
    blake2b = hashlib.blake2b
    texts = _pylist(values["\x00digest_text"].filter(good).cast(pa.binary()))
    arrays["row_digest"] = pa.array([blake2b(text, digest_size=16).digest() for text in texts], pa.binary())
    extra = _extra(table, spec, ok)
    taken = np.flatnonzero(ok).tolist()
    # Every other row through the row path: its value, or the reason it is set aside.
    slow = [(int(i), _row_values(table, int(i))) for i in np.flatnonzero(~ok)]
    slow += [
        (n + k, dict(zip(table.column_names, row, strict=True))) for k, (_, row) in enumerate(parsed.odd)
    ]
    failed: dict[int, str] = {}
    late: list[int] = []
    rows: list[dict[str, Any]] = []
    for index, row_values in slow:
        try:
            rows.append(convert_row(spec, row_values, protector))
        except ParseError as exc:
            failed[index] = str(exc)
            continue
        late.append(index)
    if late:
        arrays = {
            name: pa.concat_arrays([array, pa.array([row[name] for row in rows], array.type)])
            for name, array in arrays.items()
        }
        extra += [row["extra"] for row in rows]
        # In file order, as the row path writes them: of two rows with one digest, the first is kept.
        order = sorted(range(len(taken) + len(late)), key=[line_nos[i] for i in taken + late].__getitem__)
        taken = [(taken + late)[k] for k in order]
        indices = pa.array(order, pa.int64())
        arrays = {name: array.take(indices) for name, array in arrays.items()}
        extra = [extra[k] for k in order]
    return ConvertedBlock(arrays, extra, taken, failed), line_nos


# ---- PostgreSQL's binary COPY, from Arrow columns ------------------------------------------

_PG_EPOCH_US = 946_684_800 * 10**6  # 2000-01-01, PostgreSQL's epoch, in Unix microseconds
_PG_EPOCH_DAYS = 10_957
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_COPY_TRAILER = b"\xff\xff"
_WIDTHS = {"int8": ">i8", "int4": ">i4", "int2": ">i2", "timestamp": ">i8", "date": ">i4", "float8": ">f8"}


def pg_binary_copy(arrays: Sequence[Any], types: Sequence[str]) -> bytes | None:
    """Rows in PostgreSQL's binary ``COPY`` format, built a column at a time: each field its
    4-byte length (-1 for null) and its value in the type's binary form, ``types[j]`` naming
    the type of ``arrays[j]`` (``text``, ``bytea``, ``json``, or one of ``_WIDTHS``).

    None where a value does not fit its column's type (an integer too large): the caller then
    writes those rows by text COPY, and the server words the error as it always has (the
    contract's conversion sets such values aside first, so this is the last guard)."""
    if not arrays:
        return _COPY_HEADER + _COPY_TRAILER
    n = len(arrays[0])
    parts: list[Any] = [_fixed(np.full(n, len(arrays), dtype=">i2"), 2)]
    for array, pg_type in zip(arrays, types, strict=True):
        valid = np.asarray(array.is_valid())
        if pg_type in _WIDTHS:
            numbers = _numbers(array, pg_type)
            if numbers is None:
                return None
            width = numbers.dtype.itemsize
            payload = _null_where(_fixed(numbers, width), pa.array(~valid))
            lengths = np.where(valid, width, -1)
        else:
            payload = array.cast(pa.binary())
            lengths = np.asarray(pc.fill_null(pc.binary_length(payload), -1))
        parts.append(_fixed(lengths.astype(">i4"), 4))
        parts.append(payload)
    rows = pc.binary_join_element_wise(*parts, b"", null_handling="replace", null_replacement=b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * rows.offset)
    data = memoryview(rows.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    return b"".join((_COPY_HEADER, data, _COPY_TRAILER))


def _fixed(values: np.ndarray, width: int) -> pa.Array:
    """Each value's bytes (already big-endian) as a binary value of ``width`` bytes."""
    raw = pa.py_buffer(np.ascontiguousarray(values).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), [None, raw]).cast(pa.binary())


def _numbers(array: Any, pg_type: str) -> np.ndarray | None:
    if pg_type == "timestamp":
        micros = np.asarray(pc.fill_null(array.cast(pa.timestamp("us")).cast(pa.int64()), 0))
        return (micros - _PG_EPOCH_US).astype(">i8")
    if pg_type == "date":
        days = np.asarray(pc.fill_null(array.cast(pa.int32()), 0))
        return (days - _PG_EPOCH_DAYS).astype(">i4")
    values = np.asarray(pc.fill_null(array, 0))
    target = np.dtype(_WIDTHS[pg_type])
    if target.kind == "i" and len(values):
        bounds = np.iinfo(target)
        if values.min() < bounds.min or values.max() > bounds.max:
            return None
    return values.astype(target)


def _pylist(values: Any) -> list[Any]:
    """The column's values as Python objects; through NumPy where that is exact (four times
    faster than ``to_pylist``): an integer column with nulls would come back as floats."""
    if values.null_count == 0 or not pa.types.is_integer(values.type):
        return values.to_numpy(zero_copy_only=False).tolist()  # type: ignore[no-any-return]
    return values.to_pylist()  # type: ignore[no-any-return]


def _row_values(table: pa.Table, index: int) -> dict[str, str | None]:
    return {name: table.column(name)[index].as_py() for name in table.column_names}


def _extra(table: pa.Table, spec: TableSpec, ok: np.ndarray) -> list[dict[str, Any] | None]:
    unknown = sorted(set(table.column_names) - spec.columns)
    count = int(ok.sum())
    if not unknown:
        return [None] * count
    good = pa.array(ok)
    columns = [_pylist(table.column(name).filter(good)) for name in unknown]
    out: list[dict[str, Any] | None] = []
    for values in zip(*columns, strict=True):
        kept = {name: value for name, value in zip(unknown, values, strict=True) if value not in (None, "")}
        out.append(kept or None)
    return out if columns else [None] * count


def block_records(parsed: ParsedBlock) -> int:
    """The records of a parsed block: taken, set aside or unreadable."""
    return int(parsed.table.num_rows) + len(parsed.odd) + len(parsed.rejects)
