"""Decoding rendered symbols with known content, clean and damaged."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp

from rxtrace.scanners import DEFAULT_BUDGET_MS
from rxtrace.scanners.codes import hri_to_element_string
from rxtrace.scanners.decode import decode_frame, to_gray
from rxtrace.scanners.render import random_codes, render_label, render_pile

NATIONAL = "83395630003642750912"
GS1_DM = hri_to_element_string("(01)06901234567892(21)ABC123XYZ(17)270131(10)L2405", "]d2")
GS1_QR = hri_to_element_string("(01)06901234567892(21)QRSERIAL9(17)280630(10)B77", "]Q3")
EAN = "6901234567892"

Gray = npt.NDArray[np.uint8]


def place(
    label: Gray,
    *,
    angle: float = 0.0,
    scale: float = 0.6,
    size: tuple[int, int] = (1280, 720),
    blur: float = 0.0,
    shear: float = 0.0,
) -> Gray:
    """``label`` scaled, rotated by ``angle`` degrees and optionally sheared, on a grey table."""
    w, h = size
    canvas = np.full((h, w), 110, np.uint8)
    lh, lw = label.shape
    m = cv2.getRotationMatrix2D((lw / 2, lh / 2), angle, scale)
    m[0, 1] += shear * scale
    m[:, 2] += np.array([w / 2 - lw / 2, h / 2 - lh / 2])
    mask = cv2.warpAffine(np.full_like(label, 255), m, (w, h))
    warped = cv2.warpAffine(label, m, (w, h), flags=cv2.INTER_AREA)
    out = np.where(mask > 127, warped, canvas).astype(np.uint8)
    if blur:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), blur), dtype=np.uint8)
    return out


def codes_in(image: Gray) -> set[str]:
    return {s.code for s in decode_frame(image).sightings}


def raw_zxing(image: Gray) -> set[str]:
    out = set()
    for b in zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain):
        gs1 = b.content_type == zxingcpp.ContentType.GS1
        out.add(b.symbology_identifier + b.text if gs1 else b.text)
    return out


@pytest.mark.parametrize(
    ("code", "symbology"),
    [(NATIONAL, "code128"), (GS1_DM, "datamatrix"), (GS1_QR, "qrcode"), (EAN, "ean13")],
)
def test_each_symbology_reads_exactly(code: str, symbology: str) -> None:
    label, _ = render_label(code, symbology)
    frame = decode_frame(place(label))
    assert [(s.code, s.symbology) for s in frame.sightings] == [(code, symbology)]
    if symbology in ("datamatrix", "qrcode"):
        # GS1: the identifier and the GS separators survive, for the domain parser.
        assert frame.sightings[0].code.startswith(("]d2", "]Q3"))
        assert "\x1d" in frame.sightings[0].code
        assert frame.sightings[0].ecc


def test_several_codes_in_one_image() -> None:
    codes = [(NATIONAL, "code128"), (GS1_DM, "datamatrix"), (EAN, "ean13"), (GS1_QR, "qrcode")]
    image, truth = render_pile(codes, seed=5, damage="none", size=(1600, 900))
    assert codes_in(image) == {c for c, _ in codes}
    assert len(truth) == 4


@pytest.mark.parametrize("angle", [33.0, 61.0, 118.0, 147.0])
def test_rotated_code128_is_read_where_raw_zxing_is_not(angle: float) -> None:
    label, _ = render_label(NATIONAL, "code128")
    image = place(label, angle=angle, scale=0.55)
    assert NATIONAL in codes_in(image)
    # The reason the region pass exists: zxing-cpp only scans rows and columns.
    assert NATIONAL not in raw_zxing(image)


def test_blurred_small_module_code128() -> None:
    label, _ = render_label(NATIONAL, "code128")
    # 4 px modules × 0.45 ≈ 1.8 px, then defocus.
    image = place(label, angle=20.0, scale=0.45, blur=0.9)
    assert NATIONAL in codes_in(image)


def test_sheared_code128_perspective() -> None:
    label, _ = render_label(NATIONAL, "code128")
    image = place(label, angle=40.0, scale=0.6, shear=0.25)
    assert NATIONAL in codes_in(image)


def test_damaged_datamatrix_small_modules_and_low_contrast() -> None:
    label, _ = render_label(GS1_DM, "datamatrix")
    image = place(label, angle=25.0, scale=0.7, blur=0.8)
    image = (image.astype(np.float32) * 0.35 + 110).astype(np.uint8)
    assert GS1_DM in codes_in(image)


# Upright and turned: this DataMatrix turned 15 degrees is read only from its region's crop,
# not by zxing-cpp on the whole frame.
@pytest.mark.parametrize(
    ("code", "symbology", "angle"),
    [(GS1_DM, "datamatrix", 0.0), (GS1_DM, "datamatrix", 15.0), (GS1_QR, "qrcode", 15.0)],
)
def test_a_light_on_dark_matrix_symbol_is_read_while_the_budget_lasts(
    code: str, symbology: str, angle: float
) -> None:
    label, _ = render_label(code, symbology)
    image = 255 - place(label, angle=angle)  # etched into dark plastic, or shown on a screen
    read = decode_frame(image, budget_ms=DEFAULT_BUDGET_MS).sightings
    assert [(s.code, s.symbology) for s in read] == [(code, symbology)]
    # The inverted step is the second tier's: without it nothing reads light on dark.
    assert not decode_frame(image, budget_ms=0).sightings


def test_harsh_piles_beat_raw_zxing_without_false_reads(rng: np.random.Generator) -> None:
    truth: set[str] = set()
    ours: set[str] = set()
    raw: set[str] = set()
    false_reads: set[str] = set()
    for seed in range(3):
        codes = random_codes(rng, 6, ("code128", "datamatrix", "code128", "ean13", "qrcode"))
        image, _ = render_pile(codes, seed=seed, damage="harsh", size=(1600, 900))
        expected = {c for c, _ in codes}
        got = codes_in(image)
        truth |= expected
        ours |= got & expected
        false_reads |= got - expected
        raw |= raw_zxing(to_gray(image)) & expected
    assert not false_reads
    assert len(ours) >= len(raw) + 3, (len(ours), len(raw), len(truth))


def test_noise_and_texture_give_no_reads(rng: np.random.Generator) -> None:
    noise = rng.integers(0, 256, (720, 1280), dtype=np.uint8)
    stripes = np.tile(((np.arange(1280) // 3) % 2 * 255).astype(np.uint8), (720, 1))
    text = np.full((720, 1280), 230, np.uint8)
    for i in range(20):
        cv2.putText(text, "8812345 0123456789 ABCDEFG", (20, 30 + 34 * i),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2)  # fmt: skip
    tiny = np.zeros((5, 7), np.uint8)
    for image in (noise, stripes, text, tiny):
        assert decode_frame(image).sightings == ()


def test_decoding_is_deterministic_and_takes_colour_or_gray() -> None:
    image, _ = render_pile([(NATIONAL, "code128"), (GS1_DM, "datamatrix")], seed=9,
                           damage="mild", size=(1280, 720))  # fmt: skip
    a = decode_frame(image)
    b = decode_frame(to_gray(image))
    assert a == b
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert decode_frame(bgra).sightings == a.sightings


def test_unread_region_reported_for_a_destroyed_symbol() -> None:
    label, _ = render_label(NATIONAL, "code128")
    image = place(label, angle=30.0, scale=0.6)
    # Scratch through the bars: a box whose label was torn.
    gray = image.copy()
    frame = decode_frame(gray)
    assert NATIONAL in {s.code for s in frame.sightings}
    cx, cy = 640, 360
    cv2.circle(gray, (cx, cy), 70, 255, -1)
    damaged = decode_frame(gray)
    assert NATIONAL not in {s.code for s in damaged.sightings}
    assert any(
        cv2.pointPolygonTest(np.asarray(u.polygon, np.float32), (cx, cy), True) > -150 for u in damaged.unread
    )


def test_two_codes_at_one_place_minority_dropped_tie_flagged() -> None:
    from rxtrace.scanners.decode import Sighting, _flag_conflicts

    square = ((0, 0), (100, 0), (100, 40), (0, 40))
    a = Sighting(NATIONAL, "code128", "]C0", square, ("zxing/full", "pyzbar/confirm"), False)
    b = Sighting(NATIONAL[:-1] + "3", "code128", "]C0", square, ("pyzbar/m5-sharp",), False)
    assert _flag_conflicts([a, b]) == [a]
    c = Sighting(NATIONAL[:-1] + "4", "code128", "]C0", square, ("zxing/m5-sharp",), False)
    flagged = _flag_conflicts([b, c])
    assert [s.conflict for s in flagged] == [True, True]
    far = Sighting(EAN, "ean13", "]E0", ((500, 500), (600, 500), (600, 540), (500, 540)),
                   ("zxing/full",), False)  # fmt: skip
    assert _flag_conflicts([a, far]) == [a, far]
