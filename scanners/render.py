"""Synthetic box labels, seizure "pile" photos and conveyor videos with known content.

Tests, the benchmark and the demo world need images whose every code is known, damaged the
way phone photos of a heap of seized boxes are: any rotation, perspective, defocus and motion
blur, glare, shadow, low contrast, sensor noise, JPEG blocking and small modules. Everything
here is deterministic from a seed (``numpy.random.default_rng``), so a failing case can be
rebuilt exactly.

Symbols are drawn by real encoders, not imitations: python-barcode for the 20-digit national
code (Code 128 with the digits underneath, as printed on boxes) and EAN-13, zxing-cpp's writer
for DataMatrix and QR (GS1 mode when the code is a GS1 element string).

Codes are given in the form the scanner reports them (see :mod:`rxtrace.scanners.codes`):
``("81234567890123456789", "code128")``, ``("]d201069...\\x1d17...", "datamatrix")``,
``("6901234567892", "ean13")``, ``("https://x", "qrcode")``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from barcode import EAN13, Code128
from barcode.writer import ImageWriter
from biip.checksums import gs1_standard_check_digit

from .codes import GS1_IDENTIFIERS, element_string_to_hri, hri_to_element_string
from .models import Polygon, ScanError

__all__ = [
    "DAMAGE_LEVELS",
    "Damage",
    "GroundTruth",
    "iter_video_frames",
    "random_codes",
    "render_label",
    "render_pile",
    "write_video",
]

Damage = Literal["none", "mild", "harsh"]
DAMAGE_LEVELS: Final[tuple[Damage, ...]] = ("none", "mild", "harsh")

Gray = npt.NDArray[np.uint8]
_Float = npt.NDArray[np.float32]

# Labels are drawn at this many pixels per module, then resampled to the target module size.
_HIRES_MODULE: Final = 4


@dataclass(frozen=True)
class GroundTruth:
    """One symbol placed in a rendered image: what it says and where its corners landed."""

    code: str
    symbology: str
    polygon: Polygon
    module_px: float
    frames: tuple[int, int] | None = None
    """For video: first and last frame in which the whole symbol is inside the picture."""


@dataclass(frozen=True)
class _Damage:
    module_1d: tuple[float, float]
    module_2d: tuple[float, float]
    perspective: float
    blur_sigma: tuple[float, float]
    motion_px: tuple[int, int]
    contrast: tuple[float, float]
    noise: tuple[float, float]
    jpeg: tuple[int, int]
    glare: float
    shadow: float


# Ranges were tuned so that "harsh" resembles phone photos of seized piles: raw zxing-cpp reads
# roughly a third to a half of the codes, a human with a loupe still reads nearly all of them.
_PRESETS: Final[dict[Damage, _Damage]] = {
    "none": _Damage((3.0, 4.0), (4.0, 6.0), 0.02, (0.0, 0.0), (0, 0), (1.0, 1.0),
                    (0.0, 0.0), (95, 95), 0.0, 0.0),
    "mild": _Damage((2.0, 3.2), (3.0, 5.0), 0.04, (0.0, 0.8), (0, 3), (0.6, 1.0),
                    (1.0, 4.0), (60, 90), 0.2, 0.3),
    "harsh": _Damage((1.5, 3.0), (2.5, 4.5), 0.06, (0.3, 1.0), (0, 5), (0.35, 0.75),
                     (2.0, 6.0), (30, 65), 0.5, 0.6),
}  # fmt: skip


def _as_gray(image: npt.NDArray[np.uint8]) -> Gray:
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def _dark_bbox(gray: Gray, rows: slice | None = None) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of the dark pixels of ``gray`` (optionally within ``rows``)."""
    view = gray if rows is None else gray[rows]
    ys, xs = np.nonzero(view < 128)
    offset = 0 if rows is None or rows.start is None else rows.start
    return int(xs.min()), int(ys.min()) + offset, int(xs.max()) + 1, int(ys.max()) + 1 + offset


