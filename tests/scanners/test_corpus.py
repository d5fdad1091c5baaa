"""A few public zxing-cpp sample images with their expected text (skipped if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxtrace.scanners.decode import decode_frame
from rxtrace.scanners.sources import read_image

SAMPLES = Path(__file__).parents[2].parent / "shared" / "corpus" / "zxing-samples"

CASES = [
    "code128/code128-1/1.png",
    "code128/code128-1/4.png",
    "code128/code128-1/5.png",
    "code128/code128-2/01.webp",
    "datamatrix/datamatrix-2/01.webp",
    "datamatrix/datamatrix-1/gs1-figure-4.15.1-2-32x32.png",
    "ean13/ean13-1/10.webp",
    "qrcode/qrcode-2/#128.png",
]


def _expected(image: Path) -> str:
    return image.with_suffix(".txt").read_text(encoding="utf-8").rstrip("\n")


def _plain(code: str) -> str:
    """The corpus stores GS1 data without its symbology identifier (GS kept raw)."""
    return code[3:] if code[:3] in ("]d2", "]Q3", "]C1") else code


@pytest.mark.parametrize("rel", CASES)
def test_corpus_sample(rel: str) -> None:
    image = SAMPLES / rel
    if not image.exists():
        pytest.skip(f"corpus sample {rel} not present")
    pixels, _, _ = read_image(image)
    got = {_plain(s.code) for s in decode_frame(pixels).sightings}
    assert _expected(image) in got
