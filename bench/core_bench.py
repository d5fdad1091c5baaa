"""Load and resolve benchmarks, each beside the raw engine underneath, in one run.

    .venv/bin/python bench/core_bench.py --rows 1000000 [--engines sqlite,postgres] [--codes 100000]

Load: N contract dispensing rows from one CSV through ``rxtrace load`` (parse, validate, code
normalisation, keyed hashes, bulk insert) beside the engine's own bulk load of the same file's
rows into a table of the contract's columns (sqlite3 executemany of csv.reader rows; PostgreSQL
COPY of the file), both with an index on the code. Each load runs in a child process so its
peak memory (max RSS) is its own.

Resolve: a batch of seized codes (half sold, half not) through ``resolve_codes`` beside the
plain SQL join of the same keys in the same engine; and single-code resolves, median and p99.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import platform
import random
import resource
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
PG_ADMIN = os.environ.get("RXTRACE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
COLUMNS = (
    "setl_id", "mdtrt_sn", "fixmedins_code", "psn_no", "certno", "psn_name", "dr_code", "rxno",
    "med_list_codg", "drug_trac_codg", "trdn_flag", "sel_retn_cnt", "sel_retn_time", "sel_retn_type",
    "mdtrt_setl_type", "finl_trns_pric", "hifp_pay", "manu_lotnum", "expy_end",
)  # fmt: skip


def code_of(i: int) -> str:
    return f"8{i % 900 + 100:03d}{i % 7:03d}{i:09d}{(i * 7919) % 10000:04d}"


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow((
                f"S{i:012d}", f"M{i:012d}", f"P3101{i % 3000:07d}", f"31{i % 400000:010d}",
                f"3101{rng.randrange(10**13, 10**14)}", f"居民{i % 400000}", f"D{i % 9000:06d}",
                f"RX{i:010d}", f"X{i % 700:014d}", code_of(i), 0, 1,
                f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d} {i % 24:02d}:{i % 60:02d}:{i % 59:02d}",
                "sale", 1, "66.00", "49.50", f"L{i % 100000}", "2027-12-31",
            ))  # fmt: skip


def bench_csv(rows: int) -> Path:
    """The benches' contract CSV of ``rows`` sales in bench/out, written the first time."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"dispensing_{rows}.csv"
    if not path.exists():
        print(f"writing {rows:,} rows to {path}", file=sys.stderr)
        write_csv(path, rows)
    return path


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "cpu": _cpu(), "python": platform.python_version()}


def pg_database(name: str) -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(admin.url.set(database=name).render_as_string(hide_password=False))


def engine_url(engine: str, tag: str) -> str:
    if engine == "sqlite":
        path = OUT / f"{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return pg_database(f"rxtrace_bench_{tag}")


# ---- child processes: one measurement each, so max RSS is theirs alone ----------------------


