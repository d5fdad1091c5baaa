"""The confidence rule, one box per code, JSON shape, video and stream scanning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rxtrace.scanners import decide_confidence, scan_array, scan_paths, scan_stream
from rxtrace.scanners.codes import hri_to_element_string
from rxtrace.scanners.render import random_codes, render_pile, write_video

NATIONAL = "83395630003642750912"
GS1_DM = hri_to_element_string("(01)06901234567892(21)ABC123XYZ(17)270131(10)L2405", "]d2")


def conf(code: str, symbology: str = "code128", **kw: object) -> str:
    args: dict[str, object] = {"votes": 1, "frames_seen": 1, "conflict": False,
                               "catalog_products": frozenset(), "moving": False}  # fmt: skip
    args.update(kw)
    return decide_confidence(code, symbology, **args)[0]  # type: ignore[arg-type]


def test_confidence_rule() -> None:
    cat = frozenset({"8339563"})
    assert conf(NATIONAL, catalog_products=cat) == "high"
    assert conf(NATIONAL, catalog_products=frozenset({"8000000"})) == "low"
    assert conf(NATIONAL, moving=True, frames_seen=2) == "high"
    assert conf(NATIONAL, moving=True) == "low"
    assert conf(NATIONAL, votes=2) == "medium"
    assert conf(NATIONAL, votes=1) == "low"
    assert conf(NATIONAL, votes=3, conflict=True) == "low"
    # One zbar decode is never enough, even for a product in the catalog.
    assert conf(NATIONAL, catalog_products=cat, zbar_only=True) == "low"
    assert conf(NATIONAL, catalog_products=cat, zbar_only=True, votes=2) == "high"
    assert conf(GS1_DM, "datamatrix") == "high"
    # Near-miss national codes are never boxes, catalog or not.
    assert conf(NATIONAL[:19], votes=5, catalog_products=cat) == "low"
    assert conf(NATIONAL + "1", votes=5, catalog_products=cat) == "low"
    # EAN-13 boxes match a catalog by GTIN-14 or GTIN-13.
    assert conf("6901234567892", "ean13", catalog_products=frozenset({"6901234567892"})) == "high"


def test_false_read_guard_on_a_still_without_catalog() -> None:
    image, _ = render_pile([(NATIONAL, "code128")], seed=3, damage="none", size=(960, 540))
    result = scan_array(image)
    # Two engines agree on a clean label: medium, a box.
    assert [(b.code, b.confidence) for b in result.boxes] == [(NATIONAL, "medium")]
    with_catalog = scan_array(image, catalog_products=frozenset({"8339563"}))
    assert with_catalog.boxes[0].confidence == "high"
    wrong_catalog = scan_array(image, catalog_products=frozenset({"8111111"}))
    assert wrong_catalog.boxes == ()
    assert wrong_catalog.rejected[0].reason == "product not in catalog"


def test_one_box_per_code_across_photos_with_evidence(tmp_path: Path) -> None:
    import cv2

    codes = [(NATIONAL, "code128"), (GS1_DM, "datamatrix")]
    for seed in (1, 2):
        image, _ = render_pile(codes, seed=seed, damage="mild", size=(1280, 720))
        cv2.imwrite(str(tmp_path / f"p{seed}.png"), image)
    result = scan_paths([tmp_path], workers=2)
    by_code = {b.code: b for b in result.boxes}
    assert set(by_code) == {NATIONAL, GS1_DM}
    assert by_code[NATIONAL].frames_seen == 2
    assert by_code[NATIONAL].confidence == "high"
    sha = {f.source: f.sha256 for f in result.files}
    for box in result.boxes:
        assert box.source_sha256 == sha[box.source]
        assert len(box.polygon) == 4
    payload = json.loads(result.to_json())
    assert set(payload) >= {"boxes", "unread"}
    assert set(payload["boxes"][0]) >= {"code", "symbology", "source", "frame", "polygon",
                                         "confidence"}  # fmt: skip
    dm = next(b for b in payload["boxes"] if b["symbology"] == "datamatrix")
    assert dm["code"] == GS1_DM  # GS survives the JSON round trip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    codes = random_codes(np.random.default_rng(11), 3, ("code128", "datamatrix", "ean13"))
    path = tmp_path_factory.mktemp("video") / "pass.avi"
    truths = write_video(path, codes, seed=4, n_frames=36, size=(960, 540))
    assert all(t.frames is not None for t in truths)
    return path, codes


def test_video_each_box_once(clip: tuple[Path, list[tuple[str, str]]]) -> None:
    path, codes = clip
    result = scan_paths([path], workers=2)
    assert result.frames == 36
    assert sorted(b.code for b in result.boxes) == sorted(c for c, _ in codes)
    for box in result.boxes:
        assert box.frames_seen >= 2
        assert box.confidence == "high"
        assert box.frame is not None
    assert result.files[0].kind == "video"
    assert result.files[0].frames == 36


def test_stream_headless_with_callback(clip: tuple[Path, list[tuple[str, str]]]) -> None:
    path, codes = clip
    seen: list[int] = []
    result = scan_stream(str(path), display=False, max_frames=36,
                         on_frame=lambda i, reads: seen.append(i))  # fmt: skip
    assert seen == list(range(36))
    assert {b.code for b in result.boxes} == {c for c, _ in codes}


def test_stream_that_cannot_open_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = scan_stream(str(tmp_path / "nothing.avi"), display=False)
    assert result.boxes == ()
    assert "as stream" in result.errors[0].message