def _python_barcode(code: str, symbology: str) -> tuple[Gray, tuple[int, int, int, int]]:
    """Bars with human-readable digits underneath, and the bars' bounding box."""
    module_mm = 0.4
    dpi = round(_HIRES_MODULE * 25.4 / module_mm)
    options = {
        "module_width": module_mm,
        "module_height": 12.0 if symbology == "code128" else 16.0,
        "quiet_zone": 10 * module_mm,
        "font_size": 14,
        "text_distance": 6.0,
        "dpi": dpi,
    }
    if symbology == "code128":
        bc: Code128 | EAN13 = Code128(code, writer=ImageWriter())
    else:
        # python-barcode takes the 12 data digits and recomputes the check digit itself.
        bc = EAN13(code[:12], writer=ImageWriter())
        if bc.get_fullcode() != code:
            raise ValueError(f"EAN-13 check digit is wrong in {code!r}")
    image = _as_gray(np.asarray(bc.render(options)))
    # The bars are the top block of dark rows; the digits below are separated by white rows.
    dark_rows = np.asarray((image < 128).any(axis=1), dtype=bool)
    first = int(np.argmax(dark_rows))
    gap = np.nonzero(~dark_rows[first:])[0]
    last = first + int(gap[0]) if gap.size else image.shape[0]
    x0, y0, x1, y1 = _dark_bbox(image, slice(first, last))
    return image, (x0, y0, x1, y1)


def _zxing_symbol(code: str, symbology: str) -> tuple[Gray, tuple[int, int, int, int]]:
    fmt = zxingcpp.BarcodeFormat.DataMatrix if symbology == "datamatrix" else (zxingcpp.BarcodeFormat.QRCode)
    if code[:3] in GS1_IDENTIFIERS:
        symbol = zxingcpp.create_barcode(element_string_to_hri(code), fmt, gs1=True)
    else:
        symbol = zxingcpp.create_barcode(code, fmt)
    image = np.asarray(
        zxingcpp.write_barcode_to_image(symbol, scale=_HIRES_MODULE, add_quiet_zones=False),
        dtype=np.uint8,
    )
    quiet = 4 * _HIRES_MODULE
    image = np.pad(image, quiet, constant_values=255)
    return image, (quiet, quiet, image.shape[1] - quiet, image.shape[0] - quiet)


def render_label(code: str, symbology: str, *, caption: str | None = None) -> tuple[Gray, Polygon]:
    """A white box label carrying one symbol, drawn at 4 pixels per module.

    Returns the grayscale label and the symbol's corners (clockwise from top-left) in it.
    ``caption`` is printed above the symbol, as drug names are on real labels: text is what
    a barcode detector most often mistakes for a symbol, so the test images need it.
    """
    if symbology in ("code128", "ean13"):
        symbol, (x0, y0, x1, y1) = _python_barcode(code, symbology)
    elif symbology in ("datamatrix", "qrcode"):
        symbol, (x0, y0, x1, y1) = _zxing_symbol(code, symbology)
    else:
        raise ValueError(f"cannot render symbology {symbology!r}")
    text_h = 0 if caption is None else 40
    pad = 12
    height = symbol.shape[0] + text_h + 2 * pad
    width = max(symbol.shape[1], 0 if caption is None else 14 * len(caption)) + 2 * pad
    label = np.full((height, width), 250, dtype=np.uint8)
    ox = (width - symbol.shape[1]) // 2
    oy = pad + text_h
    label[oy : oy + symbol.shape[0], ox : ox + symbol.shape[1]] = symbol
    if caption is not None:
        cv2.putText(label, caption, (pad, pad + 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 20, 2)
    quad = ((ox + x0, oy + y0), (ox + x1, oy + y0), (ox + x1, oy + y1), (ox + x0, oy + y1))
    return label, quad


def random_codes(
    rng: np.random.Generator, n: int, symbologies: Sequence[str] = ("code128", "datamatrix")
) -> list[tuple[str, str]]:
    """``n`` plausible (code, symbology) pairs: national codes, GS1 element strings, EAN-13, QR."""

    def gtin14() -> str:
        body = "0" + "69" + "".join(str(d) for d in rng.integers(0, 10, 10))
        return body + str(gs1_standard_check_digit(body))

    out: list[tuple[str, str]] = []
    for i in range(n):
        sym = symbologies[i % len(symbologies)]
        if sym == "code128":
            code = "8" + "".join(str(d) for d in rng.integers(0, 10, 19))
        elif sym in ("datamatrix", "qrcode") and rng.random() < 0.8:
            serial = "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"), 10))
            lot = "".join(rng.choice(list("0123456789ABCDEF"), 6))
            expiry = f"{rng.integers(26, 31)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
            hri = f"(01){gtin14()}(21){serial}(17){expiry}(10){lot}"
            code = hri_to_element_string(hri, "]d2" if sym == "datamatrix" else "]Q3")
        elif sym == "ean13":
            code = gtin14()[1:]
        else:
            code = f"https://trace.example/{int(rng.integers(10**8, 10**9))}"
        out.append((code, sym))
    return out


