"""A Code 128 reader for the 20-digit national code that fits the symbol's model to its profile.

zxing-cpp and zbar binarise a scan line and measure bar widths; at 1.1-2 px a module under
defocus or hand shake the widths are gone, and so is the read (on the harsh phone photos
most missed Code 128 symbols are such). Here nothing is binarised: a national code is always
start C, ten set-C symbols, a check symbol and the stop (145 modules), so the reader searches
the symbol's placement (first module, module size, and a linear change of it along the
symbol for perspective) that makes the profile, averaged over each module, look most like
*some* valid symbol at each of the twelve places, each symbol's pattern blurred by a guessed
defocus, and then takes each place's best symbol.

Nothing is guessed into a read: the mod-103 check must hold on the best placement's symbols
(no correction is tried), every place must match its symbol well, and the text must have a
national code's form. Above that the trust rule of :mod:`rxtrace.scanners.service` still
applies: a read of this reader alone needs a catalog entry, a second decode or frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .codes import is_national_code

__all__ = ["Placement", "bar_profile", "fit", "place", "read_national"]

_F32 = npt.NDArray[np.float32]


def _f32(array: object) -> _F32:
    return np.asarray(array, dtype=np.float32)


# Code 128 symbol patterns, values 0-105 (1 = a bar module), from ISO/IEC 15417.
_TABLE: Final = (
    "11011001100 11001101100 11001100110 10010011000 10010001100 10001001100 "
    "10011001000 10011000100 10001100100 11001001000 11001000100 11000100100 "
    "10110011100 10011011100 10011001110 10111001100 10011101100 10011100110 "
    "11001110010 11001011100 11001001110 11011100100 11001110100 11101101110 "
    "11101001100 11100101100 11100100110 11101100100 11100110100 11100110010 "
    "11011011000 11011000110 11000110110 10100011000 10001011000 10001000110 "
    "10110001000 10001101000 10001100010 11010001000 11000101000 11000100010 "
    "10110111000 10110001110 10001101110 10111011000 10111000110 10001110110 "
    "11101110110 11010001110 11000101110 11011101000 11011100010 11011101110 "
    "11101011000 11101000110 11100010110 11101101000 11101100010 11100011010 "
    "11101111010 11001000010 11110001010 10100110000 10100001100 10010110000 "
    "10010000110 10000101100 10000100110 10110010000 10110000100 10011010000 "
    "10011000010 10000110100 10000110010 11000010010 11001010000 11110111010 "
    "11000010100 10001111010 10100111100 10010111100 10010011110 10111100100 "
    "10011110100 10011110010 11110100100 11110010100 11110010010 11011011110 "
    "11011110110 11110110110 10101111000 10100011110 10001011110 10111101000 "
    "10111100010 11110101000 11110100010 10111011110 10111101110 11101011110 "
    "11110101110 11010000100 11010010000 11010011100"
)
_PATTERNS: Final = tuple(_TABLE.split())
_START_C: Final = 105
_STOP: Final = "1100011101011"  # the stop symbol with its final two-module bar
_DATA: Final = 10  # set-C symbols of a 20-digit code
_MODULES: Final = 11 + 11 * _DATA + 11 + 13
# Defocus tried, as Gaussian σ in modules: the harsh photos' σ 0.3-1.6 px over 1.1-4 px modules.
_SIGMAS: Final = (0.0, 0.35, 0.55, 0.75, 1.0, 1.3)
# Acceptance. The check symbol alone is not enough: with two or more places misread it
# passes one time in 103, and on the harsh photos' 457 Code 128 symbols (photos 0-299, every
# crop and row band, 6 blurs) 17 of 646 check-passing fits were wrong, some scoring 11.9 of
# 13. What set them apart is an undecided place: a runner-up symbol within 0.03 of the best
# (0.002-0.044 in the wrong fits; right fits: 0.02 or more in 95 %). With these bounds no
# wrong fit passed, and 566 right ones did.
_MIN_TOTAL: Final = 11.3
_MIN_PLACE: Final = 0.78
_MIN_ENDS: Final = 0.4
_MIN_MARGIN: Final = 0.03
# No placement is searched further where the start and stop alone match this poorly (their
# two correlations summed, of 2): on harsh photos 0-149 every read scored 1.56 or more, and
# the detector's stray stripes and text mostly less.
_MIN_ENDS_COARSE: Final = 1.4


@cache
def _templates(sigma: float) -> tuple[_F32, _F32]:
    """Every symbol's and the stop's module pattern blurred by ``sigma``, centred, unit norm.

    A symbol always follows a space and precedes a bar (each starts with a bar, ends with a
    space), so its blurred pattern is the same whatever its neighbours are."""
    r = 3
    x = np.arange(-r, r + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2) if sigma > 0 else (x == 0).astype(np.float32)
    kernel /= kernel.sum()

    def blurred(bits: str, before: int, after: int, n: int) -> _F32:
        b = np.array([before] * r + [int(ch) for ch in bits] + [after] * r, dtype=np.float32)
        t = np.convolve(b, kernel, mode="same")[r : r + n]
        t -= t.mean()
        return _f32(t / np.linalg.norm(t))

    symbols = np.stack([blurred(p, 0, 1, 11) for p in _PATTERNS[:106]])
    return symbols, blurred(_STOP, 0, 0, 13)


def _extent(dark: _F32) -> tuple[float, float] | None:
    """First and last bar edge: the widest run of strong edges with no quiet zone inside."""
    g = np.convolve(np.abs(np.diff(dark)), np.ones(3) / 3, mode="same")
    idx = np.nonzero(g > 0.3 * np.percentile(g, 98))[0]
    if len(idx) < 10:
        return None
    # A gap of a quiet zone (10 modules, 3.5 % of a crop ~ 2.2 symbol lengths wide) splits runs.
    splits = np.nonzero(np.diff(idx) > max(8.0, 0.035 * len(dark)))[0]
    starts, ends = np.r_[0, splits + 1], np.r_[splits, len(idx) - 1]
    i = max(range(len(starts)), key=lambda k: int(idx[ends[k]] - idx[starts[k]]))
    return float(idx[starts[i]]) + 0.5, float(idx[ends[i]]) + 1.5


def _edges(
    cum: npt.NDArray[np.float64],
    left: float,
    size: _F32,
    shift: _F32,
    chirp: _F32,
    index: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Module edges ``index`` of each placement, and the profile's integral at them.

    Module edge i of a placement lies at left + (shift + N·(u + chirp·(u² - u)))·size with
    u = i/N: ``chirp`` shrinks the modules along the symbol, as a keystoned face does."""
    u = index / _MODULES
    edges = left + size[:, None] * (shift[:, None] + _MODULES * (u + chirp[:, None] * (u * u - u)))
    edges = np.clip(edges, 0.0, len(cum) - 1 - 1e-6)
    i0 = np.floor(edges).astype(np.intp)
    return edges, cum[i0] + (edges - i0) * (cum[i0 + 1] - cum[i0])


