"""The Spark jobs beside the embedded path and beside Spark's own raw query, on the same data.

    .venv/bin/python bench/spark_bench.py [--rows 2000000[,5000000...]] [--jobs resolve,leads]
                                          [--master local[2]] [--repeat 3]

A world of N sales (``leads_bench``'s generator: a year of trade, one case of 2,000 seized boxes)
is stored in SQLite, exported with ``rxtrace export --parquet`` (timed), and each job run:

* resolve: the case resolved embedded (``resolve_case`` on SQLite), on Spark (``spark_resolve``
  over the Parquet, its answer checked byte for byte against the embedded one), and by the raw
  Spark query a competent engineer writes (the seized codes joined to the insurance sales,
  counted) on the same Parquet;
* leads: every rule, on Spark (``spark_leads``: the leads' basis built from every sale in the
  run, and read back from a kept basis, ``--basis``) and embedded (the basis built, then
  ``find_leads``; and ``find_leads`` alone on the kept basis), their leads compared by digest,
  beside the raw duplicate-settlement aggregation on each engine.

Spark's start (the JVM, the session) is timed apart: it is paid once per command, not per job.
Several sizes (``--rows 2000000,5000000``) give the scaling, one line per size at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leads_bench import RAW_DUPLICATES, digest, fill, timed  # the leads bench's world and timing

from rxtrace.api.documents import resolution_document
from rxtrace.api.output import json_chunks
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.investigate import find_leads, refresh_basis
from rxtrace.trace.investigate.params import Lead
from rxtrace.trace.resolve.service import resolve_case
from rxtrace.trace.spark import find_tables, spark_resolve, spark_session
from rxtrace.trace.spark.leads import spark_leads
from rxtrace.trace.spark.session import parse_conf
from rxtrace.trace.store.db import make_engine, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="2000000", help="sales rows; several comma-separated")
    parser.add_argument("--jobs", default="resolve,leads")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the short jobs (median)")
    parser.add_argument("--repeat-leads", type=int, default=1, help="runs of the leads jobs")
    parser.add_argument(
        "--conf", action="append", default=[], help="a Spark property KEY=VALUE, as rxtrace spark takes it"
    )
    args = parser.parse_args()
    jobs = set(args.jobs.split(","))
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    lines = [one_size(int(n), jobs, args) for n in args.rows.split(",")]
    print("\n| rows | " + " | ".join(lines[0]) + " |")
    print("|" + "---|" * (len(lines[0]) + 1))
    for n, figures in zip(args.rows.split(","), lines, strict=True):
        print(f"| {int(n):,} | " + " | ".join(figures.values()) + " |")


def one_size(n: int, jobs: set[str], args: argparse.Namespace) -> dict[str, str]:
    figures: dict[str, str] = {}
    folder = Path(tempfile.mkdtemp(prefix="rxtrace-spark-bench-"))
    try:
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
        migrate(engine)
        print(f"\n## {n:,} rows\nstored in {fill(engine, n):.1f} s", flush=True)
        with Session(engine) as session:
            started = time.perf_counter()
            report = export_parquet(folder / "pq", session=session)
            export_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (folder / "pq").rglob("*.parquet"))
        print(
            f"export --parquet: {sum(report.rows.values()):,} rows in {export_s:.1f} s "
            f"({sum(report.rows.values()) / export_s:,.0f} rows/s), {size / 2**20:.0f} MB",
            flush=True,
        )
        figures["Parquet MB"] = f"{size / 2**20:.0f}"
        tables = find_tables([folder / "pq"])
        embedded: dict[str, Any] = {}
        with Session(engine) as session:
            if "resolve" in jobs:
                embedded["resolve_s"], embedded["resolve"] = timed(
                    lambda: resolve_case("BENCH", session=session), args.repeat
                )
            if "leads" in jobs:

                def raw_sqlite() -> int:
                    return len(session.execute(text(RAW_DUPLICATES)).all())

                embedded["raw_dup_s"], _ = timed(raw_sqlite, args.repeat)

                def cold() -> list[Lead]:
                    refresh_basis(session=session)
                    return find_leads(session=session)

                embedded["cold_s"], leads = timed(cold, args.repeat_leads)
                embedded["warm_s"], _ = timed(lambda: find_leads(session=session), args.repeat_leads)
                embedded["leads"] = leads
                session.rollback()
        started = time.perf_counter()
        with spark_session(args.master, app_name="rxtrace bench", conf=parse_conf(args.conf)) as spark:
            start_s = time.perf_counter() - started
            memory = spark.sparkContext.getConf().get("spark.driver.memory")
            print(f"spark session start ({args.master}, driver memory {memory}): {start_s:.1f} s", flush=True)
            dispensing = spark.read.parquet(str(folder / "pq" / "dispensing"))
            if "resolve" in jobs:

                def raw() -> int:
                    d = dispensing.where("mdtrt_setl_type = 1")
                    z = spark.read.parquet(str(folder / "pq" / "seized_codes")).where("key_hi IS NOT NULL")
                    return int(z.join(d, ["key_hi", "key_lo"]).count())

                raw()  # warm: the files' footers read once, as for the job below
                raw_s, raw_rows = timed(raw, args.repeat)
                spark_s, on_spark = timed(lambda: spark_resolve(spark, tables, case_id="BENCH"), args.repeat)
                same = written(on_spark) == written(embedded["resolve"])
                print(f"raw Spark join (seized codes x sales, counted): {raw_s:.2f} s ({raw_rows:,} rows)")
                print(
                    f"spark resolve --case BENCH: {spark_s:.2f} s, {spark_s / raw_s:.2f}x the raw join; "
                    f"{len(on_spark.boxes):,} boxes; identical to the embedded answer: {same}"
                )
                print(f"embedded resolve --case BENCH (SQLite): {embedded['resolve_s']:.2f} s", flush=True)
                figures.update(
                    {
                        "Spark raw join s": f"{raw_s:.2f}",
                        "Spark resolve s": f"{spark_s:.2f} ({spark_s / raw_s:.2f}x)",
                        "SQLite resolve s": f"{embedded['resolve_s']:.2f}",
                    }
                )
            if "leads" in jobs:
                dispensing.createOrReplaceTempView("dispensing")

                def raw_duplicates() -> int:
                    return len(spark.sql(RAW_DUPLICATES).collect())

                raw_duplicates()
                raw_dup_s, duplicates = timed(raw_duplicates, args.repeat)
                spark.catalog.dropTempView("dispensing")
                kept = folder / "basis"
                # The first run builds the basis (and writes it); the next read it back.
                started = time.perf_counter()
                on_spark_leads = spark_leads(spark, tables, basis=kept)
                leads_s = time.perf_counter() - started
                same = digest(on_spark_leads) == digest(embedded["leads"])
                kept_s, on_kept = timed(lambda: spark_leads(spark, tables, basis=kept), args.repeat_leads)
                same = same and digest(on_kept) == digest(embedded["leads"])
                print(f"raw Spark duplicate aggregation: {raw_dup_s:.2f} s ({duplicates:,} codes)")
                print(
                    f"spark leads (basis built and written, every rule): {leads_s:.2f} s, "
                    f"{leads_s / raw_dup_s:.2f}x "
                    f"the raw aggregation; {len(on_spark_leads):,} leads; the same leads as embedded: {same}"
                )
                print(
                    f"spark leads --basis, kept: {kept_s:.2f} s, "
                    f"{kept_s / raw_dup_s:.2f}x the raw aggregation"
                )
                print(
                    f"embedded (SQLite): raw duplicates {embedded['raw_dup_s']:.2f} s; basis + leads "
                    f"{embedded['cold_s']:.2f} s ({embedded['cold_s'] / embedded['raw_dup_s']:.2f}x); "
                    f"leads on the kept basis {embedded['warm_s']:.2f} s "
                    f"({embedded['warm_s'] / embedded['raw_dup_s']:.2f}x)",
                    flush=True,
                )
                figures.update(
                    {
                        "Spark raw dup s": f"{raw_dup_s:.2f}",
                        "Spark leads s": f"{leads_s:.1f} ({leads_s / raw_dup_s:.1f}x)",
                        "Spark leads, kept basis s": f"{kept_s:.1f} ({kept_s / raw_dup_s:.1f}x)",
                        "SQLite raw dup s": f"{embedded['raw_dup_s']:.2f}",
                        "SQLite basis+leads s": (
                            f"{embedded['cold_s']:.1f} ({embedded['cold_s'] / embedded['raw_dup_s']:.1f}x)"
                        ),
                        "SQLite leads, kept basis s": (
                            f"{embedded['warm_s']:.2f} ({embedded['warm_s'] / embedded['raw_dup_s']:.2f}x)"
                        ),
                        "same leads": str(same),
                    }
                )
        figures["Spark start s"] = f"{start_s:.1f}"
        print(f"load average {os.getloadavg()[0]:.2f}")
        return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def written(resolution: Any) -> bytes:
    return b"".join(json_chunks(resolution_document(resolution, reveal=False, top=10)))


if __name__ == "__main__":
    main()
