"""``rxtrace scan``: boxes from photos recorded on a seizure, one JSON document, bad files named."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from rxtrace.scanners.render import render_pile

from .test_cli import run

CODES = [("83395630003642750912", "code128"), ("83395630003721997697", "code128")]


def test_scan_records_boxes_and_rescans_add_nothing(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    image, _truth = render_pile(CODES, seed=3, damage="mild")
    cv2.imwrite(str(photos / "pile.jpg"), image)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    first = run(["scan", str(photos), "--seizure", "Z9", "--format", "json", "--resolve"], tmp_path)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert sorted(b["code"] for b in doc["boxes"]) == sorted(code for code, _ in CODES)
    box = doc["boxes"][0]
    assert set(box) >= {"code", "symbology", "source", "frame", "polygon", "confidence"}
    assert "unread" in doc and doc["recorded"]["added"] == 2
    assert "broken.jpg" in first.stderr and "Failed to read" in first.stderr
    assert doc["resolution"]["summary"]["statuses"]["not_dispensed"] == 2
    again = run(["scan", str(photos / "pile.jpg"), "--seizure", "Z9", "--format", "json"], tmp_path)
    assert json.loads(again.stdout)["recorded"] == {
        "seizure_id": "Z9",
        "sources": 1,
        "added": 0,
        "already_recorded": 2,
        "seizure_known": False,
    }


def test_scan_of_nothing_readable_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"plain text, not an image")
    result = run(["scan", str(bad), "--seizure", "Z9"], tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: No input could be scanned")
    camera = run(["scan", "--camera", "7", "--seizure", "Z9", "--headless"], tmp_path)
    assert camera.returncode != 0 and camera.stderr.strip().splitlines()[-1].startswith("error: No input")
    assert "no such camera" in camera.stderr and camera.stdout == ""
    assert "WARN" not in camera.stderr and "OpenCV(" not in camera.stderr  # not OpenCV's backend log
    both = run(["scan", str(bad), "--seizure", "Z9", "--camera", "0"], tmp_path)
    assert both.returncode != 0 and "exactly one of" in both.stderr
