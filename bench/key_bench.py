"""How to store a box key: TEXT beside two BIGINT halves, measured on SQLite and PostgreSQL.

    .venv/bin/python bench/key_bench.py [--keys 2000000] [--lookups 100000] [--engines sqlite,postgres]

Builds one table per layout with the same national keys (20 digits; the halves are what
``rxtrace.trace.codes.key_parts`` stores), indexes it, and reports the index's size and the time
of point lookups of random keys (half present), each layout in the same engine and run.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import psycopg

OUT = Path(__file__).resolve().parent / "out"
PG = os.environ.get("RXTRACE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def keys(n: int) -> list[str]:
    rng = random.Random(3)
    return [f"8{rng.randrange(10**6):06d}{i:09d}{rng.randrange(10**4):04d}" for i in range(n)]


def sqlite_run(data: list[str], probes: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for layout in ("text", "bigint2"):
        path = OUT / f"keys_{layout}.db"
        path.unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        if layout == "text":
            conn.execute("CREATE TABLE k (code TEXT NOT NULL)")
            conn.executemany("INSERT INTO k VALUES (?)", ((c,) for c in data))
            conn.execute("CREATE INDEX ix ON k (code)")
            query = "SELECT count(*) FROM k WHERE code = ?"
            args: list[tuple[object, ...]] = [(c,) for c in probes]
        else:
            conn.execute("CREATE TABLE k (hi INTEGER NOT NULL, lo INTEGER NOT NULL)")
            conn.executemany("INSERT INTO k VALUES (?, ?)", ((int(c[:10]), int(c[10:])) for c in data))
            conn.execute("CREATE INDEX ix ON k (hi, lo)")
            query = "SELECT count(*) FROM k WHERE hi = ? AND lo = ?"
            args = [(int(c[:10]), int(c[10:])) for c in probes]
        conn.commit()
        pages = conn.execute("SELECT count(*) FROM dbstat WHERE name = 'ix'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        started = time.perf_counter()
        for a in args:
            conn.execute(query, a).fetchone()
        out[layout] = {
            "index_mb": pages * page_size / 1e6,
            "lookup_us": (time.perf_counter() - started) / len(args) * 1e6,
        }
        conn.close()
    return out


def pg_run(data: list[str], probes: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with psycopg.connect(PG, autocommit=True) as conn:
        for layout in ("text", "bigint2"):
            conn.execute("DROP TABLE IF EXISTS rxtrace_key_bench")
            if layout == "text":
                conn.execute("CREATE TABLE rxtrace_key_bench (code TEXT NOT NULL)")
                with conn.cursor().copy("COPY rxtrace_key_bench (code) FROM STDIN") as copy:
                    for c in data:
                        copy.write_row((c,))
                conn.execute("CREATE INDEX rxtrace_key_bench_ix ON rxtrace_key_bench (code)")
                query = "SELECT count(*) FROM rxtrace_key_bench WHERE code = %s"
                args: list[tuple[object, ...]] = [(c,) for c in probes]
            else:
                conn.execute("CREATE TABLE rxtrace_key_bench (hi BIGINT NOT NULL, lo BIGINT NOT NULL)")
                with conn.cursor().copy("COPY rxtrace_key_bench (hi, lo) FROM STDIN") as copy:
                    for c in data:
                        copy.write_row((int(c[:10]), int(c[10:])))
                conn.execute("CREATE INDEX rxtrace_key_bench_ix ON rxtrace_key_bench (hi, lo)")
                query = "SELECT count(*) FROM rxtrace_key_bench WHERE hi = %s AND lo = %s"
                args = [(int(c[:10]), int(c[10:])) for c in probes]
            conn.execute("ANALYZE rxtrace_key_bench")
            size = conn.execute("SELECT pg_relation_size('rxtrace_key_bench_ix')").fetchone()[0]  # type: ignore[index]
            cursor = conn.cursor()
            started = time.perf_counter()
            for a in args:
                cursor.execute(query, a, prepare=True)
                cursor.fetchone()
            out[layout] = {
                "index_mb": size / 1e6,
                "lookup_us": (time.perf_counter() - started) / len(args) * 1e6,
            }
        conn.execute("DROP TABLE IF EXISTS rxtrace_key_bench")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=2_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    data = keys(args.keys)
    rng = random.Random(5)
    probes = [rng.choice(data) if i % 2 else f"8{rng.randrange(10**19):019d}" for i in range(args.lookups)]
    print(f"{args.keys:,} keys, {args.lookups:,} point lookups (half present)")
    print(f"{'engine':<9} {'layout':<8} {'index MB':>9} {'lookup µs':>10}")
    for engine in args.engines.split(","):
        result = sqlite_run(data, probes) if engine == "sqlite" else pg_run(data, probes)
        for layout, figures in result.items():
            print(f"{engine:<9} {layout:<8} {figures['index_mb']:>9.1f} {figures['lookup_us']:>10.1f}")
        text, pair = result["text"], result["bigint2"]
        print(
            f"{engine:<9} bigint2/text: index {pair['index_mb'] / text['index_mb']:.2f}×, "
            f"lookup {pair['lookup_us'] / text['lookup_us']:.2f}×"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
