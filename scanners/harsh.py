"""A harsher pile corpus: phone photos of seized boxes, each code labelled with its damages.

:func:`rxtrace.scanners.render.render_pile` draws every label from one damage preset, so a
bench on it says how much is read, not what defeats the reader. Here each code carries an
explicit set of damages, drawn at the strength phone photos of piles show them:

- ``blur`` (label): defocus, Gaussian σ 0.6-1.6 px, the box lying outside the depth of field;
- ``motion`` (photo): hand shake, a 3-9 px line kernel at any angle;
- ``noise`` (photo): sensor noise of a dim room, σ 8-20 grey levels, partly blotchy (the
  phone's denoiser leaves low-frequency grain);
- ``small`` (label): 1.1-2 px a module (a far box or a small symbol; also given to any code
  that the fit to its place or a tilt left at 2 px or less);
- ``contrast`` (label): ink at 20-45 % of full contrast (faded print, glossy film);
- ``perspective`` (label): the box face tilted 30-60° from the camera, keystoned;
- ``rotation`` (label): the symbol turned more than 5°, any angle;
- ``light`` (label): a soft shadow edge or a glare spot across the symbol;
- ``jpeg`` (photo): saved at JPEG quality 12-49;
- ``single`` (photo): the only code in the frame.

A code without a damage is not pristine: its module is 2-4 px (1D) or 2.5-5 px (2D), it lies
within ±5° of level, sharp to σ 0.3-0.5, and the photo is saved at quality 75-92 with mild
noise, uneven exposure across the frame and a cardboard background full of strokes and text.
Most codes carry 2-4 damages; a fifth carry one alone, so each damage is also measured alone.

Photos are 1280×720 to 1920×1080 BGR JPEGs. Everything is deterministic from the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from .models import Polygon, ScanError
from .render import _HIRES_MODULE, _background, _box_face, _layout, _paste, random_codes, render_label

__all__ = [
    "DAMAGES",
    "HarshCode",
    "HarshPhoto",
    "damage_counts",
    "harsh_photo",
    "harsh_set",
]

DAMAGES: Final = (
    "blur", "motion", "noise", "small", "contrast", "perspective", "rotation", "light", "jpeg",
    "single",
)  # fmt: skip
_PHOTO_DAMAGES: Final = ("motion", "noise", "jpeg")
_LABEL_DAMAGES: Final = ("blur", "small", "contrast", "perspective", "rotation", "light")
# Symbologies as they occur on the boxes of a seizure: national Code 128 codes on every box,
# GS1 DataMatrix on most imported ones, QR on some.
_MIX: Final = ("code128", "datamatrix", "code128", "qrcode", "datamatrix", "code128")
_SIZES: Final = ((1920, 1080), (1600, 900), (1280, 720))

Gray = npt.NDArray[np.uint8]
_Float = npt.NDArray[np.float32]


@dataclass(frozen=True)
class HarshCode:
    """One symbol in a harsh photo: content, where it landed, and what was done to it."""

    code: str
    symbology: str
    polygon: Polygon
    module_px: float
    damages: tuple[str, ...]


@dataclass(frozen=True)
class HarshPhoto:
    """One photo: JPEG bytes (as a phone saves them) and its codes."""

    name: str
    jpeg: bytes
    size: tuple[int, int]
    quality: int
    codes: tuple[HarshCode, ...]
    motion: tuple[int, float] | None = None
    """Hand shake: the line kernel's length (px) and direction (degrees, counter-clockwise
    as seen, from the image's x axis), or None."""

    def pixels(self) -> npt.NDArray[np.uint8]:
        """The photo decoded to BGR, as a reader of the file would see it."""
        image = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ScanError(f"cannot decode harsh photo {self.name}")
        return np.asarray(image, dtype=np.uint8)