def _module_means(cum: npt.NDArray[np.float64], left: float, size: _F32, shift: _F32, chirp: _F32) -> _F32:
    """Each placement's mean darkness over each module (placements along the first axis)."""
    edges, c = _edges(cum, left, size, shift, chirp, np.arange(_MODULES + 1, dtype=np.float64))
    means = (c[:, 1:] - c[:, :-1]) / np.maximum(np.diff(edges, axis=1), 1e-6)
    return np.asarray(means, dtype=np.float32)


_END_EDGES: Final = np.r_[0:12, 132:146].astype(np.float64)


def _ends(cum: npt.NDArray[np.float64], left: float, size: _F32, shift: _F32, chirp: _F32) -> _F32:
    """Per placement: how well the start C and the stop symbol match (blur 0.55 module),
    from the means of those 24 modules alone."""
    edges, c = _edges(cum, left, size, shift, chirp, _END_EDGES)
    means = (c[:, 1:] - c[:, :-1]) / np.maximum(np.diff(edges, axis=1), 1e-6)
    head, tail = means[:, :11], means[:, 12:]  # means[:, 11] spans the data: not a module
    symbols, stop = _templates(0.55)
    head = head - head.mean(axis=1, keepdims=True)
    tail = tail - tail.mean(axis=1, keepdims=True)
    head_corr = (head @ symbols[_START_C]) / (np.linalg.norm(head, axis=1) + 1e-9)
    tail_corr = (tail @ stop) / (np.linalg.norm(tail, axis=1) + 1e-9)
    return np.asarray(head_corr + tail_corr, dtype=np.float32)


