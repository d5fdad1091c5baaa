"""``rxtrace spark resolve|hotspots`` over the contract's own files (CSV in UTF-8 or GB18030,
JSON Lines) give what ``rxtrace load`` then ``rxtrace resolve|hotspots`` give, byte for byte.

The files are converted on Spark's executors by the load's own functions; the rows the load
sets aside are set aside the same way (same lines, same reasons), duplicates are dropped as the
database drops them, and the keyed hashes are made with the same key.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.demo.world import generate_world
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.ingest.load import LoadReport, load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.resolve.service import resolve_case, resolve_codes, resolve_seizure
from rxtrace.trace.store import models

from ..conftest import SAMPLE
from .spark_kit import needs_spark, written
from .test_cli import run

pytestmark = needs_spark


def on_spark(spark: Any, paths: list[Path], protector: Protector) -> tuple[Any, list[Any], Any]:
    from rxtrace.trace.spark.contract import contract_tables, find_sources

    sources = find_sources(paths)
    tables, counts = contract_tables(spark, sources, protector, batch_rows=500)
    return tables, counts, sources


def same_counts(counts: list[Any], report: LoadReport) -> None:
    """Rows taken, duplicate and set aside per table, as the load counted them."""
    ours = {c.table: {"taken": c.taken, "duplicate": c.duplicate, "rejected": c.rejected} for c in counts}
    assert ours == report.per_table()


def same_rejects(session: Session, counts: list[Any]) -> None:
    """Each file's rows set aside: the same lines, for the same reasons."""
    for table in counts:
        for file in table.files:
            stored = session.execute(
                select(models.RejectedRow.line_no, models.RejectedRow.reason)
                .join(models.LoadedFile, models.LoadedFile.id == models.RejectedRow.file_id)
                .where(models.LoadedFile.path == str(file.path))
                .order_by(models.RejectedRow.line_no)
            ).all()
            assert file.rejected == len(stored), file.path
            assert file.rejects == [tuple(r) for r in stored][: len(file.rejects)], file.path


def same_answers(spark: Any, tables: Any, session: Session, case_id: str) -> None:
    from rxtrace.geo.service import hotspots
    from rxtrace.geo.spark import spark_hotspots
    from rxtrace.trace.spark import spark_resolve

    embedded = resolve_case(case_id, session=session)
    assert written(spark_resolve(spark, tables, case_id=case_id)) == written(embedded)
    for seizure in session.scalars(
        select(models.Seizure.seizure_id).where(models.Seizure.case_id == case_id)
    ):
        assert written(spark_resolve(spark, tables, seizure_id=seizure)) == written(
            resolve_seizure(seizure, session=session)
        ), seizure
    codes = [box.code for box in embedded.boxes[:40]] + ["not a code", "81000010000000000000"]
    assert written(spark_resolve(spark, tables, codes=codes)) == written(
        resolve_codes(codes, session=session)
    )
    for layer in ("residences", "institutions", "seizures"):
        ours = spark_hotspots(spark, tables, case_id=case_id, layer=layer, permutations=99)
        theirs = hotspots(session=session, case_id=case_id, layer=layer, permutations=99)
        assert ours.to_geojson() == theirs.to_geojson(), layer
        assert ours.notes == theirs.notes


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared sample absent")
def test_the_contract_sample_as_loaded(spark: Any, session: Session, protector: Protector) -> None:
    report = load_paths([SAMPLE], session=session, protector=protector)
    session.commit()
    tables, counts, sources = on_spark(spark, [SAMPLE], protector)
    assert not sources.refused and not sources.folders
    assert {f.shape.encoding for f in sources.files if f.table == "dispensing"} >= {"utf-8", "gb18030"}
    assert {f.shape.file_format for f in sources.files} == {"csv", "jsonl"}
    same_counts(counts, report)
    same_rejects(session, counts)
    same_answers(spark, tables, session, "CASE-SAMPLE")


BAD_ROWS = (
    "S-BAD-1,,C31011500046,310000000051,,,,,X98752163008601,89934730008710953841,0,1,"
    "2025-01-01 09:57:46,sale,1,66.0,abc,,\r\n"  # hifp_pay is no amount
    "S-BAD-2,,C31011500046,310000000051,,,,,X98752163008601,89934730008710953841,0,-1,"
    "2025-01-01 09:57:46,sale,1,66.0,1.5,,\r\n"  # a sale of minus one box
    "S-BAD-3,too,few\r\n"  # three fields where the header has nineteen
)


