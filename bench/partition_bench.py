"""What PostgreSQL's month partitions of ``dispensing`` (migration 0008) cost and gain, issue 16.

    .venv/bin/python bench/partition_bench.py --rows 1000000 [--codes 100000]

The same contract CSV (``core_bench.write_csv``: a year of sales, every month in every batch)
loaded by ``load_paths`` into two PostgreSQL databases: one at the schema before 0008
(``dispensing`` one table) and one at the newest (a partition per month). Then, on each:

- load: the columnar load's seconds (as ``rxtrace load`` runs it, without the leads' basis);
- resolve: ``resolve_codes`` of a batch of seized codes (half sold, half not; median of three),
  and single codes (median and p99 of 1,000): a code carries no date, so its lookup probes
  every month's index where the flat table has one index;
- month: one month's sales summed (``count`` and the fund's money), as a query bounded in time
  reads them: the partitions read one month, the flat table every row;
- basis: the leads' basis built from every sale (``refresh_basis``), which reads all months.

Each figure is the newest schema's beside the flat one's, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from core_bench import PG_ADMIN, bench_csv, bench_resolve, engine_url, machine, measure
from load_bench import FLAT_REVISION, child_rxtrace

MONTH_SQL = (
    "SELECT count(*), sum(hifp_pay_fen) FROM dispensing "
    "WHERE sel_retn_time >= '2025-03-01' AND sel_retn_time < '2025-04-01'"
)


def month_and_basis(url: str) -> dict[str, float]:
    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from rxtrace.trace.investigate.basis import refresh_basis
    from rxtrace.trace.store.db import make_engine

    engine = make_engine(url)
    runs = []
    with engine.connect() as conn:
        for _ in range(5):
            started = time.perf_counter()
            conn.execute(text(MONTH_SQL)).one()
            runs.append(time.perf_counter() - started)
    with sessionmaker(engine)() as session:
        started = time.perf_counter()
        refresh_basis(session=session)
        session.commit()
        basis = time.perf_counter() - started
    engine.dispose()
    return {"month_seconds": statistics.median(runs), "basis_seconds": basis}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--codes", type=int, default=100_000)
    args = parser.parse_args()
    csv_path = bench_csv(args.rows)
    report: dict[str, Any] = {
        "rows": args.rows,
        "codes": args.codes,
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "schemas": {},
    }
    for name, revision in (("flat", FLAT_REVISION), ("partitioned", "head")):
        url = engine_url("postgres", f"part_{name}")
        print(f"[{name}] load …", file=sys.stderr)
        loaded = measure(child_rxtrace, url, str(csv_path), True, revision)
        print(f"[{name}] resolve …", file=sys.stderr)
        resolved = bench_resolve(url, args.rows, args.codes)
        print(f"[{name}] one month, the basis …", file=sys.stderr)
        report["schemas"][name] = {"load_seconds": loaded["seconds"], **resolved, **month_and_basis(url)}
    report["load_average_after"] = os.getloadavg()
    _drop()
    print(json.dumps(report, indent=2))
    print(_table(report), file=sys.stderr)


def _drop() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in ("flat", "partitioned"):
            conn.execute(text(f'DROP DATABASE IF EXISTS "rxtrace_bench_part_{name}" WITH (FORCE)'))
    admin.dispose()


def _table(report: dict[str, Any]) -> str:
    flat, part = report["schemas"]["flat"], report["schemas"]["partitioned"]
    rows = [
        ("load (s)", "load_seconds"),
        ("resolve batch (s)", "seconds"),
        ("single code median (ms)", "single_median_ms"),
        ("single code p99 (ms)", "single_p99_ms"),
        ("one month summed (s)", "month_seconds"),
        ("leads' basis (s)", "basis_seconds"),
    ]
    lines = [f"{'':<26} {'flat':>10} {'by month':>10} {'÷ flat':>7}"]
    for label, key in rows:
        lines.append(f"{label:<26} {flat[key]:>10.3f} {part[key]:>10.3f} {part[key] / flat[key]:>7.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
