"""Leads over N sales on SQLite and PostgreSQL, beside the raw duplicate-settlement query.

    .venv/bin/python bench/leads_bench.py --rows 10000000 [--engines sqlite,postgres]
        [--kinds code,card,institution,doctor,all] [--repeat N]

The leads' basis (``rxtrace.trace.investigate.basis``) is built once after the rows are stored, as
``rxtrace load`` does, and timed on its own; the leads are then timed reading it. Rows are
generated in batches and bulk-inserted (executemany on SQLite, COPY on PostgreSQL,
through ``rxtrace.trace.store.bulk.insert_ignore``): ordinary trade over a year, 10 % split packs,
1 % returns, 2 % self-paid, 0.1 % of codes settled twice, a few cloned codes, and one case of
seized boxes. Each timed lead kind prints a digest of its leads (rules, scores, evidence):
the same digest on both engines means both found the very same leads. PostgreSQL runs in a
scratch database created and dropped here (``RXTRACE_TEST_PG_URL``, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.trace.codes import key_parts
from rxtrace.trace.investigate import Lead, find_leads
from rxtrace.trace.investigate.basis import BasisInfo, refresh_basis
from rxtrace.trace.store import models
from rxtrace.trace.store.bulk import insert_ignore
from rxtrace.trace.store.db import make_engine, migrate

RAW_DUPLICATES = (
    "SELECT key_hi, key_lo, SUM(sel_retn_cnt) FROM dispensing "
    "WHERE mdtrt_setl_type = 1 AND trdn_flag = 0 "
    "GROUP BY key_hi, key_lo HAVING SUM(sel_retn_cnt) >= 2"
)
PG_URL = os.environ.get("RXTRACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = datetime(2025, 1, 1, 8, 0, 0)
DRUGS = [(f"8{100000 + i:06d}", f"XB{i:04d}", (7, 14, 28, 30, 100)[i % 5]) for i in range(60)]
BATCH = 100_000


def rows(n: int, seed: int = 1) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed)
    insts = [(f"I{i:05d}", ("hospital", "clinic", "pharmacy")[i % 3]) for i in range(2000)]
    cards = max(n // 20, 100)
    batch: list[dict[str, Any]] = []
    serial = 0
    resold: list[tuple[str, str]] = []
    for i in range(n):
        inst, _ = insts[rng.randrange(len(insts))]
        product, med, _ = DRUGS[rng.randrange(len(DRUGS))]
        r = rng.random()
        if resold and r < 0.001:
            code, med = resold.pop()  # a box already dispensed, sold again
        else:
            serial += 1
            code = f"{product}{serial:09d}{serial % 10000:04d}"
            if r > 0.9985:
                resold.append((code, med))
        if r > 0.99995:
            med = DRUGS[(DRUGS.index(next(d for d in DRUGS if d[1] == med)) + 1) % len(DRUGS)][1]
        split = rng.random() < 0.10
        ret = rng.random() < 0.01
        self_paid = rng.random() < 0.02
        hi, lo = key_parts(code)
        count = rng.randint(1, 6) if split else 1
        fen = 0 if self_paid else rng.randint(300, 20000)
        batch.append(
            {
                "row_digest": hashlib.blake2b(i.to_bytes(8, "big"), digest_size=16).digest(),
                "file_id": 0,
                "line_no": i,
                "setl_id": f"S{i:010d}",
                "mdtrt_sn": f"M{i:010d}",
                "fixmedins_code": inst,
                "psn_no": f"P{rng.randrange(cards):09d}",
                "dr_code": f"D{inst}{rng.randrange(8)}",
                "med_list_codg": med,
                "drug_trac_codg": code,
                "code_family": "national",
                "key_hi": hi,
                "key_lo": lo,
                "trdn_flag": 1 if split else 0,
                "sel_retn_cnt": -count if ret else count,
                "sel_retn_time": T0 + timedelta(seconds=rng.randrange(365 * 86400)),
                "sel_retn_type": "return" if ret else "sale",
                "mdtrt_setl_type": 2 if self_paid else 1,
                "hifp_pay_fen": -fen if ret else fen,
            }
        )
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(engine: Engine, n: int, *, seized: int = 2000) -> float:
    """``n`` sales, the institutions and the catalog, and one case (BENCH) of ``seized`` boxes
    taken from the sales: every 997th row, or evenly spread when that gives too few."""
    started = time.perf_counter()
    table = models.Dispensing.__table__
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM dispensing"))
        for batch in rows(n):
            insert_ignore(conn, table, batch)  # type: ignore[arg-type]
    every = 997 if n // 997 >= seized else max(1, n // seized)
    with sessionmaker(engine)() as s:
        place = random.Random(2)  # spread over Shanghai, for the case's hot spots
        for i in range(2000):
            s.add(
                models.Institution(
                    fixmedins_code=f"I{i:05d}",
                    name=f"inst {i}",
                    kind=("hospital", "clinic", "pharmacy")[i % 3],
                    lon=round(121.2 + place.random() * 0.6, 6),
                    lat=round(30.9 + place.random() * 0.5, 6),
                )
            )
        for product, med, units in DRUGS:
            s.add(models.CatalogProduct(product_id=product, med_list_codg=med, name=med, units_per_box=units))
        s.add(models.Seizure(seizure_id="BZ1", case_id="BENCH", seized_at=T0 + timedelta(days=400)))
        s.commit()
    with engine.begin() as conn:
        # By the generated row's number, in its order: ids are the engine's (PostgreSQL numbers
        # the rows of a batch that made a month's partition after the others), and without ORDER
        # BY a parallel scan there seizes other boxes than SQLite.
        taken = conn.execute(
            text(
                "SELECT drug_trac_codg, key_hi, key_lo FROM dispensing WHERE line_no % :every = 0 "
                "ORDER BY line_no LIMIT :seized"
            ),
            {"every": every, "seized": seized},
        ).all()
        boxes = [
            {
                "row_digest": hashlib.blake2b(f"z{j}".encode(), digest_size=16).digest(),
                "seizure_id": "BZ1",
                "code": code,
                "code_key": code,
                "key_hi": hi,
                "key_lo": lo,
                "method": "hand",
                "code_family": "national",
            }
            for j, (code, hi, lo) in enumerate(taken)
        ]
        for at in range(0, len(boxes), BATCH):
            insert_ignore(conn, models.SeizedCode.__table__, boxes[at : at + BATCH])  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def digest(leads: list[Lead]) -> str:
    """A short fingerprint of every lead, its rules, scores and evidence: equal on both
    engines when they find the very same leads."""
    document = json.dumps([lead.to_dict(reveal=True) for lead in leads], sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()[:12]


def measure(engine: Engine, repeat: int, kinds: list[str]) -> dict[str, Any]:
    factory = sessionmaker(engine)

    def raw() -> int:
        with engine.connect() as conn:
            return len(conn.execute(text(RAW_DUPLICATES)).all())

    def leads(kind: str | None) -> Callable[[], list[Lead]]:
        def run() -> list[Lead]:
            with factory() as session:
                found = find_leads(session=session, kind=kind)
                session.rollback()
                return found

        return run

    def build() -> BasisInfo:
        with factory() as session:
            info = refresh_basis(session=session, parallel=True)
            session.commit()
            return info

    raw()  # warm the cache: every figure below reads a warm table
    raw_s, dups = timed(raw, repeat)
    # What `rxtrace load` does after storing sales: every figure below reads this basis.
    basis_s, _ = timed(build, 1)
    result: dict[str, Any] = {"raw_s": raw_s, "duplicates": dups, "basis_s": basis_s, "kinds": {}}
    for name in kinds:
        seconds, found = timed(leads(None if name == "all" else name), repeat)
        result["kinds"][name] = {"s": seconds, "leads": len(found), "digest": digest(found)}
    return result


@contextmanager
def scratch_engine(name: str, prefix: str) -> Iterator[Engine]:
    """A migrated, empty database on ``name`` (sqlite or postgres), removed afterwards: a
    10 M-row database is 2.7 GB, never left behind in /tmp or on the server."""
    if name == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
        try:
            migrate(engine)
            yield engine
        finally:
            engine.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    db = f"{prefix.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    engine = make_engine(admin.url.set(database=db).render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def run_engine(name: str, n: int, repeat: int, kinds: list[str]) -> dict[str, Any]:
    with scratch_engine(name, "rxtrace-bench") as engine:
        load_s = fill(engine, n)
        result = measure(engine, repeat, kinds)
        result["load_s"] = load_s
        with Session(engine) as s:
            result["rows"] = s.execute(text("SELECT COUNT(*) FROM dispensing")).scalar_one()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--kinds",
        default="code,all",
        help="lead kinds to time, comma-separated: code, card, institution, doctor, and all (every rule)",
    )
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPU, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for name in args.engines.split(","):
        r = run_engine(name, args.rows, args.repeat, kinds)
        print(f"{name}: {r['rows']:,} rows loaded in {r['load_s']:.1f} s")
        print(f"  raw duplicate-settlement SQL     {r['raw_s']:8.2f} s  ({r['duplicates']:,} codes)")
        print(
            f"  leads' basis, built once per load {r['basis_s']:7.2f} s  "
            f"ratio {r['basis_s'] / r['raw_s']:.2f}×"
        )
        for kind, k in r["kinds"].items():
            label = "leads, every rule" if kind == "all" else f"leads --kind {kind}"
            print(
                f"  {label:<32} {k['s']:8.2f} s  ({k['leads']:,} leads, digest "
                f"{k['digest']})  ratio {k['s'] / r['raw_s']:.2f}×"
            )
        print(
            f"  load average {os.getloadavg()[0]:.2f}; peak RSS of this process so far "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
