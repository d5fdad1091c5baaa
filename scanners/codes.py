"""What a decoded symbol's text says: code family, product identifier, GS1 element strings.

The scanner does not resolve codes (that is :mod:`rxtrace.trace`), but it must know enough of
the two code families to refuse misreads and to ask the caller's catalog about a product:

- a 20-digit national code is 20 ASCII digits starting with ``8``; digits 1-7 are the product
  identifier (the check digits 17-20 use an unpublished algorithm, so only the form is checked);
- a GS1 element string is reported with its symbology identifier (``]d2`` DataMatrix, ``]Q3``
  QR, ``]C1`` GS1-128) and the FNC1 separators kept as ``\\x1d``, so that the domain parser sees
  exactly what the symbol carried. Its product identifier is the GTIN-14 of AI (01).

The authority on well-formedness is ``rxtrace.trace.codes.parse_code`` (the service asks it
before accepting a national code); this module only tells families apart by form, extracts
product identifiers for the catalog check, and converts GS1 spellings for the renderer.
"""

from __future__ import annotations

import re
from typing import Final, Literal

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

# Data length of the application identifiers whose data has a fixed length, by the AI's first
# two digits (GS1 General Specifications, fig. 7.8.4-2): only these may be followed by another
# AI without a GS separator.
_FIXED_AI_LENGTH: Final[dict[str, int]] = {
    "00": 18, "01": 14, "02": 14, "03": 14,
    "11": 6, "12": 6, "13": 6, "14": 6, "15": 6, "16": 6, "17": 6, "18": 6, "19": 6,
    "20": 2, "31": 6, "32": 6, "33": 6, "34": 6, "35": 6, "36": 6, "41": 13,
}  # fmt: skip
# Length of the AI itself, by its first two digits, for the AIs a drug box carries and their
# neighbours; two digits is the common case.
_AI_LENGTH: Final[dict[str, int]] = {
    "23": 3, "24": 3, "25": 3, "31": 4, "32": 4, "33": 4, "34": 4, "35": 4, "36": 4,
    "39": 4, "40": 3, "41": 3, "42": 3, "70": 4, "71": 3, "72": 4, "80": 4, "81": 4,
    "82": 4, "90": 2, "91": 2, "92": 2, "93": 2, "94": 2, "95": 2, "96": 2, "97": 2,
    "98": 2, "99": 2,
}  # fmt: skip


def is_national_code(text: str) -> bool:
    """True if ``text`` has the form of a 20-digit national code (20 digits, leading 8)."""
    return _NATIONAL.fullmatch(text) is not None


def gtin_check_ok(gtin: str) -> bool:
    """True if ``gtin`` (8, 12, 13 or 14 digits) has a correct GS1 mod-10 check digit."""
    if not gtin.isascii() or not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in gtin]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _split_element_string(data: str) -> list[tuple[str, str]] | None:
    """Split a raw element string (no identifier) into (AI, value) pairs; None if it does not parse."""
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(data):
        if data[pos] == GS:
            pos += 1
            continue
        head = data[pos : pos + 2]
        if len(head) < 2 or not head.isdigit():
            return None
        ai_len = _AI_LENGTH.get(head, 2)
        ai = data[pos : pos + ai_len]
        if len(ai) < ai_len or not ai.isdigit():
            return None
        pos += ai_len
        fixed = _FIXED_AI_LENGTH.get(head)
        if fixed is not None:
            value = data[pos : pos + fixed]
            if len(value) < fixed:
                return None
            pos += fixed
        else:
            end = data.find(GS, pos)
            end = len(data) if end < 0 else end
            value = data[pos:end]
            pos = end
        fields.append((ai, value))
    return fields or None


def element_string_to_hri(code: str) -> str:
    """``]d2010690...\\x1d17...`` → ``(01)0690...(17)...``, the form encoders and people use.

    Raises ValueError if ``code`` is not a parseable GS1 element string.
    """
    data = code[3:] if code[:3] in GS1_IDENTIFIERS else code
    fields = _split_element_string(data)
    if fields is None:
        raise ValueError(f"not a GS1 element string: {code!r}")
    return "".join(f"({ai}){value}" for ai, value in fields)


def hri_to_element_string(hri: str, identifier: str = "]d2") -> str:
    """``(01)0690...(21)X(17)...`` → ``]d2010690...21X\\x1d17...`` (GS after variable fields)."""
    parts = re.findall(r"\((\d{2,4})\)([^()]*)", hri)
    if not parts or "".join(f"({a}){v}" for a, v in parts) != hri:
        raise ValueError(f"not a GS1 HRI string: {hri!r}")
    out: list[str] = []
    for i, (ai, value) in enumerate(parts):
        out.append(ai + value)
        last = i == len(parts) - 1
        if not last and ai[:2] not in _FIXED_AI_LENGTH:
            out.append(GS)
    return identifier + "".join(out)


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
        fields = _split_element_string(code[3:])
        if fields is None:
            return None
        for ai, value in fields:
            if ai == "01" and gtin_check_ok(value):
                return value
    return None
