"""Read contract files as streams of records: CSV or JSON Lines, UTF-8 or GB18030.

The kind of a file is told by its content, never its name. Files are read in binary blocks and
split into lines with a cap on a line's length, so memory stays flat however big the file is and
a line of tens of megabytes is refused without ever being held whole. Each record carries the number of
the physical line it starts on, so anything set aside can be found again in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from rxtrace.trace.errors import ContractError

__all__ = [
    "MAX_LINE_BYTES",
    "UNCLOSED_QUOTE",
    "FileShape",
    "LineTally",
    "Record",
    "RecordBatch",
    "RecordReader",
    "sniff",
]

MAX_LINE_BYTES = 1 << 20  # 1 MiB: far beyond any honest row, far below what hurts memory
SAMPLE_BYTES = 1 << 20
RAW_KEEP = 1 << 16  # how much of a set-aside record's text is kept beside its reason
BLOCK_BYTES = 1 << 18  # read in blocks: decoding and splitting a block is C work, a line at a time is not

FileFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class FileShape:
    """What a file is: its format, its encoding and its column names (lower case)."""

    file_format: FileFormat
    encoding: str
    columns: tuple[str, ...]
    trailing_empty: int = 0
    """Unnamed columns at the header's end: spreadsheets write a trailing comma on every line."""


@dataclass(frozen=True)
class Record:
    """One record: its values by column, or the reason it could not be read."""

    line_no: int
    values: dict[str, str | None] | None
    raw: str
    error: str | None = None


def _decode_sample(sample: bytes, path: Path) -> str:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in sample:
        raise ContractError(
            f"Failed to read '{path}': it is UTF-16 or binary; the contract allows UTF-8 or GB18030 text."
        )
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    # Judge on whole lines only: a multi-byte character may straddle the sample's end.
    cut = sample.rfind(b"\n")
    whole = sample[: cut + 1] if cut >= 0 else sample
    errors = {name: _count_errors(whole, name) for name in ("utf-8", "gb18030")}
    if errors["utf-8"] == 0:
        return "utf-8"
    if errors["gb18030"] == 0:
        return "gb18030"
    # Both fail somewhere: the one with fewer bad bytes is the file's encoding, and the lines
    # that break it are set aside one by one instead of refusing the whole file.
    if errors["utf-8"] <= errors["gb18030"]:
        return "utf-8"
    return "gb18030"


def _count_errors(data: bytes, encoding: str) -> int:
    return data.decode(encoding, errors="replace").count("\ufffd") - data.decode(
        "utf-8", errors="ignore"
    ).count("\ufffd")


@dataclass
class _Line:
    line_no: int
    text: str
    error: str | None


class _Decoder:
    """Decodes lines in the file's encoding, one at a time when a block would not decode whole.

    A file whose sample is pure ASCII has not shown its encoding yet; a later line that is not
    UTF-8 is then read as GB18030, the contract's only other encoding.
    """

    def __init__(self, encoding: str, *, ascii_so_far: bool) -> None:
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.ascii_so_far = ascii_so_far

    def decode(self, chunk: bytes) -> tuple[str, str | None]:
        """``(text, None)``, or the text with replacement characters and why it is bad."""
        try:
            return chunk.decode(self.encoding), None
        except UnicodeDecodeError as exc:
            if self.encoding == "utf-8" and self.ascii_so_far:
                try:
                    text = chunk.decode("gb18030")
                    self.encoding = "gb18030"
                    return text, None
                except UnicodeDecodeError:
                    pass
            return (
                chunk.decode(self.encoding, errors="replace"),
                f"not valid {self.encoding} (bad byte at offset {exc.start} of the line)",
            )


def _too_long(size: int) -> str:
    return f"line is {size:,} bytes long, over the limit of {MAX_LINE_BYTES:,}"


