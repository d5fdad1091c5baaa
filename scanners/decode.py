"""Pixels to symbol reads, for one still image or one video frame. Pure: ndarray in, reads out.

Pipeline (each step exists because the one before it misses a known class of symbols):

1. **Full-frame zxing-cpp pass** (all four symbologies, ``return_errors=True``). It reads most
   DataMatrix and QR symbols whatever their rotation, and straight 1D symbols. Symbols it
   finds but cannot decode (checksum or format errors) become "seen but not read" regions.
2. **Candidate detector** (structure tensor on a half-resolution image, evaluated on an
   8×8-pixel grid): 1D barcodes are patches of strong gradient with one dominant direction
   (high coherence); DataMatrix/QR are patches of strong gradient with no dominant direction.
   zxing-cpp's linear readers only scan rows and columns, so a Code 128 lying at 30° or 60°
   in a pile is invisible to pass 1: the detector gives its angle.
3. **Region pass**: each candidate not already read is re-measured at full resolution and
   cut out with an affine map that makes its bars vertical and its long axis horizontal
   (perspective shears a symbol, and rows must follow its axis to cross every bar), scaled
   to a target module size and averaged along the bars (which cancels noise and JPEG
   blocks). It then climbs a short ladder of (module size, pre-processing, engine) steps:
   contrast stretch + unsharp mask at the module's scale, stronger sharpening, CLAHE, with
   zxing-cpp (local or global binarizer) and zbar (which reads some small-module Code 128
   that zxing-cpp misses). The ladder stops as soon as two independent decodes agree.
   Matrix candidates get 2× and 3× upscaled, sharpened crops.
4. **Second tier** (time-bounded): regions seen but not read, and 1D reads no second decode
   confirms, get the expensive ladders. An unread 1D region first goes to a reader that
   fits the national code's Code 128 model to the crop's profile
   (:mod:`rxtrace.scanners.code128`: no binarisation, so 1.1-2 px modules under blur still
   read; the check symbol and an unambiguous best symbol at every place are required),
   whose reads are confirmed by the ladder afterwards, once every other region had its
   turn. Then the ladders: 1D crops deconvolved across the bars (a Wiener filter
   for defocus of half a module), stronger sharpening with both engines, CLAHE; matrix crops
   upscaled 2-4× and sharpened at the source pixel's scale. Then, if still unread, the
   region deconvolved by the photo's motion-blur kernel (hand shake blurs a whole photo
   with one line kernel; its length and direction come from the cepstrum of a few tiles
   around the regions; a 1D crop only needs the kernel's extent across its bars). Regions
   and steps start only while the work done, in milliseconds of one core estimated from
   the pixels each step handles, is within ``budget_ms``: a batch stays fast, a hard photo
   can be given more, and the reads do not depend on the machine's load. On the harsh
   phone-photo corpus
   (:mod:`rxtrace.scanners.harsh`, photos 0-199) the detector's small matrix candidates and
   this tier took recall from 0.55 to 0.61 at 80 ms, motion-blurred codes from 0.36 to
   0.44, with no false box. Brute-force motion deconvolution (box kernels of 1.5-9 px, no
   estimate) read 4 of 26 motion-blurred Code 128 for 34 variants a region: left out.
5. **Merge**: reads of the same code are one sighting with a vote count; two different codes
   read at the same place in one frame are a conflict and both are flagged, since one of
   them must be a misread.

What this module does not do is decide whether a read is trusted: that needs the caller's
catalog and, for video, the other frames (see :mod:`rxtrace.scanners.service`). It reports,
per sighting, the votes, whether the symbology carries Reed-Solomon error correction
(DataMatrix, QR), and conflicts.

Text normalisation: zxing-cpp text is taken in ``TextMode.Plain``; a GS1 symbol's text is
prefixed with its symbology identifier (``]d2``, ``]Q3``, ``]C1``) and keeps its ``\\x1d``
separators, so the domain parser sees the element string as encoded. pyzbar cannot tell a
GS1-128 from a plain Code 128 (zbar drops the leading FNC1), so its Code 128 reads that parse
as GS1 element strings only count as votes for an identical zxing-cpp read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final, Literal

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from ._zbar import scan_rows
from .code128 import bar_profile, fit, place
from .codes import GS, GS1_IDENTIFIERS, element_string_to_hri
from .models import Polygon

__all__ = [
    "ECC_SYMBOLOGIES",
    "SYMBOLOGIES",
    "Effort",
    "FrameReads",
    "Sighting",
    "UnreadSpot",
    "decode_frame",
    "to_gray",
]

Gray = npt.NDArray[np.uint8]
_F32 = npt.NDArray[np.float32]
_Affine = npt.NDArray[np.float64]

Effort = Literal["fast", "full"]
"""``full`` for photos (every candidate region), ``fast`` for video frames (fewer regions,
fewer variants: the next frames give the symbol more chances)."""

SYMBOLOGIES: Final = ("code128", "datamatrix", "qrcode", "ean13")
ECC_SYMBOLOGIES: Final = frozenset({"datamatrix", "qrcode"})

_Z = zxingcpp.BarcodeFormat
_ZX_NAMES: Final[dict[object, str]] = {
    _Z.Code128: "code128",
    _Z.DataMatrix: "datamatrix",
    _Z.QRCode: "qrcode",
    _Z.EAN13: "ean13",
}
_LINEAR_FORMATS: Final = zxingcpp.BarcodeFormats([_Z.Code128, _Z.EAN13])
_MATRIX_FORMATS: Final = zxingcpp.BarcodeFormats([_Z.DataMatrix, _Z.QRCode])
_ZBAR_NAMES: Final = {"CODE128": "code128", "EAN13": "ean13"}

# Detector grid: gradients at half resolution, tensor averaged over 4×4 half-res pixels, so
# one grid cell is 8×8 full-resolution pixels.
_HALF: Final = 0.5
_CELL: Final = 8
# Target size of a module in the resampled 1D crop: zxing-cpp and zbar are most reliable at
# 3-5 pixels per module; below 2 they fail on blur, above 6 the crop is slower for nothing.
_TARGET_MODULE_PX: Final = 3.5
_MIN_LINEAR_EDGES: Final = 12
_DOWNSCALE_FROM: Final = 3_000_000
_ZBAR_ROWS: Final = 16


@dataclass(frozen=True)
class _Read:
    code: str
    symbology: str
    identifier: str
    polygon: Polygon
    engine: str


@dataclass(frozen=True)
class Sighting:
    """One code read in one frame, merged over engines and pre-processing variants."""

    code: str
    symbology: str
    symbology_identifier: str
    polygon: Polygon
    engines: tuple[str, ...]
    """Distinct ``engine/variant`` labels that produced this code, best first."""
    ecc: bool
    """The symbology protects its data with Reed-Solomon error correction."""
    conflict: bool = False
    """Another code was read at the same place in this frame (one of them is a misread)."""

    @property
    def votes(self) -> int:
        """Independent decodes (engine × pre-processing) that produced this code."""
        return len(self.engines)


@dataclass(frozen=True)
class UnreadSpot:
    """A symbol seen (by zxing-cpp with an error, or by the detector) but not decoded."""

    polygon: Polygon
    symbology_hint: str | None
    reason: str


@dataclass(frozen=True)
class FrameReads:
    """Everything decoded from one frame."""

    sightings: tuple[Sighting, ...]
    unread: tuple[UnreadSpot, ...]


@dataclass(frozen=True)
class _Candidate:
    center: tuple[float, float]
    size: tuple[float, float]
    """Linear: (length along ``axis``, height along the bars). Matrix: (w, h)."""
    normal: float
    """Linear: direction of the gradient, i.e. the bars' normal, in radians."""
    axis: float
    """Linear: direction of the symbol's long axis. It differs from ``normal`` when
    perspective shears the symbol: rows must then follow the axis to cross every bar."""
    kind: Literal["linear", "matrix"]
    origin: str
    hint: str | None
    edges: int | None = None
    """Linear: bar edges counted across the refined patch (None until refined)."""

    def polygon(self) -> Polygon:
        if self.kind == "matrix":
            rect = (self.center, self.size, 0.0)
            return tuple((round(float(x)), round(float(y))) for x, y in cv2.boxPoints(rect))
        e1 = np.array([math.cos(self.axis), math.sin(self.axis)]) * self.size[0] / 2
        bar = np.array([-math.sin(self.normal), math.cos(self.normal)]) * self.size[1] / 2
        c = np.asarray(self.center)
        pts = (c - e1 - bar, c + e1 - bar, c + e1 + bar, c - e1 + bar)
        return tuple((round(float(p[0])), round(float(p[1]))) for p in pts)


