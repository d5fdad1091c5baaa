"""The Spark jobs beside the embedded path and beside Spark's own raw query, on the same data.

    .venv/bin/python bench/spark_bench.py [--rows 2000000[,5000000...]] [--jobs resolve,leads]
        [--engines sqlite[,postgres]] [--seized 2000] [--master local[2]] [--repeat 3]
        [--repeat-leads 1] [--conf spark.KEY=VALUE ...]

A world of N sales (``leads_bench``'s generator: a year of trade, one case of ``--seized`` boxes
taken from the sales) is stored in each embedded engine, exported from the first with
``rxtrace export --parquet`` (timed), and each job run:

* resolve: the case resolved embedded (``resolve_case`` on each engine, beside that engine's raw
  join of the seized codes to the insurance sales), on Spark (``spark_resolve`` over the Parquet,
  its answer checked against each embedded one by a digest of the whole JSON document), and by
  the raw Spark query a competent engineer writes (the same join, counted) on the same Parquet;
* leads: every rule, on Spark (``spark_leads``: the leads' basis built from every sale in the
  run, and read back from a kept basis, ``--basis``) and embedded (the basis built, then
  ``find_leads``; and ``find_leads`` alone on the kept basis), their leads compared by digest,
  beside the raw duplicate-settlement aggregation on each engine.

Spark's start (the JVM, the session) is timed apart: it is paid once per command, not per job.
Several sizes (``--rows 2000000,5000000``) give the scaling, one line per size at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leads_bench import RAW_DUPLICATES, digest, fill, scratch_engine, timed  # the leads bench's world

from rxtrace.api.documents import resolution_document
from rxtrace.api.output import json_chunks
from rxtrace.geo.service import hotspots
from rxtrace.geo.spark import spark_hotspots
from rxtrace.trace.ingest.export import export_parquet
from rxtrace.trace.investigate import find_leads, refresh_basis
from rxtrace.trace.investigate.params import Lead
from rxtrace.trace.resolve.service import resolve_case
from rxtrace.trace.spark import find_tables, spark_resolve, spark_session
from rxtrace.trace.spark.leads import spark_leads
from rxtrace.trace.spark.session import parse_conf

RAW_JOIN = (
    "SELECT COUNT(*) FROM seized_code z JOIN dispensing d "
    "ON d.key_hi = z.key_hi AND d.key_lo = z.key_lo WHERE d.mdtrt_setl_type = 1"
)
# What a resolution shows of each sale (the join's key and the institution's name aside).
SALE_COLUMNS = (
    *("setl_id", "rxno", "sel_retn_time", "fixmedins_code", "psn_no", "dr_code", "med_list_codg"),
    *("trdn_flag", "sel_retn_cnt", "hifp_pay_fen", "sel_retn_type", "id"),
)
RAW_PLACES = (
    "SELECT d.fixmedins_code, COUNT(*) FROM seized_code z JOIN dispensing d "
    "ON d.key_hi = z.key_hi AND d.key_lo = z.key_lo JOIN institution i "
    "ON i.fixmedins_code = d.fixmedins_code WHERE d.mdtrt_setl_type = 1 GROUP BY d.fixmedins_code"
)
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="2000000", help="sales rows; several comma-separated")
    parser.add_argument("--jobs", default="resolve,leads", help="resolve,hotspots,leads")
    parser.add_argument("--engines", default="sqlite", help="embedded engines beside Spark: sqlite,postgres")
    parser.add_argument("--seized", type=int, default=2000, help="boxes in the case resolved")
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


def beside(
    raw: Callable[[], Any], job: Callable[[], Any], repeat: int, *, job_repeat: int | None = None
) -> tuple[float, float, Any]:
    """The median times of an engine's raw query (after one warm run: the files' footers or
    pages read once, as for the job) and of the job, and the job's answer."""
    raw()
    raw_s, _ = timed(raw, repeat)
    job_s, answer = timed(job, job_repeat or repeat)
    return raw_s, job_s, answer


