"""Spark over the contract's own files beside Spark over Parquet and the embedded load + resolve.

    .venv/bin/python bench/spark_contract_bench.py [--persons 30000] [--master local[2]]

The demo world (its sales in three files: UTF-8 CSV, GB18030 CSV, JSON Lines) is loaded into
SQLite and its case resolved (the embedded path, each step timed), exported as Parquet, then on
Spark: the files converted on the executors (``contract_tables``: read, checked, converted,
duplicates dropped, kept) and the case resolved over them, and the case resolved over the
Parquet. Both Spark answers are checked byte for byte against the embedded one. Spark's start
is timed apart: it is paid once per command.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rxtrace.api.documents import resolution_document
from rxtrace.api.output import json_chunks
from rxtrace.trace.demo.world import generate_world
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.resolve.service import resolve_case
from rxtrace.trace.spark import contract_tables, find_sources, find_tables, spark_resolve, spark_session
from rxtrace.trace.store.db import make_engine, migrate


def written(resolution: Any) -> bytes:
    return b"".join(json_chunks(resolution_document(resolution, reveal=False, top=10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=30_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="rxtrace-spark-contract-bench-"))
    protector = Protector(b"bench-key-" + b"0" * 32)
    try:
        world = generate_world(folder / "files", persons=args.persons)
        size = sum(p.stat().st_size for p in world.files)
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
        migrate(engine)
        with Session(engine) as session:
            started = time.perf_counter()
            report = load_paths(world.files, session=session, protector=protector)
            session.commit()
            load_s = time.perf_counter() - started
            sales = report.per_table()["dispensing"]["taken"]
            started = time.perf_counter()
            embedded = written(resolve_case(world.case_id, session=session))
            embedded_s = time.perf_counter() - started
            export_parquet(folder / "pq", session=session)
            session.commit()
        print(f"files: {len(world.files)}, {size / 2**20:.1f} MB, {sales:,} sales", flush=True)
        print(f"embedded: load {load_s:.1f} s, resolve --case {embedded_s:.2f} s", flush=True)
        started = time.perf_counter()
        with spark_session(args.master, app_name="rxtrace bench") as spark:
            start_s = time.perf_counter() - started
            print(f"spark session start ({args.master}): {start_s:.1f} s", flush=True)
            started = time.perf_counter()
            tables, counts = contract_tables(spark, find_sources([folder / "files"]), protector)
            convert_s = time.perf_counter() - started
            taken = next(c.taken for c in counts if c.table == "dispensing")
            print(f"spark: contract files converted and kept {convert_s:.1f} s ({taken:,} sales)", flush=True)
            started = time.perf_counter()
            same_files = written(spark_resolve(spark, tables, case_id=world.case_id)) == embedded
            files_s = time.perf_counter() - started
            print(f"spark: resolve --case over them {files_s:.2f} s; identical: {same_files}", flush=True)
            parquet = find_tables([folder / "pq"])
            started = time.perf_counter()
            same_pq = written(spark_resolve(spark, parquet, case_id=world.case_id)) == embedded
            pq_s = time.perf_counter() - started
            print(f"spark: resolve --case over the Parquet {pq_s:.2f} s; identical: {same_pq}", flush=True)
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