def _u8(array: object) -> Gray:
    """Re-type an OpenCV result (its stubs say "some integer or float array")."""
    return np.asarray(array, dtype=np.uint8)


def _f32(array: object) -> _F32:
    return np.asarray(array, dtype=np.float32)


def to_gray(image: npt.NDArray[Any]) -> Gray:
    """8-bit grayscale view of a gray, BGR or BGRA image (16-bit images are scaled down)."""
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            raise ValueError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    if image.ndim == 3 and image.shape[2] == 3:
        return _u8(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    if image.ndim == 3 and image.shape[2] == 4:
        return _u8(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY))
    raise ValueError(f"unsupported image shape {image.shape}")


# --------------------------------------------------------------------------- engines


def _transform_points(points: Iterable[tuple[float, float]], inverse: _Affine | None) -> Polygon:
    pts = np.asarray(list(points), dtype=np.float64).reshape(-1, 2)
    if inverse is not None and len(pts):
        pts = pts @ inverse[:, :2].T + inverse[:, 2]
    return tuple((round(float(x)), round(float(y))) for x, y in pts)


# The identifier that announces GS1 data in each symbology. zxing-cpp reports variants
# (e.g. ``]d5``/``]d8`` when an ECI or reader-programming flag is also set); the domain parser
# only needs to know the data is a GS1 element string, so the code carries the canonical one
# and the exact identifier stays in ``Sighting.symbology_identifier``.
_GS1_PREFIX: Final = {"code128": "]C1", "datamatrix": "]d2", "qrcode": "]Q3"}


def _zx_code(barcode: zxingcpp.Barcode, symbology: str) -> str:
    text = str(barcode.text)
    if barcode.content_type == zxingcpp.ContentType.GS1 and symbology in _GS1_PREFIX:
        return _GS1_PREFIX[symbology] + text
    return text


def _zx_polygon(barcode: zxingcpp.Barcode, inverse: _Affine | None) -> Polygon:
    p = barcode.position
    corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    return _transform_points(((c.x, c.y) for c in corners), inverse)


def _zxing(
    image: Gray,
    formats: zxingcpp.BarcodeFormats,
    variant: str,
    inverse: _Affine | None = None,
    *,
    full: bool = False,
    try_rotate: bool = False,
    binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
    errors: list[UnreadSpot] | None = None,
) -> list[_Read]:
    """zxing-cpp on ``image``; positions mapped to frame coordinates through ``inverse``."""
    found = zxingcpp.read_barcodes(
        image,
        formats=formats,
        # Crops are already deskewed and at a good scale: rotation and downscaling passes
        # would only cost time there. (try_rotate also matters to zxing-cpp's DataMatrix
        # detector, which finds far fewer symbols without it.)
        try_rotate=try_rotate,
        # zxing-cpp's pyramid helps on large pictures (big modules, blur at full scale);
        # on a 1080p photo it found nothing more in our pile set and cost a quarter.
        try_downscale=full and image.size > _DOWNSCALE_FROM,
        # Drug labels are dark on light; doubling every pass for the few that are not would
        # cost every photo (the second tier tries unread matrix regions inverted instead).
        try_invert=False,
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=binarizer,
        return_errors=errors is not None,
    )
    reads: list[_Read] = []
    for b in found:
        symbology = _ZX_NAMES.get(b.format)
        if symbology is None:
            continue
        if not b.valid:
            if errors is not None:
                errors.append(UnreadSpot(_zx_polygon(b, inverse), symbology, f"zxing: {b.error}"))
            continue
        polygon = _zx_polygon(b, inverse)
        identifier = str(b.symbology_identifier)
        reads.append(_Read(_zx_code(b, symbology), symbology, identifier, polygon, f"zxing/{variant}"))
    return reads


def _zbar_code(data: bytes, symbology: str) -> str | None:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    if symbology == "ean13":
        return text if len(text) == 13 and text.isdigit() else None
    return text


def _pyzbar(image: Gray, variant: str, inverse: _Affine | None = None) -> list[_Read]:
    reads: list[_Read] = []
    for sym in scan_rows(image):
        symbology = _ZBAR_NAMES.get(sym.type)
        if symbology is None:
            continue
        code = _zbar_code(sym.data, symbology)
        if code is None:
            continue
        identifier = "]E0" if symbology == "ean13" else "]C0"
        corners: list[tuple[float, float]] = []
        if sym.points:
            # zbar gives the ends of every scan line that decoded; keep their hull's corners.
            rect = cv2.minAreaRect(np.asarray(sym.points, dtype=np.float32))
            corners = [(float(x), float(y)) for x, y in cv2.boxPoints(rect)]
        reads.append(_Read(code, symbology, identifier, _transform_points(corners, inverse),
                           f"pyzbar/{variant}"))  # fmt: skip
    return reads


# --------------------------------------------------------------------------- detector


