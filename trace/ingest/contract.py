"""Data contract v1: which table a file is, and each row checked and turned into stored values.

Pure functions only: a row in, a dict of column values out, or a :class:`ParseError` whose
message says which value was wrong and why. The load service does the I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from rxtrace.trace.codes import BoxCode, key_parts, show
from rxtrace.trace.coords import to_wgs84
from rxtrace.trace.errors import ContractError, ParseError
from rxtrace.trace.protect import Protector, mask_certno, mask_name, mask_phone

__all__ = [
    "TABLES",
    "TableSpec",
    "convert_row",
    "detect_table",
    "parse_amount",
    "parse_time",
    "seized_code_values",
]

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
Values = Mapping[str, str | None]


@dataclass(frozen=True)
class TableSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    model_table: str

    @cached_property
    def columns(self) -> frozenset[str]:
        return frozenset(self.required + self.optional)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "dispensing",
            (
                "setl_id",
                "fixmedins_code",
                "psn_no",
                "med_list_codg",
                "drug_trac_codg",
                "sel_retn_cnt",
                "sel_retn_time",
                "hifp_pay",
            ),
            (
                "mdtrt_sn",
                "certno",
                "psn_name",
                "dr_code",
                "rxno",
                "trdn_flag",
                "sel_retn_type",
                "mdtrt_setl_type",
                "finl_trns_pric",
                "manu_lotnum",
                "expy_end",
            ),
            "dispensing",
        ),
        TableSpec(
            "institutions",
            ("fixmedins_code", "name"),
            ("kind", "adcode", "address", "lon", "lat", "crs"),
            "institution",
        ),
        TableSpec(
            "insured", ("psn_no",), ("birth_year", "gender", "adcode", "lon", "lat", "crs"), "insured_person"
        ),
        TableSpec(
            "catalog",
            ("product_id", "name"),
            ("med_list_codg", "spec", "manufacturer", "units_per_box", "price"),
            "catalog_product",
        ),
        TableSpec("aggregation", ("parent_code", "child_code"), ("level",), "aggregation"),
        TableSpec(
            "waybills",
            ("waybill_no", "ship_time", "receiver_adcode"),
            (
                "carrier",
                "sender_phone",
                "sender_adcode",
                "sender_lon",
                "sender_lat",
                "receiver_lon",
                "receiver_lat",
                "crs",
                "weight_kg",
                "pieces",
                "declared_content",
            ),
            "waybill",
        ),
        TableSpec(
            "seizures",
            ("seizure_id", "case_id", "seized_at"),
            ("place_kind", "address", "lon", "lat", "crs", "waybill_no"),
            "seizure",
        ),
        TableSpec("seized_codes", ("seizure_id", "code"), ("scanned_at", "box_med_list_codg"), "seized_code"),
    )
}


def detect_table(columns: tuple[str, ...], forced: str | None = None) -> TableSpec:
    """The table whose required columns a header has; the most specific one wins.

    >>> detect_table(("seizure_id", "code")).name
    'seized_codes'
    >>> detect_table(("psn_no", "birth_year")).name
    'insured'
    """
    present = set(columns)
    if forced is not None:
        spec = TABLES.get(forced)
        if spec is None:
            raise ContractError(f"Unknown table '{forced}': expected one of {', '.join(TABLES)}.")
        missing = [name for name in spec.required if name not in present]
        if missing:
            raise ContractError(f"The header lacks required column(s) of {spec.name}: {', '.join(missing)}.")
        return spec

    # The table sharing the most columns with the header is what the file means to be; when it
    # lacks a required column the file is refused rather than taken for a smaller table that
    # happens to fit (a dispensing export without drug codes is not a list of insured persons).
    def rank(spec: TableSpec) -> tuple[int, bool, int]:
        fits = set(spec.required) <= present
        return (len(present & spec.columns), fits, len(spec.required))

    closest = max(TABLES.values(), key=rank)
    missing = [name for name in closest.required if name not in present]
    if not missing:
        return closest
    raise ContractError(
        f"No contract table fits this header: closest is {closest.name}, which lacks "
        f"required column(s) {', '.join(missing)}."
    )


# ---- value parsers -------------------------------------------------------------------------


def _fail(value: str, what: str, reason: str) -> ParseError:
    return ParseError(f"Failed to parse {show(value)} as {what}: {reason}.")


def parse_amount(value: str, what: str, places: int) -> int:
    """An amount in yuan as an integer count of ``10**-places`` yuan, exactly.

    >>> parse_amount("49.5", "hifp_pay", 2)
    4950
    >>> parse_amount("20.625", "hifp_pay", 2)
    Traceback (most recent call last):
    ...
    rxtrace.trace.errors.ParseError: Failed to parse '20.625' as hifp_pay: more than 2 decimals.
    """
    text = value.strip()
    negative = text[:1] == "-"
    units = _plain_units(text[1:] if negative else text, places)
    if units is not None:  # the common spelling ("49.5", "-26.25") in integers
        return -units if negative else units
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise _fail(value, what, "expected an amount in yuan") from None
    if not amount.is_finite():
        raise _fail(value, what, "expected a finite amount")
    # Compared before scaling: an exponent like 1e999999 overflows the decimal context, and
    # an amount past the 64-bit column would stop the load at the driver instead of here.
    limit = Decimal(INT64[1]).scaleb(-places)
    if abs(amount) > limit:
        raise _fail(value, what, f"expected an amount from -{limit} to {limit}")
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise _fail(value, what, f"more than {places} decimals")
    return int(scaled)


def _plain_units(text: str, places: int) -> int | None:
    """Unsigned ASCII digits with at most ``places`` decimals as an integer; otherwise None
    (also for more than 18 digits, which may not fit a 64-bit column: the slow path says)."""
    whole, _, fraction = text.partition(".")
    if (
        len(whole) + places <= _SAFE_DIGITS
        and whole.isascii()
        and whole.isdigit()
        and len(fraction) <= places
        and (not fraction or (fraction.isascii() and fraction.isdigit()))
    ):
        return int(whole + fraction.ljust(places, "0"))
    return None


INT16 = (-(2**15), 2**15 - 1)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
"""The ranges of SmallInteger, Integer and BigInteger columns. A value outside its column's is
set aside here: PostgreSQL would refuse it with a driver error that stops the whole load, and
SQLite's driver refuses integers past 64 bits the same way, so both engines set it aside alike."""
_SAFE_DIGITS = 18  # any number of at most 18 digits fits a 64-bit column