def _quad_for(
    rng: np.random.Generator,
    size: tuple[int, int],
    scale: float,
    center: tuple[float, float],
    angle: float,
    perspective: float,
) -> npt.NDArray[np.float32]:
    """Destination corners of a ``size`` label scaled, rotated and perspective-jittered."""
    w, h = size[0] * scale, size[1] * scale
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    corners += rng.normal(0.0, perspective * max(w, h), corners.shape)
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return np.asarray(corners @ rot.T + np.asarray(center), dtype=np.float32)


def _paste(
    canvas: npt.NDArray[np.float32],
    label: Gray,
    dst: npt.NDArray[np.float32],
    blur_sigma: float,
    motion: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """Warp ``label`` onto ``canvas`` at ``dst``; returns the 3×3 homography used."""
    h, w = label.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    # Shrinking with INTER_AREA first keeps thin bars from aliasing away in the warp.
    side = float(np.linalg.norm(dst[1] - dst[0]))
    factor = side / w
    if factor < 0.9:
        small = cv2.resize(label, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        src_small = src * np.float32(factor)
    else:
        small, src_small = label, src
    x0, y0 = np.floor(dst.min(axis=0)).astype(int) - 8
    x1, y1 = np.ceil(dst.max(axis=0)).astype(int) + 8
    ch, cw = canvas.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cw), min(y1, ch)
    if x1 <= x0 or y1 <= y0:
        return np.asarray(cv2.getPerspectiveTransform(src, dst), dtype=np.float64)
    local = dst - np.array([x0, y0], dtype=np.float32)
    m_local = cv2.getPerspectiveTransform(src_small, local)
    patch = cv2.warpPerspective(small.astype(np.float32), m_local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.ones(small.shape, np.float32), m_local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR
    )
    if blur_sigma > 0:
        patch = cv2.GaussianBlur(patch, (0, 0), blur_sigma)
        mask = cv2.GaussianBlur(mask, (0, 0), blur_sigma)
    if motion > 1:
        kernel = np.zeros((motion, motion), np.float32)
        kernel[motion // 2, :] = 1.0 / motion
        rot = cv2.getRotationMatrix2D((motion / 2 - 0.5, motion / 2 - 0.5), rng.uniform(0, 180), 1)
        kernel = np.asarray(cv2.warpAffine(kernel, rot, (motion, motion)), dtype=np.float32)
        kernel /= max(float(kernel.sum()), 1e-6)
        patch = cv2.filter2D(patch, -1, kernel)
        mask = cv2.filter2D(mask, -1, kernel)
    # Premultiplied: the patch was warped from a zero background, so it already carries mask.
    region = canvas[y0:y1, x0:x1]
    region *= 1.0 - mask
    region += patch
    return np.asarray(cv2.getPerspectiveTransform(src, dst), dtype=np.float64)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> npt.NDArray[np.float32]:
    w, h = size
    coarse = rng.uniform(60, 170, (max(h // 90, 2), max(w // 90, 2))).astype(np.float32)
    bg = np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    # Cardboard and table grain: thin random strokes are what make detectors see "bars".
    for _ in range(int(rng.integers(20, 60))):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (p1[0] + int(rng.integers(-300, 300)), p1[1] + int(rng.integers(-300, 300)))
        cv2.line(bg, p1, p2, int(rng.integers(30, 220)), int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(4, 10))):
        org = (int(rng.integers(0, w - 200)), int(rng.integers(30, h)))
        text = "".join(rng.choice(list("ABCDEFGHIJKLMNOP0123456789 mg"), int(rng.integers(6, 16))))
        cv2.putText(bg, text, org, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.6, 1.6)),
                    int(rng.integers(0, 60)), int(rng.integers(1, 3)))  # fmt: skip
    return bg.astype(np.float32)


def _box_face(
    canvas: npt.NDArray[np.float32], rng: np.random.Generator, quad: npt.NDArray[np.float32]
) -> None:
    """A cardboard face larger than the label under it, so labels sit on boxes, not on air."""
    center = quad.mean(axis=0)
    face = (quad - center) * np.float32(rng.uniform(1.3, 1.8)) + center
    cv2.fillConvexPoly(canvas, np.round(face).astype(np.int32), float(rng.uniform(120, 230)))


def _global_damage(
    img: npt.NDArray[np.float32], rng: np.random.Generator, preset: _Damage
) -> npt.NDArray[np.float32]:
    h, w = img.shape[:2]
    if preset.shadow > 0 and rng.random() < preset.shadow:
        # A soft-edged shadow band: a hand or another box between lamp and pile.
        # Drawn and blurred at 1/8 scale: a soft edge needs no full-resolution blur.
        mask = np.zeros((h // 8, w // 8), np.float32)
        pts = rng.uniform([0, 0], [w // 8, h // 8], (4, 2)).astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts), 1.0)
        mask = cv2.resize(cv2.GaussianBlur(mask, (0, 0), 5), (w, h))
        img *= 1.0 - mask * np.float32(rng.uniform(0.35, 0.6))
    lo, hi = preset.contrast
    contrast = float(rng.uniform(lo, hi))
    img[:] = (img - 128.0) * contrast + 128.0 + float(rng.uniform(-25, 25)) * (1 - contrast)
    if preset.glare > 0:
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() >= preset.glare:
                continue
            glare = np.zeros((h // 4, w // 4), np.float32)
            center = (int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4)))
            axes = (int(rng.integers(w // 120, w // 32)), int(rng.integers(h // 120, h // 32)))
            cv2.ellipse(glare, center, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
            glare = cv2.GaussianBlur(glare, (0, 0), float(max(axes)) / 3)
            img += cv2.resize(glare, (w, h)) * np.float32(rng.uniform(80, 180))
    lo_n, hi_n = preset.noise
    if hi_n > 0:
        img += rng.normal(0.0, float(rng.uniform(lo_n, hi_n)), img.shape).astype(np.float32)
    return img


def _jpeg(image: Gray | npt.NDArray[np.uint8], quality: int) -> npt.NDArray[np.uint8]:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ScanError("JPEG encoder refused the rendered image")
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), dtype=np.uint8)


def _to_bgr(gray_f: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Tint the luminance so the output is a colour photo while luminance stays as damaged."""
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    bgr = np.clip(gray_f[:, :, None] * tint[None, None, :], 0, 255)
    return np.asarray(bgr, dtype=np.uint8)


def _layout(
    rng: np.random.Generator, n: int, size: tuple[int, int]
) -> list[tuple[float, float, float, float]]:
    """Cells (cx, cy, cell_w, cell_h) for ``n`` labels, shuffled, one per label."""
    w, h = size
    cols = max(1, math.ceil(math.sqrt(n * w / h)))
    rows = max(1, math.ceil(n / cols))
    cw, ch = w / cols, h / rows
    cells = [((c + 0.5) * cw, (r + 0.5) * ch, cw, ch) for r in range(rows) for c in range(cols)]
    order = rng.permutation(len(cells))[:n]
    return [cells[int(i)] for i in order]


def render_pile(
    codes: Sequence[tuple[str, str]],
    *,
    seed: int,
    damage: Damage = "harsh",
    size: tuple[int, int] = (1920, 1080),
) -> tuple[npt.NDArray[np.uint8], list[GroundTruth]]:
    """A BGR photo of a pile of boxes carrying ``codes`` = [(code, symbology), ...].

    Every label gets its own rotation (any angle), perspective, scale (module size drawn from
    the damage preset, smaller when its cell is too small) and blur; then the whole picture
    gets shadow, low contrast, glare, noise and JPEG compression. Returns the image and, per
    code, where its symbol lies. Same arguments, same pixels.
    """
    if damage not in _PRESETS:
        raise ValueError(f"damage must be one of {DAMAGE_LEVELS}, not {damage!r}")
    preset = _PRESETS[damage]
    rng = np.random.default_rng(seed)
    canvas = _background(rng, size)
    truths: list[GroundTruth] = []
    for (code, symbology), (cx, cy, cell_w, cell_h) in zip(
        codes, _layout(rng, len(codes), size), strict=True
    ):
        caption = "".join(rng.choice(list("ABCDEFGHKMNPRSTXYZ"), int(rng.integers(5, 12))))
        label, quad = render_label(code, symbology, caption=caption)
        lo, hi = preset.module_1d if symbology in ("code128", "ean13") else preset.module_2d
        module = float(rng.uniform(lo, hi))
        scale = module / _HIRES_MODULE
        angle = float(rng.uniform(0, 2 * math.pi))
        # The rotated label must stay inside its cell, or labels would overlap each other.
        fit = 0.92 * min(cell_w, cell_h) / math.hypot(*label.shape)
        scale = min(scale, fit)
        jitter = (rng.uniform(-0.1, 0.1) * cell_w, rng.uniform(-0.1, 0.1) * cell_h)
        center = (cx + jitter[0], cy + jitter[1])
        dst = _quad_for(rng, (label.shape[1], label.shape[0]), scale, center, angle,
                        preset.perspective)  # fmt: skip
        _box_face(canvas, rng, dst)
        sigma = float(rng.uniform(*preset.blur_sigma))
        motion = int(rng.integers(preset.motion_px[0], preset.motion_px[1] + 1))
        if motion < 3:
            motion = 0
        m = _paste(canvas, label, dst, sigma, motion, rng)
        pts = cv2.perspectiveTransform(np.asarray([quad], dtype=np.float64), m)[0]
        polygon = tuple((round(float(x)), round(float(y))) for x, y in pts)
        truths.append(GroundTruth(code, symbology, polygon, scale * _HIRES_MODULE))
    img = _global_damage(canvas, rng, preset)
    bgr = _to_bgr(img, rng)
    if preset.jpeg[1] < 95:
        bgr = _jpeg(bgr, int(rng.integers(preset.jpeg[0], preset.jpeg[1] + 1)))
    return bgr, truths


def iter_video_frames(
    codes: Sequence[tuple[str, str]],
    *,
    seed: int,
    n_frames: int = 60,
    size: tuple[int, int] = (1280, 720),
    damage: Damage = "mild",
) -> Iterator[tuple[npt.NDArray[np.uint8], list[GroundTruth]]]:
    """Frames of boxes passing a fixed camera, right to left, as on a conveyor or a table.

    Each label crosses the whole picture during the clip; labels are spaced so that two or
    three are in view at once. Yields (BGR frame, symbols fully inside that frame).
    """
    preset = _PRESETS[damage]
    rng = np.random.default_rng(seed)
    w, h = size
    background = _background(rng, size)
    labels = []
    for code, symbology in codes:
        label, quad = render_label(code, symbology)
        lo, hi = preset.module_1d if symbology in ("code128", "ean13") else preset.module_2d
        # Labels pass nearly level; each must fit in half the width and most of the height.
        fit = min(0.5 * w / label.shape[1], 0.7 * h / label.shape[0])
        scale = min(float(rng.uniform(lo, hi)) / _HIRES_MODULE, fit)
        angle = float(rng.uniform(-0.5, 0.5))
        y = float(rng.uniform(0.3, 0.7) * h)
        base = _quad_for(rng, (label.shape[1], label.shape[0]), scale, (0.0, y), angle,
                         preset.perspective / 2)  # fmt: skip
        labels.append((code, symbology, label, quad, base))
    travel = w + 0.6 * w
    span = max(len(labels), 1)
    speed = (travel + w * 0.5 * (span - 1)) / max(n_frames - 1, 1)
    for frame in range(n_frames):
        canvas = background.copy()
        truths: list[GroundTruth] = []
        frame_rng = np.random.default_rng([seed, frame])
        for i, (code, symbology, label, quad, base) in enumerate(labels):
            x = w * 1.3 + i * w * 0.5 - frame * speed
            dst = base + np.array([x, 0], dtype=np.float32)
            if dst[:, 0].max() < -10 or dst[:, 0].min() > w + 10:
                continue
            _box_face(canvas, np.random.default_rng([seed, i]), dst)
            m = _paste(canvas, label, dst, 0.4, 3 if damage != "none" else 0, frame_rng)
            pts = cv2.perspectiveTransform(np.asarray([quad], dtype=np.float64), m)[0]
            if pts[:, 0].min() >= 0 and pts[:, 0].max() < w:
                polygon = tuple((round(float(px)), round(float(py))) for px, py in pts)
                truths.append(GroundTruth(code, symbology, polygon, scale * _HIRES_MODULE,
                                          (frame, frame)))  # fmt: skip
        img = _global_damage(canvas, frame_rng, _PRESETS["none" if damage == "none" else "mild"])
        yield _to_bgr(img, np.random.default_rng(seed)), truths


def write_video(
    path: str | Path,
    codes: Sequence[tuple[str, str]],
    *,
    seed: int,
    n_frames: int = 60,
    fps: float = 25.0,
    size: tuple[int, int] = (1280, 720),
    damage: Damage = "mild",
) -> list[GroundTruth]:
    """Write the clip of :func:`iter_video_frames` to ``path`` (``.avi`` → MJPG, else mp4v).

    Returns one GroundTruth per code with the frame range in which it was fully visible
    (``frames=None`` if it never was). Raises ScanError if OpenCV cannot open a writer.
    """
    target = Path(path)
    fourcc = cv2.VideoWriter.fourcc(*("MJPG" if target.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(target), fourcc, fps, size)
    if not writer.isOpened():
        raise ScanError(f"OpenCV cannot write video to '{target}' (no codec for this suffix).")
    seen: dict[str, GroundTruth] = {}
    try:
        for frame_no, (frame, truths) in enumerate(
            iter_video_frames(codes, seed=seed, n_frames=n_frames, size=size, damage=damage)
        ):
            writer.write(frame)
            for t in truths:
                old = seen.get(t.code)
                first = frame_no if old is None or old.frames is None else old.frames[0]
                seen[t.code] = GroundTruth(t.code, t.symbology, t.polygon, t.module_px,
                                           (first, frame_no))  # fmt: skip
    finally:
        writer.release()
    return [seen.get(code, GroundTruth(code, symbology, (), 0.0, None)) for code, symbology in codes]