def counted(session: Session, raw_sql: str) -> Callable[[], int]:
    """A raw SQL query on an embedded engine, its rows fetched and counted."""
    return lambda: len(session.execute(text(raw_sql)).all())


def embedded_jobs(engine: Engine, jobs: set[str], args: argparse.Namespace) -> dict[str, Any]:
    """Each job on one embedded engine, beside that engine's raw query."""
    result: dict[str, Any] = {}
    with Session(engine) as session:
        if "resolve" in jobs:
            result["raw_join_s"], result["resolve_s"], resolution = beside(
                counted(session, RAW_JOIN), lambda: resolve_case("BENCH", session=session), args.repeat
            )
            result["resolve"] = written(resolution)
            del resolution
        if "hotspots" in jobs:
            result["raw_places_s"], result["hotspots_s"], spots = beside(
                counted(session, RAW_PLACES),
                lambda: hotspots(session=session, case_id="BENCH", layer="institutions"),
                args.repeat,
            )
            result["hotspots"] = spotted(spots)
            result["cells"] = spots.summary()["cells"]
        if "leads" in jobs:

            def cold() -> list[Lead]:
                refresh_basis(session=session)
                return find_leads(session=session)

            result["raw_dup_s"], result["cold_s"], leads = beside(
                counted(session, RAW_DUPLICATES), cold, args.repeat, job_repeat=args.repeat_leads
            )
            result["warm_s"], _ = timed(lambda: find_leads(session=session), args.repeat_leads)
            result["leads"] = digest(leads)
            result["lead_count"] = len(leads)
            session.rollback()
    return result


