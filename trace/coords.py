"""Datum conversion between WGS-84 and GCJ-02, the offset datum Chinese map services publish.

GCJ-02 is WGS-84 plus a published, smooth but non-invertible-in-closed-form offset (hundreds of
metres in Shanghai). Inputs marked ``gcj02`` are converted back to WGS-84 at load by inverting
the forward transform iteratively to well under a centimetre.

>>> lon, lat = wgs84_to_gcj02(121.4737, 31.2304)
>>> round((lon - 121.4737) * 96000), round((lat - 31.2304) * 111000)  # metres east, north
(434, -216)
>>> back = gcj02_to_wgs84(lon, lat)
>>> abs(back[0] - 121.4737) < 1e-9 and abs(back[1] - 31.2304) < 1e-9
True
"""

from __future__ import annotations

import math

__all__ = ["gcj02_to_wgs84", "in_china", "to_wgs84", "wgs84_to_gcj02"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the published transform uses
_EE = 0.00669342162296594323


def in_china(lon: float, lat: float) -> bool:
    """The rough box outside which the offset is not applied (the transform's own rule)."""
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _dlat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _dlon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The forward (published) transform."""
    if not in_china(lon, lat):
        return lon, lat
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float, *, tolerance: float = 1e-10) -> tuple[float, float]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (converges in a few steps)."""
    if not in_china(lon, lat):
        return lon, lat
    wlon, wlat = lon, lat
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = glon - lon, glat - lat
        wlon, wlat = wlon - dlon, wlat - dlat
        if abs(dlon) < tolerance and abs(dlat) < tolerance:
            break
    return wlon, wlat


def to_wgs84(lon: float, lat: float, crs: str | None) -> tuple[float, float]:
    """Coordinates in ``crs`` (``wgs84``, the default, or ``gcj02``) as WGS-84."""
    return gcj02_to_wgs84(lon, lat) if crs == "gcj02" else (lon, lat)
