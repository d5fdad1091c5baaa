"""``rxtrace spark leads`` finds what ``rxtrace leads --no-save`` finds, lead for lead, word for
word, on the same data.

The planted world (a ring of rented cards, a phantom hospital, a reseller, a cloner, cards
taking turns, a stall's seizure, and their honest look-alikes) fires nearly every rule; it is
loaded into SQLite and PostgreSQL, exported, and its leads found both ways.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from rxtrace.api.documents import leads_document
from rxtrace.trace.demo.planted import plant_world
from rxtrace.trace.errors import CaseNotFoundError, RxtraceError
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.investigate import find_leads
from rxtrace.trace.investigate.params import Lead
from rxtrace.trace.protect import Protector

from .spark_kit import needs_spark
from .test_cli import run

pytestmark = needs_spark

# The rules the planted world must fire, so that "the same leads" covers them.
FIRED = {
    "resold",
    "resold_at",
    "cloned",
    "cloned_at",
    "seized_code",
    "card_seized",
    "seized_cards",
    "cross_institution",
    "small_visits",
    "card_turns",
    "co_visits",
    "sittings",
    "bunched",
    "no_treatment",
    "no_treatment_at",
    "fund_share",
    "fund_share_billed",
    "bursts",
    "boxes_per_card",
}


def written(leads: list[Lead], case: str | None = None) -> str:
    return json.dumps(leads_document(leads, [], reveal=False, limit=0, case_id=case), sort_keys=True)


def test_every_rule_gives_the_same_leads_on_spark(
    any_session: Session, spark: Any, tmp_path: Path, protector: Protector
) -> None:
    from rxtrace.trace.spark import find_tables
    from rxtrace.trace.spark.leads import spark_leads

    truth = plant_world(tmp_path / "world", strength=1.0, persons=400)
    files = [Path(p) for p in truth.files + truth.seizure_files]
    load_paths(files, session=any_session, protector=protector)
    any_session.commit()
    export_parquet(tmp_path / "pq", session=any_session)
    tables = find_tables([tmp_path / "pq"])
    embedded = find_leads(session=any_session)
    fired = {hit.rule for lead in embedded for hit in lead.rules}
    assert fired >= FIRED, FIRED - fired
    assert written(spark_leads(spark, tables)) == written(embedded)
    # A case's cards only: its seizure's boxes pick the entities.
    case = find_leads(session=any_session, case_id="PLANTED", kind="card")
    assert case and {lead.kind for lead in case} == {"card"}
    assert written(spark_leads(spark, tables, case_id="PLANTED", kind="card"), "PLANTED") == written(
        case, "PLANTED"
    )
    with pytest.raises(CaseNotFoundError, match="NOPE"):
        spark_leads(spark, tables, case_id="NOPE")
    with pytest.raises(RxtraceError, match="Unknown lead kind"):
        spark_leads(spark, tables, kind="person")


def test_each_kind_alone_builds_its_part_of_the_basis_and_finds_the_same_leads(
    session: Session, spark: Any, tmp_path: Path, protector: Protector
) -> None:
    """A run of one kind builds only the basis tables that kind's rules read (``NEEDS``; a
    read of another would fail, no view of it being made) and finds the embedded leads."""
    from rxtrace.trace.spark import find_tables
    from rxtrace.trace.spark.leads import spark_leads

    truth = plant_world(tmp_path / "world", strength=1.0, persons=400)
    load_paths([Path(p) for p in truth.files + truth.seizure_files], session=session, protector=protector)
    session.commit()
    export_parquet(tmp_path / "pq", session=session)
    tables = find_tables([tmp_path / "pq"])
    for kind in ("code", "institution", "doctor"):  # the cards: the test above, with a case
        embedded = find_leads(session=session, kind=kind)
        assert embedded, kind
        assert written(spark_leads(spark, tables, kind=kind)) == written(embedded), kind


def test_a_kept_basis_is_used_while_the_data_is_the_same(
    session: Session, spark: Any, tmp_path: Path, protector: Protector
) -> None:
    from rxtrace.trace.spark import find_tables
    from rxtrace.trace.spark.leads import BASIS_TABLES, spark_leads

    truth = plant_world(tmp_path / "world", strength=1.0, persons=300)
    load_paths([Path(p) for p in truth.files[:3]], session=session, protector=protector)
    session.commit()
    export_parquet(tmp_path / "before", session=session)
    load_paths([Path(p) for p in truth.files + truth.seizure_files], session=session, protector=protector)
    session.commit()
    export_parquet(tmp_path / "after", session=session)
    embedded = written(find_leads(session=session))
    builds: list[str] = []
    kept = tmp_path / "basis"

    def leads(folder: str) -> str:
        found = spark_leads(
            spark, find_tables([tmp_path / folder]), basis=kept, on_build=lambda: builds.append(folder)
        )
        return written(found)

    assert leads("after") == embedded and builds == ["after"]
    assert {p.name for p in kept.iterdir()} >= {"basis.json", *BASIS_TABLES}
    assert leads("after") == embedded and builds == ["after"]  # read back, not built
    # Other data (fewer sales): built again, and the answer is that data's.
    before = leads("before")
    assert builds == ["after", "before"] and before != embedded
    # A description cut short is no basis: built again.
    (kept / "basis.json").write_text("{")
    assert leads("before") == before and builds == ["after", "before", "before"]


def test_the_command_prints_what_leads_prints(tmp_path: Path) -> None:
    """From the contract's own files, converted on Spark with the same key as the load."""
    truth = plant_world(tmp_path / "world", strength=1.0, persons=300)
    files = truth.files + truth.seizure_files
    assert run(["load", *files, "--no-prepare-leads"], tmp_path).returncode == 0
    asked = ["--kind", "institution", "--format", "json", "--limit", "0"]
    embedded = run(["leads", "--no-save", *asked], tmp_path)
    assert embedded.returncode == 0, embedded.stderr
    basis = ["--basis", str(tmp_path / "basis")]
    # Three shuffle partitions, not the default eight: the answer must not depend on them.
    conf = ["--conf", "spark.sql.shuffle.partitions=3", "--conf", "spark.driver.memory=2g"]
    on_spark = run(["spark", "leads", *files, *asked, *basis, *conf], tmp_path, timeout=600)
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == embedded.stdout
    assert "driver memory 2g, 3 shuffle partitions" in on_spark.stderr
    assert "Building the leads' basis" in on_spark.stderr and (tmp_path / "basis" / "basis.json").exists()
    assert json.loads(on_spark.stdout)["leads"]
    saved = run(["spark", "leads", *files, "--save"], tmp_path, timeout=600)
    assert saved.returncode != 0 and "cannot be saved" in saved.stderr


