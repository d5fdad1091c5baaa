"""``rxtrace spark resolve`` and ``rxtrace spark hotspots`` give what ``rxtrace resolve`` and
``rxtrace hotspots`` give, byte for byte, on the same data.

A small demo world (resold, cloned, split, returned and unsold boxes, a carton opened into its
boxes, malformed reads) is loaded, exported as Parquet, and resolved both ways: every seizure,
the case, and codes given directly, from a SQLite and from a PostgreSQL export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.demo.world import generate_world
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.resolve.service import resolve_case, resolve_codes, resolve_seizure
from rxtrace.trace.store import models

from .spark_kit import needs_spark, written
from .test_cli import run

pytestmark = needs_spark


def test_the_same_answers_as_the_embedded_path(
    any_session: Session, spark: Any, tmp_path: Path, protector: Protector
) -> None:
    from rxtrace.trace.spark import find_tables, spark_resolve

    world = generate_world(tmp_path / "world", persons=300)
    load_paths(world.files, session=any_session, protector=protector)
    any_session.commit()
    export_parquet(tmp_path / "pq", session=any_session)
    tables = find_tables([tmp_path / "pq"])
    case = world.case_id
    embedded = resolve_case(case, session=any_session)
    statuses = {str(box.status) for box in embedded.boxes}
    assert {"dispensed", "dispensed_repeatedly", "malformed", "not_dispensed"} <= statuses, statuses
    assert any(box.via_case for box in embedded.boxes) and any(box.clone_reasons for box in embedded.boxes)
    assert written(spark_resolve(spark, tables, case_id=case)) == written(embedded)
    for seizure in any_session.scalars(
        select(models.Seizure.seizure_id).where(models.Seizure.case_id == case)
    ):
        assert written(spark_resolve(spark, tables, seizure_id=seizure)) == written(
            resolve_seizure(seizure, session=any_session)
        ), seizure
    codes = [box.code for box in embedded.boxes[:40]] + ["not a code", "81000010000000000000"]
    assert written(spark_resolve(spark, tables, codes=codes)) == written(
        resolve_codes(codes, session=any_session)
    )
    # Hot spots: every layer of the case, and of every case, the same GeoJSON.
    from rxtrace.geo.service import hotspots
    from rxtrace.geo.spark import spark_hotspots

    for layer in ("residences", "institutions", "seizures"):
        for scope in (case, None):
            ours = spark_hotspots(spark, tables, case_id=scope, layer=layer, permutations=99)
            theirs = hotspots(session=any_session, case_id=scope, layer=layer, permutations=99)
            assert ours.to_geojson() == theirs.to_geojson(), (layer, scope)
            assert ours.notes == theirs.notes
    with pytest.raises(RxtraceError, match="NOPE"):
        spark_hotspots(spark, tables, case_id="NOPE", layer="residences")
    # A case or seizure nobody recorded is refused as the embedded path refuses it.
    for kwargs in ({"case_id": "NOPE"}, {"seizure_id": "NOPE"}):
        with pytest.raises(RxtraceError, match="NOPE"):
            spark_resolve(spark, tables, **kwargs)


def test_tables_are_found_in_an_export_or_one_by_one(tmp_path: Path) -> None:
    from rxtrace.trace.spark import find_tables

    for name in ("dispensing", "seizures"):
        (tmp_path / "pq" / name).mkdir(parents=True)
    both = find_tables([tmp_path / "pq"])
    assert set(both.folders) == {"dispensing", "seizures"}
    assert find_tables([tmp_path / "pq" / "dispensing"]).folders == {
        "dispensing": tmp_path / "pq" / "dispensing"
    }
    with pytest.raises(RxtraceError, match="given twice"):
        (tmp_path / "other" / "dispensing").mkdir(parents=True)
        find_tables([tmp_path / "pq", tmp_path / "other"])
    with pytest.raises(RxtraceError, match="holds no contract table"):
        find_tables([tmp_path])
    with pytest.raises(RxtraceError, match="No 'seized_codes' table"):
        both.require("seized_codes")


def test_a_local_session_collects_with_the_parallel_collector(spark: Any) -> None:
    """The option reaches the JVM pyspark starts (not only the session's properties): its
    collectors are the parallel collector's, not G1's."""
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert {bean.getName() for bean in beans} == {"PS Scavenge", "PS MarkSweep"}


def test_the_command_prints_what_resolve_prints(tmp_path: Path) -> None:
    world = generate_world(tmp_path / "world", persons=200)
    assert run(["load", str(tmp_path / "world"), "--no-prepare-leads"], tmp_path).returncode == 0
    assert run(["export", "--parquet", str(tmp_path / "pq")], tmp_path).returncode == 0
    embedded = run(["resolve", "--case", world.case_id, "--format", "json"], tmp_path)
    on_spark = run(
        ["spark", "resolve", str(tmp_path / "pq"), "--case", world.case_id, "--format", "json"], tmp_path
    )
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == embedded.stdout
    json.loads(on_spark.stdout)
    table = run(["spark", "resolve", str(tmp_path / "pq"), "--case", world.case_id], tmp_path)
    assert table.returncode == 0 and "Resolution" in table.stdout
    spots = ["hotspots", "--case", world.case_id, "--layer", "institutions", "--format", "csv"]
    on_spark = run(["spark", spots[0], str(tmp_path / "pq"), *spots[1:]], tmp_path)
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == run(spots, tmp_path).stdout
    wrong = run(["spark", "resolve", str(tmp_path / "pq"), "--master", "yarn", "--case", "X"], tmp_path)
    assert wrong.returncode != 0 and "Spark master" in wrong.stderr
    wrong = run(["spark", "resolve", str(tmp_path / "pq"), "--conf", "memory=2g", "--case", "X"], tmp_path)
    assert wrong.returncode != 0 and "Failed to parse 'memory=2g' as a Spark property" in wrong.stderr


def _case_keys(session: Session, case_id: str) -> list[str]:
    """The keys of the case's reads (malformed ones have none), sorted."""
    keys = session.scalars(
        select(models.SeizedCode.code_key)
        .join(models.Seizure, models.Seizure.seizure_id == models.SeizedCode.seizure_id)
        .where(models.Seizure.case_id == case_id)
    )
    return sorted({key for key in keys if key is not None})


def test_questions_started_ahead_answer_as_the_database_does_also_past_what_they_cover(
    session: Session, spark: Any, tmp_path: Path, protector: Protector
) -> None:
    """A case's reads start its children and sales questions ahead, and the case's own
    questions are answered from them; a question about keys they do not cover (a key nobody
    sold) gets a job of its own; every answer equals the database's."""
    from rxtrace.trace.resolve.service import DatabaseLookups, _time
    from rxtrace.trace.spark import find_tables
    from rxtrace.trace.spark.resolve import SparkLookups

    world = generate_world(tmp_path / "world", persons=300)
    load_paths(world.files, session=session, protector=protector)
    session.commit()
    export_parquet(tmp_path / "pq", session=session)
    case_keys = set(_case_keys(session, world.case_id))
    parents = set(session.scalars(select(models.Aggregation.parent_key)))
    assert case_keys & parents, "the case holds a carton: its boxes come from the aggregation"

    def rows(found: list[Any]) -> list[tuple[Any, ...]]:
        return sorted((r[0], r[1], _time(r[3]), *r[4:]) for r in found)

    database = DatabaseLookups(session)
    for extra in ([], ["83395630003642750912"]):  # a national code's key that nobody sold
        lookups = SparkLookups(spark, find_tables([tmp_path / "pq"]))
        try:
            lookups.case_reads(world.case_id)
            keys = sorted(case_keys | set(extra))
            pairs = lookups.children(keys)
            assert sorted(pairs) == sorted(database.children(keys))
            boxes = sorted(set(keys) | {child for _, child in pairs})
            started = lookups._sales
            assert started is not None and started[1].covered.issuperset(boxes) == (not extra)
            assert rows(lookups.sale_rows(boxes)) == rows(database.sale_rows(boxes))
            # Past what was started ahead: the database's answer, by a job of its own.
            more = [*boxes, "83395630003642750913"]
            assert rows(lookups.sale_rows(more)) == rows(database.sale_rows(more))
            # The parties of the same rows were not started: a job of their own answers them.
            assert sorted(lookups.party_rows(boxes)) == sorted(database.party_rows(boxes))
        finally:
            lookups.close()
    # The map's question started ahead: the parties of the case's sales, and nothing more.
    lookups = SparkLookups(spark, find_tables([tmp_path / "pq"]))
    try:
        lookups.start_reads(lookups.frame("seizures").where(f"case_id = '{world.case_id}'"), parties=True)
        pairs = lookups.children(sorted(case_keys))
        boxes = sorted(case_keys | {child for _, child in pairs})
        started = lookups._sales
        assert started is not None and started[0] and started[1].covered.issuperset(boxes)
        parties = database.party_rows(boxes)
        assert len(parties) > len(case_keys) / 2
        assert sorted(lookups.party_rows(boxes)) == sorted(parties)
        assert rows(lookups.sale_rows(boxes)) == rows(database.sale_rows(boxes))
    finally:
        lookups.close()


def test_the_parties_carry_their_institutions_places_as_the_table_holds_them(
    session: Session, spark: Any, tmp_path: Path, protector: Protector
) -> None:
    """With ``places`` the parties' rows bring each institution's place: the table's own row
    for each institution named (one the table lacks left out, one without a location as it
    is), the parties themselves as the database gives them; institutions the rows did not
    name are not answered from them."""
    import shutil

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from rxtrace.trace.resolve.service import DatabaseLookups
    from rxtrace.trace.spark import find_tables
    from rxtrace.trace.spark.resolve import SparkLookups

    world = generate_world(tmp_path / "world", persons=300)
    load_paths(world.files, session=session, protector=protector)
    session.commit()
    export_parquet(tmp_path / "pq", session=session)
    case_filter = f"case_id = '{world.case_id}'"

    def parties_and_named(lookups: SparkLookups, keys: list[str]) -> list[str]:
        lookups.start_reads(lookups.frame("seizures").where(case_filter), parties=True)
        pairs = lookups.children(keys)
        boxes = sorted(set(keys) | {child for _, child in pairs})
        rows = lookups.party_rows(boxes)
        assert sorted(rows) == sorted(DatabaseLookups(session).party_rows(boxes))
        return sorted({r[2] for r in rows})

    keys = _case_keys(session, world.case_id)
    # An export whose institutions' table lacks the first institution named and has no
    # location for the second.
    probe = SparkLookups(spark, find_tables([tmp_path / "pq"]))
    try:
        named = parties_and_named(probe, keys)
    finally:
        probe.close()
    assert len(named) >= 3
    shutil.copytree(tmp_path / "pq", tmp_path / "pq2")
    institutions = ds.dataset(tmp_path / "pq2" / "institutions").to_table()
    shutil.rmtree(tmp_path / "pq2" / "institutions")
    (tmp_path / "pq2" / "institutions").mkdir()
    kept = institutions.filter(ds.field("fixmedins_code") != named[0]).to_pylist()
    for row in kept:
        if row["fixmedins_code"] == named[1]:
            row["lon"] = row["lat"] = None
    pq.write_table(
        institutions.from_pylist(kept, schema=institutions.schema),
        tmp_path / "pq2" / "institutions" / "part-0.parquet",
    )
    tables = find_tables([tmp_path / "pq2"])
    lookups = SparkLookups(spark, tables, places=True)
    try:
        assert parties_and_named(lookups, keys) == named
        table = sorted(
            lookups.matching(
                "institutions", "fixmedins_code", named, ("fixmedins_code", "lon", "lat", "name")
            )
        )
        carried = lookups.places(named)
        assert carried == table and carried is not None
        assert [p[0] for p in carried] == named[1:] and carried[0][1:3] == (None, None)
        assert lookups.places(named[1:2]) == table[:1]
        assert lookups.places([*named, "H00000000000"]) is None  # not named by the rows
    finally:
        lookups.close()
    # Without ``places`` nothing is carried: the places are the table's to answer.
    lookups = SparkLookups(spark, tables)
    try:
        parties_and_named(lookups, keys)
        assert lookups.places(named) is None
    finally:
        lookups.close()
