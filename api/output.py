"""How every command speaks: tables or one JSON document on stdout, messages on stderr."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from rxtrace.trace.gcpause import collector_paused

__all__ = [
    "Format",
    "Streamed",
    "dumps",
    "err",
    "json_chunks",
    "out",
    "print_csv",
    "print_json",
    "print_table",
    "to_jsonable",
]

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _written(value: Any) -> Any:
    """How a value JSON lacks is written: money as a decimal string (exact), times in ISO 8601
    with +08:00, paths as text; anything else is returned as it is."""
    if isinstance(value, Decimal):
        return _amount(value)
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def to_jsonable(value: Any) -> Any:
    """Plain JSON values, written as :func:`_written` says."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    return _written(value)


def _amount(value: Decimal) -> str:
    return format(value, "f")


def _time(value: datetime) -> str:
    return value.isoformat() + ("+08:00" if value.tzinfo is None else "")


# By exact type, before any other test: a big case's JSON passes three million amounts and
# times through here, and the tests below (a failed attribute lookup above all) cost more
# than the writing.
_BY_TYPE: dict[type, Any] = {Decimal: _amount, datetime: _time}


def _default(value: Any) -> Any:
    # What orjson does not write itself, written as to_jsonable writes it.
    write = _BY_TYPE.get(type(value))
    if write is not None:
        return write(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    written = _written(value)
    if written is value:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return written


# Dates pass through to _default (orjson would write naive times without the +08:00 the
# contract's times carry), and so do dataclasses (those with to_dict are written by it).
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(document: Any, *, indent: bool = True) -> bytes:
    """The JSON of a document, as :func:`to_jsonable` would make it, in one pass in C (orjson):
    a big case's document is millions of values, and the standard library's indenting encoder
    is pure Python. Numbers are the same values; a float may be spelled differently
    (``1e-5`` for ``1e-05``)."""
    return orjson.dumps(document, default=_default, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0))


class Streamed:
    """A list in a document written item by item as it is made, never held whole: a big case's
    hundred thousand boxes are written while the next ones are still being built."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = iter(items)


# Items encoded per call: large enough that orjson's call costs nothing, small enough that
# the bytes in hand stay a few megabytes.
_CHUNK = 2_000


def json_chunks(document: Any, *, indent: bool = True) -> Iterator[bytes]:
    """The bytes of :func:`dumps` of ``document`` in pieces, where a top-level value may be a
    :class:`Streamed` list; the pieces joined are exactly what :func:`dumps` writes of the
    same document with its lists whole.

    >>> doc = {"a": 1, "b": Streamed(iter([{"x": [1]}, 2])), "c": Streamed(iter([]))}
    >>> b"".join(json_chunks(doc)) == dumps({"a": 1, "b": [{"x": [1]}, 2], "c": []})
    True
    >>> doc = {"a": 1, "b": Streamed(iter([{"x": [1]}, 2])), "c": Streamed(iter([]))}
    >>> b"".join(json_chunks(doc, indent=False))
    b'{"a":1,"b":[{"x":[1]},2],"c":[]}'
    """
    if not isinstance(document, Mapping) or not any(isinstance(v, Streamed) for v in document.values()):
        yield dumps(document, indent=indent)
        return
    # orjson's two-space layout, by hand at the top: each value is encoded on its own and
    # moved one level in (a raw line break never occurs inside a JSON string: it is escaped).
    open_, sep, pad, close = (b"{\n  ", b",\n  ", b"\n  ", b"\n}") if indent else (b"{", b",", b"", b"}")
    colon = b": " if indent else b":"
    for i, (key, value) in enumerate(document.items()):
        head = (open_ if i == 0 else sep) + dumps(str(key), indent=False) + colon
        if not isinstance(value, Streamed):
            yield head + dumps(value, indent=indent).replace(b"\n", pad)
            continue
        first = True
        while chunk := list(islice(value.items, _CHUNK)):
            if indent:
                # "[\n  item,\n  item\n]": the items without the brackets' lines, one level in.
                yield head + b"[\n  " if first else b",\n  "
                yield dumps(chunk)[2:-2].replace(b"\n", b"\n  ")
            else:
                yield head + b"[" if first else b","
                yield dumps(chunk, indent=False)[1:-1]
            first = False
        yield head + b"[]" if first else (pad + b"]" if indent else b"]")
    yield close


def print_json(document: Any) -> None:
    """Write ``document`` as one JSON document on stdout; :class:`Streamed` lists are written
    as they are made."""
    sys.stdout.flush()
    write = sys.stdout.buffer.write
    # Making a big case's hundred thousand dicts wakes the cyclic collector again and again,
    # and each time it walks the whole resolution: 0.65 s against 0.26 s with it paused. The
    # dicts hold no cycles; they are freed as they are written.
    with collector_paused():
        for chunk in json_chunks(document):
            write(chunk)
    write(b"\n")
    sys.stdout.buffer.flush()


def print_table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str | None = None
) -> None:
    table = Table(title=title, caption=caption, show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(to_jsonable(v)) for v in row))
    out.print(table)


def print_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else to_jsonable(v) for v in row])