def _match(means: _F32, sigma: float) -> tuple[_F32, _F32, _F32]:
    """Per placement: total score; each place's correlation with every symbol; the stop's."""
    symbols, stop = _templates(sigma)
    places = means[:, :132].reshape(len(means), 12, 11)
    places = places - places.mean(axis=2, keepdims=True)
    corr = (places / (np.linalg.norm(places, axis=2, keepdims=True) + 1e-9)) @ symbols.T
    tail = means[:, 132:]
    tail = tail - tail.mean(axis=1, keepdims=True)
    stop_corr = (tail / (np.linalg.norm(tail, axis=1, keepdims=True) + 1e-9)) @ stop
    total = corr[:, 0, _START_C] + stop_corr + corr[:, 1:, :103].max(axis=2).sum(axis=1)
    return total, corr, stop_corr


@cache
def _all_templates() -> tuple[_F32, _F32]:
    """:func:`_templates` for every blur of ``_SIGMAS``, stacked: (blurs × 106, 11), (blurs, 13)."""
    pairs = [_templates(sigma) for sigma in _SIGMAS]
    return _f32(np.concatenate([p[0] for p in pairs])), _f32(np.stack([p[1] for p in pairs]))


def _best_fit(means: _F32) -> tuple[float, _F32, float]:
    """The best (placement, blur) of ``means``: its total score, its places' correlations
    with every symbol (12 × 106) and its stop's correlation; every blur in one product."""
    symbols, stops = _all_templates()
    blurs = len(_SIGMAS)
    places = means[:, :132].reshape(len(means), 12, 11)
    places = places - places.mean(axis=2, keepdims=True)
    places /= np.linalg.norm(places, axis=2, keepdims=True) + 1e-9
    corr = (places @ symbols.T).reshape(len(means), 12, blurs, 106)
    tail = means[:, 132:] - means[:, 132:].mean(axis=1, keepdims=True)
    stop_corr = (tail / (np.linalg.norm(tail, axis=1, keepdims=True) + 1e-9)) @ stops.T  # (H, blurs)
    total = corr[:, 0, :, _START_C] + stop_corr + corr[:, 1:, :, :103].max(axis=3).sum(axis=1)
    h, b = np.unravel_index(int(np.argmax(total)), total.shape)
    return float(total[h, b]), _f32(corr[h, :, b, :]), float(stop_corr[h, b])


# The coarse grid's best few optima get a fine search each: one alone read 148 of the harsh
# photos' Code 128 symbols from their crops, three 162, six 179 (but at 14 ms a crop the
# budget then reached fewer regions, and fewer codes were read in all).
_PLACEMENTS: Final = 3


def _grid(size: float, shift: float, chirp: float, fine: bool) -> tuple[_F32, _F32, _F32]:
    if fine:
        axes = (size * (1 + np.linspace(-0.006, 0.006, 5)), shift + np.linspace(-0.16, 0.16, 5),
                chirp + np.linspace(-0.05, 0.05, 3))  # fmt: skip
    else:
        # ±6 % on the module (the extent's error), ±1.5 modules on the start, up to ±0.3
        # chirp (a 30-60° tilt keystoned 0.7-0.9): steps small enough that the best
        # placement is within a quarter module at every module.
        axes = (size * (1 + np.linspace(-0.06, 0.06, 17)), np.linspace(-1.5, 1.5, 9),
                np.linspace(-0.3, 0.3, 7))  # fmt: skip
    a, b, c = np.meshgrid(*axes, indexing="ij")
    return _f32(a.ravel()), _f32(b.ravel()), _f32(c.ravel())


@dataclass(frozen=True)
class Placement:
    """Where a symbol lies along a profile: read backwards or not, first edge (px), module
    (px), shift of the start (modules) and chirp; found once, reused for other row bands."""

    backwards: bool
    left: float
    size: float
    shift: float
    chirp: float


def _dark(p: _F32, backwards: bool) -> tuple[_F32, npt.NDArray[np.float64]]:
    dark = p.max() - p
    if backwards:
        dark = dark[::-1].copy()
    return dark, np.r_[0.0, np.cumsum(dark, dtype=np.float64)]


