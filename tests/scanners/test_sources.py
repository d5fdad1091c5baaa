"""Opening inputs defensively: every broken file is a ScanError for that file alone."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from rxtrace.scanners import ScanError, scan_paths
from rxtrace.scanners.render import render_label
from rxtrace.scanners.sources import expand_paths, iter_video, read_image, sha256_file

NATIONAL = "83395630003642750912"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png() -> bytes:
    """A valid PNG header claiming 100000×100000 RGB pixels (30 GB once decoded)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))  # fmt: skip


@pytest.fixture()
def good_jpeg(tmp_path: Path) -> Path:
    label, _ = render_label(NATIONAL, "code128")
    canvas = np.full((600, 900), 120, np.uint8)
    canvas[150 : 150 + label.shape[0], 50 : 50 + label.shape[1]] = label[:, :850]
    path = tmp_path / "good.jpg"
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_truncated_jpeg(tmp_path: Path, good_jpeg: Path) -> None:
    data = good_jpeg.read_bytes()
    bad = tmp_path / "x.jpg"
    bad.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(ScanError) as exc:
        read_image(bad)
    assert str(exc.value) == f"Failed to read '{bad}' as image: file is truncated."


def test_random_bytes_named_png(tmp_path: Path) -> None:
    bad = tmp_path / "photo.png"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ScanError, match=r"as image: not an image file of a known format\.$"):
        read_image(bad)


def test_text_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("seizure 17: 40 boxes\n", encoding="utf-8")
    with pytest.raises(ScanError, match="not an image file"):
        read_image(bad)


def test_decompression_bomb_refused_from_header(tmp_path: Path) -> None:
    bad = tmp_path / "bomb.png"
    bad.write_bytes(bomb_png())
    with pytest.raises(ScanError, match=r"has 10000 megapixels, over the 120 megapixel limit"):
        read_image(bad)


def test_empty_file(tmp_path: Path) -> None:
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    with pytest.raises(ScanError, match="file is empty"):
        read_image(bad)


def test_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ScanError, match="as video"):
        list(iter_video(bad))


def test_batch_goes_on_past_bad_files(tmp_path: Path, good_jpeg: Path) -> None:
    data = good_jpeg.read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[:2000])
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    (tmp_path / "junk.png").write_bytes(b"\x00\x01garbage" * 50)
    seen: list[tuple[int, int, str]] = []
    result = scan_paths([tmp_path, tmp_path / "missing.jpg"], progress=lambda d, t, s: seen.append((d, t, s)))
    assert NATIONAL in {b.code for b in result.boxes} | {b.code for b in result.rejected}
    failed = {Path(e.source).name: e.message for e in result.errors}
    assert set(failed) == {"trunc.jpg", "bomb.png", "junk.png", "missing.jpg"}
    assert failed["trunc.jpg"].endswith("as image: file is truncated.")
    assert [d for d, _, _ in seen] == [1, 2, 3, 4]
    assert {t for _, t, _ in seen} == {4}
    (good,) = [f for f in result.files if f.source.endswith("good.jpg")]
    assert good.sha256 == hashlib.sha256(data).hexdigest()


def test_sha256_streams_and_matches(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = np.random.default_rng(2).integers(0, 256, 3 * (1 << 20) + 17, np.uint8).tobytes()
    path.write_bytes(payload)
    assert sha256_file(path) == hashlib.sha256(payload).hexdigest()


def test_expand_paths_skips_hidden_and_unknown_suffixes(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    (tmp_path / "readme.md").write_text("x", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.MP4").write_bytes(b"x")
    files, missing = expand_paths([tmp_path])
    assert [(f.path.name, f.kind) for f in files] == [("a.jpg", "image"), ("b.MP4", "video")]
    assert missing == []