def test_a_generated_world_in_every_encoding_with_bad_and_duplicate_rows(
    spark: Any, session: Session, protector: Protector, tmp_path: Path
) -> None:
    world = generate_world(tmp_path / "world", persons=300)
    folder = tmp_path / "world"
    lines = (folder / "dispensing_2025_a.csv").read_bytes().splitlines(keepends=True)
    # A later export overlapping the first: three sales again (duplicates), rows that break
    # the contract (set aside), and a file no table fits (refused); in GB18030.
    text = b"".join(lines[:4]).decode() + BAD_ROWS
    (folder / "dispensing_2025_d_gb18030.csv").write_bytes(text.encode("gb18030"))
    (folder / "notes.csv").write_text("remark,by\nseized at night,wang\n")
    shutil.copy(folder / "seized_codes.csv", folder / "seized_codes_copy.csv")  # the same bytes again
    report = load_paths([folder], session=session, protector=protector)
    session.commit()
    assert report.per_table()["dispensing"]["rejected"] == 3
    tables, counts, sources = on_spark(spark, [folder], protector)
    assert [p.name for p, _ in sources.refused] == ["notes.csv"]
    assert sources.again == [(folder / "seized_codes_copy.csv", folder / "seized_codes.csv")]
    assert [f.status for f in report.files if f.path.endswith("_copy.csv")] == ["already_loaded"]
    assert [f.status for f in report.files if f.path.endswith("notes.csv")] == ["refused"]
    same_counts(counts, report)
    same_rejects(session, counts)
    dispensing = next(c for c in counts if c.table == "dispensing")
    assert dispensing.duplicate == 3 and dispensing.rejected == 3
    same_answers(spark, tables, session, world.case_id)

    # An export beside new contract files: the files' rows come after the export's, as if
    # loaded into the database the export was written from.
    export_parquet(tmp_path / "pq", session=session, tables=["dispensing", "institutions", "catalog"])
    session.commit()  # the export's read ends; a load wants no transaction open
    more = tmp_path / "more"
    more.mkdir()
    (more / "late.csv").write_bytes(b"".join(lines[:1] + lines[-6:]).replace(b"S0", b"S9"))
    (more / "again.csv").write_bytes(b"".join(lines[:1] + lines[10:12]))
    late = load_paths([more], session=session, protector=protector)
    session.commit()
    mixed = [tmp_path / "pq", more, *(folder / n for n in ("insured.csv", "aggregation.csv", "seizures.csv"))]
    tables, counts, sources = on_spark(spark, [*mixed, folder / "seized_codes.csv"], protector)
    assert set(sources.folders) == {"dispensing", "institutions", "catalog"}
    assert set(tables.frames) == {"dispensing", "insured", "aggregation", "seizures", "seized_codes"}
    same_counts([c for c in counts if c.table == "dispensing"], late)
    same_answers(spark, tables, session, world.case_id)


def test_the_command_over_contract_files_prints_what_load_and_resolve_print(tmp_path: Path) -> None:
    world = generate_world(tmp_path / "world", persons=200)
    text = (tmp_path / "world" / "dispensing_2025_a.csv").read_text().splitlines(keepends=True)[0] + BAD_ROWS
    (tmp_path / "world" / "dispensing_bad.csv").write_text(text)
    assert run(["load", str(tmp_path / "world"), "--no-prepare-leads"], tmp_path).returncode == 0
    embedded = run(["resolve", "--case", world.case_id, "--format", "json"], tmp_path)
    ours = run(
        ["spark", "resolve", str(tmp_path / "world"), "--case", world.case_id, "--format", "json"], tmp_path
    )
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == embedded.stdout
    assert "3 rows set aside" in ours.stderr and "dispensing_bad.csv" in ours.stderr


def test_a_folder_mixing_an_export_and_contract_files(tmp_path: Path) -> None:
    from rxtrace.trace.errors import RxtraceError
    from rxtrace.trace.spark.contract import find_sources

    world = generate_world(tmp_path / "mixed", persons=200)
    (tmp_path / "mixed" / "dispensing" / "month=2025-03").mkdir(parents=True)
    (tmp_path / "mixed" / "dispensing" / "month=2025-03" / "part-0.parquet").write_bytes(b"PAR1")
    (tmp_path / "mixed" / "stray.parquet").write_bytes(b"PAR1")
    sources = find_sources([tmp_path / "mixed"])
    assert sources.folders == {"dispensing": tmp_path / "mixed" / "dispensing"}
    assert [f.path for f in sources.files] == sorted(world.files)  # in the order load takes them
    assert [f.index for f in sources.files] == list(range(len(world.files)))
    assert [(p.name, "Parquet" in why) for p, why in sources.refused] == [("stray.parquet", True)]
    forced = find_sources(
        [tmp_path / "mixed" / "seized_codes.csv", tmp_path / "mixed" / "seizures.csv"], table="seized_codes"
    )
    assert [f.path.name for f in forced.files] == ["seized_codes.csv"]
    assert "lacks required column" in forced.refused[0][1]
    with pytest.raises(RxtraceError, match="No contract table"):
        find_sources([tmp_path / "mixed" / "stray.parquet"])
    unknown = run(["spark", "resolve", str(tmp_path / "mixed"), "--case", "X", "--table", "nope"], tmp_path)
    assert unknown.returncode != 0 and "Unknown table 'nope'" in unknown.stderr
