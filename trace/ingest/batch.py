"""Whole batches of the contract's rows, converted a column at a time.

A load of millions of sales spends most of its time converting values one row at a time. A
batch is converted a column at a time instead, with the checks done by C loops (str.strip,
str.isdigit, datetime.fromisoformat, dict lookups) over the whole column. A fast path accepts
only the plain spelling of a value and yields exactly what the row path yields for it; any
other value takes the row path's own parser, and a row with a value that fails is converted
again by ``convert_row``, which words the reason it is set aside. So the fast path decides
speed, never outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn

from rxtrace.trace.codes import BoxCode, key_parts
from rxtrace.trace.errors import ParseError
from rxtrace.trace.ingest.contract import (  # the row path's own parsers: one meaning per value
    _DIGEST_AFTER_KEY,
    _DIGEST_BEFORE_KEY,
    _FLAGS,
    _SALE_TYPES,
    _SETL_TYPES,
    INT32,
    TableSpec,
    _choice,
    _date,
    _integer,
    _plain_units,
    _Row,
    convert_row,
)
from rxtrace.trace.protect import Protector, mask_certno, mask_name

__all__ = ["ConvertedBatch", "convert_batch"]

Column = Sequence[str | None]
_FAST_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)
_COUNT_DIGITS = 9


@dataclass
class ConvertedBatch:
    """A batch's stored values column by column (``columns[j]`` holds ``names[j]``), the batch
    index of the row each position came from, and why the other rows were set aside."""

    names: list[str] = field(default_factory=list)
    columns: list[list[Any]] = field(default_factory=list)
    taken: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def convert_batch(
    spec: TableSpec, columns: Sequence[str], rows: Sequence[Sequence[str | None]], protector: Protector
) -> ConvertedBatch:
    """Every row of a batch converted as :func:`convert_row` would, set aside where it would.

    ``rows`` hold values in ``columns`` order; ``None`` is an absent value.
    """
    out = ConvertedBatch()
    bad: set[int] = set()
    if spec.name == "dispensing" and rows:
        by_name = dict(zip(columns, zip(*rows, strict=True), strict=True))
        values = _dispensing_batch(by_name, len(rows), protector, bad)
        values["extra"] = _extra_batch(by_name, spec, len(rows))
        keep = [i for i in range(len(rows)) if i not in bad]
        out.names = list(values)
        columns_out = list(values.values())
        out.columns = [[column[i] for i in keep] for column in columns_out] if bad else columns_out
        out.taken = keep
    else:
        bad = set(range(len(rows)))
    for index in sorted(bad):
        try:
            row = convert_row(spec, dict(zip(columns, rows[index], strict=True)), protector)
        except ParseError as exc:
            out.failed[index] = str(exc)
            continue
        if not out.names:
            out.names = list(row)
            out.columns = [[] for _ in out.names]
        for column, name in zip(out.columns, out.names, strict=True):
            column.append(row[name])
        out.taken.append(index)
    return out


def _one_by_one(values: Column, slow: Callable[[str | None], Any], bad: set[int]) -> list[Any]:
    out: list[Any] = []
    for index, value in enumerate(values):
        try:
            out.append(slow(value))
        except ParseError:
            out.append(None)
            bad.add(index)
    return out


def _each(
    values: Column, fast: Callable[[Any], Any], slow: Callable[[str | None], Any], bad: set[int]
) -> list[Any]:
    """``fast`` over the column in one C loop; where it fails, value by value with ``slow``."""
    try:
        return list(map(fast, values))
    except _FAST_ERRORS:
        pass

    def either(value: Any) -> Any:
        try:
            return fast(value)
        except _FAST_ERRORS:
            return slow(value)

    return _one_by_one(values, either, bad)


def _slow(name: str, read: Callable[[_Row], Any]) -> Callable[[str | None], Any]:
    """The row path's own reading of one value of column ``name``."""
    return lambda value: read(_Row({name: value}))


def _text_column(values: Column, name: str, bad: set[int], *, required: bool, limit: int = 64) -> list[Any]:
    try:
        stripped = list(map(str.strip, values))  # type: ignore[arg-type]
    except TypeError:
        stripped = None
    if stripped is not None and max(map(len, stripped), default=0) <= limit:
        if not required:
            return [value or None for value in stripped]
        if all(stripped):
            return stripped
    return _one_by_one(values, _slow(name, lambda row: row.text(name, limit, required=required)), bad)