def place(profile: npt.NDArray[np.floating[Any]], count: int = _PLACEMENTS) -> list[Placement]:
    """The best placements of a national code's 145 modules on ``profile`` (light high),
    best first, each outside the fine search around the ones before it."""
    p = np.asarray(profile, dtype=np.float32)
    # Which way round: the start and stop symbols alone tell (a reversed start matches
    # nothing), at a fraction of the cost of matching all twelve places both ways.
    ways: list[tuple[float, bool, float, npt.NDArray[np.float64], tuple[_F32, _F32, _F32]]] = []
    for backwards in (False, True):
        dark, cum = _dark(p, backwards)
        ext = _extent(dark)
        if ext is None or (ext[1] - ext[0]) / _MODULES < 1.0:
            continue
        grid = _grid((ext[1] - ext[0]) / _MODULES, 0.0, 0.0, fine=False)
        ways.append((float(_ends(cum, ext[0], *grid).max()), backwards, ext[0], cum, grid))
    if not ways or max(w[0] for w in ways) < _MIN_ENDS_COARSE:
        return []
    _, backwards, left, cum, (m, s, c) = max(ways, key=lambda w: w[0])
    total, _, _ = _match(_module_means(cum, left, m, s, c), 0.55)
    out: list[Placement] = []
    for h in np.argsort(-total):
        here = Placement(backwards, left, float(m[h]), float(s[h]), float(c[h]))
        # The coarse grid's best cells cluster around one optimum: the next candidates
        # worth a fine search are the other optima.
        if any(abs(here.size / o.size - 1) < 0.01 and abs(here.shift - o.shift) < 0.5
               and abs(here.chirp - o.chirp) < 0.15 for o in out):  # fmt: skip
            continue
        out.append(here)
        if len(out) == count:
            break
    return out


def fit(
    profile: npt.NDArray[np.floating[Any]], placements: Sequence[Placement] | None = None
) -> tuple[str | None, Placement | None]:
    """The 20-digit national code in ``profile`` (light high, along the symbol, either way
    round), or None when no placement reads as one beyond doubt; and the placement that fit
    best. ``placements`` (from :func:`place` on another band of the same crop) skip the
    search, and most of the cost."""
    p = np.asarray(profile, dtype=np.float32)
    fits: list[tuple[float, _F32, float, Placement]] = []
    for where in placements if placements is not None else place(p):
        _, cum = _dark(p, where.backwards)
        means = _module_means(cum, where.left, *_grid(where.size, where.shift, where.chirp, fine=True))
        fits.append((*_best_fit(means), where))
    if not fits:
        return None, None
    score, best, stop_score, where = max(fits, key=lambda f: f[0])
    values = best[1:, :103].argmax(axis=1)
    data = [int(v) for v in values[:-1]]
    ranked = np.sort(best[1:, :103], axis=1)
    if score < _MIN_TOTAL or float(ranked[:, -1].min()) < _MIN_PLACE:
        return None, where
    if float((ranked[:, -1] - ranked[:, -2]).min()) < _MIN_MARGIN:
        return None, where
    if min(float(best[0, _START_C]), stop_score) < _MIN_ENDS or any(v >= 100 for v in data):
        return None, where
    if (_START_C + sum(k * v for k, v in enumerate(data, 1))) % 103 != int(values[-1]):
        return None, where
    code = "".join(f"{v:02d}" for v in data)
    return (code if is_national_code(code) else None), where


def read_national(
    profile: npt.NDArray[np.floating[Any]], placements: Sequence[Placement] | None = None
) -> str | None:
    """:func:`fit`'s code alone."""
    return fit(profile, placements)[0]


def bar_profile(crop: npt.NDArray[np.uint8]) -> _F32:
    """The mean of a deskewed 1D crop's rows (bars vertical) that cross the bars.

    A detected region's crop also holds the caption above the symbol and the digits below
    it; rows unlike the middle rows' median are left out rather than averaged in."""
    rows = crop.astype(np.float32)
    n = len(rows)
    centred = rows - rows.mean(axis=1, keepdims=True)
    ref = np.median(centred[n // 4 : max(3 * n // 4, n // 4 + 1)], axis=0)
    norms = np.linalg.norm(centred, axis=1) * float(np.linalg.norm(ref)) + 1e-6
    keep = (centred @ ref) / norms > 0.6
    if keep.sum() < 2:
        keep[n // 2] = True
    return np.asarray(rows[keep].mean(axis=0))
