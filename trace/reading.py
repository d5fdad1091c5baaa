"""Read contract files as streams of records: CSV or JSON Lines, UTF-8 or GB18030.

The kind of a file is told by its content, never its name. Files are read line by line in
binary with a cap on a line's length, so memory stays flat however big the file is and a line of
tens of megabytes is refused without ever being held whole. Each record carries the number of
the physical line it starts on, so anything set aside can be found again in the file.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from rxtrace.trace.errors import ContractError

__all__ = [
    "MAX_LINE_BYTES",
    "FileShape",
    "Record",
    "RecordReader",
    "sniff",
]

MAX_LINE_BYTES = 1 << 20  # 1 MiB: far beyond any honest row, far below what hurts memory
SAMPLE_BYTES = 1 << 20
RAW_KEEP = 1 << 16  # how much of a set-aside record's text is kept beside its reason

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


class _LineReader:
    """Physical lines of a binary file, decoded one by one, with over-long lines refused.

    A file whose sample is pure ASCII has not shown its encoding yet; a later line that is not
    UTF-8 is then read as GB18030, the contract's only other encoding.
    """

    def __init__(self, handle: BinaryIO, encoding: str, *, ascii_so_far: bool) -> None:
        self.handle = handle
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.ascii_so_far = ascii_so_far
        self.line_no = 0
        self.bytes_read = 0

    def __iter__(self) -> Iterator[_Line]:
        first = True
        while True:
            chunk = self.handle.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            self.line_no += 1
            self.bytes_read += len(chunk)
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            first = False
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                size = len(chunk) + self._skip_rest_of_line()
                yield _Line(
                    self.line_no,
                    "",
                    f"line is {size:,} bytes long, over the limit of {MAX_LINE_BYTES:,}",
                )
                continue
            yield self._decode(chunk)

    def _skip_rest_of_line(self) -> int:
        skipped = 0
        while True:
            chunk = self.handle.readline(MAX_LINE_BYTES)
            skipped += len(chunk)
            self.bytes_read += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped

    def _decode(self, chunk: bytes) -> _Line:
        try:
            return _Line(self.line_no, chunk.decode(self.encoding), None)
        except UnicodeDecodeError as exc:
            if self.encoding == "utf-8" and self.ascii_so_far:
                try:
                    text = chunk.decode("gb18030")
                    self.encoding = "gb18030"
                    return _Line(self.line_no, text, None)
                except UnicodeDecodeError:
                    pass
            return _Line(
                self.line_no,
                chunk.decode(self.encoding, errors="replace"),
                f"not valid {self.encoding} (bad byte at offset {exc.start} of the line)",
            )


def sniff(path: Path) -> FileShape:
    """Tell format, encoding and columns from the content; raise ContractError if none fits."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip(codecs.BOM_UTF8 + b" \t\r\n"):
        raise ContractError(f"Failed to read '{path}': the file is empty.")
    encoding = _decode_sample(sample, path)
    with path.open("rb") as handle:
        lines = iter(_LineReader(handle, encoding, ascii_so_far=sample.isascii()))
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


class RecordReader:
    """Every data record of a file, in order; unreadable ones come with their reason.

    ``bytes_read`` tells how far the reader has come, for progress bars.
    """

    def __init__(self, path: Path, shape: FileShape) -> None:
        self.path = path
        self.shape = shape
        self._lines: _LineReader | None = None

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read if self._lines is not None else 0

    def __iter__(self) -> Iterator[Record]:
        with self.path.open("rb") as probe:
            ascii_so_far = probe.read(SAMPLE_BYTES).isascii()
        with self.path.open("rb") as handle:
            self._lines = _LineReader(handle, self.shape.encoding, ascii_so_far=ascii_so_far)
            if self.shape.file_format == "jsonl":
                yield from _jsonl_records(iter(self._lines))
            else:
                yield from _csv_records(iter(self._lines), self.shape.columns, self.shape.trailing_empty)


def _jsonl_records(lines: Iterator[_Line]) -> Iterator[Record]:
    for line in lines:
        raw = line.text[:RAW_KEEP]
        if line.error:
            yield Record(line.line_no, None, raw, line.error)
            continue
        if not line.text.strip():
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


def _csv_records(
    lines: Iterator[_Line], columns: tuple[str, ...], trailing_empty: int = 0
) -> Iterator[Record]:
    csv.field_size_limit(MAX_LINE_BYTES)
    span: list[_Line] = []

    def feed() -> Iterator[str]:
        for line in lines:
            span.append(line)
            yield line.text if not line.error else "\n"

    reader = csv.reader(feed(), strict=False)
    header_seen = False
    while True:
        span_start = len(span)
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            taken = span[span_start:]
            yield _reject(taken, f"not valid CSV ({exc})")
            del span[:]
            continue
        taken = span[span_start:]
        del span[:]
        if not header_seen:
            if row:
                header_seen = True
            continue
        errors = [line.error for line in taken if line.error]
        if errors:
            yield _reject(taken, errors[0])
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if trailing_empty and len(row) == len(columns) + trailing_empty and not any(row[len(columns) :]):
            row = row[: len(columns)]
        if len(row) != len(columns):
            truncated = len(row) < len(columns) and not taken[-1].text.endswith("\n")
            reason = f"expected {len(columns)} fields, got {len(row)}"
            yield _reject(taken, reason + (" (the file ends inside this row)" if truncated else ""))
            continue
        # Empty means absent; the contract's converters read "" as absent, so it stays as it is.
        values: dict[str, str | None] = dict(zip(columns, row, strict=True))
        yield Record(taken[0].line_no, values, _raw(taken))


def _raw(lines: list[_Line]) -> str:
    text = "".join(line.text for line in lines)
    return text if len(text) <= RAW_KEEP else text[:RAW_KEEP] + "…"


def _reject(lines: list[_Line], reason: str) -> Record:
    line_no = lines[0].line_no if lines else 0
    return Record(line_no, None, _raw(lines), reason)