def _plain_fen(value: str) -> int:
    """``"49.5"`` → 4950; anything but unsigned digits with at most two decimals is refused."""
    units = _plain_units(value, 2)
    return _refuse() if units is None else units


def _plain_e4(value: str | None) -> int | None:
    if not value:
        return None
    units = _plain_units(value, 4)
    return _refuse() if units is None else units


def _plain_date(value: str | None) -> date | None:
    if not value:
        return None
    if len(value) == 10 and value[4] == "-":
        return date.fromisoformat(value)
    return _refuse()


def _refuse() -> NoReturn:
    raise ValueError("not the plain spelling")


def _choice_column(
    values: Column, name: str, default: str, choices: Mapping[str, Any], bad: set[int]
) -> list[Any]:
    plain: dict[str | None, Any] = {None: choices[default], "": choices[default]}
    plain.update(choices)
    slow = _slow(name, lambda row: _choice(row.get(name) or default, name, choices))
    return _each(values, plain.__getitem__, slow, bad)


def _protected(
    values: Column, protector: Protector, mask: Callable[[str], str]
) -> tuple[list[str | None], list[str | None]]:
    # A card's number recurs on every one of its sales: hash each distinct value once.
    digests: dict[str | None, str | None] = {}
    masked: dict[str | None, str | None] = {}
    digest = protector.digest
    for value in dict.fromkeys(values):
        if not value or value.isspace():
            digests[value] = masked[value] = None
        else:
            digests[value] = digest(value)
            masked[value] = mask(value.strip())[:32]
    return list(map(digests.__getitem__, values)), list(map(masked.__getitem__, values))


def _codes(values: Column, bad: set[int]) -> tuple[list[Any], ...]:
    """(stored text, family, key, key_hi, key_lo) columns of the traceability codes."""
    n = len(values)
    try:
        clean = set(map(len, values)) == {20}  # type: ignore[arg-type]
        joined = "".join(values) if clean else ""  # type: ignore[arg-type]
    except TypeError:
        clean, joined = False, ""
    if clean and joined.isdigit() and joined.isascii() and joined[::20] == "8" * n:
        texts: list[str] = list(values)  # type: ignore[arg-type]
        return (
            texts,
            ["national"] * n,
            texts,
            [int(text[:10]) for text in texts],
            [int(text[10:]) for text in texts],
        )

    def slow(value: str | None) -> tuple[str, str, str, int, int]:
        written = _Row({"drug_trac_codg": value}).req("drug_trac_codg")
        code = BoxCode.parse(written)
        return (written.strip(), code.family, code.key, *key_parts(code.key))

    parsed = _one_by_one(values, slow, bad)
    filler = (None, None, None, None, None)
    return tuple(list(column) for column in zip(*(p or filler for p in parsed), strict=True))


