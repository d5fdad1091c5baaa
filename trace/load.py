"""Load contract files into the database: streaming, idempotent, nothing silently dropped.

Each file is identified by the SHA-256 of its bytes, its table told by its header. Rows that
break the contract are set aside in ``rejected_row`` with file, line and reason; the load goes
on. Rows are written in batches, each batch committed with the file's counters, so an
interrupted load can simply be run again: what was stored is recognised and skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace import models
from rxtrace.trace.bulk import insert_ignore
from rxtrace.trace.contract import TableSpec, convert_row, detect_table
from rxtrace.trace.errors import ContractError, ParseError, RxtraceError
from rxtrace.trace.protect import Protector
from rxtrace.trace.reading import Record, RecordReader, sniff

__all__ = [
    "FileReport",
    "LoadReport",
    "ProgressHook",
    "ensure_key",
    "expand_paths",
    "load_paths",
]

ProgressHook = Callable[[str, int, int, int], None]
"""Called as ``hook(file_name, bytes_done, bytes_total, rows_done)`` while a file loads."""

BATCH_ROWS = 20_000


@dataclass
class FileReport:
    path: str
    sha256: str
    status: str  # loaded | already_loaded | refused
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
        session.add(models.Meta(name="hmac_key_fingerprint", value=protector.fingerprint))
        session.commit()
    elif stored.value != protector.fingerprint:
        raise RxtraceError(
            "This database was loaded with another secret key (fingerprint "
            f"{stored.value}); set RXTRACE_SECRET_KEY or RXTRACE_KEY_FILE to that key."
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_paths(
    paths: Sequence[Path],
    *,
    session: Session,
    protector: Protector,
    table: str | None = None,
    progress: ProgressHook | None = None,
    batch_rows: int = BATCH_ROWS,
) -> LoadReport:
    """Load every file under ``paths``; files are independent, a refused one stops no other."""
    ensure_key(session, protector)
    report = LoadReport()
    for path in expand_paths(paths):
        report.files.append(
            _load_file(
                path,
                session=session,
                protector=protector,
                table=table,
                progress=progress,
                batch_rows=batch_rows,
            )
        )
    return report


def _load_file(
    path: Path,
    *,
    session: Session,
    protector: Protector,
    table: str | None,
    progress: ProgressHook | None,
    batch_rows: int,
) -> FileReport:
    sha = _sha256(path)
    size = path.stat().st_size
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

    reader = RecordReader(path, shape)
    target = models.Base.metadata.tables[spec.model_table]
    out = FileReport(str(path), sha, "loaded", spec.name, shape.file_format, shape.encoding)
    rows: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    done = 0

    def flush() -> None:
        conn = session.connection()
        inserted = insert_ignore(conn, target, rows)
        insert_ignore(conn, models.RejectedRow.__table__, rejects)  # type: ignore[arg-type]
        out.taken += inserted
        out.duplicate += len(rows) - inserted
        out.rejected += len(rejects)
        record.rows_taken, record.rows_duplicate = out.taken, out.duplicate
        record.rows_rejected = out.rejected
        session.commit()
        rows.clear()
        rejects.clear()

    for line_no, values, raw, reason in _convert_records(reader, spec, protector):
        done += 1
        if values is None:
            rejects.append(
                {
                    "file_id": record.id,
                    "table_name": spec.name,
                    "line_no": line_no,
                    "reason": reason,
                    "raw": raw,
                }
            )
        else:
            values["file_id"] = record.id
            if spec.name in ("dispensing", "seized_codes"):
                values["line_no"] = line_no
            rows.append(values)
        if len(rows) + len(rejects) >= batch_rows:
            flush()
            if progress is not None:
                progress(path.name, reader.bytes_read, size, done)
    flush()
    if progress is not None:
        progress(path.name, size, size, done)
    record.status, record.finished_at = "done", datetime.now()
    session.commit()
    return out


Converted = tuple[int, dict[str, Any] | None, str, str | None]
"""``(line_no, stored values or None, raw text, reason it was set aside or None)``."""


def _convert_records(records: Iterable[Record], spec: TableSpec, protector: Protector) -> Iterator[Converted]:
    for rec in records:
        if rec.values is None:
            yield rec.line_no, None, rec.raw, rec.error
            continue
        try:
            yield rec.line_no, convert_row(spec, rec.values, protector), rec.raw, None
        except ParseError as exc:
            yield rec.line_no, None, rec.raw, str(exc)