class _BlockLines:
    """The physical lines of a binary file, read a block at a time, over-long lines refused.

    Yields each line's text with its newline; a line that cannot be read is yielded as a bare
    newline and its reason kept in ``errors`` by line number. With ``keep``, every line yielded is
    also kept in ``kept`` (``kept[0]`` is line ``kept_from``) until the consumer lets it go, so a
    record set aside later can still show its text; without, :meth:`numbered` gives each line
    with its number, text and reason.
    """

    def __init__(self, handle: BinaryIO, encoding: str, *, ascii_so_far: bool, keep: bool = True) -> None:
        self.handle = handle
        self.decoder = _Decoder(encoding, ascii_so_far=ascii_so_far)
        self.bytes_read = 0
        self.line_no = 0
        self.errors: dict[int, str] = {}
        self.keep = keep
        self.kept: list[str] = []
        self.kept_from = 1
        self.bad_texts: dict[int, str] = {}  # without ``keep``: what an unreadable line showed

    def release(self, through: int) -> list[str]:
        """Stop keeping lines up to ``through``; return them."""
        cut = through - self.kept_from + 1
        done, self.kept = self.kept[:cut], self.kept[cut:]
        self.kept_from = through + 1
        return done

    def _emit(self, lines: list[str]) -> list[str]:
        if self.keep:
            self.kept.extend(lines)
        self.line_no += len(lines)
        return lines

    def _bad(self, text: str, error: str) -> list[str]:
        self.line_no += 1
        if self.keep:
            self.kept.append(text)
        else:
            self.bad_texts[self.line_no] = text
        self.errors[self.line_no] = error
        return ["\n"]

    def numbered(self) -> Iterator[_Line]:
        """Each line with its number, its text (the newline kept) and why it is unreadable, if
        it is; an unreadable line's text is what could be decoded of it."""
        for lines, _ending in self.blocks():
            first = self.line_no - len(lines) + 1
            for number, text in enumerate(lines, first):
                error = self.errors.pop(number, None)
                if error is None:
                    yield _Line(number, text, None)
                else:
                    yield _Line(number, self.bad_texts.pop(number, ""), error)

    def _one(self, chunk: bytes) -> list[str]:
        text, error = self.decoder.decode(chunk)
        return self._bad(text, error) if error else self._emit([text])

    def _decode(self, data: bytes) -> tuple[list[str], int]:
        """Lines of ``data`` (whole lines only, or the file's last line without its newline),
        and, if they are plain, the length of their line ending (else 0). Plain: decoded whole,
        every line ending alike in ``\\n`` or ``\\r\\n``, no quote and no NUL; each line is then
        one record, and its fields, split at the commas, are what a CSV reader gives."""
        try:
            text = data.decode(self.decoder.encoding)
        except UnicodeDecodeError:
            chunks = data.split(b"\n")
            end = chunks.pop()  # empty when the data ends with its newline
            out: list[str] = []
            for chunk in chunks:
                out.extend(self._one(chunk + b"\n"))
            if end:
                out.extend(self._one(end))
            return out, 0
        lines = [line + "\n" for line in text.split("\n")]
        last = lines.pop()
        if last != "\n":
            lines.append(last[:-1])
            return self._emit(lines), 0
        ending = 0
        # Tested on the bytes: quote, CR and NUL bytes are never part of a UTF-8 or GB18030
        # multi-byte character, and bytes are searched faster than text.
        if not (b'"' in data or b"\x00" in data):
            returns = data.count(b"\r")
            if returns == 0:
                ending = 1
            elif returns == len(lines) and data.count(b"\r\n") == returns:
                ending = 2
        return self._emit(lines), ending

    def __iter__(self) -> Iterator[str]:
        for lines, _ending in self.blocks():
            yield from lines

    def blocks(self) -> Iterator[tuple[list[str], int]]:
        """The lines a block at a time, each block with its plain line ending (see ``_decode``)."""
        tail = b""
        skipping: int | None = None  # bytes so far of an over-long line being skipped
        first = self.handle.tell() == 0  # a BOM opens a file, never a place a reader resumes at
        while True:
            # A block no longer than the line limit: a line within one is under the limit, so
            # only the line running on from the previous block needs its length checked.
            block = self.handle.read(min(BLOCK_BYTES, MAX_LINE_BYTES))
            if first and len(block) < len(codecs.BOM_UTF8):  # a BOM is told whole or not at all
                block += self.handle.read(len(codecs.BOM_UTF8) - len(block))
            if not block:
                break
            self.bytes_read += len(block)
            if first and block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8) :]
            first = False
            while block:
                newline = block.find(b"\n")
                if skipping is not None:
                    if newline < 0:
                        skipping += len(block)
                        block = b""
                        continue
                    yield self._bad("", _too_long(skipping + newline + 1)), 0
                    skipping, block = None, block[newline + 1 :]
                    continue
                if newline < 0:
                    tail += block
                    block = b""
                    if len(tail) > MAX_LINE_BYTES:
                        skipping, tail = len(tail), b""
                    continue
                if len(tail) + newline > MAX_LINE_BYTES:
                    yield self._bad("", _too_long(len(tail) + newline + 1)), 0
                    tail, block = b"", block[newline + 1 :]
                    continue
                cut = block.rfind(b"\n") + 1
                yield self._decode(tail + block[:cut])
                tail, block = block[cut:], b""
                if len(tail) > MAX_LINE_BYTES:
                    skipping, tail = len(tail), b""
        if skipping is not None:
            yield self._bad("", _too_long(skipping)), 0
        elif tail:
            yield self._decode(tail)