def peak_rss_mb() -> float:
    """This process's own peak RSS. ru_maxrss would include the parent's at the fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rxtrace_load(url: str, csv_path: str, queue: Any) -> None:
    from rxtrace.trace.ingest.load import load_paths
    from rxtrace.trace.protect import Protector
    from rxtrace.trace.store.db import connect, session_scope

    _engine, factory = connect(url)
    started = time.perf_counter()
    with session_scope(factory) as session:
        report = load_paths([Path(csv_path)], session=session, protector=Protector(b"b" * 32))
    seconds = time.perf_counter() - started
    queue.put(
        {
            "seconds": seconds,
            "rows": report.files[0].taken,
            "rss_mb": peak_rss_mb(),
            # The converting process rxtrace forks for a big file on SQLite: its own peak.
            "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
    )


RAW_DDL = (
    "CREATE TABLE raw_dispensing (setl_id TEXT, mdtrt_sn TEXT, fixmedins_code TEXT, psn_no TEXT, "
    "certno TEXT, psn_name TEXT, dr_code TEXT, rxno TEXT, med_list_codg TEXT, drug_trac_codg TEXT, "
    "trdn_flag SMALLINT, sel_retn_cnt INTEGER, sel_retn_time TIMESTAMP, sel_retn_type TEXT, "
    "mdtrt_setl_type SMALLINT, finl_trns_pric NUMERIC, hifp_pay NUMERIC, manu_lotnum TEXT, expy_end DATE)"
)


def child_raw_load(url: str, csv_path: str, queue: Any) -> None:
    started = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(RAW_DDL)
        conn.execute("CREATE INDEX ix_raw_code ON raw_dispensing (drug_trac_codg)")
        marks = ",".join("?" * len(COLUMNS))
        with Path(csv_path).open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[list[str]] = []
            for row in reader:
                batch.append(row)
                if len(batch) == 20_000:
                    conn.executemany(f"INSERT INTO raw_dispensing VALUES ({marks})", batch)
                    conn.commit()
                    batch.clear()
            conn.executemany(f"INSERT INTO raw_dispensing VALUES ({marks})", batch)
            conn.commit()
        rows = conn.execute("SELECT count(*) FROM raw_dispensing").fetchone()[0]
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as pg, pg.cursor() as cur:
            cur.execute(RAW_DDL)
            cur.execute("CREATE INDEX ix_raw_code ON raw_dispensing (drug_trac_codg)")
            with (
                Path(csv_path).open("rb") as handle,
                cur.copy("COPY raw_dispensing FROM STDIN (FORMAT csv, HEADER)") as copy,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            cur.execute("SELECT count(*) FROM raw_dispensing")
            fetched = cur.fetchone()
            rows = fetched[0] if fetched else 0
    queue.put(
        {
            "seconds": time.perf_counter() - started,
            "rows": rows,
            "rss_mb": peak_rss_mb(),
        }
    )


def measure(target: Any, *args: Any) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result  # type: ignore[no-any-return]


def bench_resolve(url: str, rows: int, batch: int) -> dict[str, float]:
    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from rxtrace.trace.codes import key_parts
    from rxtrace.trace.gcpause import collector_paused
    from rxtrace.trace.resolve.service import resolve_codes
    from rxtrace.trace.store.db import make_engine, session_scope

    rng = random.Random(7)
    codes = [code_of(rng.randrange(rows)) if i % 2 == 0 else code_of(rows + i) for i in range(batch)]
    # The database as its load left it, not migrated further (partition_bench keeps one at an
    # older schema on purpose).
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    # Statistics as a settled database has them; right after a load autovacuum is still at work.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        postgres = engine.dialect.name == "postgresql"
        conn.exec_driver_sql("VACUUM ANALYZE dispensing" if postgres else "ANALYZE")
    with session_scope(factory) as session:
        resolve_codes(codes[:1000], session=session)  # warm caches as a real session would be

        def raw_join() -> float:
            started = time.perf_counter()
            session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS raw_keys (hi BIGINT, lo BIGINT)"))
            session.execute(text("DELETE FROM raw_keys"))
            session.execute(
                text("INSERT INTO raw_keys VALUES (:hi, :lo)"),
                [{"hi": hi, "lo": lo} for hi, lo in (key_parts(c) for c in set(codes))],
            )
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("ANALYZE raw_keys"))
            raw_rows = session.execute(
                text(
                    "SELECT d.* FROM raw_keys k JOIN dispensing d ON d.key_hi = k.hi AND d.key_lo = k.lo "
                    "WHERE d.mdtrt_setl_type = 1"
                )
            ).all()
            assert raw_rows
            return time.perf_counter() - started

        # Alternate the two, three times each, and compare medians: one run on a shared
        # two-core machine is noise. The raw join runs with the collector paused too, as
        # rxtrace's resolve does, so the baseline is as fast as Python lets it be.
        ours_runs: list[float] = []
        raw_runs: list[float] = []
        for _ in range(3):
            started = time.perf_counter()
            result = resolve_codes(codes, session=session)
            ours_runs.append(time.perf_counter() - started)
            assert result.summary.statuses["dispensed"] > 0
            # Freed here, outside both timings: the raw join's rows are freed as it returns,
            # after its clock stops; a result still bound would be freed inside the next run's.
            del result
            with collector_paused():
                raw_runs.append(raw_join())
        ours, raw = statistics.median(ours_runs), statistics.median(raw_runs)

        singles = []
        for code in codes[:1000]:
            started = time.perf_counter()
            resolve_codes([code], session=session)
            singles.append((time.perf_counter() - started) * 1000)
    singles.sort()
    return {
        "batch": batch,
        "seconds": ours,
        "raw_seconds": raw,
        "ratio": ours / raw,
        "single_median_ms": statistics.median(singles),
        "single_p99_ms": singles[int(len(singles) * 0.99) - 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    csv_path = bench_csv(args.rows)
    size_mb = csv_path.stat().st_size / 1e6
    report: dict[str, Any] = {
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "machine": machine(),
        "engines": {},
    }
    for engine in args.engines.split(","):
        print(f"[{engine}] rxtrace load …", file=sys.stderr)
        ours = measure(child_rxtrace_load, engine_url(engine, f"load_{engine}"), str(csv_path))
        print(f"[{engine}] raw load …", file=sys.stderr)
        raw = measure(child_raw_load, engine_url(engine, f"raw_{engine}"), str(csv_path))
        print(f"[{engine}] resolve …", file=sys.stderr)
        resolve = bench_resolve(_reuse(engine), args.rows, args.codes)
        report["engines"][engine] = {
            "load_rows_per_s": args.rows / ours["seconds"],
            "load_peak_rss_mb": ours["rss_mb"],
            "load_worker_peak_rss_mb": ours.get("worker_rss_mb", 0.0),
            "raw_rows_per_s": args.rows / raw["seconds"],
            "raw_peak_rss_mb": raw["rss_mb"],
            "load_vs_raw": raw["seconds"] / ours["seconds"],
            "resolve": resolve,
        }
    print(json.dumps(report, indent=2))
    print(_table(report), file=sys.stderr)


def _reuse(engine: str) -> str:
    if engine == "sqlite":
        return f"sqlite:///{OUT / 'load_sqlite.db'}"
    from sqlalchemy.engine import make_url

    return str(
        make_url(PG_ADMIN).set(database="rxtrace_bench_load_postgres").render_as_string(hide_password=False)
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"{'engine':<9} {'load rows/s':>12} {'raw rows/s':>12} {'ratio':>6} {'peak MB':>8} {'worker MB':>9} "
        f"{'resolve s':>9} {'raw join s':>10} {'ratio':>6} {'1-code p50':>10} {'p99 ms':>7}"
    ]
    for name, e in report["engines"].items():
        r = e["resolve"]
        lines.append(
            f"{name:<9} {e['load_rows_per_s']:>12,.0f} {e['raw_rows_per_s']:>12,.0f} "
            f"{e['load_vs_raw']:>6.2f} {e['load_peak_rss_mb']:>8.0f} {e['load_worker_peak_rss_mb']:>9.0f} "
            f"{r['seconds']:>9.2f} "
            f"{r['raw_seconds']:>10.2f} {r['ratio']:>6.2f} {r['single_median_ms']:>10.2f} "
            f"{r['single_p99_ms']:>7.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
