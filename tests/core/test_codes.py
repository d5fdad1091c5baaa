"""Code parsing: every written form of a box reduces to one key; bad input gets one error kind."""

from __future__ import annotations

import contextlib
import doctest
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxtrace.trace import codes
from rxtrace.trace.codes import BoxCode, key_parts
from rxtrace.trace.errors import ParseError

GS = "\x1d"
# GS1 AI 21 allows these (the 82-character set), minus '(' and ')' which HRI cannot carry.
SERIAL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"%&'*+,-./:;<=>?_"


def test_doctests() -> None:
    assert doctest.testmod(codes).failed == 0


def gtin_check(body13: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


national = st.from_regex(r"8[0-9]{19}", fullmatch=True)
gtins = st.from_regex(r"[0-9]{13}", fullmatch=True).map(gtin_check)
serials = st.text(alphabet=SERIAL_CHARS, min_size=1, max_size=20)
expiry = st.sampled_from(["250101", "271231", "300630"])
batch = st.text(alphabet="ABCDEFGHJK0123456789", min_size=1, max_size=10)


@given(national)
def test_national_forms_share_a_key(code: str) -> None:
    forms = [code, f"  {code}\n", f"]C0{code}", " ".join([code[:5], code[5:10], code[10:15], code[15:]])]
    keys = {BoxCode.parse(form).key for form in forms}
    assert keys == {code}
    parsed = BoxCode.parse(code)
    assert parsed.family == "national"
    assert parsed.product_id == code[:7]
    assert key_parts(code) == (int(code[:10]), int(code[10:]))


@given(gtins, serials, expiry, batch)
def test_gs1_forms_share_a_key(gtin: str, serial: str, exp: str, lot: str) -> None:
    raw = f"01{gtin}21{serial}{GS}17{exp}10{lot}"
    forms = [
        raw,
        f"]d2{raw}",
        f"]C1{raw}",
        f"]Q3{raw}",
        f"01{gtin}17{exp}10{lot}{GS}21{serial}",
        f"(01){gtin}(21){serial}(17){exp}(10){lot}",
        raw.replace(GS, "<GS>"),
        f"https://id.gs1.org/01/{gtin}/21/{urllib.parse.quote(serial, safe='')}?17={exp}&10={lot}",
    ]
    for form in forms:
        parsed = BoxCode.parse(form)
        assert parsed.family == "gs1", form
        assert parsed.key == f"01{gtin}21{serial}", form
        assert parsed.product_id == gtin
    hi, lo = key_parts(f"01{gtin}21{serial}")
    assert hi < 0 and isinstance(lo, int)  # GS1 keys live in the negative half, apart from national


@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_parse_error(value: str) -> None:
    try:
        BoxCode.parse(value)
    except ParseError as exc:
        assert str(exc).startswith("Failed to parse ")
        assert "\n" not in str(exc)


@given(st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_arbitrary_bytes_raise_only_parse_error(value: str) -> None:
    with contextlib.suppress(ParseError):
        BoxCode.parse(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "8123456789012345678",
            "Failed to parse '8123456789012345678' as national code: expected 20 digits, got 19.",
        ),
        ("8123456789", "as national code: expected 20 digits, got 10."),
        ("8123456789012345678A", "as national code: expected only digits, got 'A'."),
        ("12345678901234567890", "as national code: expected a leading 8, got '1'."),
        ("0106901234567893211", "as GS1 element string: invalid GTIN check digit"),
        ("0106901234567892", "as GS1 element string: no serial number (21)."),
        ("(10)LOT(21)X", "as GS1 element string: no GTIN (01)."),
        ("hello", "as traceability code: neither a 20-digit national code nor a GS1 element string."),
        ("", "Failed to parse '' as traceability code: empty."),
    ],
)
def test_errors_say_what_was_wrong(value: str, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        BoxCode.parse(value)
    assert message in str(caught.value)


def test_long_garbage_is_shown_cut_and_escaped() -> None:
    with pytest.raises(ParseError) as caught:
        BoxCode.parse("x\x00" * 10_000)
    text = str(caught.value)
    assert len(text) < 200 and "\\x00" in text and "…" in text


def test_national_and_gs1_keys_never_collide() -> None:
    national_hi, _ = key_parts("80000000000000000000")
    assert national_hi > 0
    for serial in ("1", "A", "zz9"):
        assert key_parts(f"01{gtin_check('0690123456789')}21{serial}")[0] < 0
