"""Where pixels come from: image files, folders, video files, cameras and network streams.

Inputs are evidence, and some will be broken, so every file is opened defensively and a bad
one raises :class:`ScanError` for that file alone:

- the header is read first and an image over :data:`MAX_PIXELS` is refused before any pixel
  is decoded (a 100000×100000 PNG header is a 30 GB decompression bomb);
- truncated files are refused rather than decoded into grey half-images (Pillow, strict);
- anything Pillow cannot identify (random bytes, text named ``.png``) is "not an image";
- files over :data:`MAX_FILE_BYTES` are refused before being read.

Videos and streams are iterated frame by frame and never held in memory, so a long video
scans in constant memory. Every file's SHA-256 is computed in 1 MiB chunks while (images) or
before (videos) it is read, for the chain of custody.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from .models import ScanError

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "VIDEO_SUFFIXES",
    "Frame",
    "InputFile",
    "decode_image_bytes",
    "expand_paths",
    "iter_stream",
    "iter_video",
    "read_image",
    "sha256_file",
]

IMAGE_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES: Final = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg"})
MAX_PIXELS: Final = 120_000_000
"""Largest image accepted (120 MP: above any phone or document scanner of today)."""
MAX_FILE_BYTES: Final = 256 * 1024 * 1024
_CHUNK: Final = 1 << 20

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class InputFile:
    """One file to scan, as found by :func:`expand_paths`."""

    path: Path
    kind: Literal["image", "video"]


@dataclass(frozen=True)
class Frame:
    """One decoded frame of a video or stream (0-based index in the source)."""

    index: int
    pixels: Pixels


def _fail(path: Path | str, what: str, reason: str) -> ScanError:
    return ScanError(f"Failed to read '{path}' as {what}: {reason}.")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (constant memory whatever the size)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise _fail(path, "file", exc.strerror or str(exc)) from exc
    return digest.hexdigest()


def _kind_of(path: Path) -> Literal["image", "video"] | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[InputFile], list[tuple[str, str]]]:
    """Files to scan from files and folders (recursively, sorted, hidden entries skipped).

    A file named explicitly is scanned whatever its suffix (as an image unless it has a
    video suffix): the user asked for it, and a wrong suffix should give a clear error.
    Inside folders only image and video suffixes are taken. Returns the files and, for paths
    that do not exist, ``(path, message)`` pairs.
    """
    files: list[InputFile] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    child = Path(root) / name
                    kind = _kind_of(child)
                    if kind is not None:
                        files.append(InputFile(child, kind))
        elif path.is_file():
            files.append(InputFile(path, _kind_of(path) or "image"))
        else:
            missing.append((str(path), f"Failed to read '{path}': no such file or folder."))
    return files, missing


def read_image(path: Path) -> tuple[Pixels, str, int]:
    """Decode an image file to BGR (or gray) pixels; returns (pixels, sha256, size in bytes).

    EXIF orientation is applied, so polygons match the picture as every viewer shows it.
    Raises ScanError if the file is missing, too large, not an image, truncated or corrupt.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _fail(path, "image", exc.strerror or str(exc)) from exc
    if size > MAX_FILE_BYTES:
        raise _fail(path, "image", f"file is {size} bytes, over the {MAX_FILE_BYTES} limit")
    if size == 0:
        raise _fail(path, "image", "file is empty")
    digest = hashlib.sha256()
    buf = bytearray()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                buf += chunk
    except OSError as exc:
        raise _fail(path, "image", exc.strerror or str(exc)) from exc
    return decode_image_bytes(bytes(buf), str(path)), digest.hexdigest(), size


def decode_image_bytes(data: bytes, name: str = "<bytes>") -> Pixels:
    """Decode encoded image bytes with the checks of :func:`read_image`."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) before our own, clearer, check.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _fail(name, "image", f"image is {width}×{height} pixels, over the "
                                           f"{MAX_PIXELS // 1_000_000} megapixel limit")  # fmt: skip
            image.load()
    except ScanError:
        raise
    except UnidentifiedImageError as exc:
        raise _fail(name, "image", "not an image file of a known format") from exc
    except Image.DecompressionBombError as exc:
        # Pillow refuses at open() beyond twice its own limit, before we see the size.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found.group(1)) // 1_000_000} megapixels" if found else "pixels"
        raise _fail(name, "image", f"image has {pixels}, over the {MAX_PIXELS // 1_000_000} "
                                   "megapixel limit (decompression bomb)") from exc  # fmt: skip
    except OSError as exc:
        message = str(exc)
        if "truncated" in message:
            raise _fail(name, "image", "file is truncated") from exc
        raise _fail(name, "image", f"corrupt image data ({message})") from exc
    except (ValueError, SyntaxError, EOFError) as exc:
        raise _fail(name, "image", f"corrupt image data ({exc})") from exc
    try:
        return _to_bgr(ImageOps.exif_transpose(image))
    except (OSError, ValueError) as exc:
        raise _fail(name, "image", f"corrupt image data ({exc})") from exc


def _to_bgr(image: Image.Image) -> Pixels:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.int64)
        peak = max(int(wide.max()), 1)
        return np.clip(wide * 255 // peak, 0, 255).astype(np.uint8)
    if image.mode == "L":
        return np.asarray(image, dtype=np.uint8)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def iter_video(path: Path, *, step: int = 1, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of a video file, one at a time (every ``step``-th frame).

    Raises ScanError if OpenCV cannot open the file or it yields no frame at all.
    """
    if not path.is_file():
        raise _fail(path, "video", "no such file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise _fail(path, "video", "OpenCV cannot open it (not a video, or unsupported codec)")
    yield from _iter_capture(capture, str(path), step, max_frames, what="video")


def iter_stream(source: int | str, *, step: int = 1, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of a camera (index) or a network stream (RTSP/HTTP URL), as they arrive."""
    # OpenCV logs every backend it tries (V4L2, FFmpeg, ...) when a camera is missing: a dozen
    # raw lines for one fact, which the error below states once.
    quiet = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        capture = cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(quiet)
    if not capture.isOpened():
        capture.release()
        if isinstance(source, int):
            raise _fail(str(source), "camera", "no such camera, or another program is using it")
        raise _fail(str(source), "stream", "OpenCV cannot open it")
    yield from _iter_capture(capture, str(source), step, max_frames, what="stream")


def _iter_capture(
    capture: cv2.VideoCapture, name: str, step: int, max_frames: int | None, what: str
) -> Iterator[Frame]:
    step = max(1, step)
    index = 0
    yielded = 0
    try:
        while max_frames is None or yielded < max_frames:
            if index % step:
                # grab() skips decoding the frames we do not scan.
                if not capture.grab():
                    break
                index += 1
                continue
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            yield Frame(index, np.asarray(frame, dtype=np.uint8))
            yielded += 1
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise _fail(name, what, "no frame could be decoded")