def _count(rng: np.random.Generator) -> int:
    """How many damages one code carries: mostly 2-4, a fifth alone."""
    return int(rng.choice([1, 2, 3, 4], p=[0.2, 0.3, 0.3, 0.2]))


def _tilted_quad(
    rng: np.random.Generator,
    size: tuple[int, int],
    scale: float,
    center: tuple[float, float],
    angle: float,
    tilt: bool,
) -> npt.NDArray[np.float32]:
    """Corners of a label seen at an angle: foreshortened along one axis and keystoned."""
    w, h = size[0] * scale, size[1] * scale
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    if tilt:
        # A face tilted by θ about an axis in the picture shrinks by cos θ across that axis,
        # and its far edge is shorter than its near one (the camera is a few box-lengths away).
        theta = math.radians(float(rng.uniform(30, 60)))
        keystone = float(rng.uniform(0.7, 0.9))
        if rng.random() < 0.5:  # tilted about the label's horizontal axis
            corners[:, 1] *= math.cos(theta)
            corners[:2, 0] *= keystone
        else:
            corners[:, 0] *= math.cos(theta)
            corners[[1, 2], 1] *= keystone
        if rng.random() < 0.5:
            corners = corners[[3, 2, 1, 0]] * np.array([1.0, -1.0])  # the far edge on the other side
    corners += rng.normal(0.0, 0.01 * max(w, h), corners.shape)
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return np.asarray(corners @ rot.T + np.asarray(center), dtype=np.float32)


def _label_contrast(label: Gray, strength: float) -> Gray:
    """Ink lightened towards the paper: 255 - (255 - v) · strength."""
    out = 255.0 - (255.0 - label.astype(np.float32)) * strength
    return np.asarray(np.clip(out, 0, 255), dtype=np.uint8)


def _light(canvas: _Float, rng: np.random.Generator, quad: npt.NDArray[np.float32]) -> None:
    """A soft shadow edge through the symbol, or a glare spot on it, in place."""
    h, w = canvas.shape
    x0, y0 = np.maximum(np.floor(quad.min(axis=0)).astype(int) - 40, 0)
    x1, y1 = np.minimum(np.ceil(quad.max(axis=0)).astype(int) + 40, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    centre = quad.mean(axis=0)
    span = float(np.linalg.norm(quad.max(axis=0) - quad.min(axis=0)))
    region = canvas[y0:y1, x0:x1]
    if rng.random() < 0.6:
        # A hand's or another box's shadow: dark on one side of a soft line that crosses the
        # symbol somewhere in its middle half.
        phi = float(rng.uniform(0, 2 * math.pi))
        offset = float(rng.uniform(-0.25, 0.25)) * span
        d = (xx - centre[0]) * math.cos(phi) + (yy - centre[1]) * math.sin(phi) - offset
        softness = float(rng.uniform(0.02, 0.12)) * span + 2.0
        shade = 1.0 / (1.0 + np.exp(-d / softness))
        depth = float(rng.uniform(0.45, 0.75))
        region *= 1.0 - depth * shade
    else:
        # Specular glare on the box's film: a bright blob that washes part of the symbol out.
        gx = float(centre[0] + rng.uniform(-0.3, 0.3) * span)
        gy = float(centre[1] + rng.uniform(-0.3, 0.3) * span)
        radius = float(rng.uniform(0.12, 0.3)) * span
        blob = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * radius**2))
        region += blob * np.float32(rng.uniform(90, 170))


def _motion(canvas: _Float, length: int, degrees: float) -> _Float:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    centre = ((length - 1) / 2, (length - 1) / 2)
    rot = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rot, (length, length)), dtype=np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(canvas, -1, kernel), dtype=np.float32)


