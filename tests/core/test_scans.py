"""Camera reads recorded on a seizure: evidence kept, rescans add nothing, one box counts once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.resolve.scans import CameraRead, ScannedSource, record_scan
from rxtrace.trace.resolve.service import resolve_seizure
from rxtrace.trace.store import models

from .builders import sale, write_world

CODE = "83395630003642750912"


def read(code: str, source: str, frame: int | None = None) -> CameraRead:
    return CameraRead(code, source, "code128", frame, [[0, 0], [10, 0], [10, 5], [0, 5]], "high")


def test_scans_are_recorded_once_with_their_evidence(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    write_world(tmp_path / "in", sales=[sale(CODE)], seized=[("Z1", "83395630003721997697")])
    load_paths([tmp_path / "in"], session=any_session, protector=protector)
    sources = [ScannedSource("a.jpg", "aa" * 32, "image", 1), ScannedSource("b.mp4", "bb" * 32, "video", 90)]
    reads = [read(CODE, "a.jpg"), read(CODE, "b.mp4", 17), read("8123", "a.jpg")]
    first = record_scan(session=any_session, seizure_id="Z1", sources=sources, reads=reads)
    assert (first.added, first.already_recorded, first.seizure_known) == (3, 0, True)
    again = record_scan(session=any_session, seizure_id="Z1", sources=sources, reads=reads)
    assert (again.added, again.already_recorded) == (0, 3)
    stored = any_session.scalars(
        select(models.SeizedCode).where(models.SeizedCode.method == "camera").order_by(models.SeizedCode.id)
    ).all()
    assert [(c.frame, c.symbology, c.confidence) for c in stored] == [
        (None, "code128", "high"),
        (17, "code128", "high"),
        (None, "code128", "high"),
    ]
    assert stored[0].polygon == [[0, 0], [10, 0], [10, 5], [0, 5]]
    video = any_session.get(models.ScanSource, stored[1].scan_source_id)
    assert video is not None and video.sha256 == "bb" * 32 and video.frames == 90
    result = resolve_seizure("Z1", session=any_session)
    statuses = sorted(str(b.status) for b in result.boxes)
    assert statuses == ["dispensed", "malformed", "not_dispensed"]  # CODE once, though read twice


def test_a_seizure_opened_at_the_scene_gives_way_to_its_loaded_row(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    import pytest

    from rxtrace.trace.errors import ConflictError, NotFoundError
    from rxtrace.trace.resolve.scans import is_provisional, open_seizure, require_seizure

    with pytest.raises(NotFoundError, match="open it at the scene"):
        require_seizure("Z1", session=any_session)
    opened = open_seizure("Z1", case_id="K1", session=any_session)
    assert is_provisional(opened) and require_seizure("Z1", session=any_session) is opened
    with pytest.raises(ConflictError):
        open_seizure("Z1", case_id="K1", session=any_session)
    record_scan(session=any_session, seizure_id="Z1", sources=[], reads=[read(CODE, "a.jpg")])
    any_session.commit()
    write_world(tmp_path / "in", sales=[sale(CODE)], seized=[("Z1", "83395630003721997697")])
    report = load_paths([tmp_path / "in"], session=any_session, protector=protector)
    assert report.per_table()["seizures"] == {"taken": 1, "duplicate": 0, "rejected": 0}
    any_session.expire_all()
    loaded = any_session.get(models.Seizure, "Z1")
    assert loaded is not None and not is_provisional(loaded) and loaded.file_id is not None
    assert loaded.seized_at.day == 10  # the file's date, not the scene's
    statuses = sorted(str(b.status) for b in resolve_seizure("Z1", session=any_session).boxes)
    assert statuses == ["dispensed", "not_dispensed"]  # the camera's box and the file's, both kept
