"""The Spark leads on a kept basis (or one kind's, built in each run) beside Spark's raw
duplicate aggregation, in one session.

    .venv/bin/python bench/spark_kept_bench.py PARQUET_DIR [BASIS_DIR] [--kind KIND] [--runs 4]
        [--label NAME] [--raw-rows] [--conf KEY=VALUE ...]

``PARQUET_DIR`` is an export (``rxtrace export --parquet``; ``spark_bench.py`` or
``leads_bench.fill`` make the world); ``BASIS_DIR`` is where ``rxtrace spark leads --basis``
keeps the leads' basis (the first run builds it when it is missing or stale). Without it, each
run builds the basis for itself, as ``rxtrace spark leads`` without ``--basis`` does: with
``--kind code`` (the duplicate-settlement and clone leads) only the code rules' part. Prints
each run of the raw aggregation (``leads_bench.RAW_DUPLICATES``, computed to Spark's ``noop``
sink) and of ``spark_leads(..., kind=KIND, basis=BASIS_DIR)``, the median of all runs but the
first, the ratio, and the leads' count and digest (equal digests: the same leads, rules, scores
and evidence). With ``--raw-rows``, also the raw aggregation joined back to the sales for the
columns the code rules read (the same question in plain Spark SQL: which codes, and their rows)
and the ratio against it. ``--conf`` sets a Spark property over rxtrace's defaults, as the
commands' ``--conf`` does (``spark.driver.extraJavaOptions=-XX:+UseG1GC``: Java's own collector).
Like ``spark_bench.py`` it is not in ``make bench``: it needs the Spark extra and
a world on disk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leads_bench import RAW_DUPLICATES, digest  # the leads bench's query and fingerprint

from rxtrace.trace.investigate.leads import KEYED_COLUMNS
from rxtrace.trace.investigate.sql import selected
from rxtrace.trace.spark import find_tables, spark_session
from rxtrace.trace.spark.leads import spark_leads
from rxtrace.trace.spark.resolve import SparkLookups
from rxtrace.trace.spark.session import parse_conf

# The raw aggregation's codes with their insurance rows, the columns the code rules read: the
# same question answered in plain Spark SQL (the aggregation, then a join back to the sales).
RAW_DUPLICATE_ROWS = (
    f"SELECT /*+ BROADCAST(k) */ {selected(KEYED_COLUMNS, 'd')} FROM ({RAW_DUPLICATES}) k "
    "JOIN dispensing d ON d.key_hi = k.key_hi AND d.key_lo = k.key_lo WHERE d.mdtrt_setl_type = 1"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parquet", type=Path)
    parser.add_argument("basis", type=Path, nargs="?", help="a kept basis (built in each run without)")
    parser.add_argument("--kind", help="one kind of lead (every kind by default)")
    parser.add_argument("--runs", type=int, default=4, help="runs of each (the first is a warm-up)")
    parser.add_argument("--label", default="leads", help="the first word of each line printed")
    parser.add_argument(
        "--raw-rows",
        action="store_true",
        help="also the raw query that returns what the code rules read: the duplicated codes' rows",
    )
    parser.add_argument(
        "--conf", action="append", default=[], help="a Spark property, KEY=VALUE (repeat for several)"
    )
    args = parser.parse_args()
    with spark_session("local[2]", conf=parse_conf(args.conf)) as spark:
        spark.sparkContext.setLogLevel("ERROR")
        tables = find_tables([args.parquet])
        SparkLookups(spark, tables).frame("dispensing").createOrReplaceTempView("dispensing")
        raw = []
        for _ in range(args.runs):
            started = time.perf_counter()
            spark.sql(RAW_DUPLICATES).write.format("noop").mode("overwrite").save()
            raw.append(time.perf_counter() - started)
        rows = []
        for _ in range(args.runs if args.raw_rows else 0):
            started = time.perf_counter()
            spark.sql(RAW_DUPLICATE_ROWS).write.format("noop").mode("overwrite").save()
            rows.append(time.perf_counter() - started)
        spark.catalog.dropTempView("dispensing")
        kept = []
        for _ in range(args.runs):
            started = time.perf_counter()
            leads = spark_leads(spark, tables, kind=args.kind, basis=args.basis)
            kept.append(time.perf_counter() - started)
    raw_s, kept_s = statistics.median(raw[1:] or raw), statistics.median(kept[1:] or kept)
    print(f"{args.label} raw aggregation: {' '.join(f'{t:.2f}' for t in raw)} s, median {raw_s:.2f} s")
    what = "kept basis" if args.basis else f"basis built in the run for {args.kind or 'every kind'}"
    print(f"{args.label} {what}: {' '.join(f'{t:.2f}' for t in kept)} s, median {kept_s:.2f} s")
    print(f"{args.label} ratio {kept_s / raw_s:.2f}x; {len(leads)} leads, digest {digest(leads)}")
    if rows:
        rows_s = statistics.median(rows[1:] or rows)
        print(
            f"{args.label} raw duplicate rows: {' '.join(f'{t:.2f}' for t in rows)} s, "
            f"median {rows_s:.2f} s; ratio {kept_s / rows_s:.2f}x"
        )


if __name__ == "__main__":
    main()