def sniff(path: Path) -> FileShape:
    """Tell format, encoding and columns from the content; raise ContractError if none fits."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip(codecs.BOM_UTF8 + b" \t\r\n"):
        raise ContractError(f"Failed to read '{path}': the file is empty.")
    encoding = _decode_sample(sample, path)
    with path.open("rb") as handle:
        lines = _BlockLines(handle, encoding, ascii_so_far=sample.isascii(), keep=False).numbered()
        first = next((line for line in lines if line.error or line.text.strip()), None)
    if first is None:
        raise ContractError(f"Failed to read '{path}': the file is empty.")
    if first.error:
        raise ContractError(f"Failed to read '{path}': first line: {first.error}.")
    text = first.text.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(
                f"Failed to read '{path}' as JSON Lines: line {first.line_no}: {exc.msg}."
            ) from None
        if not isinstance(obj, dict):
            raise ContractError(f"Failed to read '{path}' as JSON Lines: not an object a line.")
        return FileShape("jsonl", "utf-8" if encoding == "gb18030" else encoding, _names(obj))
    header = next(csv.reader([first.text]))
    trailing = len(header) - len(_without_trailing_empty(header))
    columns = _names(header[: len(header) - trailing])
    if len(columns) < 2:
        raise ContractError(
            f"Failed to read '{path}' as CSV: the header has {len(columns)} column; "
            "expected a comma-separated header row."
        )
    return FileShape("csv", encoding, columns, trailing)


def _without_trailing_empty(names: list[str]) -> list[str]:
    out = list(names)
    while out and not out[-1].strip():
        out.pop()
    return out


def _names(raw: object) -> tuple[str, ...]:
    names = tuple(str(name).strip().lower() for name in raw)  # type: ignore[attr-defined]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ContractError(f"Column '{name}' appears twice in the header.")
        seen.add(name)
    if any(not name for name in names):
        raise ContractError("The header has a column without a name.")
    return names


@dataclass
class LineTally:
    """How the physical lines of a file were read, for the loader's account of every line:
    each line is part of a record (taken, duplicate or set aside), or counted here.

    >>> tally = LineTally(lines=7, header=1, blank=1, continued=2)
    >>> tally.outside_records
    4
    """

    lines: int = 0
    """Every physical line of the file, the last one also without its newline."""
    header: int = 0
    blank: int = 0
    continued: int = 0
    """The lines after the first of records whose quoted fields hold line breaks."""

    @property
    def outside_records(self) -> int:
        """Lines no record starts on: the header, blank lines, and line breaks inside fields."""
        return self.header + self.blank + self.continued


@dataclass
class RecordBatch:
    """Consecutive records of a file: the readable ones as values in ``columns`` order (``None``
    where a JSON object lacks a column), the unreadable ones set aside with their reasons."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[str | None]]
    line_nos: list[int]
    rejects: list[Record]
    raws: Callable[[int], str]
    """The text of readable record ``i``, for when it is set aside later."""

    def raw(self, index: int) -> str:
        return self.raws(index)


