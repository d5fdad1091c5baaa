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
    first = run(
        [
            "scan",
            str(photos),
            "--seizure",
            "Z9",
            "--new-seizure",
            "--case",
            "K9",
            "--format",
            "json",
            "--resolve",
        ],
        tmp_path,
    )
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
        "seizure_known": True,
    }


def test_scan_of_nothing_readable_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"plain text, not an image")
    result = run(["scan", str(bad), "--seizure", "Z9", "--new-seizure", "--case", "K9"], tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: No input could be scanned")
    camera = run(["scan", "--camera", "7", "--seizure", "Z9", "--headless"], tmp_path)
    assert camera.returncode != 0 and camera.stderr.strip().splitlines()[-1].startswith("error: No input")
    assert "no such camera" in camera.stderr and camera.stdout == ""
    assert "WARN" not in camera.stderr and "OpenCV(" not in camera.stderr  # not OpenCV's backend log
    both = run(["scan", str(bad), "--seizure", "Z9", "--camera", "0"], tmp_path)
    assert both.returncode != 0 and "exactly one of" in both.stderr


def test_an_unknown_seizure_is_refused_and_a_new_one_gives_way_to_its_loaded_row(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    image, _truth = render_pile(CODES, seed=3, damage="mild")
    cv2.imwrite(str(photos / "pile.jpg"), image)
    typo = run(["scan", str(photos), "--seizure", "Z-TYPO"], tmp_path)
    assert typo.returncode != 0 and "No seizure 'Z-TYPO'" in typo.stderr and "--new-seizure" in typo.stderr
    assert run(["scan", str(photos), "--seizure", "Z1", "--new-seizure"], tmp_path).returncode != 0  # no case
    opened = run(["scan", str(photos), "--seizure", "Z1", "--new-seizure", "--case", "K1"], tmp_path)
    assert opened.returncode == 0, opened.stderr
    again = run(["scan", str(photos), "--seizure", "Z1", "--new-seizure", "--case", "K1"], tmp_path)
    assert again.returncode != 0 and "exists already" in again.stderr
    listed = json.loads(run(["seizures", "--format", "json"], tmp_path).stdout)["seizures"]
    assert [(s["seizure_id"], s["case_id"], s["boxes"]) for s in listed] == [("Z1", "K1", 2)]
    # The seizures file arrives: its row (place, time) replaces the provisional one, the boxes stay.
    rows = tmp_path / "seizures.csv"
    rows.write_text(
        "seizure_id,case_id,seized_at,place_kind,address,lon,lat,crs,waybill_no\n"
        "Z1,K1,2026-01-15 10:30:00,stall,某小区门口,121.4,31.25,gcj02,\n",
        encoding="utf-8",
    )
    loaded = run(["load", str(rows), "--format", "json"], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["tables"]["seizures"]["taken"] == 1
    (seizure,) = json.loads(run(["seizures", "--format", "json"], tmp_path).stdout)["seizures"]
    assert (seizure["address"], seizure["place_kind"], seizure["boxes"]) == ("某小区门口", "stall", 2)
    assert seizure["seized_at"].startswith("2026-01-15T10:30:00")
