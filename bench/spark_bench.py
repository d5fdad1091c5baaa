"""The Spark jobs beside the embedded path and beside Spark's own raw query, on the same data.

    .venv/bin/python bench/spark_bench.py [--rows 2000000] [--master local[2]] [--repeat 3]

A world of N sales (``leads_bench``'s generator: a year of trade, one case of 2,000 seized boxes)
is stored in SQLite, exported with ``rxtrace export --parquet`` (timed), and the case resolved:
embedded (``resolve_case`` on SQLite), on Spark (``spark_resolve`` over the Parquet, its answer
checked byte for byte against the embedded one), and by the raw Spark query a competent engineer
writes (the seized codes joined to the insurance sales, counted) on the same Parquet. Spark's
start (the JVM, the session) is timed apart: it is paid once per command, not per job.
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

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leads_bench import fill, timed  # the same world and timing as the leads bench

from rxtrace.api.documents import resolution_document
from rxtrace.api.output import json_chunks
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.resolve.service import resolve_case
from rxtrace.trace.spark import find_tables, spark_resolve, spark_session
from rxtrace.trace.store.db import make_engine, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="rxtrace-spark-bench-"))
    try:
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
        migrate(engine)
        print(f"stored {args.rows:,} rows in {fill(engine, args.rows):.1f} s", flush=True)
        with Session(engine) as session:
            started = time.perf_counter()
            report = export_parquet(folder / "pq", session=session)
            export_s = time.perf_counter() - started
            embedded_s, embedded = timed(lambda: resolve_case("BENCH", session=session), args.repeat)
        size = sum(p.stat().st_size for p in (folder / "pq").rglob("*.parquet"))
        print(
            f"export --parquet: {sum(report.rows.values()):,} rows in {export_s:.1f} s "
            f"({sum(report.rows.values()) / export_s:,.0f} rows/s), {size / 2**20:.0f} MB",
            flush=True,
        )
        tables = find_tables([folder / "pq"])
        started = time.perf_counter()
        with spark_session(args.master, app_name="rxtrace bench") as spark:
            start_s = time.perf_counter() - started

            def raw() -> int:
                d = spark.read.parquet(str(folder / "pq" / "dispensing")).where("mdtrt_setl_type = 1")
                z = spark.read.parquet(str(folder / "pq" / "seized_codes")).where("key_hi IS NOT NULL")
                return int(z.join(d, ["key_hi", "key_lo"]).count())

            raw()  # warm: the files' footers read once, as for the job below
            raw_s, raw_rows = timed(raw, args.repeat)
            spark_s, on_spark = timed(lambda: spark_resolve(spark, tables, case_id="BENCH"), args.repeat)

        def written(resolution: Any) -> bytes:
            return b"".join(json_chunks(resolution_document(resolution, reveal=False, top=10)))

        same = written(on_spark) == written(embedded)
        print(f"spark session start ({args.master}): {start_s:.1f} s", flush=True)
        print(f"raw Spark join (seized codes x sales, counted): {raw_s:.2f} s ({raw_rows:,} rows)")
        print(
            f"spark resolve --case BENCH: {spark_s:.2f} s, {spark_s / raw_s:.2f}x the raw join; "
            f"{len(on_spark.boxes):,} boxes; answer identical to the embedded one: {same}"
        )
        print(f"embedded resolve --case BENCH (SQLite): {embedded_s:.2f} s")
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