class RecordReader:
    """Every data record of a file, in order, in batches; unreadable ones come with their reason.

    ``bytes_read`` tells how far the reader has come, for progress bars.
    """

    def __init__(self, path: Path, shape: FileShape) -> None:
        self.path = path
        self.shape = shape
        self._lines: _BlockLines | None = None
        self.tally = LineTally()
        """Filled in as the file is read: the physical lines that are no record of their own."""

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read if self._lines is not None else 0

    def batches(self, size: int, *, start: tuple[int, int] | None = None) -> Iterator[RecordBatch]:
        """Batches of up to ``size`` records, readable or not.

        ``start=(offset, lines)`` reads a CSV file from byte ``offset``, the start of physical
        line ``lines + 1``, past its header: where the columnar reader hands a file over (see
        ``columnar.BlockReader``), at a line that starts a record.
        """
        with self.path.open("rb") as probe:
            ascii_so_far = probe.read(SAMPLE_BYTES).isascii()
        with self.path.open("rb") as handle:
            if self.shape.file_format == "jsonl":
                self._lines = _BlockLines(handle, self.shape.encoding, ascii_so_far=ascii_so_far, keep=False)
                yield from _jsonl_batches(self._lines.numbered(), size, self.tally)
            else:
                self._lines = _BlockLines(handle, self.shape.encoding, ascii_so_far=ascii_so_far)
                records = _CsvRecords(
                    self._lines, self.shape.columns, self.shape.trailing_empty, size, self.tally
                )
                if start is not None:
                    offset, lines = start
                    handle.seek(offset)
                    self._lines.bytes_read, self._lines.line_no = offset, lines
                    self._lines.kept_from = lines + 1
                    records.header_seen, records.last = True, lines
                yield from records.batches()
            self.tally.lines = self._lines.line_no


def _jsonl_batches(lines: Iterator[_Line], size: int, tally: LineTally) -> Iterator[RecordBatch]:
    records: list[Record] = []
    rejects: list[Record] = []

    def batch() -> RecordBatch:
        columns = tuple(dict.fromkeys(name for rec in records for name in rec.values or ()))
        raws = [rec.raw for rec in records]
        rows = [[(rec.values or {}).get(name) for name in columns] for rec in records]
        return RecordBatch(columns, rows, [rec.line_no for rec in records], list(rejects), raws.__getitem__)

    for rec in _jsonl_records(lines, tally):
        (records if rec.values is not None else rejects).append(rec)
        if len(records) + len(rejects) >= size:
            yield batch()
            records.clear()
            rejects.clear()
    if records or rejects:
        yield batch()