def test_a_division_not_spelled_by_sql_quot_is_refused(spark: Any) -> None:
    """Spark divides two integers into a double: a product number or a bucket computed with a
    bare / would silently match nothing, so the seam refuses it."""
    from rxtrace.trace.spark import SparkSql

    sql = SparkSql(spark)
    assert sql.rows(f"SELECT {sql.quot('7', 2)} AS q, '1/2' AS text")[0] == (3, "1/2")
    assert sql.rows("SELECT /*+ COALESCE(1) */ 7 AS n")[0] == (7,)  # a hint is no division
    with pytest.raises(RxtraceError, match=r"Sql\.quot"):
        sql.rows("SELECT 7 / 2")
    with pytest.raises(RxtraceError, match=r"Sql\.quot"):
        sql.rows("SELECT /*+ COALESCE(1) */ 7 / 2")


def test_rows_read_by_name_and_position_and_groups_by_code_skip_the_early_pass(spark: Any) -> None:
    """The seam's rows read as SQLAlchemy's do (by name, by position, unpacked), whatever
    Spark calls a column; the candidate codes' grouping skips Spark's grouping ahead of the
    exchange, and the session's setting is what it was afterwards."""
    from rxtrace.trace.spark import SparkSql

    sql = SparkSql(spark)
    (row,) = sql.rows(
        "SELECT 1 AS hi, CAST('2025-03-01 08:00:00' AS TIMESTAMP_NTZ) AS at, COUNT(*), 2 AS hi "
        "FROM (SELECT 1) GROUP BY 1"
    )
    assert (row.hi, row.at, row[2], tuple(row)[3]) == (1, datetime(2025, 3, 1, 8), 1, 2)
    hi, *_ = row
    assert hi == 1
    assert sql.rows("SELECT 1 AS n WHERE 1 = 0") == []

    key = "spark.sql.execution.bypassPartialAggregation"
    before = spark.conf.get(key)
    with sql.unique_groups():
        assert spark.conf.get(key) == "true"
        plan = spark.sql("SELECT id % 7 AS k, COUNT(*) FROM range(100) GROUP BY id % 7")
        assert "partial_count" not in plan._jdf.queryExecution().executedPlan().toString()
    assert spark.conf.get(key) == before
    plan = spark.sql("SELECT id % 7 AS k, COUNT(*) FROM range(100) GROUP BY id % 7")
    assert "partial_count" in plan._jdf.queryExecution().executedPlan().toString()
