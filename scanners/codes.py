"""What a decoded symbol's text says: code family, product identifier, GS1 element strings.

The scanner does not resolve codes (that is :mod:`rxtrace.trace`), but it must know enough of
the two code families to refuse misreads and to ask the caller's catalog about a product:

- a 20-digit national code is 20 ASCII digits starting with ``8``; digits 1-7 are the product
  identifier (the check digits 17-20 use an unpublished algorithm, so only the form is checked);
- a GS1 element string is reported with its symbology identifier (``]d2`` DataMatrix, ``]Q3``
  QR, ``]C1`` GS1-128) and the FNC1 separators kept as ``\\x1d``, so that the domain parser sees
  exactly what the symbol carried. Its product identifier is the GTIN-14 of AI (01).

The authority on well-formedness, and on GS1 spellings, is ``rxtrace.trace.codes``: this module
tells families apart by form and hands the rest to it.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from biip.checksums import gs1_standard_check_digit

from rxtrace.trace import codes
from rxtrace.trace.errors import ParseError

__all__ = [
    "GS",
    "GS1_IDENTIFIERS",
    "CodeFamily",
    "classify",
    "element_string_to_hri",
    "gtin_check_ok",
    "hri_to_element_string",
    "is_national_code",
    "product_id",
]

GS: Final = "\x1d"

# Symbology identifiers (ISO/IEC 15424) that announce a GS1 element string.
GS1_IDENTIFIERS: Final = frozenset({"]d2", "]Q3", "]C1", "]e0", "]J1"})

CodeFamily = Literal["national", "gs1", "ean13", "other"]

_NATIONAL = re.compile(r"8\d{19}")


def is_national_code(text: str) -> bool:
    """True if ``text`` has the form of a 20-digit national code (20 digits, leading 8)."""
    return _NATIONAL.fullmatch(text) is not None


def gtin_check_ok(gtin: str) -> bool:
    """True if ``gtin`` (8, 12, 13 or 14 digits) has a correct GS1 mod-10 check digit."""
    if not gtin.isascii() or not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return False
    return gs1_standard_check_digit(gtin[:-1]) == int(gtin[-1])


def element_string_to_hri(code: str) -> str:
    """``]d2010690...\\x1d17...`` → ``(01)0690...(17)...``, the form encoders and people use.

    Raises ValueError if ``code`` is not a parseable GS1 element string.
    """
    try:
        return codes.element_string_to_hri(code)
    except ParseError as exc:
        raise ValueError(f"not a GS1 element string: {code!r}") from exc


def hri_to_element_string(hri: str, identifier: str = "]d2") -> str:
    """``(01)0690...(21)X(17)...`` → ``]d2010690...21X\\x1d17...`` (GS after variable fields)."""
    try:
        return identifier + codes.hri_to_element_string(hri)
    except ParseError as exc:
        raise ValueError(f"not a GS1 HRI string: {hri!r}") from exc


def classify(code: str) -> CodeFamily:
    """Which family a reported code string belongs to (form only; no check digits beyond GTIN)."""
    if is_national_code(code):
        return "national"
    if code[:3] in GS1_IDENTIFIERS:
        return "gs1"
    if len(code) == 13 and gtin_check_ok(code):
        return "ean13"
    return "other"


def product_id(code: str) -> str | None:
    """The identifier a catalog lists the product under, or None if the code carries none.

    National code → its first 7 digits; GS1 element string → the GTIN-14 of AI (01);
    EAN-13 → the GTIN-14 made by a leading zero.
    """
    family = classify(code)
    if family == "national":
        return code[:7]
    if family == "ean13":
        return "0" + code
    if family == "gs1":
        try:
            return codes.BoxCode.parse(code).product_id
        except ParseError:
            return None
    return None
