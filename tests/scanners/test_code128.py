"""The model-fitting reader of 20-digit national Code 128 codes (scanners.code128)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from rxtrace.scanners import scan_array
from rxtrace.scanners.code128 import _PATTERNS, bar_profile, place, read_national
from rxtrace.scanners.codes import product_id
from rxtrace.scanners.decode import decode_frame
from rxtrace.scanners.harsh import harsh_photo

NATIONAL = "83395630003642750912"


def modules(code: str) -> str:
    """The symbol's modules (1 = bar): start C, the digit pairs, the check, the stop."""
    values = [int(code[i : i + 2]) for i in range(0, 20, 2)]
    check = (105 + sum(k * v for k, v in enumerate(values, 1))) % 103
    return "".join(_PATTERNS[v] for v in [105, *values, check]) + "1100011101011"


def profile(
    code: str, module_px: float, sigma_px: float, noise: float, seed: int = 0
) -> npt.NDArray[np.float64]:
    """A light-high profile of the symbol at ``module_px`` with quiet zones, blurred, noisy."""
    bits = np.array([int(b) for b in "0" * 15 + modules(code) + "0" * 15], np.float32)
    fine = np.repeat(bits, 20)  # 20 samples a module, then area-resampled to module_px
    width = round(len(bits) * module_px)
    line = cv2.resize(fine.reshape(1, -1), (width, 1), interpolation=cv2.INTER_AREA).ravel()
    light = np.asarray(200.0 - 120.0 * line, dtype=np.float64)
    if sigma_px > 0:
        light = np.asarray(cv2.GaussianBlur(light.reshape(1, -1), (0, 0), sigma_px), np.float64).ravel()
    return light + np.random.default_rng(seed).normal(0.0, noise, light.shape)


def test_reads_a_small_blurred_symbol_either_way_round() -> None:
    # 1.6 px a module under σ 1.2 px of defocus: widths a binariser cannot measure.
    p = profile(NATIONAL, 1.6, 1.2, 3.0)
    assert read_national(p) == NATIONAL
    assert read_national(p[::-1].copy()) == NATIONAL


def test_a_placement_found_once_reads_another_band() -> None:
    where = place(profile(NATIONAL, 2.5, 0.8, 2.0, seed=1))
    assert where
    assert read_national(profile(NATIONAL, 2.5, 0.8, 2.0, seed=2), where) == NATIONAL


def test_a_wrong_check_symbol_is_no_read() -> None:
    # The same bars with one digit pair changed and the old check symbol kept.
    bits = modules(NATIONAL)
    wrong = bits[:11] + _PATTERNS[int(NATIONAL[:2]) + 1] + bits[22:]
    line = np.array([int(b) for b in "0" * 15 + wrong + "0" * 15], np.float32)
    light = 200.0 - 120.0 * np.repeat(line, 3)
    assert read_national(light) is None


@pytest.mark.parametrize("seed", range(5))
def test_noise_and_text_like_profiles_read_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    noise = rng.normal(150.0, 40.0, 900)
    # Random bars of random widths: a Code 128 look-alike with no structure.
    widths = rng.integers(2, 12, 120)
    bars = np.repeat(np.arange(len(widths)) % 2, widths).astype(np.float64)
    for p in (noise, 200.0 - 120.0 * bars):
        assert read_national(p) is None


def test_bar_profile_leaves_out_rows_that_do_not_cross_the_bars() -> None:
    p = profile(NATIONAL, 3.0, 0.6, 1.0)
    crop = np.tile(p, (16, 1))
    crop[:3] = 230.0  # the caption's white band above the symbol
    crop[3, ::7] = 20.0  # a row of text strokes
    got = bar_profile(np.clip(crop, 0, 255).astype(np.uint8))
    assert np.corrcoef(got, p)[0, 1] > 0.99


def test_harsh_photo_code_only_the_model_reads_is_a_box_with_a_catalog() -> None:
    # Harsh photo 7: a Code 128 whose widths neither zxing-cpp nor zbar recover; the model
    # reads it (on a row band), and with its product in the catalog it is a box. Without a
    # catalog a read of one decoder is not trusted: it stays rejected.
    photo = harsh_photo(7)
    pixels = photo.pixels()
    truth = {c.code for c in photo.codes}
    model_only = [s for s in decode_frame(pixels, budget_ms=80.0).sightings
                  if all(e.startswith("model/") for e in s.engines)]  # fmt: skip
    assert model_only and all(s.code in truth for s in model_only)
    code = model_only[0].code
    catalog = frozenset({pid for c in truth if (pid := product_id(c)) is not None})
    assert code in {b.code for b in scan_array(pixels, catalog_products=catalog).boxes}
    assert code not in {b.code for b in scan_array(pixels).boxes}