def _integer(value: str, what: str, bounds: tuple[int, int] = INT64) -> int:
    low, high = bounds
    text = value.strip()
    if len(text) <= _SAFE_DIGITS and text.isascii() and text.isdigit():
        number: int | Decimal = int(text)
    else:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _fail(value, what, "expected a whole number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise _fail(value, what, "expected a whole number")
    # Compared as written: int() of a Decimal like 1e999999999 would build a billion digits.
    if not low <= number <= high:
        raise _fail(value, what, f"expected a whole number from {low} to {high}")
    return int(number)


def _float(value: str, what: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _fail(value, what, "expected a number") from None
    if not low <= number <= high:
        raise _fail(value, what, f"expected a number from {low:g} to {high:g}")
    return number


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y%m%d%H%M%S")


def parse_time(value: str, what: str = "time") -> datetime:
    """A time as naive Asia/Shanghai wall-clock time; offsets are honoured and converted.

    >>> parse_time("2025-03-04 09:12:45")
    datetime.datetime(2025, 3, 4, 9, 12, 45)
    >>> parse_time("2025-03-04T01:12:45Z")
    datetime.datetime(2025, 3, 4, 9, 12, 45)
    """
    text = value.strip()
    parsed: datetime | None = None
    try:
        # The common case (ISO 8601, with a space or a T) in C; the other spellings below.
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00")) if len(text) > 10 else None
    except ValueError:
        parsed = None
    for fmt in _TIME_FORMATS if parsed is None else ():
        try:
            parsed = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        raise _fail(value, what, "expected a time like 2025-03-04 09:12:45")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(SHANGHAI).replace(tzinfo=None)
    return parsed


def _date(value: str, what: str) -> date:
    text = value.strip()
    if len(text) == 10 and text[4] == "-":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return parse_time(text, what).date()
    except ParseError:
        raise _fail(value, what, "expected a date like 2027-12-31") from None


def _choice(value: str, what: str, choices: Mapping[str, Any]) -> Any:
    key = value.strip().lower()
    if key not in choices:
        allowed = ", ".join(sorted({str(k) for k in choices}))
        raise _fail(value, what, f"expected one of {allowed}")
    return choices[key]


def _adcode(value: str, what: str) -> str:
    text = value.strip()
    if not (len(text) == 6 and text.isdigit()):
        raise _fail(value, what, "expected a 6-digit administrative division code")
    return text


def _text(value: str, what: str, limit: int = 64) -> str:
    text = value.strip()
    if len(text) > limit:
        raise _fail(value, what, f"longer than {limit} characters")
    return text


# ---- rows ----------------------------------------------------------------------------------


class _Row:
    """Accessors over one record's values that raise a ParseError naming the column."""

    def __init__(self, values: Values) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if not value or value.isspace():
            return None
        return value

    def req(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise ParseError(f"Missing required value '{name}'.")
        return value

    def text(self, name: str, limit: int = 64, *, required: bool = False) -> str | None:
        value = self.req(name) if required else self.get(name)
        return None if value is None else _text(value, name, limit)

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.req(name) if required else self.get(name)
        return None if value is None else parse_time(value, name)

    def integer(self, name: str, bounds: tuple[int, int] = INT64) -> int | None:
        value = self.get(name)
        return None if value is None else _integer(value, name, bounds)

    def amount(self, name: str, places: int, *, required: bool = False) -> int | None:
        value = self.req(name) if required else self.get(name)
        return None if value is None else parse_amount(value, name, places)

    def adcode(self, name: str, *, required: bool = False) -> str | None:
        value = self.req(name) if required else self.get(name)
        return None if value is None else _adcode(value, name)

    def point(self, lon: str, lat: str, crs: str | None) -> tuple[float | None, float | None]:
        x, y = self.get(lon), self.get(lat)
        if x is None and y is None:
            return None, None
        if x is None or y is None:
            raise ParseError(f"'{lon}' and '{lat}' must be given together.")
        return to_wgs84(_float(x, lon, -180, 180), _float(y, lat, -90, 90), crs)

    def crs(self) -> str:
        value = self.get("crs")
        return "wgs84" if value is None else _choice(value, "crs", _CRS)


_CRS = {"wgs84": "wgs84", "gcj02": "gcj02", "wgs-84": "wgs84", "gcj-02": "gcj02"}
_SALE_TYPES = {"sale": "sale", "return": "return", "3505": "sale", "3506": "return"}
_FLAGS = {"0": 0, "1": 1, "true": 1, "false": 0}
_SETL_TYPES = {"1": 1, "2": 2}
_KINDS = {k: k for k in ("hospital", "clinic", "pharmacy")}
_PLACES = {k: k for k in ("stall", "recycling", "residence", "warehouse", "parcel", "other")}
_LEVELS = {k: k for k in ("case", "middle")}


# A sale's row digest: its values in this order, its code's key between the two parts. The
# row path and the column path both use these; a column added to one only would break the
# deduplication of every load after it.
_DIGEST_BEFORE_KEY = (
    "setl_id",
    "mdtrt_sn",
    "fixmedins_code",
    "psn_no",
    "certno_hmac",
    "psn_name_hmac",
    "dr_code",
    "rxno",
    "med_list_codg",
)
_DIGEST_AFTER_KEY = (
    "trdn_flag",
    "sel_retn_cnt",
    "sel_retn_time",
    "sel_retn_type",
    "mdtrt_setl_type",
    "finl_trns_pric_e4",
    "hifp_pay_fen",
    "manu_lotnum",
    "expy_end",
)


def _digest(*parts: object) -> bytes:
    text = "\x1f".join(["" if part is None else str(part) for part in parts])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _extra(values: Values, spec: TableSpec) -> dict[str, Any] | None:
    unknown = values.keys() - spec.columns
    if not unknown:
        return None
    kept = {k: values[k] for k in sorted(unknown) if values[k] not in (None, "")}
    return kept or None


def _dispensing(row: _Row, protector: Protector) -> dict[str, Any]:
    code = BoxCode.parse(row.req("drug_trac_codg"))
    hi, lo = key_parts(code.key)
    kind = _choice(row.get("sel_retn_type") or "sale", "sel_retn_type", _SALE_TYPES)
    # Within a 32-bit column as written; a return's stored -abs(count) then fits too.
    count = _integer(row.req("sel_retn_cnt"), "sel_retn_cnt", INT32)
    pay = parse_amount(row.req("hifp_pay"), "hifp_pay", 2)
    if kind == "sale" and count <= 0:
        raise _fail(row.req("sel_retn_cnt"), "sel_retn_cnt", "a sale's quantity must be positive")
    if kind == "sale" and pay < 0:
        raise _fail(row.req("hifp_pay"), "hifp_pay", "a sale cannot pay the fund back")
    if kind == "return":
        # Exports disagree on the sign of a return; the contract's meaning is money back.
        count, pay = -abs(count), -abs(pay)
    certno, name = row.get("certno"), row.get("psn_name")
    out: dict[str, Any] = {
        "setl_id": row.text("setl_id", required=True),
        "mdtrt_sn": row.text("mdtrt_sn"),
        "fixmedins_code": row.text("fixmedins_code", required=True),
        "psn_no": row.text("psn_no", required=True),
        "certno_hmac": protector.digest(certno) if certno else None,
        "certno_masked": mask_certno(certno.strip())[:32] if certno else None,
        "psn_name_hmac": protector.digest(name) if name else None,
        "psn_name_masked": mask_name(name.strip())[:32] if name else None,
        "dr_code": row.text("dr_code"),
        "rxno": row.text("rxno"),
        "med_list_codg": row.text("med_list_codg", required=True),
        "drug_trac_codg": row.req("drug_trac_codg").strip(),
        "code_family": code.family,
        "key_hi": hi,
        "key_lo": lo,
        "trdn_flag": _choice(row.get("trdn_flag") or "0", "trdn_flag", _FLAGS),
        "sel_retn_cnt": count,
        "sel_retn_time": row.time("sel_retn_time", required=True),
        "sel_retn_type": kind,
        "mdtrt_setl_type": _choice(row.get("mdtrt_setl_type") or "1", "mdtrt_setl_type", _SETL_TYPES),
        "finl_trns_pric_e4": row.amount("finl_trns_pric", 4),
        "hifp_pay_fen": pay,
        "manu_lotnum": row.text("manu_lotnum"),
        "expy_end": _date(v, "expy_end") if (v := row.get("expy_end")) else None,
    }
    out["row_digest"] = _digest(
        *(out[k] for k in _DIGEST_BEFORE_KEY), code.key, *(out[k] for k in _DIGEST_AFTER_KEY)
    )
    return out


def _institution(row: _Row, protector: Protector) -> dict[str, Any]:
    crs = row.crs()
    lon, lat = row.point("lon", "lat", crs)
    return {
        "fixmedins_code": row.text("fixmedins_code", required=True),
        "name": row.text("name", 200, required=True),
        "kind": _choice(v, "kind", _KINDS) if (v := row.get("kind")) else None,
        "adcode": row.adcode("adcode"),
        "address": row.text("address", 500),
        "lon": lon,
        "lat": lat,
        "crs_in": crs if lon is not None else None,
    }


def _insured(row: _Row, protector: Protector) -> dict[str, Any]:
    crs = row.crs()
    lon, lat = row.point("lon", "lat", crs)
    birth = row.integer("birth_year")  # the years allowed below fit its 16-bit column
    if birth is not None and not 1880 <= birth <= 2100:
        raise _fail(str(birth), "birth_year", "expected a year from 1880 to 2100")
    return {
        "psn_no": row.text("psn_no", required=True),
        "birth_year": birth,
        "gender": row.text("gender", 8),
        "adcode": row.adcode("adcode"),
        "lon": lon,
        "lat": lat,
        "crs_in": crs if lon is not None else None,
    }


def _catalog(row: _Row, protector: Protector) -> dict[str, Any]:
    product = row.req("product_id").strip()
    if product.isdigit() and len(product) == 13:
        product = "0" + product  # a GTIN-13 is the same item as its GTIN-14 with a leading 0
    if not (product.isdigit() and len(product) in (7, 14)):
        raise _fail(product, "product_id", "expected a 7-digit product identifier or a GTIN-14")
    units = row.integer("units_per_box", INT32)
    if units is not None and units <= 0:
        raise _fail(str(units), "units_per_box", "expected a positive number")
    return {
        "product_id": product,
        "med_list_codg": row.text("med_list_codg"),
        "name": row.text("name", 300, required=True),
        "spec": row.text("spec", 200),
        "manufacturer": row.text("manufacturer", 200),
        "units_per_box": units,
        "price_fen": row.amount("price", 2),
    }


def _aggregation(row: _Row, protector: Protector) -> dict[str, Any]:
    parent = BoxCode.parse(row.req("parent_code"))
    child = BoxCode.parse(row.req("child_code"))
    if parent.key == child.key:
        raise ParseError("A code cannot contain itself (parent_code equals child_code).")
    parent_hi, parent_lo = key_parts(parent.key)
    child_hi, child_lo = key_parts(child.key)
    return {
        "parent_hi": parent_hi,
        "parent_lo": parent_lo,
        "child_hi": child_hi,
        "child_lo": child_lo,
        "parent_key": parent.key,
        "child_key": child.key,
        "level": _choice(v, "level", _LEVELS) if (v := row.get("level")) else None,
    }


def _waybill(row: _Row, protector: Protector) -> dict[str, Any]:
    crs = row.crs()
    s_lon, s_lat = row.point("sender_lon", "sender_lat", crs)
    r_lon, r_lat = row.point("receiver_lon", "receiver_lat", crs)
    phone = row.get("sender_phone")
    weight = row.get("weight_kg")
    pieces = row.integer("pieces", INT32)
    return {
        "waybill_no": row.text("waybill_no", required=True),
        "ship_time": row.time("ship_time", required=True),
        "carrier": row.text("carrier", 100),
        "sender_phone_hmac": protector.digest(phone) if phone else None,
        "sender_phone_masked": mask_phone(phone.strip())[:32] if phone else None,
        "sender_adcode": row.adcode("sender_adcode"),
        "sender_lon": s_lon,
        "sender_lat": s_lat,
        "receiver_adcode": row.adcode("receiver_adcode", required=True),
        "receiver_lon": r_lon,
        "receiver_lat": r_lat,
        "crs_in": crs,
        "weight_kg": _float(weight, "weight_kg", 0, 1e6) if weight else None,
        "pieces": pieces,
        "declared_content": row.text("declared_content", 500),
    }


def _seizure(row: _Row, protector: Protector) -> dict[str, Any]:
    crs = row.crs()
    lon, lat = row.point("lon", "lat", crs)
    return {
        "seizure_id": row.text("seizure_id", required=True),
        "case_id": row.text("case_id", required=True),
        "seized_at": row.time("seized_at", required=True),
        "place_kind": _choice(v, "place_kind", _PLACES) if (v := row.get("place_kind")) else None,
        "address": row.text("address", 500),
        "lon": lon,
        "lat": lat,
        "crs_in": crs if lon is not None else None,
        "waybill_no": row.text("waybill_no"),
    }


def seized_code_values(
    seizure_id: str,
    raw_code: str,
    scanned_at: datetime | None,
    box_med_list_codg: str | None,
    method: str,
    *,
    evidence: str | None = None,
) -> dict[str, Any]:
    """A seized code's stored values; a code of no family is kept, as ``malformed``.

    ``evidence`` (a camera read's source file digest) replaces the read's time in the row's
    identity, so scanning the same photo again adds nothing while the same box seen in two
    photos keeps both as evidence.
    """
    code_text = raw_code.strip("\r\n")
    out: dict[str, Any] = {
        "seizure_id": seizure_id,
        "code": code_text,
        "scanned_at": scanned_at,
        "box_med_list_codg": box_med_list_codg,
        "method": method,
        "code_family": None,
        "code_key": None,
        "key_hi": None,
        "key_lo": None,
        "parse_error": None,
    }
    try:
        code = BoxCode.parse(code_text)
    except ParseError as exc:
        out["parse_error"] = str(exc)
    else:
        out["code_family"] = code.family
        out["code_key"] = code.key
        out["key_hi"], out["key_lo"] = key_parts(code.key)
    out["row_digest"] = _digest(
        seizure_id,
        out["code_key"] or code_text,
        evidence if evidence is not None else scanned_at,
        box_med_list_codg,
        method,
    )
    return out


def _seized_code(row: _Row, protector: Protector) -> dict[str, Any]:
    raw = row.values.get("code")
    if raw is None or not raw.strip():
        raise ParseError("Missing required value 'code'.")
    return seized_code_values(
        row.text("seizure_id", required=True) or "",
        raw,
        row.time("scanned_at"),
        row.text("box_med_list_codg"),
        "hand",
    )


_CONVERTERS: dict[str, Callable[[_Row, Protector], dict[str, Any]]] = {
    "dispensing": _dispensing,
    "institutions": _institution,
    "insured": _insured,
    "catalog": _catalog,
    "aggregation": _aggregation,
    "waybills": _waybill,
    "seizures": _seizure,
    "seized_codes": _seized_code,
}


def convert_row(spec: TableSpec, values: Values, protector: Protector) -> dict[str, Any]:
    """A record's stored values, unknown columns kept in ``extra``; ParseError if it breaks
    the contract."""
    out = _CONVERTERS[spec.name](_Row(values), protector)
    if spec.name != "aggregation":
        out["extra"] = _extra(values, spec)
    return out
