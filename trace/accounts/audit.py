"""The audit log: who saw whose data, when, from where, unmasked or not, and why.

Append-only twice over: the database refuses UPDATE and DELETE on ``audit_event`` (triggers
on both engines, made by the migration), and every event carries the SHA-256 of the one
before it, so :func:`verify` finds an event removed or changed by someone who got past the
triggers. Removing the newest events leaves an intact but shorter chain: :func:`verify`
reports the head (count and last hash) for keeping somewhere else.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from rxtrace.trace.accounts.plain import Driver, dialect_types
from rxtrace.trace.errors import ParseError, RxtraceError
from rxtrace.trace.store import models
from rxtrace.trace.store.locks import advisory_key

__all__ = [
    "MIN_REASON_WORDS",
    "AuditEvent",
    "AuditWriter",
    "Batches",
    "ChainCheck",
    "Entry",
    "check_reason",
    "events",
    "postgres_batches",
    "record",
    "session_batches",
    "verify",
]

MIN_REASON_WORDS = 3
GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    address: str | None
    action: str
    params: dict[str, Any]
    persons: tuple[str, ...]
    revealed: bool
    reason: str | None
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "address": self.address,
            "action": self.action,
            "params": self.params,
            "persons": list(self.persons),
            "revealed": self.revealed,
            "reason": self.reason,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainCheck:
    events: int
    head: str
    broken_at: int | None
    """The id of the first event whose link or content does not hold, if any."""
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events": self.events,
            "head": self.head,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


def check_reason(reason: str | None) -> str:
    """A reason to see identity data must say something: a few words, not a token.

    >>> check_reason("lead 12 card owner interview")
    'lead 12 card owner interview'
    >>> check_reason("x")
    Traceback (most recent call last):
    ...
    rxtrace.trace.errors.ParseError: A reason to reveal identity data needs at least 3 words, got 1.
    """
    words = (reason or "").split()
    if len(words) < MIN_REASON_WORDS:
        raise ParseError(
            f"A reason to reveal identity data needs at least {MIN_REASON_WORDS} words, got {len(words)}."
        )
    return " ".join(words)[:500]


def _hash(
    prev: str,
    at: datetime,
    actor: str,
    address: str | None,
    action: str,
    params: str,
    persons: str,
    revealed: bool,
    reason: str | None,
) -> str:
    body = json.dumps(
        [prev, at.isoformat(), actor, address, action, params, persons, revealed, reason],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


_HEAD_SQL = "SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1"
_INSERT_INTO = (
    "INSERT INTO audit_event (at, actor, address, action, params, persons, revealed, reason, prev_hash, hash)"
)
_INSERT_SQL = f"{_INSERT_INTO} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The step "audit"'s lock, as one_at_a_time takes it (rxtrace.trace.store.db): taken here on
# the driver itself, the same lock whoever else takes it by that name.
_AUDIT_LOCK_KEY = advisory_key("audit")


@dataclass(frozen=True)
class Entry:
    """An event as it is written, before the chain gives it its place: every field the hash
    covers but the previous event's hash."""

    at: datetime
    actor: str
    address: str | None
    action: str
    params: str
    persons: str
    revealed: bool
    reason: str | None

    @classmethod
    def of(
        cls,
        *,
        actor: str,
        action: str,
        params: dict[str, Any],
        persons: Sequence[str],
        address: str | None = None,
        revealed: bool = False,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Entry:
        return cls(
            (now or datetime.now()).replace(microsecond=0),
            actor[:64],
            (address or None) and address[:64],
            action[:200],
            json.dumps(params, ensure_ascii=False, sort_keys=True, default=str),
            json.dumps(sorted(set(persons)), ensure_ascii=False),
            revealed,
            reason,
        )


def record(entry: Entry, *, session: Session) -> str:
    """Append an event in the caller's transaction; returns its hash. One writer at a time per
    database, so each event links to the one committed before it.

    Plain SQL on the session's own connection, no mapped object: every audited answer of the
    server runs this, and the ORM's unit of work cost as much as resolving a code."""
    # Whatever the caller changed through the ORM goes to the database first, in order.
    session.flush()
    return _append(Driver(session), [entry])[0]


def _append(plain: Driver, entries: Sequence[Entry]) -> list[str]:
    """Chain these events after the last committed one, in the open transaction, which then
    holds the writers' turn until it ends."""
    _writers_turn(plain)
    head = plain.first(_HEAD_SQL)
    rows, digests = _chained(head[0] if head else GENESIS, entries, plain.time_in, plain.bool_in)
    for row in rows:
        plain.run(_INSERT_SQL, row)
    return digests


def _chained(
    prev: str, entries: Sequence[Entry], time_in: Callable[[datetime], Any], bool_in: Callable[[bool], Any]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The rows to insert for these events after the event whose hash is ``prev``, and their
    hashes: each event links to the one before it."""
    rows, digests = [], []
    for e in entries:
        digest = _hash(prev, e.at, e.actor, e.address, e.action, e.params, e.persons, e.revealed, e.reason)
        at, revealed = time_in(e.at), bool_in(e.revealed)
        rows.append((at, e.actor, e.address, e.action, e.params, e.persons, revealed, e.reason, prev, digest))
        digests.append(digest)
        prev = digest
    return rows, digests


Batches = Callable[[Sequence[Entry]], list[str]]
"""Writes a batch of events after the chain's head and commits them; returns their hashes."""


def session_batches(sessions: Callable[[], Session]) -> Batches:
    """Each batch in a session of its own, on any engine."""

    def write(entries: Sequence[Entry]) -> list[str]:
        with sessions() as session:
            digests = _append(Driver(session), entries)
            session.commit()
        return digests

    return write


# The writer's turn and the head in one message: each statement of it takes its own snapshot,
# so the head is read after the lock is granted. Parameters are bound by the driver.
_PG_TURN_SQL = f"BEGIN; SELECT pg_advisory_xact_lock(%s); {_HEAD_SQL}"


def postgres_batches(engine: Engine) -> Batches:
    """Write a batch of events to PostgreSQL in two round trips: the turn and the head, then
    the rows and the commit. ``engine`` must be in autocommit mode, as the transaction is
    written out. Through a session the same batch took five (the transaction's start, the
    lock, the head, the insert, the commit), and each costs both processes a wake-up: 0.40 ms
    of the server's CPU per event alone against 0.16 ms. The events are the same as the
    session's path writes, in the same chain."""

    types = dialect_types(engine.dialect)

    def write(entries: Sequence[Entry]) -> list[str]:
        pooled = engine.raw_connection()
        dbapi: Any = pooled.driver_connection
        try:
            with psycopg.ClientCursor(dbapi) as cursor:
                cursor.execute(_PG_TURN_SQL, (_AUDIT_LOCK_KEY,))
                while cursor.nextset():  # to the last statement's rows: the head
                    pass
                head = cursor.fetchone()
                rows, digests = _chained(head[0] if head else GENESIS, entries, types.time_in, types.bool_in)
                values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
                cursor.execute(
                    f"{_INSERT_INTO} VALUES {values}; COMMIT",
                    [value for row in rows for value in row],
                )
            return digests
        finally:
            # Back to the pool, which rolls back a batch that failed (its reset on return), so
            # no transaction is left open to hold the turn, or to take the next batch in.
            pooled.close()

    return write


class AuditWriter:
    """Appends the events of many threads, each returned to once its event is committed.

    An audited answer that changed nothing (a resolution, a case) has only its event to
    commit, and that commit holds the chain's turn until the database has flushed it to disk:
    one answer at a time goes through that window, so at 200 answers a second on PostgreSQL
    they fell behind. Here the callers share the turn: each puts its event in the queue and
    waits for the turn; whoever holds it writes every event waiting, in one transaction, one
    lock and one flush, and a caller whose event went in someone else's batch returns as soon
    as the turn is its own. Alone, a caller writes its own event on its own thread: a writer
    thread of its own (as this was first) cost every answer two hand-overs between threads,
    each a wait for the interpreter's lock, and that wait was the answers' slowest 1 %. The
    events are the chain's, in the queue's order, and no caller returns before its own is
    committed. A batch that fails fails each of its callers with its error.
    """

    def __init__(self, batches: Batches, *, batch: int = 256) -> None:
        """``batches`` writes and commits a batch of events, returning their hashes
        (:func:`session_batches`, :func:`postgres_batches`)."""
        self._batches = batches
        self._batch = batch
        self._queue: queue.SimpleQueue[tuple[Entry, Future[str]]] = queue.SimpleQueue()
        self._turn = threading.Lock()
        self._start = threading.Lock()
        self._closed = False

    def append(self, entry: Entry, *, timeout: float = 60.0) -> str:
        """Write this event and return its hash once committed."""
        done: Future[str] = Future()
        with self._start:
            if self._closed:
                raise RxtraceError("The audit log is closed: the server is stopping.")
            self._queue.put((entry, done))
        if not self._turn.acquire(timeout=timeout):
            # The event stays queued and the next holder of the turn writes it; this answer fails.
            raise TimeoutError(f"The audit log took no event for {timeout:g} s.")
        try:
            while not done.done():  # the event is queued until a holder of the turn has written it
                self._write(self._waiting())
        finally:
            self._turn.release()
        return done.result()

    def close(self) -> None:
        """Write what is waiting, then take no more."""
        with self._start:
            self._closed = True
        with self._turn:
            while not self._queue.empty():
                self._write(self._waiting())

    def _waiting(self) -> list[tuple[Entry, Future[str]]]:
        waiting: list[tuple[Entry, Future[str]]] = []
        while len(waiting) < self._batch:
            try:
                waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return waiting

    def _write(self, waiting: list[tuple[Entry, Future[str]]]) -> None:
        try:
            digests = self._batches([entry for entry, _ in waiting])
        except BaseException as exc:  # each caller raises it; the next batch is written anyway
            for _, done in waiting:
                done.set_exception(exc)
            return
        for (_, done), digest in zip(waiting, digests, strict=True):
            done.set_result(digest)


def _writers_turn(plain: Driver) -> None:
    """Hold the database's turn to append until the caller's transaction ends, so the head read
    next is the last committed one. PostgreSQL: an advisory transaction lock (the session's
    transaction is open: the connection was just taken in it). SQLite: its one write lock,
    taken before the head is read. A transaction already open there may hold no lock at all
    (a resolution writes only to TEMP tables) and could not take the write lock later without
    failing at once against another writer, so what it did is committed first and the write
    lock taken afresh."""
    if plain.dialect_name != "sqlite":
        plain.first("SELECT pg_advisory_xact_lock(?)", (_AUDIT_LOCK_KEY,))
        return
    dbapi = plain.dbapi
    if dbapi.in_transaction:
        dbapi.commit()
    plain.run("BEGIN IMMEDIATE")  # waits for the write lock (busy_timeout)


def _event(row: models.AuditEvent) -> AuditEvent:
    return AuditEvent(
        row.id,
        row.at,
        row.actor,
        row.address,
        row.action,
        json.loads(row.params),
        tuple(json.loads(row.persons)),
        row.revealed,
        row.reason,
        row.hash,
    )


def events(
    *, session: Session, user: str | None = None, since: datetime | None = None, limit: int = 1000
) -> list[AuditEvent]:
    """Events newest first, of one user, since a time."""
    query = select(models.AuditEvent).order_by(models.AuditEvent.id.desc()).limit(limit)
    if user is not None:
        query = query.where(models.AuditEvent.actor == user)
    if since is not None:
        query = query.where(models.AuditEvent.at >= since)
    return [_event(row) for row in session.scalars(query)]


def verify(*, session: Session) -> ChainCheck:
    """Walk the chain from the first event: every link and every event's own hash must hold."""
    prev = GENESIS
    count = 0
    for row in session.scalars(select(models.AuditEvent).order_by(models.AuditEvent.id)).yield_per(5000):
        count += 1
        if row.prev_hash != prev:
            return ChainCheck(count, prev, row.id, "an event before this one was removed or changed")
        expected = _hash(
            row.prev_hash,
            row.at,
            row.actor,
            row.address,
            row.action,
            row.params,
            row.persons,
            row.revealed,
            row.reason,
        )
        if expected != row.hash:
            return ChainCheck(count, prev, row.id, "this event was changed after it was written")
        prev = row.hash
    return ChainCheck(count, prev, None, None)
