"""Traceability codes (追溯码): parse every written form to one key per box.

Two families are supported (data contract v1, "Code families"):

* the 20-digit **national code** (码上放心, formerly 电子监管码): 20 digits starting with 8;
  digits 1-7 identify the product, 8-16 are the serial, 17-20 a check part whose algorithm is
  not public, so only the form and the product identifier can be checked offline;
* **GS1 element strings** as found in GS1 DataMatrix: (01) GTIN-14 and (21) serial, with (17)
  expiry and (10) batch, written raw with FNC1/GS separators, with parentheses, behind a
  symbology identifier (``]d2``, ``]C1``, ``]Q3``) or as a GS1 Digital Link URL.

The same box must match however it was written, so every form reduces to one ``key``: the 20
digits, or ``01`` + GTIN-14 + ``21`` + serial.

>>> BoxCode.parse("83395630003642750912").key
'83395630003642750912'
>>> BoxCode.parse("]d2010690123456789221ABC123\\x1d17250101").key
'010690123456789221ABC123'
>>> BoxCode.parse("(01)06901234567892(21)ABC123(17)250101").key
'010690123456789221ABC123'
>>> BoxCode.parse("https://id.gs1.org/01/06901234567892/21/ABC123?17=250101").product_id
'06901234567892'
>>> BoxCode.parse("8123456789")
Traceback (most recent call last):
...
rxtrace.trace.errors.ParseError: Failed to parse '8123456789' as national code: expected 20 digits, got 10.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from rxtrace.trace.errors import ParseError

__all__ = [
    "FAMILIES",
    "BoxCode",
    "Family",
    "Gs1Code",
    "NationalCode",
    "element_string_to_hri",
    "hri_to_element_string",
    "key_and_family",
    "key_parts",
    "parse_code",
    "show",
]

Family = Literal["national", "gs1"]
FAMILIES: tuple[Family, ...] = ("national", "gs1")

GS = "\x1d"
_SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
# Scanners in "escaped" text mode and people typing a code write the separator in these ways.
_GS_SPELLINGS = ("<GS>", "\u241d", "<FNC1>")
_HRI_ELEMENT = re.compile(r"\((\d{2,4})\)([^()]*)")
_SPACING = re.compile(r"[\s\-]+")
_MAX_SHOWN = 48


def show(value: str) -> str:
    """Quote a value for an error message: control characters visible, long values cut.

    >>> show("01\\x1d21")
    "'01\\\\x1d21'"
    """
    escaped = value.encode("unicode_escape", "backslashreplace").decode("ascii")
    if len(escaped) > _MAX_SHOWN:
        escaped = escaped[: _MAX_SHOWN - 1] + "…"
    return f"'{escaped}'"


def _fail(value: str, what: str, reason: str) -> ParseError:
    return ParseError(f"Failed to parse {show(value)} as {what}: {reason}.")


@dataclass(frozen=True)
class NationalCode:
    """A 20-digit national traceability code.

    >>> c = NationalCode.parse("83395630003642750912")
    >>> (c.product_id, c.serial, c.check)
    ('8339563', '000364275', '0912')
    """

    value: str

    @property
    def product_id(self) -> str:
        return self.value[:7]

    @property
    def serial(self) -> str:
        return self.value[7:16]

    @property
    def check(self) -> str:
        return self.value[16:]

    @classmethod
    def parse(cls, value: str) -> NationalCode:
        """Parse a national code; spaces and hyphens between digit groups are ignored."""
        digits = _SPACING.sub("", value.strip())
        if _SYMBOLOGY_ID.match(digits):
            digits = digits[3:]
        if len(digits) != 20:
            raise _fail(value, "national code", f"expected 20 digits, got {len(digits)}")
        if not (digits.isascii() and digits.isdigit()):
            bad = next(ch for ch in digits if not (ch.isascii() and ch.isdigit()))
            raise _fail(value, "national code", f"expected only digits, got {bad!r}")
        if digits[0] != "8":
            raise _fail(value, "national code", f"expected a leading 8, got {digits[0]!r}")
        return cls(digits)


@dataclass(frozen=True)
class Gs1Code:
    """The box-level part of a GS1 element string: GTIN-14 and serial, with expiry and batch.

    >>> Gs1Code.parse("(01)06901234567892(21)ABC123(10)L1").batch
    'L1'
    """

    gtin: str
    serial: str
    expiry: date | None = None
    batch: str | None = None
    symbology_identifier: str | None = None

    @classmethod
    def parse(cls, value: str) -> Gs1Code:
        """Parse any written form of a GS1 element string (raw, HRI, ``]d2``, Digital Link)."""
        text = value.strip()
        for spelling in _GS_SPELLINGS:
            text = text.replace(spelling, GS)
        symbology: str | None = None
        if _SYMBOLOGY_ID.match(text):
            symbology, text = text[:3], text[3:]
        # biip loads its GS1 tables at import (80 ms): only when a GS1 code is met.
        import biip
        from biip.gs1_digital_link_uris import GS1DigitalLinkURI
        from biip.gs1_messages import GS1Message

        try:
            if text.lower().startswith(("http://", "https://")):
                elements = GS1DigitalLinkURI.parse(text).element_strings
            elif text.startswith("("):
                elements = GS1Message.parse(hri_to_element_string(text)).element_strings
            else:
                elements = GS1Message.parse(text.lstrip(GS)).element_strings
        except biip.ParseError as exc:
            raise _fail(value, "GS1 element string", _biip_reason(exc)) from None
        fields = {element.ai.ai: element for element in elements}
        gtin = fields.get("01")
        if gtin is None:
            raise _fail(value, "GS1 element string", "no GTIN (01)")
        if gtin.gtin_error:
            raise _fail(value, "GS1 element string", _biip_reason(gtin.gtin_error))
        serial = fields.get("21")
        if serial is None or not serial.value:
            raise _fail(value, "GS1 element string", "no serial number (21)")
        expiry = fields.get("17")
        batch = fields.get("10")
        return cls(
            gtin=gtin.value,
            serial=serial.value,
            expiry=expiry.date if expiry is not None else None,
            batch=batch.value if batch is not None else None,
            symbology_identifier=symbology,
        )


# Data length of the application identifiers whose data has a fixed length, by the AI's first
# two digits (GS1 General Specifications, fig. 7.8.4-2): only these may be followed by another
# AI without a GS separator.
_FIXED_AI_LENGTH = frozenset(
    {"00", "01", "02", "03", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20"}
    | {"31", "32", "33", "34", "35", "36", "41"}
)


def hri_to_element_string(hri: str) -> str:
    r"""The raw element string of a human-readable GS1 string, GS only after variable fields.

    biip's own HRI parser refuses some legal serial characters ('/', for one), so the
    parentheses are turned into a raw element string here; the scanner's label renderer
    encodes symbols from the same conversion.

    >>> hri_to_element_string("(01)06901234567892(21)A/1(17)271231")
    '010690123456789221A/1\x1d17271231'
    """
    parts: list[tuple[str, str]] = []
    position = 0
    for match in _HRI_ELEMENT.finditer(hri):
        if match.start() != position:
            break
        parts.append((match.group(1), match.group(2)))
        position = match.end()
    if position != len(hri) or not parts:
        raise _fail(hri, "GS1 element string", f"unexpected text at position {position}")
    out: list[str] = []
    for i, (ai, value) in enumerate(parts):
        out.append(ai + value)
        if i < len(parts) - 1 and ai[:2] not in _FIXED_AI_LENGTH:
            out.append(GS)
    return "".join(out)


def element_string_to_hri(text: str) -> str:
    r"""A raw GS1 element string (symbology identifier allowed) in its human-readable form.

    >>> element_string_to_hri("]d2010690123456789221A/1\x1d17271231")
    '(01)06901234567892(21)A/1(17)271231'
    """
    import biip
    from biip.gs1_messages import GS1Message

    body = text[3:] if _SYMBOLOGY_ID.match(text) else text
    try:
        elements = GS1Message.parse(body).element_strings
    except biip.ParseError as exc:
        raise _fail(text, "GS1 element string", _biip_reason(exc)) from None
    return "".join(f"({element.ai.ai}){element.value}" for element in elements)


def _biip_reason(error: object) -> str:
    text = str(error).rstrip(".")
    return text[:1].lower() + text[1:] if text else "unreadable"


@dataclass(frozen=True)
class BoxCode:
    """A parsed traceability code: what was read, its family and the box key it stands for."""

    raw: str
    family: Family
    key: str
    product_id: str
    national: NationalCode | None = None
    gs1: Gs1Code | None = None

    @property
    def key_hi(self) -> int:
        return key_parts(self.key)[0]

    @property
    def key_lo(self) -> int:
        return key_parts(self.key)[1]

    @classmethod
    def parse(cls, value: str) -> BoxCode:
        """Tell the family from the text and parse it; raise :class:`ParseError` otherwise."""
        if not isinstance(value, str):
            raise ParseError(f"Failed to parse {value!r} as traceability code: not text.")
        text = value.strip()
        if _is_plain_national(text):
            # The common case on a load of millions: a clean national code, nothing to undo.
            national = NationalCode(text)
            return cls(value, "national", text, text[:7], national=national)
        for spelling in _GS_SPELLINGS:
            text = text.replace(spelling, GS)
        body = text[3:] if _SYMBOLOGY_ID.match(text) else text
        compact = _SPACING.sub("", body)
        twenty_digits = len(compact) == 20 and compact.isdigit() and not compact.startswith("01")
        if (compact.startswith("8") or twenty_digits) and not body.startswith("("):
            national = NationalCode.parse(value)
            return cls(value, "national", national.value, national.product_id, national=national)
        if (
            compact.startswith("01")
            or body.startswith(("(", GS))
            or GS in body
            or (body.lower().startswith(("http://", "https://")))
        ):
            gs1 = Gs1Code.parse(value)
            key = f"01{gs1.gtin}21{gs1.serial}"
            return cls(value, "gs1", key, gs1.gtin, gs1=gs1)
        if not text:
            raise ParseError("Failed to parse '' as traceability code: empty.")
        raise _fail(
            value,
            "traceability code",
            "neither a 20-digit national code nor a GS1 element string",
        )


def parse_code(value: str) -> BoxCode:
    """Shorthand for :meth:`BoxCode.parse`."""
    return BoxCode.parse(value)


_SIGN_BIT = 1 << 63


def _is_plain_national(text: str) -> bool:
    return len(text) == 20 and text[0] == "8" and text.isdigit() and text.isascii()


def key_and_family(value: str) -> tuple[str, str]:
    """The box key and family of a code as written, as :meth:`BoxCode.parse` gives them, without
    building the parsed code when it is a plain national code (a batch resolves 100,000).

    >>> key_and_family(" 83395630003642750912")
    ('83395630003642750912', 'national')
    """
    text = value.strip()
    if _is_plain_national(text):
        return text, "national"
    code = BoxCode.parse(value)
    return code.key, code.family


def key_parts(key: str) -> tuple[int, int]:
    """The stored form of a box key: two signed 64-bit integers.

    A 20-digit code does not fit in 64 bits, but its two 10-digit halves do, and two BIGINT
    columns index smaller and look up faster than TEXT (see bench/RESULTS.md). A GS1 key is
    alphanumeric, so it is stored as a 128-bit BLAKE2 digest with the high half forced
    negative: a national code's high half is always positive, so the two never meet.

    >>> key_parts("83395630003642750912")
    (8339563000, 3642750912)
    >>> key_parts("010690123456789221ABC123")[0] < 0
    True
    """
    if len(key) == 20 and key.isdigit() and key[0] == "8":
        return int(key[:10]), int(key[10:])
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
    hi = int.from_bytes(digest[:8], "big", signed=True)
    lo = int.from_bytes(digest[8:], "big", signed=True)
    return (hi if hi < 0 else -hi - 1), lo