def _jsonl_records(lines: Iterator[_Line], tally: LineTally) -> Iterator[Record]:
    for line in lines:
        raw = line.text[:RAW_KEEP]
        if line.error:
            yield Record(line.line_no, None, raw, line.error)
            continue
        if not line.text.strip():
            tally.blank += 1
            continue
        try:
            # Numbers stay as written: money must not pass through a float.
            obj = json.loads(line.text, parse_float=str, parse_int=str)
        except json.JSONDecodeError as exc:
            yield Record(line.line_no, None, raw, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield Record(line.line_no, None, raw, "not a JSON object")
            continue
        values: dict[str, str | None] = {}
        for name, value in obj.items():
            key = str(name).strip().lower()
            if value is None:
                values[key] = None
            elif isinstance(value, bool):
                values[key] = "1" if value else "0"
            elif isinstance(value, dict | list):
                values[key] = json.dumps(value, ensure_ascii=False)
            else:
                values[key] = str(value)
        yield Record(line.line_no, values, raw)


UNCLOSED_QUOTE = (
    "a quoted field opens on this line and does not close before the line ends "
    "(the lines after it were read on their own)"
)


class _CsvRecords:
    """One pass over a CSV file's lines, as batches of records.

    A block whose lines all end plainly is split on commas (C speed; a field can hold no quote
    there only if no line of the block holds one, which the block reader tells by ``ending``).
    Other blocks go through a CSV reader, which is fed the next blocks only while a quoted
    record runs on past its block's end; a quote that never closes where an RFC 4180 writer
    would have closed it costs its own line only.
    """

    def __init__(
        self, lines: _BlockLines, columns: tuple[str, ...], trailing_empty: int, size: int, tally: LineTally
    ) -> None:
        csv.field_size_limit(MAX_LINE_BYTES)
        self.lines = lines
        self.columns = columns
        self.width = len(columns)
        self.trailing_empty = trailing_empty
        self.size = size
        self.tally = tally
        self.errors = lines.errors
        self.blocks = lines.blocks()
        self.queued: list[list[str]] = []
        self.fed = 0  # lines handed to the current CSV reader
        self.source = self._feed()
        self.reader = csv.reader(self.source, strict=False)
        self.rows: list[list[str]] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.rejects: list[Record] = []
        self.header_seen = False
        self.last = 0  # the physical line the previous record ended on
        self.counted = 0  # the physical lines the CSV reader had read at that record

    def batches(self) -> Iterator[RecordBatch]:
        for block, ending in self.blocks:
            if ending:
                yield from self._plain(block, ending)
            else:
                yield from self._quoted(block)
        if self.rows or self.rejects:
            yield self._batch()

    def _feed(self) -> Iterator[str]:
        # The block queued, then, only while a record runs on past its end, the ones after it.
        while True:
            if self.queued:
                block = self.queued.pop()
            else:
                following = next(self.blocks, None)
                if following is None:
                    return
                block = following[0]
            self.fed += len(block)
            yield from block

    def _full(self) -> bool:
        return len(self.rows) + len(self.rejects) >= self.size

    def _text(self, start: int, end: int) -> str:
        return _span(self.lines.kept, self.lines.kept_from, start, end)

    def _batch(self) -> RecordBatch:
        """The records so far as a batch; the next batch starts empty."""
        base = self.lines.kept_from
        kept = self.lines.release(self.last)
        spans = list(zip(self.starts, self.ends, strict=True))
        done = RecordBatch(
            self.columns, self.rows, self.starts, self.rejects, lambda i: _span(kept, base, *spans[i])
        )
        self.rows, self.starts, self.ends, self.rejects = [], [], [], []
        return done

    def _plain(self, block: list[str], ending: int) -> Iterator[RecordBatch]:
        """A block with no quote in it: one line, one record."""
        split = [line[:-ending].split(",") for line in block]
        if self.header_seen and set(map(len, split)) == {self.width}:
            while split:
                room = self.size - len(self.rows) - len(self.rejects)
                taken, split = split[:room], split[room:]
                numbers = range(self.last + 1, self.last + 1 + len(taken))
                self.rows.extend(taken)
                self.starts.extend(numbers)
                self.ends.extend(numbers)
                self.last += len(taken)
                if self._full():
                    yield self._batch()
            return
        for row in split:
            self.last += 1
            self._consider(row, self.last)
            if self._full():
                yield self._batch()

    def _quoted(self, block: list[str]) -> Iterator[RecordBatch]:
        """A block with quotes in it, read by the CSV reader (and the blocks after it, while a
        record runs on)."""
        self.queued.append(block)
        while self.queued or self.reader.line_num < self.fed:
            start = self.last + 1
            error: str | None = None
            try:
                row = next(self.reader)
            except StopIteration:
                break
            except csv.Error as exc:
                row, error = [], f"not valid CSV ({exc})"
            self.last, self.counted = self.last + self.reader.line_num - self.counted, self.reader.line_num
            swallowed = self.last > start and (
                error is not None
                or not _one_record(_joined(self.lines, start, self.last), self.width, self.trailing_empty)
            )
            if swallowed:
                self._unclosed_quote(start)
            elif error is not None:
                self.rejects.append(Record(start, None, self._text(start, self.last), error))
            else:
                self._consider(row, start)
            if self._full():
                yield self._batch()

    def _unclosed_quote(self, start: int) -> None:
        """A quote opened on line ``start`` never closed where an RFC 4180 writer would have
        closed it: that line alone is set aside, and the lines the quote swallowed are read
        again by a fresh reader, each judged on its own."""
        lines = self.lines
        replay = lines.kept[start + 1 - lines.kept_from : self.last + 1 - lines.kept_from]
        if self.header_seen:
            self.rejects.append(Record(start, None, self._text(start, start), UNCLOSED_QUOTE))
        else:
            self.header_seen = True  # the header, as sniffed from its own line
            self.tally.header += 1
        self.fed = len(replay) + self.fed - self.reader.line_num
        self.reader = csv.reader(itertools.chain(replay, self.source), strict=False)
        self.last, self.counted = start, 0

    def _consider(self, row: list[str], start: int) -> None:
        """Take or set aside the record on lines ``start`` to ``last``, and account for them."""
        last, tally = self.last, self.tally
        if not self.header_seen:
            self.header_seen = bool(row)
            if self.header_seen:
                tally.header += last - start + 1
            else:
                tally.blank += last - start + 1
            return
        if self.errors:  # an unreadable line reaches the CSV reader as an empty one
            error = next((self.errors[n] for n in range(start, last + 1) if n in self.errors), None)
            if error is not None:
                tally.continued += last - start
                self.rejects.append(Record(start, None, self._text(start, last), error))
                return
        if not row or (len(row) == 1 and not (row[0] or "").strip()):
            tally.blank += last - start + 1
            return
        tally.continued += last - start
        width = self.width
        if len(row) != width:
            if len(row) == width + self.trailing_empty and not any(row[width:]):
                row = row[:width]
            else:
                raw = self._text(start, last)
                reason = f"expected {width} fields, got {len(row)}"
                if len(row) < width and not raw.endswith("\n"):
                    reason += " (the file ends inside this row)"
                self.rejects.append(Record(start, None, raw, reason))
                return
        # Empty means absent; the contract's converters read "" as absent, so it stays as it is.
        self.rows.append(row)
        self.starts.append(start)
        self.ends.append(last)


def _joined(lines: _BlockLines, start: int, end: int) -> str:
    return "".join(lines.kept[start - lines.kept_from : end - lines.kept_from + 1])


def _one_record(text: str, width: int, trailing_empty: int) -> bool:
    r"""Whether ``text``, a record over several lines, is one an RFC 4180 writer makes: a
    quoted field holding line breaks, in a record of the header's width that parses strictly.
    A quote that opened a field and never closed on its line reads otherwise: the lines it
    swallowed end the record at the wrong place, or at the field size limit.

    >>> _one_record('1,"two\nlines",3\n', 3, 0)
    True
    >>> _one_record('1,"two,3\n4,5,6\n7,"8",9\n', 3, 0)
    False
    """
    try:
        records = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        return False
    if len(records) != 1:
        return False
    fields = records[0]
    return len(fields) == width or (len(fields) == width + trailing_empty and not any(fields[width:]))


def _span(kept: list[str], base: int, start: int, end: int) -> str:
    """The text of physical lines ``start`` to ``end`` from lines kept from line ``base``."""
    return _clip("".join(kept[start - base : end - base + 1]))


def _clip(text: str) -> str:
    return text if len(text) <= RAW_KEEP else text[:RAW_KEEP] + "…"
