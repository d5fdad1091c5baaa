"""Load benchmark of issue 16: the columnar path beside the row path, the raw engine and the ceiling.

    .venv/bin/python bench/load_bench.py --rows 1000000 [--engines sqlite,postgres] [--cli]

One contract dispensing CSV (``core_bench.write_csv``: 19 columns, 400,000 cards, every identity
number distinct) loaded five ways per engine, each in a process of its own so that its peak
memory (``VmHWM``, and the largest converting process it forks) is its own:

- raw: what a competent engineer writes in twenty lines, as the issue defines it: the file's
  columns as text with the indexes rxtrace keeps (code, card, institution and one unique row
  key); PostgreSQL ``COPY … (FORMAT csv, HEADER)`` into a logged table, SQLite ``executemany``
  of ``csv.reader`` rows in batches of 50,000 with ``journal_mode=WAL``, ``synchronous=NORMAL``;
- columnar: ``load_paths`` as ``rxtrace load`` calls it (the columnar path, the default);
- row: ``load_paths(columnar=False)``, the row-by-row path before it;
- flat (PostgreSQL, asked for by name): the columnar load into the schema before migration 0008,
  where ``dispensing`` is one table, not partitioned by month: what the partitions cost;
- ceiling: the rows the columnar load stored, already converted, written again into an empty
  copy of ``dispensing``, its non-unique indexes built after as rxtrace does for a big file
  (PostgreSQL binary ``COPY``; SQLite ``INSERT … SELECT`` inside the engine): what no
  conversion at all would cost;
- with ``--cli``: ``rxtrace load FILE --format json`` end to end, the leads' basis included.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core_bench import COLUMNS, OUT, PG_ADMIN, bench_csv, engine_url, machine, measure, peak_rss_mb

RAW_DDL = "CREATE TABLE raw_dispensing ({})".format(", ".join(f"{c} TEXT" for c in COLUMNS))
RAW_INDEXES = (
    "CREATE INDEX ix_raw_code ON raw_dispensing (drug_trac_codg)",
    "CREATE INDEX ix_raw_card ON raw_dispensing (psn_no)",
    "CREATE INDEX ix_raw_institution ON raw_dispensing (fixmedins_code)",
    "CREATE UNIQUE INDEX ux_raw_row ON raw_dispensing (setl_id, drug_trac_codg)",
)


def child_raw(url: str, csv_path: str, queue: Any) -> None:
    started = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(RAW_DDL)
        for ddl in RAW_INDEXES:
            conn.execute(ddl)
        insert = f"INSERT INTO raw_dispensing VALUES ({','.join('?' * len(COLUMNS))})"
        with Path(csv_path).open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[list[str]] = []
            for row in reader:
                batch.append(row)
                if len(batch) == 50_000:
                    conn.executemany(insert, batch)
                    conn.commit()
                    batch.clear()
            conn.executemany(insert, batch)
            conn.commit()
        rows = conn.execute("SELECT count(*) FROM raw_dispensing").fetchone()[0]
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as pg, pg.cursor() as cur:
            cur.execute(RAW_DDL)
            for ddl in RAW_INDEXES:
                cur.execute(ddl)
            with (
                Path(csv_path).open("rb") as handle,
                cur.copy("COPY raw_dispensing FROM STDIN (FORMAT csv, HEADER)") as copy,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            cur.execute("SELECT count(*) FROM raw_dispensing")
            fetched = cur.fetchone()
            rows = fetched[0] if fetched else 0
    queue.put({"seconds": time.perf_counter() - started, "rows": rows, "rss_mb": peak_rss_mb()})


# The last schema whose sales table is one table on PostgreSQL too (0008 partitions it by month).
FLAT_REVISION = "0007"


def child_rxtrace(url: str, csv_path: str, columnar: bool, revision: str, queue: Any) -> None:
    import resource

    from sqlalchemy.orm import sessionmaker

    from rxtrace.trace.ingest.load import load_paths
    from rxtrace.trace.protect import Protector
    from rxtrace.trace.store.db import make_engine, migrate, session_scope

    engine = make_engine(url)
    migrate(engine, revision)
    factory = sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    with session_scope(factory) as session:
        report = load_paths(
            [Path(csv_path)], session=session, protector=Protector(b"b" * 32), columnar=columnar
        )
    queue.put(
        {
            "seconds": time.perf_counter() - started,
            "rows": report.files[0].taken,
            "rss_mb": peak_rss_mb(),
            "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
    )


def child_ceiling(url: str, queue: Any) -> None:
    """The rows ``dispensing`` holds (converted already) written again into an empty copy of
    it, its non-unique indexes built after the rows as rxtrace builds them for a big file: no
    conversion at all. PostgreSQL: binary ``COPY`` of the rows dumped to a file beforehand;
    SQLite: ``INSERT … SELECT`` inside the engine (no Python between rows). Only that is timed."""
    from rxtrace.trace.store import models

    columns = ", ".join(c.name for c in models.Dispensing.__table__.columns if c.name != "id")
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        ddl = {
            name: sql.replace('"dispensing"', "ceiling").replace("dispensing", "ceiling")
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'dispensing' AND sql IS NOT NULL"
            )
        }
        table = ddl.pop("dispensing")
        started = time.perf_counter()
        conn.execute(table)
        conn.execute(f"INSERT INTO ceiling ({columns}) SELECT {columns} FROM dispensing")
        conn.commit()
        for statement in ddl.values():
            conn.execute(statement)
        conn.commit()
        seconds = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM ceiling").fetchone()[0]
        conn.close()
    else:
        import psycopg

        dump = OUT / "l16_ceiling.bin"
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as pg, pg.cursor() as cur:
            dumping = f"COPY (SELECT {columns} FROM dispensing) TO STDOUT (FORMAT BINARY)"
            with dump.open("wb") as handle, cur.copy(dumping) as out:
                for block in out:
                    handle.write(block)
            cur.execute("CREATE TABLE ceiling (LIKE dispensing INCLUDING ALL)")
            cur.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
                "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.tablename = 'ceiling' AND NOT x.indisunique"
            )
            deferred = cur.fetchall()
            for name, _ in deferred:
                cur.execute(f'DROP INDEX "{name}"')
            pg.commit()
            started = time.perf_counter()
            with (
                dump.open("rb") as handle,
                cur.copy(f"COPY ceiling ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            pg.commit()
            for _, definition in deferred:
                cur.execute(definition)
            pg.commit()
            seconds = time.perf_counter() - started
            cur.execute("SELECT count(*) FROM ceiling")
            fetched = cur.fetchone()
            count = fetched[0] if fetched else 0
        dump.unlink()
    queue.put({"seconds": seconds, "rows": count, "rss_mb": peak_rss_mb()})


def cli_load(url: str, csv_path: Path) -> dict[str, Any]:
    """``rxtrace load`` as a user runs it, the leads' basis included; its output's JSON."""
    env = dict(os.environ, RXTRACE_DATABASE_URL=url, RXTRACE_SECRET_KEY="b" * 32)
    rxtrace = Path(sys.executable).with_name("rxtrace")
    started = time.perf_counter()
    done = subprocess.run(
        [str(rxtrace), "load", str(csv_path), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "output": json.loads(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--cli", action="store_true", help="also time `rxtrace load` end to end")
    parser.add_argument("--ways", default="raw,columnar,ceiling,row", help="which loads to run (raw always)")
    args = parser.parse_args()
    ways = set(args.ways.split(",")) | {"raw"}
    csv_path = bench_csv(args.rows)
    report: dict[str, Any] = {
        "rows": args.rows,
        "csv_mb": round(csv_path.stat().st_size / 1e6, 1),
        "machine": machine(),
        "engines": {},
    }
    for engine in args.engines.split(","):
        results: dict[str, Any] = {}
        print(f"[{engine}] raw …", file=sys.stderr)
        results["raw"] = measure(child_raw, engine_url(engine, f"l16_raw_{engine}"), str(csv_path))
        columnar_url = engine_url(engine, f"l16_columnar_{engine}")
        if "columnar" in ways:
            print(f"[{engine}] columnar …", file=sys.stderr)
            results["columnar"] = measure(child_rxtrace, columnar_url, str(csv_path), True, "head")
        if "flat" in ways and engine == "postgres":
            print(f"[{engine}] columnar into one table, not partitioned by month …", file=sys.stderr)
            flat_url = engine_url(engine, f"l16_flat_{engine}")
            results["flat"] = measure(child_rxtrace, flat_url, str(csv_path), True, FLAT_REVISION)
        if "ceiling" in ways and "columnar" in ways:
            print(f"[{engine}] ceiling …", file=sys.stderr)
            results["ceiling"] = measure(child_ceiling, columnar_url)
        if "row" in ways:
            print(f"[{engine}] row by row …", file=sys.stderr)
            row_url = engine_url(engine, f"l16_row_{engine}")
            results["row"] = measure(child_rxtrace, row_url, str(csv_path), False, "head")
        if args.cli:
            print(f"[{engine}] rxtrace load (CLI, leads' basis) …", file=sys.stderr)
            results["cli"] = cli_load(engine_url(engine, f"l16_cli_{engine}"), csv_path)
        _drop(engine)
        raw = results["raw"]["seconds"]
        for result in results.values():
            result["rows_per_s"] = args.rows / result["seconds"]
            result["vs_raw"] = raw / result["seconds"]
            result.pop("output", None)
        report["engines"][engine] = results
    print(json.dumps(report, indent=2))
    print(_table(report), file=sys.stderr)


def _drop(engine: str) -> None:
    """Nothing left behind: a 10 M-row database takes gigabytes."""
    if engine == "sqlite":
        for path in OUT.glob("l16_*.db*"):
            path.unlink()
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for way in ("raw", "columnar", "flat", "row", "cli"):
            conn.execute(text(f'DROP DATABASE IF EXISTS "rxtrace_bench_l16_{way}_{engine}" WITH (FORCE)'))
    admin.dispose()


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"{'engine':<9} {'way':<9} {'seconds':>8} {'rows/s':>9} {'÷ raw':>6} {'peak MB':>8} {'fork MB':>8}"
    ]
    for engine, results in report["engines"].items():
        for name, r in results.items():
            lines.append(
                f"{engine:<9} {name:<9} {r['seconds']:>8.1f} {r['rows_per_s']:>9,.0f} {r['vs_raw']:>6.2f} "
                f"{r.get('rss_mb', 0):>8.0f} {r.get('worker_rss_mb', 0):>8.0f}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