def _dispensing_batch(
    cols: Mapping[str, Column], n: int, protector: Protector, bad: set[int]
) -> dict[str, list[Any]]:
    def col(name: str) -> Column:
        return cols.get(name) or [None] * n

    texts, families, keys, his, los = _codes(col("drug_trac_codg"), bad)
    kinds = _choice_column(col("sel_retn_type"), "sel_retn_type", "sale", _SALE_TYPES, bad)
    counts_in = col("sel_retn_cnt")
    try:
        # At most nine digits: within the 32-bit column (longer ones take the row path's check).
        plain = (
            all(map(str.isdigit, counts_in))  # type: ignore[arg-type]
            and all(map(str.isascii, counts_in))  # type: ignore[arg-type]
            and max(map(len, counts_in), default=0) <= _COUNT_DIGITS  # type: ignore[arg-type]
        )
    except TypeError:
        plain = False
    read_count = _slow("sel_retn_cnt", lambda r: _integer(r.req("sel_retn_cnt"), "sel_retn_cnt", INT32))
    counts = list(map(int, counts_in)) if plain else _one_by_one(counts_in, read_count, bad)  # type: ignore[arg-type]
    read_pay = _slow("hifp_pay", lambda r: r.amount("hifp_pay", 2, required=True))
    pays = _each(col("hifp_pay"), _plain_fen, read_pay, bad)
    for i, kind in enumerate(kinds):
        if kind == "sale":
            if (counts[i] is not None and counts[i] <= 0) or (pays[i] is not None and pays[i] < 0):
                bad.add(i)
        elif kind == "return" and counts[i] is not None and pays[i] is not None:
            # Exports disagree on the sign of a return; the contract's meaning is money back.
            counts[i], pays[i] = -abs(counts[i]), -abs(pays[i])
    certno_hmac, certno_masked = _protected(col("certno"), protector, mask_certno)
    name_hmac, name_masked = _protected(col("psn_name"), protector, mask_name)

    def text(name: str, *, required: bool) -> list[Any]:
        return _text_column(col(name), name, bad, required=required)

    out: dict[str, list[Any]] = {
        "setl_id": text("setl_id", required=True),
        "mdtrt_sn": text("mdtrt_sn", required=False),
        "fixmedins_code": text("fixmedins_code", required=True),
        "psn_no": text("psn_no", required=True),
        "certno_hmac": certno_hmac,
        "certno_masked": certno_masked,
        "psn_name_hmac": name_hmac,
        "psn_name_masked": name_masked,
        "dr_code": text("dr_code", required=False),
        "rxno": text("rxno", required=False),
        "med_list_codg": text("med_list_codg", required=True),
        "drug_trac_codg": texts,
        "code_family": families,
        "key_hi": his,
        "key_lo": los,
        "trdn_flag": _choice_column(col("trdn_flag"), "trdn_flag", "0", _FLAGS, bad),
        "sel_retn_cnt": counts,
        "sel_retn_time": _times(col("sel_retn_time"), bad),
        "sel_retn_type": kinds,
        "mdtrt_setl_type": _choice_column(col("mdtrt_setl_type"), "mdtrt_setl_type", "1", _SETL_TYPES, bad),
        "finl_trns_pric_e4": _each(
            col("finl_trns_pric"),
            _plain_e4,
            _slow("finl_trns_pric", lambda r: r.amount("finl_trns_pric", 4)),
            bad,
        ),
        "hifp_pay_fen": pays,
        "manu_lotnum": text("manu_lotnum", required=False),
        "expy_end": _each(
            col("expy_end"),
            _plain_date,
            _slow("expy_end", lambda r: _date(v, "expy_end") if (v := r.get("expy_end")) else None),
            bad,
        ),
    }
    out["row_digest"] = _digests(out, keys)
    return out


def _plain_time(value: str) -> datetime:
    stamp = datetime.fromisoformat(value) if len(value) > 10 else _refuse()
    return stamp if stamp.tzinfo is None else _refuse()


def _times(values: Column, bad: set[int]) -> list[Any]:
    try:
        if min(map(len, values)) > 10:  # type: ignore[arg-type]
            parsed = list(map(datetime.fromisoformat, values))  # type: ignore[arg-type]
            if not any(stamp.tzinfo for stamp in parsed):
                return parsed
    except _FAST_ERRORS:
        pass
    read = _slow("sel_retn_time", lambda r: r.time("sel_retn_time", required=True))
    return _each(values, _plain_time, read, bad)


def _digests(out: Mapping[str, list[Any]], keys: list[Any]) -> list[bytes]:
    """The same digest as :func:`_digest` of the row path, a column at a time."""

    def strings(values: list[Any]) -> list[str]:
        kinds = set(map(type, values))
        if kinds == {str}:
            return values
        if type(None) not in kinds:
            return list(map(str, values))
        return ["" if value is None else str(value) for value in values]

    parts = [strings(out[name]) for name in _DIGEST_BEFORE_KEY]
    parts.append(strings(keys))
    parts.extend(strings(out[name]) for name in _DIGEST_AFTER_KEY)
    blake2b = hashlib.blake2b
    return [
        blake2b(text, digest_size=16).digest()
        for text in map(str.encode, map("\x1f".join, zip(*parts, strict=True)))
    ]


def _extra_batch(cols: Mapping[str, Column], spec: TableSpec, n: int) -> list[dict[str, Any] | None]:
    unknown = sorted(cols.keys() - spec.columns)
    if not unknown:
        return [None] * n
    out: list[dict[str, Any] | None] = []
    for i in range(n):
        kept = {name: value for name in unknown if (value := cols[name][i]) not in (None, "")}
        out.append(kept or None)
    return out