def _noise(canvas: _Float, rng: np.random.Generator, sigma: float) -> None:
    h, w = canvas.shape
    fine = rng.normal(0.0, sigma, (h, w)).astype(np.float32)
    # Denoisers smear noise into 2-4 px blotches; a third of its power stays that coarse.
    coarse = rng.normal(0.0, sigma, (h // 3 + 1, w // 3 + 1)).astype(np.float32)
    grain = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    canvas += 0.8 * fine + 0.6 * grain


def _exposure(canvas: _Float, rng: np.random.Generator) -> None:
    """Uneven light over the whole frame (a lamp to one side) and a slight vignette."""
    h, w = canvas.shape
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    phi = float(rng.uniform(0, 2 * math.pi))
    ramp = ((xx / w - 0.5) * math.cos(phi) + (yy / h - 0.5) * math.sin(phi)) * float(rng.uniform(0.1, 0.4))
    vignette = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * float(rng.uniform(0.2, 0.6))
    field = cv2.resize(1.0 + ramp - vignette, (w, h), interpolation=cv2.INTER_LINEAR)
    canvas *= np.asarray(field, dtype=np.float32) * np.float32(rng.uniform(0.75, 1.05))


def _landed(
    label: Gray, quad: Polygon, dst: npt.NDArray[np.float32], linear: bool
) -> tuple[npt.NDArray[np.float64], float]:
    """Where the symbol's corners land for label corners ``dst``, and its smallest module."""
    h, w = label.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    pts = np.asarray(cv2.perspectiveTransform(np.asarray([quad], dtype=np.float64), m)[0])
    src_w, src_h = float(quad[1][0] - quad[0][0]), float(quad[2][1] - quad[1][1])
    ratios = [float(np.linalg.norm(pts[1] - pts[0])) / src_w,
              float(np.linalg.norm(pts[2] - pts[3])) / src_w]  # fmt: skip
    if not linear:  # a matrix module shrinks along both sides
        ratios += [float(np.linalg.norm(pts[3] - pts[0])) / src_h,
                   float(np.linalg.norm(pts[2] - pts[1])) / src_h]  # fmt: skip
    return pts, round(min(ratios) * _HIRES_MODULE, 2)


def harsh_photo(index: int, *, seed: int = 15) -> HarshPhoto:
    """Photo ``index`` of the harsh corpus with base ``seed``; same arguments, same bytes."""
    rng = np.random.default_rng([seed, index])
    size = _SIZES[int(rng.integers(0, len(_SIZES)))]
    single = rng.random() < 0.12
    # 982 codes on 300 photos in the set: 1-6 a photo, ~3.3 on average.
    n = 1 if single else int(rng.choice([2, 3, 4, 5, 6], p=[0.25, 0.3, 0.25, 0.12, 0.08]))
    symbologies = [_MIX[int(i)] for i in rng.integers(0, len(_MIX), n)]
    codes = random_codes(rng, n, symbologies)
    # The photo's own damages, then each code's: together 1-4 per code where possible.
    photo = [d for d in _PHOTO_DAMAGES if rng.random() < 0.28]
    canvas = _background(rng, size)
    _exposure(canvas, rng)
    placed: list[tuple[str, str, npt.NDArray[np.float32], npt.NDArray[np.float64], list[str], float]] = []
    cells = _layout(rng, n, size)
    if single:
        # A close-up: the symbol near the middle, large enough to fill a good part of the frame.
        cells = [(size[0] / 2, size[1] / 2, size[0] * 0.7, size[1] * 0.9)]
    for (code, symbology), (cx, cy, cell_w, cell_h) in zip(codes, cells, strict=True):
        wanted = max(_count(rng) - len(photo) - single, 0 if photo or single else 1)
        local = [str(d) for d in rng.choice(_LABEL_DAMAGES, size=wanted, replace=False)]
        linear = symbology in ("code128", "ean13")
        if "small" in local:
            module = float(rng.uniform(1.1, 2.0))
        else:
            module = float(rng.uniform(2.0, 4.0) if linear else rng.uniform(2.5, 5.0))
        caption = "".join(rng.choice(list("ABCDEFGHKMNPRSTXYZ"), int(rng.integers(5, 12))))
        label, quad = render_label(code, symbology, caption=caption)
        if "contrast" in local:
            label = _label_contrast(label, float(rng.uniform(0.2, 0.45)))
        if "rotation" in local:
            angle = float(rng.uniform(math.radians(6), math.radians(354)))
        else:
            angle = float(rng.uniform(-math.radians(5), math.radians(5)))
            if rng.random() < 0.25:
                angle += math.pi  # upside down is still level for a reader
        scale = module / _HIRES_MODULE
        # The label, turned, must stay inside its cell (labels would overlap otherwise).
        lh, lw = label.shape
        ca, sa = abs(math.cos(angle)), abs(math.sin(angle))
        fit = 0.9 * min(cell_w / (lw * ca + lh * sa), cell_h / (lw * sa + lh * ca))
        scale = min(scale, fit)
        jitter = (rng.uniform(-0.08, 0.08) * cell_w, rng.uniform(-0.08, 0.08) * cell_h)
        dst = _tilted_quad(rng, (label.shape[1], label.shape[0]), scale,
                           (cx + jitter[0], cy + jitter[1]), angle, "perspective" in local)  # fmt: skip
        pts, actual = _landed(label, quad, dst, linear)
        if actual < 1.1 and fit > scale:
            # A tilt on top of a small module leaves less than a pixel: nobody reads that,
            # and "small" means 1.1-2 px. Grow the label (within its cell) instead.
            k = min(1.1 / actual, fit / scale)
            centre = dst.mean(axis=0)
            dst = np.asarray((dst - centre) * np.float32(k) + centre, dtype=np.float32)
            pts, actual = _landed(label, quad, dst, linear)
        _box_face(canvas, rng, dst)
        sigma = float(rng.uniform(0.6, 1.6) if "blur" in local else rng.uniform(0.3, 0.5))
        _paste(canvas, label, dst, sigma, 0, rng)
        if actual <= 2.0 and "small" not in local:
            local.append("small")
        placed.append((code, symbology, dst, pts, local, actual))
    for _code, _sym, dst, _pts, local, _m in placed:
        if "light" in local:
            _light(canvas, rng, dst)
    motion = None
    if "motion" in photo:
        motion = (int(rng.integers(3, 10)), float(rng.uniform(0, 180)))
        canvas = _motion(canvas, *motion)
    _noise(canvas, rng, float(rng.uniform(8, 20) if "noise" in photo else rng.uniform(1.5, 3.5)))
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    bgr = np.asarray(np.clip(canvas[:, :, None] * tint[None, None, :], 0, 255), dtype=np.uint8)
    quality = int(rng.integers(12, 50) if "jpeg" in photo else rng.integers(75, 93))
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ScanError("JPEG encoder refused a harsh photo")
    out: list[HarshCode] = []
    for code, symbology, _dst, pts, local, actual in placed:
        damages = tuple(d for d in DAMAGES if d in local or d in photo or (d == "single" and single))
        polygon = tuple((round(float(x)), round(float(y))) for x, y in pts)
        out.append(HarshCode(code, symbology, polygon, actual, damages))
    return HarshPhoto(f"harsh-{seed}-{index:04d}.jpg", buf.tobytes(), size, quality, tuple(out),
                      motion)  # fmt: skip


def harsh_set(n: int, *, seed: int = 15, start: int = 0) -> list[HarshPhoto]:
    """Photos ``start`` to ``start + n - 1`` of the corpus with base ``seed``."""
    return [harsh_photo(i, seed=seed) for i in range(start, start + n)]


def damage_counts(photos: Sequence[HarshPhoto]) -> dict[str, int]:
    """Codes carrying each damage (a code with three counts under each of the three)."""
    counts = dict.fromkeys(DAMAGES, 0)
    for p in photos:
        for c in p.codes:
            for d in c.damages:
                counts[d] += 1
    return counts
