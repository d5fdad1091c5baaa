"""Code-family helpers: GS1 spellings, product identifiers, national form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxtrace.scanners.codes import (
    GS,
    classify,
    element_string_to_hri,
    gtin_check_ok,
    hri_to_element_string,
    is_national_code,
    product_id,
)


def test_hri_to_element_string_puts_gs_after_variable_fields_only() -> None:
    code = hri_to_element_string("(01)06901234567892(21)ABC(17)270101(10)L1")
    assert code == "]d2010690123456789221ABC" + GS + "1727010110L1"


def test_element_string_round_trip_and_product_id() -> None:
    hri = "(01)06901234567892(17)270101(21)S1(10)L1"
    code = hri_to_element_string(hri, "]Q3")
    assert element_string_to_hri(code) == hri
    assert product_id(code) == "06901234567892"
    assert classify(code) == "gs1"


@given(
    serial=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=20),
    lot=st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=20),
)
def test_round_trip_any_serial_and_lot(serial: str, lot: str) -> None:
    hri = f"(01)06901234567892(21){serial}(17)270101(10){lot}"
    assert element_string_to_hri(hri_to_element_string(hri)) == hri


def test_national_code_form() -> None:
    assert is_national_code("83395630003642750912")
    assert not is_national_code("8339563000364275091")  # 19 digits
    assert not is_national_code("73395630003642750912")  # leading 7
    assert not is_national_code("8339563000364275091A")
    assert product_id("83395630003642750912") == "8339563"


def test_gtin_check_digit() -> None:
    assert gtin_check_ok("06901234567892")
    assert not gtin_check_ok("06901234567891")
    assert classify("6901234567892") == "ean13"
    assert classify("6901234567891") == "other"
    assert product_id("6901234567892") == "06901234567892"


def test_not_an_element_string_is_refused() -> None:
    with pytest.raises(ValueError, match="not a GS1"):
        element_string_to_hri("]d2hello")
    with pytest.raises(ValueError, match="not a GS1 HRI"):
        hri_to_element_string("01)0690")
