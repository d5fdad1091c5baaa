"""A reusable, row-scanning zbar scanner over pyzbar's ctypes bindings.

``pyzbar.decode`` builds a scanner and sets ~30 options for every call, and scans columns as
well as rows; on the many small, already deskewed crops of the region pass that was most of
zbar's cost. Here each thread keeps one scanner configured once for Code 128 and EAN-13 with
row scan lines only (zbar scanners are not thread-safe, hence one per thread).
"""

from __future__ import annotations

import threading
from ctypes import c_void_p, string_at
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rxtrace.trace.errors import MissingDependencyError

try:
    from pyzbar import wrapper as zb
except ImportError as exc:  # pyzbar finds the zbar shared library when it is imported
    raise MissingDependencyError(
        "The zbar library is not installed (Debian: apt-get install libzbar0; as root, "
        "make demo installs it)."
    ) from exc

__all__ = ["ZbarSymbol", "scan_rows"]

_FOURCC_Y800: Final = 0x30303859  # 'Y800': 8-bit grayscale
_WANTED: Final = {zb.ZBarSymbol.CODE128: "CODE128", zb.ZBarSymbol.EAN13: "EAN13"}


@dataclass(frozen=True)
class ZbarSymbol:
    """One zbar decode: raw data, zbar's type name and the scan-line hit points."""

    data: bytes
    type: str
    points: tuple[tuple[int, int], ...]


class _Scanner:
    def __init__(self) -> None:
        self.handle: Any = zb.zbar_image_scanner_create()
        if not self.handle:
            raise RuntimeError("zbar could not create an image scanner")
        cfg = zb.ZBarConfig
        zb.zbar_image_scanner_set_config(self.handle, zb.ZBarSymbol.NONE, cfg.CFG_ENABLE, 0)
        for symbol in _WANTED:
            zb.zbar_image_scanner_set_config(self.handle, symbol, cfg.CFG_ENABLE, 1)
        # Every row, no columns: crops arrive with their bars vertical. (Scanning every third
        # row only was no faster and lost second votes.)
        zb.zbar_image_scanner_set_config(self.handle, zb.ZBarSymbol.NONE, cfg.CFG_X_DENSITY, 0)
        zb.zbar_image_scanner_set_config(self.handle, zb.ZBarSymbol.NONE, cfg.CFG_Y_DENSITY, 1)

    def __del__(self) -> None:
        handle = getattr(self, "handle", None)
        if handle:
            zb.zbar_image_scanner_destroy(handle)


_local = threading.local()


def scan_rows(gray: npt.NDArray[np.uint8]) -> list[ZbarSymbol]:
    """Decode Code 128 / EAN-13 along every row of a grayscale image."""
    scanner: _Scanner | None = getattr(_local, "scanner", None)
    if scanner is None:
        scanner = _Scanner()
        _local.scanner = scanner
    pixels = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = gray.shape[:2]
    image = zb.zbar_image_create()
    if not image:
        raise RuntimeError("zbar could not create an image")
    out: list[ZbarSymbol] = []
    try:
        zb.zbar_image_set_format(image, _FOURCC_Y800)
        zb.zbar_image_set_size(image, width, height)
        # zbar reads the buffer in place; ``pixels`` outlives the scan (cleanup=None).
        zb.zbar_image_set_data(image, pixels.ctypes.data_as(c_void_p), pixels.nbytes, None)
        if zb.zbar_scan_image(scanner.handle, image) < 0:
            return out
        symbol = zb.zbar_image_first_symbol(image)
        while symbol:
            kind = _WANTED.get(symbol.contents.type)
            if kind is not None:
                data = string_at(zb.zbar_symbol_get_data(symbol),
                                 zb.zbar_symbol_get_data_length(symbol))  # fmt: skip
                n = zb.zbar_symbol_get_loc_size(symbol)
                points = tuple(
                    (int(zb.zbar_symbol_get_loc_x(symbol, i)),
                     int(zb.zbar_symbol_get_loc_y(symbol, i)))
                    for i in range(n)
                )  # fmt: skip
                out.append(ZbarSymbol(bytes(data), kind, points))
            symbol = zb.zbar_symbol_next(symbol)
    finally:
        zb.zbar_image_destroy(image)
    return out