def _detect(gray: Gray, max_linear: int, max_matrix: int) -> list[_Candidate]:
    """Candidate 1D and 2D symbol regions from the gradient structure tensor."""
    half = cv2.resize(gray, None, fx=_HALF, fy=_HALF, interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(half, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(half, cv2.CV_32F, 0, 1, ksize=3)
    grid = (half.shape[1] // 4, half.shape[0] // 4)
    if min(grid) < 3:
        return []  # smaller than 24×24 px: nothing a detector could add to the full pass
    j11 = _f32(cv2.resize(cv2.multiply(gx, gx), grid, interpolation=cv2.INTER_AREA))
    j22 = _f32(cv2.resize(cv2.multiply(gy, gy), grid, interpolation=cv2.INTER_AREA))
    j12 = _f32(cv2.resize(cv2.multiply(gx, gy), grid, interpolation=cv2.INTER_AREA))
    # Signed mean gradient against mean gradient magnitude: ~1 on a step edge (box and label
    # borders, table edges, whose gradients all point one way), ~0 over bars and modules,
    # whose edges alternate. Without it, borders merge with the symbols they frame and
    # drag the estimated bar angle towards their own.
    mean_gx = cv2.resize(gx, grid, interpolation=cv2.INTER_AREA)
    mean_gy = cv2.resize(gy, grid, interpolation=cv2.INTER_AREA)
    mean_mag = cv2.resize(cv2.magnitude(gx, gy), grid, interpolation=cv2.INTER_AREA)
    # A 3×3-cell window (24 px) spans several bars even at large modules.
    j11, j22, j12, mean_gx, mean_gy, mean_mag = (
        _f32(cv2.blur(j, (3, 3))) for j in (j11, j22, j12, mean_gx, mean_gy, mean_mag)
    )
    stepness = _f32(cv2.magnitude(mean_gx, mean_gy)) / (mean_mag + 1e-3)
    trace = j11 + j22
    coherence = _f32(cv2.magnitude(j11 - j22, 2 * j12)) / (trace + 1e-3)
    energy = _f32(np.sqrt(trace))
    # Threshold relative to the picture (lighting and contrast vary by a factor of 5 between
    # photos), with a floor so a flat picture yields nothing rather than its noise.
    # The median would do for a pile, but a close-up whose symbol fills the frame has a
    # median inside the symbol; a low percentile stays in the background, and the cap keeps
    # a busy background from hiding the symbols.
    low, high = (float(v) for v in np.percentile(energy, (20, 99)))
    thr = max(min(2.5 * low, 0.3 * high), 12.0)
    strong = (energy > thr) & (stepness < 0.45)
    linear_mask = (strong & (coherence > 0.55)).astype(np.uint8)
    matrix_mask = (strong & (coherence < 0.45)).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    linear_mask = _u8(cv2.morphologyEx(linear_mask, cv2.MORPH_CLOSE, kernel))
    matrix_mask = _u8(cv2.morphologyEx(matrix_mask, cv2.MORPH_CLOSE, kernel))
    scale = gray.shape[1] / grid[0]
    out = _components(linear_mask, "linear", j11, j22, j12, energy, scale, max_linear)
    out += _components(matrix_mask, "matrix", j11, j22, j12, energy, scale, max_matrix)
    return out


def _components(
    mask: Gray,
    kind: Literal["linear", "matrix"],
    j11: _F32,
    j22: _F32,
    j12: _F32,
    energy: _F32,
    scale: float,
    limit: int,
) -> list[_Candidate]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    energy_sum = np.bincount(labels.ravel(), weights=energy.ravel(), minlength=n)
    energy_sum[0] = 0.0
    # Fewer than 3 cells (24×24 px) is a character or a scratch, not a readable symbol.
    energy_sum[stats[:, cv2.CC_STAT_AREA] < 3] = 0.0
    # Geometry costs ~0.1 ms a component and a busy picture has ~70: measure only the
    # strongest few, with slack for those the geometry then rejects.
    order = [int(i) for i in np.argsort(-energy_sum)[: limit + 4] if energy_sum[i] > 0]
    scored: list[tuple[float, _Candidate]] = []
    for i in order:
        x, y, w, h, _area = (int(v) for v in stats[i])
        sub = labels[y : y + h, x : x + w] == i
        ys, xs = np.nonzero(sub)
        pts = np.stack([xs + x, ys + y], axis=1).astype(np.float32) + 0.5
        if kind == "linear":
            cx, cy = float(pts[:, 0].mean()), float(pts[:, 1].mean())
            a11 = float(j11[y : y + h, x : x + w][sub].sum())
            a22 = float(j22[y : y + h, x : x + w][sub].sum())
            a12 = float(j12[y : y + h, x : x + w][sub].sum())
            normal = 0.5 * math.atan2(2 * a12, a11 - a22)
            axis = _long_axis(pts, normal)
            extent = _oblique_extent(pts, (cx, cy), normal, axis)
            if extent is None:
                continue
            (cx, cy), length, height = extent
            # A 1D symbol is at least ~3 cells across its bars and not a hairline.
            if length < 3 or height < 1.5:
                continue
            size = (length * scale, height * scale)
        else:
            normal = axis = 0.0
            (cx, cy), (rw, rh), _deg = cv2.minAreaRect(pts)
            rw, rh = rw + 1.0, rh + 1.0
            # DataMatrix and QR on boxes are square or 1:2 rectangles of at least ~40 px;
            # lines of text are longer and thinner, specks smaller.
            if max(rw, rh) / min(rw, rh) > 2.2 or max(rw, rh) * scale > 900:
                continue
            if min(rw, rh) * scale < 24:
                continue
            size = (rw * scale, rh * scale)
        score = float(energy_sum[i])
        scored.append(
            (score, _Candidate((cx * scale, cy * scale), size, normal, axis, kind, "detector", kind))
        )
    scored.sort(key=lambda t: -t[0])
    return [c for _, c in scored[:limit]]


# --------------------------------------------------------------------------- crops


def _long_axis(pts: _F32, normal: float) -> float:
    """Principal axis of the component's cells, oriented like ``normal``; shear capped."""
    centred = pts - pts.mean(axis=0)
    cxx = float(np.dot(centred[:, 0], centred[:, 0]))
    cyy = float(np.dot(centred[:, 1], centred[:, 1]))
    cxy = float(np.dot(centred[:, 0], centred[:, 1]))
    axis = 0.5 * math.atan2(2 * cxy, cxx - cyy)
    spread = math.hypot(cxx - cyy, 2 * cxy)
    major, minor = (cxx + cyy + spread) / 2, (cxx + cyy - spread) / 2
    shear = (axis - normal + math.pi / 2) % math.pi - math.pi / 2
    # Perspective rarely shears a symbol by more than ~30°; beyond that the component is a
    # barcode merged with a neighbour, and the bars' normal is the better guess. A roundish
    # component has no reliable long axis at all.
    if abs(shear) > math.radians(30) or major < 2.0 * max(minor, 1e-6):
        return normal
    return normal + shear


def _oblique_extent(
    pts: _F32, center: tuple[float, float], normal: float, axis: float
) -> tuple[tuple[float, float], float, float] | None:
    """Centre, length along ``axis`` and height along the bars of a point set."""
    # Coordinates (a, b) with p - centre = a·e1 + b·bar, solved by Cramer's rule.
    e1x, e1y = math.cos(axis), math.sin(axis)
    bx, by = -math.sin(normal), math.cos(normal)
    det = e1x * by - e1y * bx
    if abs(det) < 0.3:
        return None
    dx = pts[:, 0] - center[0]
    dy = pts[:, 1] - center[1]
    a = (dx * by - dy * bx) / det
    b = (e1x * dy - e1y * dx) / det
    a_lo, a_hi, b_lo, b_hi = float(a.min()), float(a.max()), float(b.min()), float(b.max())
    ma, mb = (a_lo + a_hi) / 2, (b_lo + b_hi) / 2
    c = (center[0] + ma * e1x + mb * bx, center[1] + ma * e1y + mb * by)
    return c, a_hi - a_lo + 1.0, b_hi - b_lo + 1.0


def _refine(gray: Gray, cand: _Candidate) -> _Candidate:
    """Re-measure the bars' direction at full resolution inside the candidate.

    The detector's direction comes from 8-pixel cells that also cover digits, label edges
    and neighbours; a few degrees of error smear thin bars once rows are averaged.
    """
    length, height = cand.size
    # A band through the middle is enough to measure a direction; the full height of a big
    # candidate would only cost time.
    w, h = round(min(length, 900)), round(min(max(height, 16.0), 96))
    if w < 16 or h < 8:
        return cand
    c, sn = math.cos(cand.normal), math.sin(cand.normal)
    cx, cy = cand.center
    m = np.array([[c, sn, 0.0], [-sn, c, 0.0]])
    m[0, 2] = w / 2 - (m[0, 0] * cx + m[0, 1] * cy)
    m[1, 2] = h / 2 - (m[1, 0] * cx + m[1, 1] * cy)
    patch = _u8(cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE))  # fmt: skip
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
    a11 = float(cv2.sumElems(cv2.multiply(gx, gx))[0])
    a22 = float(cv2.sumElems(cv2.multiply(gy, gy))[0])
    a12 = float(cv2.sumElems(cv2.multiply(gx, gy))[0])
    delta = 0.5 * math.atan2(2 * a12, a11 - a22)
    # Only a correction: beyond ~20° the patch no longer shows the same structure.
    if abs(delta) > math.radians(20):
        return cand
    return _Candidate(cand.center, cand.size, cand.normal + delta, cand.axis, cand.kind,
                      cand.origin, cand.hint, _edge_count(patch))  # fmt: skip


def _linear_crop(
    gray: Gray, cand: _Candidate, module_px: float = _TARGET_MODULE_PX
) -> tuple[Gray, _Affine] | None:
    """Cut ``cand`` out with its bars vertical, scaled, rows averaged along the bars."""
    length, height = cand.size
    # Quiet zones (10 modules) plus the detector's coarse edges: the detected extent often
    # misses a low-contrast end of the symbol, so pad generously across the bars.
    pad = 0.3 * length + 24
    out_len = length + 2 * pad
    out_h = max(height, 24.0)
    # The module size is unknown until decoded; a 20-digit Code 128 spans ~145 modules and
    # an EAN-13 95, so scale the symbol's length to ~130 modules of ``module_px``. Never
    # shrink: thin bars in a photo are already at the edge of what decoders resolve.
    s = max(1.0, min(4.0, 130 * module_px / max(length, 1.0)))
    width_px = round(out_len * s)
    if width_px < 16 or width_px > 4000:
        return None
    # Averaging ~3 full-resolution rows per output row cancels noise and JPEG blocks without
    # smearing the bars that perspective leaves slightly tilted. Decoders need a few good
    # rows, not hundreds: 32 rows is plenty and keeps warps and scans cheap.
    height_px = max(8, min(32, round(out_h / 3)))
    cx, cy = cand.center
    dense_rows = max(height_px, min(round(out_h), 3 * height_px))
    # Affine frame → crop taking the symbol's axis to +x (scaled by s) and the bars to +y
    # (full density): a sheared symbol comes out as an upright rectangle with vertical bars.
    # The rows are then area-averaged down to height_px.
    e1 = np.array([math.cos(cand.axis), math.sin(cand.axis)])
    bar = np.array([-math.sin(cand.normal), math.cos(cand.normal)])
    basis = np.stack([e1, bar], axis=1)
    if abs(float(np.linalg.det(basis))) < 0.3:
        return None
    linear = np.diag([s, dense_rows / out_h]) @ np.linalg.inv(basis)
    m_dense = np.zeros((2, 3))
    m_dense[:, :2] = linear
    m_dense[:, 2] = np.array([width_px / 2, dense_rows / 2]) - linear @ np.array([cx, cy])
    dense = cv2.warpAffine(
        gray, m_dense, (width_px, dense_rows), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    crop = cv2.resize(dense, (width_px, height_px), interpolation=cv2.INTER_AREA)
    m = m_dense.copy()
    m[1] *= height_px / dense_rows
    return np.asarray(crop, dtype=np.uint8), np.asarray(cv2.invertAffineTransform(m))


def _matrix_crop(gray: Gray, cand: _Candidate, scale: float) -> tuple[Gray, _Affine] | None:
    w, h = cand.size
    side = max(w, h) * 1.5 + 24
    cx, cy = cand.center
    x0 = max(0, int(cx - side / 2))
    y0 = max(0, int(cy - side / 2))
    x1 = min(gray.shape[1], int(cx + side / 2))
    y1 = min(gray.shape[0], int(cy + side / 2))
    if x1 - x0 < 12 or y1 - y0 < 12:
        return None
    crop = gray[y0:y1, x0:x1]
    if scale != 1.0:
        crop = _u8(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    m = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
    return np.asarray(crop, dtype=np.uint8), np.asarray(cv2.invertAffineTransform(m))


def _edge_count(crop: Gray) -> int:
    """Bar edges along the middle rows of a deskewed 1D crop (hysteresis on the profile)."""
    rows = crop[crop.shape[0] // 4 : max(crop.shape[0] * 3 // 4, crop.shape[0] // 4 + 1)]
    profile = rows.astype(np.float32).mean(axis=0)
    span = float(profile.max() - profile.min())
    if span < 8:
        return 0
    local = cv2.blur(profile.reshape(1, -1), (31, 1)).ravel()
    diff = profile - local
    hyst = 0.12 * span
    state = 0
    edges = 0
    for d in diff:
        if d > hyst and state <= 0:
            edges += state != 0
            state = 1
        elif d < -hyst and state >= 0:
            edges += state != 0
            state = -1
    return edges


def _percentiles(img: Gray, lo_q: float, hi_q: float) -> tuple[float, float]:
    # A 256-bin histogram is ~20× faster than np.percentile's partition on uint8 pixels.
    hist = cv2.calcHist([img], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist)
    total = float(cdf[-1])
    lo = float(np.searchsorted(cdf, lo_q * total))
    hi = float(np.searchsorted(cdf, hi_q * total))
    return lo, hi


def _stretch(img: Gray) -> Gray:
    """Map the 1st-99th percentile to 0-255: glare and shadow leave symbols at 20 % contrast."""
    lo, hi = _percentiles(img, 0.01, 0.99)
    if hi - lo < 4:
        return img
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    return np.asarray(cv2.LUT(img, lut.astype(np.uint8)), dtype=np.uint8)


def _unsharp(img: Gray, sigma: float, amount: float) -> Gray:
    blurred = cv2.GaussianBlur(img, (0, 0), sigma)
    # Saturating uint8 arithmetic: clipping is what we want anyway, at a third of the cost.
    return np.asarray(cv2.addWeighted(img, 1.0 + amount, blurred, -amount, 0), dtype=np.uint8)


def _float_percentiles(values: npt.NDArray[np.floating[Any]]) -> tuple[float, float]:
    """1st and 99th percentiles by partition (np.percentile costs ~1 ms a call here)."""
    flat = values.ravel()
    k_lo, k_hi = int(0.01 * (flat.size - 1)), int(0.99 * (flat.size - 1))
    part = np.partition(flat, (k_lo, k_hi))
    return float(part[k_lo]), float(part[k_hi])


def _wiener_rows(img: Gray, width: float, box: bool = False, snr: float = 40.0) -> Gray:
    """Each row deconvolved (Wiener filter) by a Gaussian of σ ``width`` px, or a box of
    ``width`` px (motion across the bars), then stretched to 0-255."""
    pad = int(4 * width) + 8
    rows = np.pad(img.astype(np.float32), ((0, 0), (pad, pad)), mode="edge")
    n = rows.shape[1]
    freq = np.fft.rfftfreq(n)
    # The kernel's Fourier transform sampled at the FFT's frequencies (both are symmetric,
    # so real): a Gaussian's is a Gaussian, a box's a sinc.
    kernel = np.sinc(width * freq) if box else np.exp(-2.0 * (math.pi * width * freq) ** 2)
    gain = kernel / (kernel**2 + 1.0 / snr)
    out = np.fft.irfft(np.fft.rfft(rows, axis=1) * gain, n=n, axis=1)[:, pad:-pad]
    lo, hi = _float_percentiles(out)
    if hi - lo < 1e-3:
        return img
    return np.asarray(np.clip((out - lo) * (255.0 / (hi - lo)), 0, 255), dtype=np.uint8)


def _prep(name: str, img: Gray, module_px: float) -> Gray:
    """Pre-processing variant ``name`` for an image whose module is ~``module_px`` pixels.

    ``sharp`` undoes mild defocus (unsharp mask at the module's scale), ``sharp+`` stronger
    blur, ``clahe`` uneven light across the symbol (glare, shadow edge), ``stretch`` low
    contrast alone.
    """
    if name == "raw":
        return img
    if name.startswith("invert-"):
        # Light modules on dark (etched plastic, a screen): the variant named after it, inverted.
        return _u8(cv2.bitwise_not(_prep(name[7:], img, module_px)))
    if name == "stretch":
        return _stretch(img)
    if name == "sharp":
        return _unsharp(_stretch(img), module_px / 3.5, 1.5)
    if name == "sharp+":
        return _unsharp(_stretch(img), 1.5 * module_px / 3.5, 3.0)
    if name.startswith("wiener"):
        # Defocus across the bars, undone: rows deconvolved by a Gaussian of this many
        # modules (a 1.1-2 px module under σ 0.6-1.6 px blur is 0.5-1 module of blur).
        return _wiener_rows(img, float(name[6:]) * module_px)
    if name == "sharp1":
        # Unsharp at one source pixel: a small symbol's modules are 1-2 px, so its blur is
        # a pixel or so whatever the upscaling (``module_px`` is the scale factor here).
        return _unsharp(_stretch(img), module_px, 3.0)
    if name == "clahe":
        # A CLAHE object keeps work buffers: one per call, since regions run on threads.
        clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4))
        return _u8(clahe.apply(img))
    raise ValueError(name)


# (module px or scale, variant, engine). Orders chosen greedily on rendered harsh piles
# (bench/scan_bench.py): each step is the one that decoded most of what the steps before it
# left unread; later steps also supply the second, independent vote for a read.
_Step = tuple[float, str, str]
_LINEAR_LADDER: Final[tuple[_Step, ...]] = (
    (5.0, "sharp", "zxing"),
    (5.0, "sharp", "pyzbar"),
    (3.5, "clahe", "pyzbar"),
    (3.5, "sharp+", "zxing-global"),
    (2.5, "sharp", "zxing"),
    (3.5, "stretch", "zxing"),
)
# The second tier, for regions the first saw but could not read (see decode_frame).
_RESCUE_LINEAR_LADDER: Final[tuple[_Step, ...]] = (
    (5.0, "wiener0.5", "zxing"),
    (3.5, "sharp+", "pyzbar"),
    (5.0, "sharp+", "zxing"),
    (3.5, "wiener0.5", "zxing"),
    (5.0, "sharp+", "pyzbar"),
    (5.0, "wiener0.5", "pyzbar"),
    (3.5, "clahe", "zxing"),
    (5.0, "wiener0.8", "zxing"),
)
# zxing-cpp half-saw these symbols: worth the whole ladder. Small modules need the upscale
# and a sharpening at the source pixel's scale.
_RESCUE_MATRIX_LADDER: Final[tuple[_Step, ...]] = (
    (2.0, "sharp1", "zxing"),
    (3.0, "sharp1", "zxing"),
    (4.0, "sharp1", "zxing"),
    (1.0, "sharp1", "zxing"),
)
# The detector's matrix candidates already had 2× and 3× in the first tier.
# Unsharpened too: a 1.1-2 px module sharpened at the source pixel rings (+1 code on the harsh
# photos at 80 ms; the same step in the ladder above cost one).
_RESCUE_DETECTED_MATRIX_LADDER: Final[tuple[_Step, ...]] = ((3.0, "sharp1", "zxing"), (3.0, "raw", "zxing"))
# A matrix region read inverted (light modules on dark), after everything else.
_INVERTED_MATRIX_LADDER: Final[tuple[_Step, ...]] = ((2.0, "invert-sharp1", "zxing"),)
# A symbol already read by the full pass only needs one more, independent, decode.
_CONFIRM_LADDER: Final[tuple[_Step, ...]] = (
    (5.0, "sharp", "pyzbar"),
    (3.5, "clahe", "pyzbar"),
    (5.0, "sharp", "zxing"),
)
# Matrix candidates from the detector alone: most are text or texture, so only two steps,
# both for small symbols (the full pass reads large ones).
_DETECTED_MATRIX_LADDER: Final[tuple[_Step, ...]] = ((2.0, "sharp1", "zxing"),)
_MATRIX_LADDER: Final[tuple[_Step, ...]] = (
    (2.0, "sharp+", "zxing"),
    (2.0, "raw", "zxing"),
    (3.0, "stretch", "zxing"),
    (1.5, "sharp+", "zxing"),
)


def _engine_read(
    img: Gray, engine: str, variant: str, formats: zxingcpp.BarcodeFormats, inverse: _Affine
) -> list[_Read]:
    if engine == "pyzbar":
        if img.shape[0] > _ZBAR_ROWS:
            # zbar's cost is per scan line, whatever the width; averaging pairs of rows
            # (along the bars) halves it and loses nothing.
            squeezed = _u8(cv2.resize(img, (img.shape[1], _ZBAR_ROWS), interpolation=cv2.INTER_AREA))
            fy = img.shape[0] / _ZBAR_ROWS
            inverse = inverse @ np.array([[1.0, 0.0, 0.0], [0.0, fy, 0.0], [0.0, 0.0, 1.0]])
            return _pyzbar(squeezed, variant, inverse)
        return _pyzbar(img, variant, inverse)
    binarizer = (
        zxingcpp.Binarizer.GlobalHistogram if engine == "zxing-global"
        else zxingcpp.Binarizer.LocalAverage
    )  # fmt: skip
    # zxing-cpp's DataMatrix detector finds far fewer symbols without try_rotate.
    return _zxing(img, formats, variant, inverse, binarizer=binarizer,
                  try_rotate=formats == _MATRIX_FORMATS)  # fmt: skip


def _climb_linear(
    gray: Gray,
    cand: _Candidate,
    ladder: Sequence[_Step],
    need: int = 2,
    base: tuple[Gray, _Affine, float] | None = None,
    prior: Sequence[_Read] = (),
    budget: _Budget | None = None,
) -> list[_Read]:
    """Run the 1D ladder until ``need`` independent decodes agree (or it runs out).

    ``prior`` reads (an earlier tier's, not returned) count towards the agreement; with a
    ``budget``, each step is charged to it and none starts once it is spent."""
    if base is None:
        base = _linear_base(gray, cand, max(step[0] for step in ladder))
        if base is None:
            return []
    crops: dict[float, tuple[Gray, _Affine]] = {}
    got: list[_Read] = []
    for module_px, variant, engine in ladder:
        if budget is not None and not budget.left():
            break
        if module_px not in crops:
            crops[module_px] = _rescale_crop(base, module_px)
        crop, inverse = crops[module_px]
        if budget is not None:
            budget.step(crop.size, variant, engine)
        label = f"m{module_px:g}-{variant}"
        got += _engine_read(_prep(variant, crop, module_px), engine, label, _LINEAR_FORMATS,
                            inverse)  # fmt: skip
        if _agreed([*prior, *got], need):
            break
    return got


def _linear_base(gray: Gray, cand: _Candidate, module_px: float) -> tuple[Gray, _Affine, float] | None:
    cut = _linear_crop(gray, cand, module_px)
    return None if cut is None else (cut[0], cut[1], module_px)


def _rescale_crop(base: tuple[Gray, _Affine, float], module_px: float) -> tuple[Gray, _Affine]:
    """The base crop resampled across the bars to another module size (one warp per region)."""
    crop, inverse, base_px = base
    if module_px == base_px:
        return crop, inverse
    f = module_px / base_px
    width = max(16, round(crop.shape[1] * f))
    small = cv2.resize(crop, (width, crop.shape[0]), interpolation=cv2.INTER_AREA)
    fx = crop.shape[1] / width
    # crop_base x = fx * crop_small x; compose with the base crop's inverse.
    scale = np.array([[fx, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return np.asarray(small, dtype=np.uint8), np.asarray(np.vstack([inverse, [0, 0, 1]]) @ scale)[:2]


def _climb_matrix(
    gray: Gray, cand: _Candidate, ladder: Sequence[_Step], budget: _Budget | None = None
) -> list[_Read]:
    """Run the 2D ladder until a symbol decodes: Reed-Solomon needs no second vote."""
    crops: dict[float, tuple[Gray, _Affine] | None] = {}
    for scale, variant, engine in ladder:
        if budget is not None and not budget.left():
            break
        # Large symbols have large modules; upscaling them only costs time.
        if max(cand.size) * scale > 800:
            scale = 1.0
        if scale not in crops:
            crops[scale] = _matrix_crop(gray, cand, scale)
        cut = crops[scale]
        if cut is None:
            continue
        crop, inverse = cut
        if budget is not None:
            budget.step(crop.size, variant, "zxing-matrix")
        got = _engine_read(_prep(variant, crop, scale * 1.0), engine, f"x{scale:g}-{variant}",
                           _MATRIX_FORMATS, inverse)  # fmt: skip
        if got:
            return got
    return []


# --------------------------------------------------------------------------- geometry


def _poly_contains(polygon: Polygon, point: tuple[float, float], margin: float = 0.0) -> bool:
    if len(polygon) < 3:
        if not polygon:
            return False
        xs = [p[0] for p in polygon]
        ys = [p[1] for p in polygon]
        return (min(xs) - margin <= point[0] <= max(xs) + margin
                and min(ys) - margin <= point[1] <= max(ys) + margin)  # fmt: skip
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    hull = cv2.convexHull(contour)
    return float(cv2.pointPolygonTest(hull, point, True)) >= -margin


def _centroid(polygon: Polygon) -> tuple[float, float]:
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    return float(pts[:, 0].mean()), float(pts[:, 1].mean())


def _covered(cand_poly: Polygon, reads: Sequence[_Read]) -> bool:
    c = _centroid(cand_poly)
    return any(
        _poly_contains(r.polygon, c, margin=12.0) or _poly_contains(cand_poly, _centroid(r.polygon))
        for r in reads
    )


def _area(polygon: Polygon) -> float:
    if len(polygon) < 3:
        return 0.0
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return float(cv2.contourArea(cv2.convexHull(pts)))


def _comparable(code: str) -> str:
    """A code without identifier and separators, to match pyzbar's GS1-blind text."""
    if code[:3] in GS1_IDENTIFIERS:
        try:
            return element_string_to_hri(code).replace("(", "").replace(")", "")
        except ValueError:
            return code[3:].replace(GS, "")
    return code


# --------------------------------------------------------------------------- main entry


class _Budget:
    """The second tier's work on one frame, in estimated milliseconds of one core.

    Not a clock: each step is charged its cost estimated from the pixels it handles (rates
    measured on the machine of ``bench/RESULTS.md``), so the same photo with the same budget
    gives the same reads on any machine and under any load (a scan is evidence: scanned
    twice, a photo must give the same boxes), and a larger budget runs the same steps and
    more.
    """

    def __init__(self, limit_ms: float | None, spent_ms: float) -> None:
        self.limit = limit_ms
        self.spent = spent_ms

    def left(self) -> bool:
        return self.limit is None or self.spent < self.limit

    def charge(self, ms: float) -> None:
        self.spent += ms

    def step(self, pixels: int, variant: str, engine: str) -> None:
        """Charge one ladder step: pre-processing ``variant``, then ``engine``, on ``pixels``."""
        prep = _PREP_NS.get(variant.rstrip("0123456789."), _PREP_NS["sharp"])
        self.charge(pixels * (prep + _ENGINE_NS[engine]) * 1e-6)


# Measured costs (ns per input pixel; bench/RESULTS.md's machine, harsh corpus photos).
_TIER1_MS_PER_MP: Final = 21.0
_PREP_NS: Final = {"raw": 0.0, "stretch": 2.0, "sharp": 6.0, "sharp+": 6.0, "clahe": 6.0,
                   "wiener": 40.0}  # fmt: skip
_ENGINE_NS: Final = {"zxing": 3.5, "zxing-global": 4.3, "pyzbar": 12.0, "zxing-matrix": 7.0}
_WIENER2_NS: Final = 70.0
# scanners.code128.read_national on one crop (two orientations searched), whatever its size.
_MODEL_MS: Final = 10.0
_MODEL_ENDS_MS: Final = 2.5
_MODEL_REFIT_MS: Final = 1.5
_PSF_MS_PER_TILE: Final = 0.5


def decode_frame(
    image: npt.NDArray[Any],
    *,
    effort: Effort = "full",
    executor: Executor | None = None,
    budget_ms: float | None = None,
) -> FrameReads:
    """Decode every supported symbol in ``image`` (gray, BGR or BGRA ``uint8`` array).

    Returns sightings (one per distinct code) and unread spots. With an ``executor`` the
    full-frame pass, the detector and the regions run on its threads (zxing-cpp, zbar and
    OpenCV release the GIL). The result does not depend on it: every candidate is processed
    on its own and the reads are merged in a fixed order.

    ``budget_ms`` bounds the second tier (``effort="full"`` only), in milliseconds of one
    core estimated from the pixels each step handles (see :class:`_Budget`; the first tier
    is charged by the frame's size, ~21 ms a megapixel), so the result does not depend on
    the machine's speed or load; each step starts only while the budget lasts. ``None``
    lifts the bound, ``0`` skips the tier. A larger budget never reads less: it runs the
    same steps and more, and second-tier reads that contradict a first-tier read at the
    same place are dropped.
    """
    gray = to_gray(image)
    matrix_errors: list[UnreadSpot] = []
    linear_errors: list[UnreadSpot] = []
    max_linear, max_matrix = (12, 30) if effort == "full" else (5, 2)

    # Matrix symbols need try_rotate; linear ones do not (the region pass deskews them), and
    # without it the linear scan costs a third.
    def matrix_pass() -> list[_Read]:
        return _zxing(gray, _MATRIX_FORMATS, "full", full=True, try_rotate=True,
                      errors=matrix_errors)  # fmt: skip

    if executor is not None:
        matrix_future = executor.submit(matrix_pass)
        detected = _detect(gray, max_linear, max_matrix)
        reads = _zxing(gray, _LINEAR_FORMATS, "full", full=True, errors=linear_errors)
        reads = matrix_future.result() + reads
    else:
        reads = matrix_pass()
        reads += _zxing(gray, _LINEAR_FORMATS, "full", full=True, errors=linear_errors)
        detected = _detect(gray, max_linear, max_matrix)

    candidates: list[_Candidate] = []
    # zxing-cpp's own failed detections come first: a symbol is certainly there.
    for spot in matrix_errors + linear_errors:
        if spot.symbology_hint in ECC_SYMBOLOGIES:
            (cx, cy), (w, h), _deg = cv2.minAreaRect(np.asarray(spot.polygon, np.float32))
            candidates.append(_Candidate((cx, cy), (w, h), 0.0, 0.0, "matrix", "zxing-error",
                                         spot.symbology_hint))  # fmt: skip
        else:
            candidates.append(_linear_from_polygon(spot.polygon, "zxing-error",
                                                   spot.symbology_hint))  # fmt: skip
    candidates += detected
    # Each region is processed independently (so it can run on any thread); overlapping
    # candidates would decode the same symbol twice, so the later one is dropped up front.
    kept: list[_Candidate] = []
    for cand in candidates:
        poly = cand.polygon()
        if _covered(poly, reads):
            continue
        centre = _centroid(poly)
        if any(k.kind == cand.kind and _poly_contains(k.polygon(), centre) for k in kept):
            continue
        kept.append(cand)

    def region(cand: _Candidate) -> tuple[list[_Read], UnreadSpot | None]:
        return _region(gray, cand, effort)

    def confirm(r: _Read) -> list[_Read]:
        # A 1D symbol read once by the full pass gets a second, independent decode from its
        # deskewed crop: without it a single checksum is all that vouches for the text.
        cand = _refine(gray, _linear_from_polygon(r.polygon, "read", r.symbology))
        return _climb_linear(gray, cand, _CONFIRM_LADDER, need=1)

    to_confirm = [r for r in reads if r.symbology not in ECC_SYMBOLOGIES]

    mapper = map if executor is None else executor.map

    region_results = list(mapper(region, kept))
    confirmations = list(mapper(confirm, to_confirm))

    unread: list[UnreadSpot] = []
    for got, missed in region_results:
        reads += got
        if missed is not None:
            unread.append(missed)
    for extra in confirmations:
        reads += extra

    # Tier 2: the expensive ladders, only on regions seen but not read, while the budget
    # lasts. It runs on this thread, region after region and step after step in a fixed
    # order, each step only while the budget lasts: a larger budget runs the same steps and
    # more, whatever the machine's speed or load.
    if effort == "full" and budget_ms != 0:
        budget = _Budget(budget_ms, _TIER1_MS_PER_MP * gray.size / 1e6)
        # Unread symbols, and 1D reads no second decode confirms (a lone zbar read is not
        # trusted, and a lone zxing-cpp read only with a catalog).
        hard = [(c, got) for c, (got, missed) in zip(kept, region_results, strict=True)
                if (got and not _agreed(got, 2)) or (not got and (missed is not None
                                                                  or c.kind == "matrix"))]  # fmt: skip
        # Surest payoff first (measured on the harsh corpus): 1D symbols, then matrix symbols
        # zxing-cpp half-saw, then the detector's matrix candidates (mostly text).
        hard.sort(key=lambda job: 0 if job[0].kind == "linear" else
                  1 if job[0].origin == "zxing-error" else 2)  # fmt: skip

        # Hand shake blurs the whole photo with one kernel: estimated once, around the
        # regions that need it, for the deconvolution step of the rescue.
        psf = None
        if hard and budget.left():
            centres = [c.center for c, _ in hard][:_PSF_TILES]
            budget.charge(_PSF_MS_PER_TILE * (1 + len(centres)))
            psf = _motion_psf(gray, centres)

        settled = list(reads)
        # Regions the model-fitting Code 128 reader read alone: their ladder (a second vote,
        # which a photo without a catalog needs) waits until every other region had its turn,
        # since reading a code is worth more than confirming one.
        confirm_later: list[tuple[_Candidate, list[_Read]]] = []
        for cand, prior in hard:
            if not budget.left():
                break
            got = _rescue(gray, cand, prior, budget)
            if got and all(r.engine.startswith("model/") for r in got):
                confirm_later.append((cand, got))
                reads += _uncontested(got, settled)
                continue
            unsure = not _agreed([*prior, *got], 1 if cand.kind == "matrix" else 2)
            if psf is not None and unsure and budget.left():
                got += _deblurred(gray, cand, psf, [*prior, *got], budget)
            reads += _uncontested(got, settled)
        for cand, got in confirm_later:
            if not budget.left():
                break
            more = _rescue(gray, cand, got, budget)
            reads += _uncontested(more, settled)
        # Light on dark: a code etched into dark plastic or foil, or shown on a phone's screen.
        # The first tier looks for dark on light only (most labels are, and inverting every
        # pass would double it), so the matrix regions still unread are tried inverted last,
        # one step each, while the budget lasts. (An inverted pass over the whole frame read
        # one corpus QR code more for about 7 % more of every photo's time: not kept.)
        for cand, _prior in hard:
            if not budget.left():
                break
            if cand.kind == "matrix" and not _covered(cand.polygon(), reads):
                got = _climb_matrix(gray, cand, _INVERTED_MATRIX_LADDER, budget)
                reads += _uncontested(got, settled)
    return FrameReads(tuple(_merge(reads)), tuple(_drop_explained(unread, reads)))


def _uncontested(got: Sequence[_Read], settled: Sequence[_Read]) -> list[_Read]:
    """The second tier's reads ``got`` that no first-tier read (``settled``) contradicts at the
    same place: the second tier only adds codes where nothing was read, or votes for the same
    code, so a larger budget can never cost a box through a conflict."""
    return [r for r in got if not any(q.code != r.code and _overlap(q.polygon, r.polygon) for q in settled)]


def _rescue(gray: Gray, cand: _Candidate, prior: Sequence[_Read], budget: _Budget) -> list[_Read]:
    """The second tier on one region the first could not read (or read only once)."""
    if cand.kind == "matrix":
        ladder = _RESCUE_MATRIX_LADDER if cand.origin == "zxing-error" else _RESCUE_DETECTED_MATRIX_LADDER
        return _climb_matrix(gray, cand, ladder, budget)
    refined = _refine(gray, cand)
    base = _linear_base(gray, refined, max(step[0] for step in _RESCUE_LINEAR_LADDER))
    if base is None:
        return []
    got: list[_Read] = []
    if not prior and budget.left():
        # Nothing read here yet: the model-fitting reader first (on the harsh photos it reads
        # more than the whole ladder below); the ladder then supplies a second vote, later.
        # The placement is searched once, on the mean of every row that crosses the bars,
        # then tried on bands of five rows too: perspective fans the bars out, and rows
        # averaged across a fan smear them.
        # Placing the start and stop symbols is cheap and rules out most stripes and text
        # (and symbols too damaged to read): only the rest pay for the whole search.
        budget.charge(_MODEL_ENDS_MS)
        crop = base[0]
        profile = bar_profile(crop)
        placements = place(profile)
        if placements:
            budget.charge(_MODEL_MS - _MODEL_ENDS_MS)
        code, where = fit(profile, placements) if placements else (None, None)
        label = "rows"
        middle = len(crop) // 2
        bands = [(f"band{k}", crop[max(k, 0) : k + 5]) for k in (middle - 2, middle - 7, middle + 3)]
        for name, rows in bands:
            if code is not None or where is None or not budget.left():
                break
            budget.charge(_MODEL_REFIT_MS)
            code, _ = fit(bar_profile(rows), [where])
            label = name
        if code is not None:
            got.append(_Read(code, "code128", "]C0", refined.polygon(), f"model/c128-{label}"))
            return got  # the ladder's turn comes later (see decode_frame)
    return got + _climb_linear(gray, refined, _RESCUE_LINEAR_LADDER, base=base,
                               prior=[*prior, *got], budget=budget)  # fmt: skip


# --------------------------------------------------------------------------- motion blur

_PSF_TILE: Final = 256
_PSF_TILES: Final = 4


def _motion_psf(gray: Gray, centres: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Length (px) and direction (rad) of a linear motion blur, from the cepstrum.

    A line kernel of length L multiplies the spectrum by a sinc whose zeros repeat every
    1/L; the log spectrum's own spectrum (the cepstrum) then has a negative peak at distance
    L along the motion. Log spectra of a few tiles around the regions are averaged, so the
    symbols' own periodicity (which differs from tile to tile) fades and the shared kernel
    stays. None when the picture is too small or the peak is not clearly negative.
    """
    t = _PSF_TILE
    h, w = gray.shape
    if h < t or w < t:
        return None
    window = np.outer(np.hanning(t), np.hanning(t)).astype(np.float32)
    acc = np.zeros((t, t // 2 + 1), np.float64)
    # Tiles on the regions themselves: symbols and labels are the sharpest texture of a
    # pile photo (tiles of background around them blurred the estimate on the harsh
    # corpus), and 256 px tiles averaged better than 128 px ones.
    spots = list(centres)[:_PSF_TILES]
    for cx, cy in spots:
        x0 = int(min(max(cx - t / 2, 0), w - t))
        y0 = int(min(max(cy - t / 2, 0), h - t))
        tile = gray[y0 : y0 + t, x0 : x0 + t].astype(np.float32)
        tile = (tile - float(tile.mean())) * window
        acc += np.log(np.abs(np.fft.rfft2(tile)) + 1e-2)
    # A real tile's log spectrum is even, so half of it (rfft2) holds the whole cepstrum.
    cep = np.fft.fftshift(np.fft.irfft2(acc / len(spots), s=(t, t)))
    lengths = np.arange(3.0, 10.01, 0.5)
    angles = np.radians(np.arange(0.0, 180.0, 3.0))
    ll, aa = np.meshgrid(lengths, angles, indexing="ij")
    map_x = (t / 2 + ll * np.cos(aa)).astype(np.float32)
    map_y = (t / 2 + ll * np.sin(aa)).astype(np.float32)
    samples = cv2.remap(cep.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)
    i, j = np.unravel_index(int(np.argmin(samples)), samples.shape)
    # A blur-free picture has no negative peak: its minimum is within the cepstrum's noise.
    ring = samples[max(i - 2, 0) :, :]
    if float(samples[i, j]) > float(ring.mean()) - 3.0 * float(ring.std()):
        return None
    return float(lengths[i]), float(angles[j])


def _line_kernel(length: float, angle: float) -> _F32:
    n = math.ceil(length) + 3
    n += 1 - n % 2
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2
    steps = np.linspace(-length / 2, length / 2, int(length * 4) + 1)
    xs, ys = c + steps * math.cos(angle), c + steps * math.sin(angle)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                        (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):  # fmt: skip
        np.add.at(k, (y0 + dy, x0 + dx), wgt)
    return k / float(k.sum())


def _wiener2(img: Gray, kernel: _F32, snr: float = 60.0) -> Gray:
    """``img`` deconvolved by ``kernel`` (Wiener filter), stretched to 0-255."""
    pad = kernel.shape[0] * 2
    f = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT).astype(np.float32)
    big = np.zeros(f.shape, np.float32)
    n = kernel.shape[0]
    big[:n, :n] = kernel
    big = np.roll(big, (-(n // 2), -(n // 2)), axis=(0, 1))
    kf = np.fft.rfft2(big)
    gain = np.conj(kf) / (np.abs(kf) ** 2 + 1.0 / snr)
    out = np.fft.irfft2(np.fft.rfft2(f) * gain, s=f.shape)[pad:-pad, pad:-pad]
    lo, hi = _float_percentiles(out)
    if hi - lo < 1e-3:
        return img
    return np.asarray(np.clip((out - lo) * (255.0 / (hi - lo)), 0, 255), dtype=np.uint8)


_DEBLURRED_MATRIX_LADDER: Final[tuple[_Step, ...]] = ((1.0, "raw", "zxing"), (2.0, "raw", "zxing"))


def _deblurred(
    gray: Gray, cand: _Candidate, psf: tuple[float, float], prior: Sequence[_Read], budget: _Budget
) -> list[_Read]:
    """The region deconvolved by the photo's motion kernel (and one a pixel shorter, since
    the cepstrum's estimate runs long), then decoded."""
    if cand.kind == "linear":
        return _deblurred_linear(gray, cand, psf, prior, budget)
    w, h = cand.size
    side = max(w, h) * 1.5 + 48
    cx, cy = cand.center
    x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    x1, y1 = min(gray.shape[1], int(cx + side / 2)), min(gray.shape[0], int(cy + side / 2))
    if x1 - x0 < 24 or y1 - y0 < 24:
        return []
    patch = np.ascontiguousarray(gray[y0:y1, x0:x1])
    local = _Candidate((cx - x0, cy - y0), cand.size, cand.normal, cand.axis, cand.kind,
                       cand.origin, cand.hint, cand.edges)  # fmt: skip
    for length in (psf[0] - 1.0, psf[0]):
        if not budget.left():
            break
        budget.charge(patch.size * _WIENER2_NS * 1e-6)
        sharp = _wiener2(patch, _line_kernel(length, psf[1]))
        reads = _climb_matrix(sharp, local, _DEBLURRED_MATRIX_LADDER, budget)
        if reads:
            return [_Read(r.code, r.symbology, r.identifier, _shift(r.polygon, x0, y0),
                          r.engine + f"-psf{length:g}") for r in reads]  # fmt: skip
    return []


def _deblurred_linear(
    gray: Gray, cand: _Candidate, psf: tuple[float, float], prior: Sequence[_Read], budget: _Budget
) -> list[_Read]:
    """A 1D crop's rows deconvolved by the motion kernel's extent across the bars.

    Blur along the bars does no harm (the crop averages along them anyway); across them a
    line of length L at angle φ to the bars' normal is a box of L·|cos φ| pixels.
    """
    refined = _refine(gray, cand)
    base = _linear_base(gray, refined, 5.0)
    if base is None:
        return []
    crop, inverse, _ = base
    frame_px_per_crop_px = float(np.hypot(inverse[0, 0], inverse[1, 0]))
    across = abs(math.cos(psf[1] - refined.normal))
    got: list[_Read] = []
    for length in (psf[0] - 1.0, psf[0]):
        width = length * across / frame_px_per_crop_px
        if width < 1.5:
            return got  # hardly any blur across the bars: nothing to undo
        if not budget.left():
            break
        budget.step(crop.size, "wiener", "zxing")
        sharp = _wiener_rows(crop, width, box=True)
        label = f"m5-psf{length:g}"
        for engine in ("zxing", "pyzbar"):
            if engine == "pyzbar":
                budget.step(crop.size, "raw", engine)
            got += _engine_read(sharp, engine, label, _LINEAR_FORMATS, inverse)
            if _agreed([*prior, *got], 2):
                return got
    return got


def _shift(polygon: Polygon, dx: int, dy: int) -> Polygon:
    return tuple((x + dx, y + dy) for x, y in polygon)


def _region(gray: Gray, cand: _Candidate, effort: Effort) -> tuple[list[_Read], UnreadSpot | None]:
    """Decode one candidate region; an unread spot if it held a symbol that did not decode."""
    poly = cand.polygon()
    unread = UnreadSpot(poly, cand.hint, f"{cand.origin}: not decoded")
    if cand.kind == "matrix":
        # Text and textures look like matrix symbols to the detector; only a symbol that
        # zxing-cpp itself half-saw earns the whole ladder, and is reported if unread.
        if cand.origin == "zxing-error":
            ladder = _MATRIX_LADDER if effort == "full" else _MATRIX_LADDER[:2]
            got = _climb_matrix(gray, cand, ladder)
            return got, (None if got else unread)
        return _climb_matrix(gray, cand, _DETECTED_MATRIX_LADDER), None
    refined = _refine(gray, cand)
    # Cheap gate, on the patch the refinement already cut: stray lines and text edges are
    # coherent too, but show only a few edges across; a symbol shows dozens.
    if cand.origin == "detector" and (refined.edges or 0) < _MIN_LINEAR_EDGES:
        return [], None
    ladder = _LINEAR_LADDER if effort == "full" else _LINEAR_LADDER[:3]
    base = _linear_base(gray, refined, max(step[0] for step in ladder))
    if base is None:
        return [], None
    got = _climb_linear(gray, refined, ladder, base=base)
    return got, (None if got else unread)


def _agreed(reads: Sequence[_Read], need: int) -> bool:
    by_code: dict[str, set[str]] = {}
    for r in reads:
        by_code.setdefault(_comparable(r.code), set()).add(r.engine)
    return any(len(v) >= need for v in by_code.values())


def _linear_from_polygon(polygon: Polygon, origin: str, hint: str | None) -> _Candidate:
    """A 1D candidate from a zxing-cpp/zbar polygon, whose first edge runs along the symbol."""
    p = np.asarray(polygon, np.float64).reshape(-1, 2)
    d = p[1] - p[0] if len(p) >= 2 else np.array([1.0, 0.0])
    length = float(np.hypot(*d))
    # zxing-cpp reports a 1D symbol as the scan lines that decoded: often a flat quad.
    height = float(np.hypot(*(p[3] - p[0]))) if len(p) >= 4 else 0.0
    height = max(height, 0.25 * length, 24.0)
    center = (float(p[:, 0].mean()), float(p[:, 1].mean()))
    axis = math.atan2(float(d[1]), float(d[0]))
    return _Candidate(center, (max(length, 24.0), height), axis, axis, "linear", origin, hint)


def _merge(reads: Sequence[_Read]) -> list[Sighting]:
    """One sighting per code; pyzbar's GS1-blind Code 128 text joins its zxing twin."""
    zx_by_plain: dict[str, str] = {}
    for r in reads:
        if r.engine.startswith("zxing/"):
            zx_by_plain[_comparable(r.code)] = r.code
    groups: dict[str, list[_Read]] = {}
    for r in reads:
        code = r.code
        if r.engine.startswith("pyzbar/") and r.symbology == "code128":
            twin = zx_by_plain.get(_comparable(code))
            if twin is not None:
                code = twin
            elif _looks_gs1(code):
                # Without zxing's ]C1 we cannot tell what the symbol carried: not a read.
                continue
        groups.setdefault(code, []).append(r)
    # zbar misreads what it does not implement (Code 128 FNC4 extended characters come out
    # with their high bit cleared): a zbar-only code where zxing-cpp read another code is
    # zbar's mistake, not a conflict between equals.
    zx_groups = {c: g for c, g in groups.items() if any(r.engine.startswith("zxing/") for r in g)}
    for code in [c for c in groups if c not in zx_groups]:
        zbar_polys = [r.polygon for r in groups[code]]
        if any(_overlap(p, r.polygon) for p in zbar_polys for g in zx_groups.values() for r in g):
            del groups[code]
    sightings: list[Sighting] = []
    for code, group in groups.items():
        # The first read is the earliest in the pipeline: full pass before crops, which also
        # gives the polygon hugging the symbol best.
        best = max(group, key=lambda r: (r.engine.startswith("zxing/"), len(r.polygon) >= 4,
                                          _area(r.polygon)))  # fmt: skip
        engines = tuple(dict.fromkeys(r.engine for r in [best, *group]))
        ident = next((r.identifier for r in group if r.engine.startswith("zxing/")),
                     best.identifier)  # fmt: skip
        sightings.append(Sighting(code, best.symbology, ident, best.polygon, engines,
                                  best.symbology in ECC_SYMBOLOGIES))  # fmt: skip
    return _flag_conflicts(sightings)


def _overlap(a: Polygon, b: Polygon) -> bool:
    return _poly_contains(a, _centroid(b), 4.0) or _poly_contains(b, _centroid(a), 4.0)


def _looks_gs1(text: str) -> bool:
    try:
        element_string_to_hri(text)
    except ValueError:
        return False
    return text[:2] in ("00", "01", "02") and len(text) >= 16


def _flag_conflicts(sightings: list[Sighting]) -> list[Sighting]:
    """Resolve two codes read at one place: the one with more votes stands, the other is
    dropped as a misread; on a tie both are kept and flagged (the service rejects them)."""
    out: list[Sighting] = []
    for s in sightings:
        rivals = [
            o for o in sightings
            if o.code != s.code and not (s.ecc and o.ecc) and _overlap(o.polygon, s.polygon)
        ]  # fmt: skip
        if any(o.votes > s.votes for o in rivals):
            continue
        if any(o.votes == s.votes for o in rivals):
            s = Sighting(s.code, s.symbology, s.symbology_identifier, s.polygon, s.engines,
                         s.ecc, conflict=True)  # fmt: skip
        out.append(s)
    return out


def _drop_explained(unread: Sequence[UnreadSpot], reads: Sequence[_Read]) -> list[UnreadSpot]:
    """Unread spots that no read covers (a symbol decoded by a later variant is explained)."""
    out: list[UnreadSpot] = []
    for u in unread:
        if _covered(u.polygon, reads):
            continue
        if any(_poly_contains(o.polygon, _centroid(u.polygon)) for o in out):
            continue
        out.append(u)
    return out
