"""Load contract files into the database: streaming, idempotent, nothing silently dropped.

Each file is identified by the SHA-256 of its bytes, its table told by its header. Rows that
break the contract are set aside in ``rejected_row`` with file, line and reason; the load goes
on. Rows are written in batches, each batch committed with the file's counters, so an
interrupted load can simply be run again: what was stored is recognised and skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import multiprocessing
import multiprocessing.connection
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from sqlalchemy import Dialect, Index, Table, delete, func, literal, select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import ContractError, KeyMismatchError, RxtraceError
from rxtrace.trace.gcpause import collector_paused
from rxtrace.trace.ingest.batch import convert_batch
from rxtrace.trace.ingest.contract import TABLES, TableSpec, detect_table
from rxtrace.trace.ingest.reading import FileShape, LineTally, RecordBatch, RecordReader, sniff
from rxtrace.trace.protect import Protector
from rxtrace.trace.store import models
from rxtrace.trace.store.bulk import (
    binary_types,
    insert_binary_copy,
    insert_ignore,
    insert_rows,
    prepare_rows,
)
from rxtrace.trace.store.db import build_indexes, drop_indexes, refresh_statistics

if TYPE_CHECKING:
    from rxtrace.trace.ingest.columnar import BlockReader, ConvertedBlock, ParsedBlock, PlainBlock

__all__ = [
    "FileReport",
    "LoadReport",
    "ProgressHook",
    "StageHook",
    "ensure_key",
    "expand_paths",
    "load_paths",
]

ProgressHook = Callable[[str, int, int, int], None]
"""Called as ``hook(file_name, bytes_done, bytes_total, rows_done)`` while a file loads."""

StageHook = Callable[[str, str], None]
"""Called as ``hook(file_name, what)`` when a load starts a step that reads no more of the file
(building the indexes after a big load), so a progress display at 100 % can say what it waits on."""

ROW_BY_ROW_SETTING = "RXTRACE_LOAD_ROW_BY_ROW"

BATCH_ROWS = 20_000
COMMIT_ROWS = 200_000
"""Rows between commits. With random keys every batch dirties pages all over the indexes, and
SQLite writes each dirty page at every commit: fewer, larger commits write each page less often
(1 M rows: 40 s committing every 20,000 rows against 27 s every 200,000)."""


@dataclass
class FileReport:
    path: str
    sha256: str
    status: str  # loaded | already_loaded | refused | incomplete (lines not all accounted for)
    table: str | None = None
    file_format: str | None = None
    encoding: str | None = None
    taken: int = 0
    duplicate: int = 0
    rejected: int = 0
    error: str | None = None


@dataclass
class LoadReport:
    files: list[FileReport] = field(default_factory=list)

    def per_table(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for report in self.files:
            if report.table is None:
                continue
            row = totals.setdefault(report.table, {"taken": 0, "duplicate": 0, "rejected": 0})
            row["taken"] += report.taken
            row["duplicate"] += report.duplicate
            row["rejected"] += report.rejected
        return totals

    @property
    def refused(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "refused"]

    @property
    def incomplete(self) -> list[FileReport]:
        """Files whose lines were not all taken, found duplicate, set aside or skipped."""
        return [f for f in self.files if f.status == "incomplete"]


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, and every non-hidden file under folders named, in a stable order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            out.append(path)
        else:
            raise RxtraceError(f"No such file or folder: '{path}'.")
    return out


def ensure_key(session: Session, protector: Protector) -> None:
    """Refuse a hashing key other than the one this database's sensitive fields were hashed with."""
    stored = session.get(models.Meta, "hmac_key_fingerprint")
    if stored is None:
        # Two loads starting together on a new database both find no fingerprint: the one
        # that inserts second keeps the first's row and is checked against it below.
        insert_ignore(
            session.connection(),
            models.Meta.__table__,  # type: ignore[arg-type]
            [{"name": "hmac_key_fingerprint", "value": protector.fingerprint}],
        )
        session.commit()
        stored = session.get(models.Meta, "hmac_key_fingerprint")
        if stored is None:
            raise RxtraceError("The database lost its key fingerprint while it was being stored.")
    if stored.value != protector.fingerprint:
        raise KeyMismatchError(
            f"This database was loaded with another secret key (fingerprint {stored.value})."
        )


