"""How every command speaks: tables or one JSON document on stdout, messages on stderr."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from starlette.responses import Response

__all__ = [
    "Format",
    "JSONAnswer",
    "dumps",
    "err",
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
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat() + ("+08:00" if value.tzinfo is None else "")
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


def _default(value: Any) -> Any:
    # What orjson does not write itself, written as to_jsonable writes it.
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


class JSONAnswer(Response):
    """An API answer written by :func:`dumps`. A route returns one so that FastAPI does not walk
    the document again (its own encoder is a recursive Python pass over every value)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content, indent=False)


def print_json(document: Any) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(dumps(document) + b"\n")
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