def one_size(n: int, jobs: set[str], args: argparse.Namespace) -> dict[str, str]:
    figures: dict[str, str] = {}
    engines = args.engines.split(",")
    folder = Path(tempfile.mkdtemp(prefix="rxtrace-spark-bench-"))
    try:
        embedded: dict[str, dict[str, Any]] = {}
        for name in engines:
            with scratch_engine(name, "rxtrace-spark-bench") as engine:
                stored_s = fill(engine, n, seized=args.seized)
                print(f"\n## {n:,} rows, {NAMES[name]}\nstored in {stored_s:.1f} s", flush=True)
                if name == engines[0]:
                    with Session(engine) as session:
                        started = time.perf_counter()
                        report = export_parquet(folder / "pq", session=session)
                        export_s = time.perf_counter() - started
                    size = sum(p.stat().st_size for p in (folder / "pq").rglob("*.parquet"))
                    print(
                        f"export --parquet from {NAMES[name]}: {sum(report.rows.values()):,} rows in "
                        f"{export_s:.1f} s ({sum(report.rows.values()) / export_s:,.0f} rows/s), "
                        f"{size / 2**20:.0f} MB",
                        flush=True,
                    )
                    figures["Parquet MB"] = f"{size / 2**20:.0f}"
                embedded[name] = found = embedded_jobs(engine, jobs, args)
                if "resolve" in jobs:
                    print(
                        f"{NAMES[name]}: raw join {found['raw_join_s']:.2f} s; resolve --case BENCH "
                        f"{found['resolve_s']:.2f} s ({found['resolve_s'] / found['raw_join_s']:.2f}x)",
                        flush=True,
                    )
                if "hotspots" in jobs:
                    ratio = found["hotspots_s"] / found["raw_places_s"]
                    print(
                        f"{NAMES[name]}: raw places of the case {found['raw_places_s']:.2f} s; hotspots "
                        f"--layer institutions {found['hotspots_s']:.2f} s ({ratio:.2f}x); "
                        f"{found['cells']} cells",
                        flush=True,
                    )
                if "leads" in jobs:
                    print(
                        f"{NAMES[name]}: raw duplicates {found['raw_dup_s']:.2f} s; basis + leads "
                        f"{found['cold_s']:.2f} s ({found['cold_s'] / found['raw_dup_s']:.2f}x); "
                        f"leads on the kept basis {found['warm_s']:.2f} s "
                        f"({found['warm_s'] / found['raw_dup_s']:.2f}x); {found['lead_count']:,} leads",
                        flush=True,
                    )
        tables = find_tables([folder / "pq"])
        started = time.perf_counter()
        with spark_session(args.master, app_name="rxtrace bench", conf=parse_conf(args.conf)) as spark:
            start_s = time.perf_counter() - started
            memory = spark.sparkContext.getConf().get("spark.driver.memory")
            print(f"spark session start ({args.master}, driver memory {memory}): {start_s:.1f} s", flush=True)
            dispensing = spark.read.parquet(str(folder / "pq" / "dispensing"))
            if "resolve" in jobs:
                joined: list[int] = []  # the raw join's count, to print

                def raw() -> int:
                    d = dispensing.where("mdtrt_setl_type = 1")
                    z = spark.read.parquet(str(folder / "pq" / "seized_codes")).where("key_hi IS NOT NULL")
                    joined.append(int(z.join(d, ["key_hi", "key_lo"]).count()))
                    return joined[-1]

                def raw_sales() -> int:
                    # The same join returning what a resolution shows of each sale: twelve of
                    # the sales' columns read where the count reads three.
                    d = dispensing.where("mdtrt_setl_type = 1")
                    z = spark.read.parquet(str(folder / "pq" / "seized_codes")).where("key_hi IS NOT NULL")
                    z = z.select("key_hi", "key_lo", "code_key")
                    i = spark.read.parquet(str(folder / "pq" / "institutions"))
                    i = i.select("fixmedins_code", "name")
                    return len(
                        z.join(d, ["key_hi", "key_lo"])
                        .join(i, "fixmedins_code", "left")
                        .select("code_key", "name", *SALE_COLUMNS)
                        .collect()
                    )

                raw_s, spark_s, on_spark = beside(
                    raw, lambda: spark_resolve(spark, tables, case_id="BENCH"), args.repeat
                )
                raw_sales()
                raw_sales_s, _ = timed(raw_sales, args.repeat)
                raw_rows = joined[-1]
                answer = written(on_spark)
                boxes = len(on_spark.boxes)
                del on_spark
                same = {name: answer == embedded[name]["resolve"] for name in engines}
                print(f"raw Spark join (seized codes x sales, counted): {raw_s:.2f} s ({raw_rows:,} rows)")
                print(f"raw Spark join returning the sales' columns: {raw_sales_s:.2f} s")
                print(
                    f"spark resolve --case BENCH: {spark_s:.2f} s, {spark_s / raw_s:.2f}x the raw join, "
                    f"{spark_s / raw_sales_s:.2f}x the join returning the sales; "
                    f"{boxes:,} boxes; identical to the embedded answer: {same}",
                    flush=True,
                )
                figures["seized"] = f"{boxes:,}"
                figures["Spark raw join s"] = f"{raw_s:.2f}"
                figures["Spark raw join, sales returned s"] = f"{raw_sales_s:.2f}"
                ratios = f"{spark_s / raw_s:.2f}x, {spark_s / raw_sales_s:.2f}x"
                figures["Spark resolve s"] = f"{spark_s:.2f} ({ratios})"
                per_engine(figures, embedded, ("raw join", "raw_join_s"), ("resolve", "resolve_s"))
                figures["same resolution"] = str(all(same.values()))
            if "hotspots" in jobs:

                def raw_places() -> int:
                    d = dispensing.where("mdtrt_setl_type = 1")
                    z = spark.read.parquet(str(folder / "pq" / "seized_codes")).where("key_hi IS NOT NULL")
                    z = z.select("key_hi", "key_lo", "code_key")
                    i = spark.read.parquet(str(folder / "pq" / "institutions")).select("fixmedins_code")
                    return len(
                        z.join(d, ["key_hi", "key_lo"])
                        .join(i, "fixmedins_code")
                        .groupBy("fixmedins_code")
                        .count()
                        .collect()
                    )

                raw_s, spark_s, on_spark = beside(
                    raw_places,
                    lambda: spark_hotspots(spark, tables, case_id="BENCH", layer="institutions"),
                    args.repeat,
                )
                same = {name: spotted(on_spark) == embedded[name]["hotspots"] for name in engines}
                print(f"raw Spark places of the case (joined, counted per institution): {raw_s:.2f} s")
                print(
                    f"spark hotspots --case BENCH --layer institutions: {spark_s:.2f} s, "
                    f"{spark_s / raw_s:.2f}x the raw query; the same answer as embedded: {same}",
                    flush=True,
                )
                figures["Spark raw places s"] = f"{raw_s:.2f}"
                figures["Spark hotspots s"] = f"{spark_s:.2f} ({spark_s / raw_s:.2f}x)"
                per_engine(figures, embedded, ("raw places", "raw_places_s"), ("hotspots", "hotspots_s"))
                figures["same hotspots"] = f"{all(same.values())}, {embedded[engines[0]]['cells']} cells"
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
                on_spark_leads = digest(spark_leads(spark, tables, basis=kept))
                leads_s = time.perf_counter() - started
                kept_s, on_kept = timed(
                    lambda: digest(spark_leads(spark, tables, basis=kept)), args.repeat_leads
                )
                same = {name: on_spark_leads == on_kept == embedded[name]["leads"] for name in engines}
                print(f"raw Spark duplicate aggregation: {raw_dup_s:.2f} s ({duplicates:,} codes)")
                print(
                    f"spark leads (basis built and written, every rule): {leads_s:.2f} s, "
                    f"{leads_s / raw_dup_s:.2f}x the raw aggregation; the same leads as embedded: {same}"
                )
                ratio = kept_s / raw_dup_s
                print(f"spark leads --basis, kept: {kept_s:.2f} s, {ratio:.2f}x the raw aggregation")
                figures["Spark raw dup s"] = f"{raw_dup_s:.2f}"
                figures["Spark leads s"] = f"{leads_s:.1f} ({leads_s / raw_dup_s:.1f}x)"
                figures["Spark leads, kept basis s"] = f"{kept_s:.1f} ({kept_s / raw_dup_s:.1f}x)"
                per_engine(
                    figures,
                    embedded,
                    ("raw dup", "raw_dup_s"),
                    ("basis+leads", "cold_s"),
                    ("leads, kept basis", "warm_s"),
                )
                figures["same leads"] = f"{all(same.values())}, {embedded[engines[0]]['lead_count']:,}"
        figures["Spark start s"] = f"{start_s:.1f}"
        print(f"load average {os.getloadavg()[0]:.2f}")
        return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def per_engine(
    figures: dict[str, str], embedded: dict[str, dict[str, Any]], raw: tuple[str, str], *jobs: tuple[str, str]
) -> None:
    """Each engine's raw query and its jobs as columns of the table, each job beside the raw."""
    for name, found in embedded.items():
        label, key = raw
        figures[f"{NAMES[name]} {label} s"] = f"{found[key]:.2f}"
        for job, seconds in jobs:
            figures[f"{NAMES[name]} {job} s"] = f"{found[seconds]:.2f} ({found[seconds] / found[key]:.2f}x)"


def spotted(result: Any) -> str:
    """A digest of a hot-spot answer, as ``--format json`` prints it."""
    return hashlib.sha256(json.dumps(result.to_geojson(), sort_keys=True, default=str).encode()).hexdigest()


def written(resolution: Any) -> str:
    """A digest of the case's JSON document, streamed: a million boxes' answer is gigabytes."""
    folded = hashlib.sha256()
    for chunk in json_chunks(resolution_document(resolution, reveal=False, top=10)):
        folded.update(chunk)
    return folded.hexdigest()


if __name__ == "__main__":
    main()