def _fingerprint(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its physical lines (the last one also without its newline),
    counted apart from the reader so that the load can account for every line."""
    digest = hashlib.sha256()
    lines = 0
    block = b""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
    if block and not block.endswith(b"\n"):
        lines += 1
    return digest.hexdigest(), lines


def load_paths(
    paths: Sequence[Path],
    *,
    session: Session,
    protector: Protector,
    table: str | None = None,
    progress: ProgressHook | None = None,
    stage: StageHook | None = None,
    batch_rows: int = BATCH_ROWS,
    commit_rows: int = COMMIT_ROWS,
    workers: bool | None = None,
    columnar: bool | None = None,
) -> LoadReport:
    """Load every file under ``paths``; files are independent, a refused one stops no other.

    ``columnar=False`` (or ``RXTRACE_LOAD_ROW_BY_ROW=1``) reads and converts every file row by
    row, as before the columnar path: the same outcome, slower; kept to compare the two."""
    if columnar is None:
        columnar = os.environ.get(ROW_BY_ROW_SETTING, "") not in ("1", "true", "yes")
    ensure_key(session, protector)
    # A load stopped hard while its indexes were dropped (see _deferrable_indexes) left them
    # so; the next load builds them first. Not on every connect: a command started beside a
    # running big load would then build them under it.
    every_index = [index for table in models.Base.metadata.sorted_tables for index in table.indexes]
    build_indexes(session.connection(), every_index)
    session.commit()
    report = LoadReport()
    for path in expand_paths(paths):
        report.files.append(
            _load_file(
                path,
                session=session,
                protector=protector,
                table=table,
                progress=progress,
                stage=stage,
                batch_rows=batch_rows,
                commit_rows=commit_rows,
                workers=workers,
                columnar=columnar,
            )
        )
    # The first questions asked of what was loaded (the leads' basis, a raid's codes) are
    # planned from the tables' statistics: gathered now, not whenever autovacuum comes by.
    grown = {TABLES[name].model_table: totals["taken"] for name, totals in report.per_table().items()}

    def told(stale: list[str]) -> None:
        if stage is not None:  # on the last file that took rows: the one still on screen
            last = next(f.path for f in reversed(report.files) if f.taken)
            stage(Path(last).name, f"refreshing the planner's statistics of {', '.join(stale)}")

    refresh_statistics(session.connection(), grown, told=told)
    session.commit()
    return report


def _load_file(
    path: Path,
    *,
    session: Session,
    protector: Protector,
    table: str | None,
    progress: ProgressHook | None,
    stage: StageHook | None,
    batch_rows: int,
    commit_rows: int,
    workers: bool | None,
    columnar: bool,
) -> FileReport:
    sha, lines = _fingerprint(path)
    size = path.stat().st_size
    started = _start_record(path, sha, size, session=session, table=table)
    if isinstance(started, FileReport):
        return started
    record, shape, spec = started
    target = models.Base.metadata.tables[spec.model_table]
    out = FileReport(str(path), sha, "loaded", spec.name, shape.file_format, shape.encoding)
    write = _BatchWriter(session, target, spec.name, record, out, commit_rows)
    deferred = _deferrable_indexes(session, target, size)
    if deferred:
        drop_indexes(session.connection(), deferred)
        session.commit()
    dialect = session.get_bind().dialect
    columnar = columnar and spec.name == "dispensing" and shape.file_format == "csv"
    job = _Job(path, shape, spec.name, protector, dialect, record.id, batch_rows, columnar)
    tally = LineTally()
    try:
        done = _write_batches(job, size, write, tally, workers=workers, progress=progress)
        session.commit()
    except BaseException:
        session.rollback()  # the batch in hand is not kept; the committed ones are, and counted
        raise
    finally:
        if deferred:
            # Built again however the load ended, from every row stored: one sort per index.
            if stage is not None:
                stage(path.name, f"building {len(deferred)} indexes of {target.name}")
            build_indexes(session.connection(), deferred)
            session.commit()
    if progress is not None:
        progress(path.name, size, size, done)
    out.taken, out.duplicate = record.rows_taken, record.rows_duplicate
    record.status, record.finished_at = "done", datetime.now()
    missing = _unaccounted(lines, done, tally)
    if missing:
        out.status = record.status = "incomplete"
        out.error = record.error = missing
    session.commit()
    return out


def _start_record(
    path: Path, sha: str, size: int, *, session: Session, table: str | None
) -> FileReport | tuple[models.LoadedFile, FileShape, TableSpec]:
    """The file's record in ``loaded_file``, marked loading, with its shape and table; or the
    report for a file loaded before or refused (unreadable header, no such table)."""
    record = session.scalars(select(models.LoadedFile).where(models.LoadedFile.sha256 == sha)).first()
    if record is not None and record.status == "done":
        return FileReport(
            str(path), sha, "already_loaded", record.table_name, record.file_format, record.encoding
        )
    if record is None:
        record = models.LoadedFile(
            sha256=sha,
            path=str(path),
            size_bytes=size,
            status="loading",
            started_at=datetime.now(),
            rows_taken=0,
            rows_duplicate=0,
            rows_rejected=0,
        )
        session.add(record)
    record.path, record.started_at, record.error = str(path), datetime.now(), None
    try:
        shape = sniff(path)
        spec = detect_table(shape.columns, table)
    except ContractError as exc:
        record.status, record.error, record.finished_at = "refused", str(exc), datetime.now()
        session.commit()
        return FileReport(str(path), sha, "refused", table, error=str(exc))
    record.table_name, record.file_format, record.encoding = spec.name, shape.file_format, shape.encoding
    record.status = "loading"
    session.commit()
    return record, shape, spec


class _BatchWriter:
    """Writes converted batches into the table and counts them on the file's record; the
    counters commit with the rows they count, every ``commit_rows`` records."""

    def __init__(
        self,
        session: Session,
        target: Table,
        table_name: str,
        record: models.LoadedFile,
        out: FileReport,
        commit_rows: int,
    ) -> None:
        self.session, self.target, self.table_name = session, target, table_name
        self.record, self.out, self.commit_rows = record, out, commit_rows
        self.uncommitted = 0
        # Rows an interrupted load of this very file committed: this run meets them again as
        # duplicates, but they are the file's own, taken by it.
        own = select(func.count()).select_from(target).where(target.c.file_id == record.id)
        self.earlier = session.scalar(own) or 0

    def __call__(self, batch: _Prepared) -> None:
        conn = self.session.connection()
        if self.table_name == "seizures":
            _replace_provisional(conn, self.target, batch)
        if batch.copy is not None:
            inserted = insert_binary_copy(conn, self.target, batch.names, batch.copy, batch.copy_rows)
        else:
            inserted = insert_rows(conn, self.target, batch.names, batch.rows)
        insert_ignore(conn, models.RejectedRow.__table__, batch.rejects)  # type: ignore[arg-type]
        out, record = self.out, self.record
        out.taken += inserted
        out.duplicate += batch.row_count - inserted
        out.rejected += len(batch.rejects)
        record.rows_taken = self.earlier + out.taken
        record.rows_duplicate = max(0, out.duplicate - self.earlier)
        record.rows_rejected = out.rejected
        self.uncommitted += batch.row_count + len(batch.rejects)
        if self.uncommitted >= self.commit_rows:
            self.session.commit()
            self.uncommitted = 0


def _unaccounted(lines: int, records: int, tally: LineTally) -> str | None:
    """Why the file's lines do not add up, if they do not: every physical line must start a
    record (taken, duplicate or set aside) or be the header, blank, or inside a quoted field.

    >>> _unaccounted(5, 3, LineTally(header=1, blank=1))
    >>> print(_unaccounted(9, 3, LineTally(header=1, continued=1)))  # doctest: +NORMALIZE_WHITESPACE
    read 9 lines but accounted for 5: 3 records (taken, duplicate or set aside), 1 header,
    0 blank, 1 inside quoted fields; 4 lines are missing
    """
    accounted = records + tally.outside_records
    if accounted == lines:
        return None
    gap = lines - accounted
    return (
        f"read {lines:,} lines but accounted for {accounted:,}: {records:,} records (taken, "
        f"duplicate or set aside), {tally.header:,} header, {tally.blank:,} blank, "
        f"{tally.continued:,} inside quoted fields; {abs(gap):,} lines are "
        f"{'missing' if gap > 0 else 'counted twice'}"
    )


def _replace_provisional(conn: Any, target: Any, batch: _Prepared) -> None:
    """A seizure opened at the scene (``rxtrace scan --new-seizure``) has no file and only a
    date; the seizures file's row with its id is the record, so it takes the place of the
    provisional one rather than being dropped as a duplicate of it."""
    column = batch.names.index("seizure_id")
    ids = [row[column] for row in batch.rows]
    if ids:
        conn.execute(
            # No file brought it: it was opened at the scene (or by hand), never loaded.
            delete(target).where(target.c.seizure_id.in_(ids), target.c.file_id.is_(None))
        )


def _write_batches(
    job: _Job,
    size: int,
    write: Callable[[_Prepared], None],
    tally: LineTally,
    *,
    workers: bool | None,
    progress: ProgressHook | None,
) -> int:
    """Convert every batch of the job's file and ``write`` it; returns the records read, and
    fills ``tally`` with the lines that started no record."""
    postgres = job.dialect.name == "postgresql"
    if workers is None:
        # SQLite writes in this process, so converting in others keeps the second core busy.
        # On PostgreSQL the server already takes that core; converting processes measured
        # no faster there (1 M rows: 27.8 s against 27.9 s).
        workers = size >= WORKER_BYTES and (os.cpu_count() or 1) > 1 and not postgres
    if workers:
        # A big file is read and converted in other processes while this one writes.
        batches: Iterator[_Prepared] = _from_workers(job, tally)
        writer = None
    else:
        batches = _prepare_batches(job, tally=tally)
        # On PostgreSQL the server stores one batch while this process converts the next:
        # the writing thread spends its time waiting on the server, with the GIL released.
        # SQLite writes in this process, so a thread there would only contend for the GIL.
        writer = ThreadPoolExecutor(1) if postgres else None
    pending: Future[None] | None = None
    done = blank = 0
    # Batches from the converting processes are unpickled here: with the collector on, each
    # unpickled row set it walking every row still alive (9.5 us a row against 1.8 us).
    with contextlib.ExitStack() as stack:
        stack.enter_context(collector_paused())
        if writer is not None:
            stack.callback(writer.shutdown, wait=True)
        for batch in batches:
            if pending is not None:
                pending.result()
            if writer is None:
                write(batch)
            else:
                pending = writer.submit(write, batch)
            done += batch.records
            blank += batch.blank
            if progress is not None:
                progress(job.path.name, batch.bytes_read, size, done)
        if pending is not None:
            pending.result()
    # Counted after the converting processes' tally, which holds only what every one of them read.
    tally.blank += blank
    return done


DEFER_BYTES = 64 << 20
ROW_BYTES = 1024
"""A generous size for a contract row in CSV or JSON Lines (the bench's take about 200): a file
of N bytes is taken to add N / ROW_BYTES rows, which errs towards keeping the indexes."""


def _deferrable_indexes(session: Session, target: Table, size: int) -> list[Index]:
    """The non-unique indexes of ``target`` to drop for this load, if any.

    Each row a load adds lands at a random place in every index: on 1 M rows SQLite stored
    13.8 us a row with the secondary indexes built after the load against 17.8 us with them in
    place, PostgreSQL 10.5 us against 18.4 us. A big file that holds at least as many rows as the
    table already has loads faster that way; unique indexes stay, they make loads idempotent.
    """
    indexes = sorted((index for index in target.indexes if not index.unique), key=lambda i: str(i.name))
    if not indexes or size < DEFER_BYTES:
        return []
    estimate = size // ROW_BYTES
    sample = select(literal(1)).select_from(target).limit(estimate + 1).subquery()
    stored = session.scalar(select(func.count()).select_from(sample)) or 0
    return indexes if stored <= estimate else []


WORKER_BYTES = 64 << 20
"""Files this big are converted in a second process: its start (about a second) is then small."""


@dataclass(frozen=True)
class _Job:
    """What converting a file needs, here or in the forked converting process."""

    path: Path
    shape: FileShape
    table: str
    protector: Protector
    dialect: Dialect  # whose value processors make the rows the driver takes
    file_id: int
    batch_rows: int
    columnar: bool = False
    """Dispensing CSV through the columnar path (see ``columnar``); its batches are blocks."""


@dataclass
class _Prepared:
    """A batch as the database takes it: rows ready for the driver, and the records set aside."""

    names: list[str]
    rows: list[tuple[Any, ...]]
    rejects: list[dict[str, Any]]
    records: int
    bytes_read: int
    blank: int = 0
    """Blank lines among the batch's, where its converter found them (a columnar block's)."""
    copy: bytes | None = None
    """The rows already in PostgreSQL's binary COPY format (``rows`` is then empty)."""
    copy_rows: int = 0

    @property
    def row_count(self) -> int:
        return self.copy_rows if self.copy is not None else len(self.rows)


def _prepare_batches(
    job: _Job, share: tuple[int, int] = (0, 1), *, tally: LineTally | None = None
) -> Iterator[_Prepared]:
    """The file's batches ready to write; with ``share=(k, n)`` only batches k, k + n, k + 2n…
    (every process converting a share reads the whole file, for its line numbers; a columnar
    block is parsed only by its own). ``tally`` is filled as the file is read."""
    spec = TABLES[job.table]
    target = models.Base.metadata.tables[spec.model_table]
    tally = tally if tally is not None else LineTally()
    reader: RecordReader | BlockReader
    if job.columnar:
        from rxtrace.trace.ingest.columnar import BlockReader, block_records

        reader = BlockReader(job.path, job.shape, tally)
        items: Iterator[PlainBlock | RecordBatch] = reader.items(job.batch_rows)
    else:
        reader = RecordReader(job.path, job.shape)
        reader.tally = tally
        items = reader.batches(job.batch_rows)
    with_line = spec.name in ("dispensing", "seized_codes")
    postgres = job.dialect.name == "postgresql"
    mine, every = share
    # Each batch's objects die with it and hold no cycles: the collector would only walk them.
    with collector_paused():
        for number, item in enumerate(items):
            if number % every != mine:
                continue
            blank, copy = 0, None
            if not isinstance(item, RecordBatch):
                parsed = parse_block(item, job.shape)
                block, line_nos = convert_block(spec, parsed, job.protector)
                taken, failed = block.taken, block.failed
                raw = _raw_by_index(parsed.raw, line_nos)
                unreadable, records, blank = parsed.rejects, block_records(parsed), parsed.blank
                rows_line = [line_nos[index] for index in taken]
                if postgres:
                    copy = _binary_copy(block, target, job.file_id, rows_line)
                names, columns = block.python_columns() if copy is None else ([], [])
            else:
                converted = convert_batch(spec, item.columns, item.rows, job.protector)
                names, columns, taken, failed = (
                    converted.names,
                    converted.columns,
                    converted.taken,
                    converted.failed,
                )
                line_nos, raw = item.line_nos, item.raw
                unreadable, records = item.rejects, len(item.rows) + len(item.rejects)
                rows_line = [line_nos[index] for index in taken]
            rejects = [
                _reject(job.file_id, spec.name, rec.line_no, rec.error or "unreadable", rec.raw)
                for rec in unreadable
            ]
            rejects.extend(
                _reject(job.file_id, spec.name, line_nos[index], reason, raw(index))
                for index, reason in failed.items()
            )
            if copy is not None:
                yield _Prepared(copy[0], [], rejects, records, reader.bytes_read, blank, copy[1], len(taken))
                continue
            names = [*names, "file_id"]
            columns = [*columns, [job.file_id] * len(taken)]
            if with_line:
                names.append("line_no")
                columns.append(rows_line)
            yield _Prepared(
                names,
                prepare_rows(job.dialect, target, names, columns) if taken else [],
                rejects,
                records,
                reader.bytes_read,
                # A columnar block the binary encoder declined (a value too large for its
                # column) goes by text COPY, which the server checks: psycopg's binary COPY
                # with set_types("int4") stores 3000000000 wrapped, as -1294967296, unsaid.
                blank,
            )


def _binary_copy(
    block: ConvertedBlock, target: Table, file_id: int, line_nos: list[int]
) -> tuple[list[str], bytes] | None:
    """A columnar block's rows as PostgreSQL's binary ``COPY`` takes them, with their column
    names; None if a value does not fit its column (written the ordinary way then)."""
    import pyarrow as pa

    from rxtrace.trace.ingest.columnar import pg_binary_copy

    extra = [None if value is None else json.dumps(value) for value in block.extra]
    arrays = [
        *block.arrays.values(),
        pa.array(extra, pa.string()),
        pa.array([file_id] * len(line_nos), pa.int64()),
        pa.array(line_nos, pa.int64()),
    ]
    names = [*block.arrays, "extra", "file_id", "line_no"]
    data = pg_binary_copy(arrays, binary_types(target, names))
    return None if data is None else (names, data)


# The columnar path's steps, imported when a load first takes it: pyarrow costs every other
# command 0.3 s to import. Named here, they can be replaced in tests as the row path's can.


def parse_block(block: PlainBlock, shape: FileShape) -> ParsedBlock:
    """See :func:`columnar.parse_block`."""
    from rxtrace.trace.ingest import columnar

    return columnar.parse_block(block, shape)


def convert_block(
    spec: TableSpec, parsed: ParsedBlock, protector: Protector
) -> tuple[ConvertedBlock, list[int]]:
    """See :func:`columnar.convert_block`."""
    from rxtrace.trace.ingest import columnar

    return columnar.convert_block(spec, parsed, protector)


def _raw_by_index(raw: Callable[[int], str], line_nos: list[int]) -> Callable[[int], str]:
    """A block's record text by record index, from its text by line number."""
    return lambda index: raw(line_nos[index])


WORKERS = 2
"""Converting processes for a big file. Two keep SQLite's writing process busy on two cores;
more would only share the same cores."""


class _WorkerError(RxtraceError):
    pass


def _pickled(batch: _Prepared) -> bytes:
    """The batch pickled without the memo, which made pickling six times slower (4.4 us a row
    against 0.7 us). Without it a cycle would never end, and a batch holds none; a value several
    rows share (the file id) is written again for each and arrives as equal copies."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(batch)
    return buffer.getvalue()


def _die_with_parent() -> None:
    """End this converting process as soon as the loading process is gone, however it went
    (a SIGKILL runs no clean-up there): a daemon thread waits on the pipe multiprocessing
    keeps to the parent, which reads as ready when the parent's end closes. Each converter
    dies with its parent within moments, instead of living on with its memory.

    Preferred to Linux's ``PR_SET_PDEATHSIG``, which fires when the *thread* that forked
    dies: a load run from a server's worker thread would lose its converters when the
    thread pool retired that thread."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="rxtrace-parent-watch", daemon=True).start()


def _worker(job: _Job, share: tuple[int, int], queue: Any) -> None:
    _die_with_parent()
    try:
        tally = LineTally()
        for batch in _prepare_batches(job, share, tally=tally):
            queue.put(_pickled(batch))
        queue.put(tally)  # the end, with the lines that started no record
    except BaseException as exc:  # whatever it was, the loading process must hear of it
        queue.put(exc if isinstance(exc, RxtraceError) else _WorkerError(f"{type(exc).__name__}: {exc}"))
    finally:
        queue.close()
        queue.join_thread()  # everything put is in the pipe
        # Leave at once: a forked child flushing stdio at exit could wait on a lock that a
        # thread of the parent (a progress bar's) held at the fork.
        os._exit(0)


def _from_workers(job: _Job, tally: LineTally, count: int = WORKERS) -> Iterator[_Prepared]:
    """The file's batches in order, converted by ``count`` processes taking turns; ``tally``
    is filled from the first to reach the file's end (each reads the whole file)."""
    # Forked, not spawned: a spawned child re-runs the caller's main script, which a script
    # without an ``if __name__ == "__main__"`` guard cannot survive. The forked children touch
    # no database handle they inherit (they read the file and convert), and multiprocessing
    # ends them with os._exit, so none of them is closed or checkpointed from there.
    context = multiprocessing.get_context("fork")
    queues = [context.Queue(maxsize=2) for _ in range(count)]  # two batches each bound the memory
    processes = [
        context.Process(target=_worker, args=(job, (k, count), queue), daemon=True)
        for k, queue in enumerate(queues)
    ]
    for process in processes:
        process.start()
    try:
        for number in itertools.count():
            item = _next_from(queues[number % count], processes[number % count], job.path)
            if isinstance(item, LineTally):
                vars(tally).update(vars(item))
                return
            yield pickle.loads(item)  # noqa: S301 - bytes our own forked child pickled
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _next_from(queue: Any, process: Any, path: Path) -> bytes | LineTally:
    while True:
        try:
            item = queue.get(timeout=5)
        except Empty:
            if not process.is_alive():
                raise _WorkerError(
                    f"The process converting '{path}' ended (exit code {process.exitcode})."
                ) from None
            continue
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]


def _reject(file_id: int, table: str, line_no: int, reason: str, raw: str) -> dict[str, Any]:
    return {"file_id": file_id, "table_name": table, "line_no": line_no, "reason": reason, "raw": raw}
