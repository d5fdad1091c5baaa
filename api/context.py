"""What a command needs to run: settings, a migrated database and the hashing key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.api.config import Settings
from rxtrace.trace.accounts import AuditWriter, postgres_batches, session_batches
from rxtrace.trace.errors import NotFoundError
from rxtrace.trace.protect import Protector, load_or_create_key
from rxtrace.trace.store.db import connect, make_engine, parse_database_url, session_scope

__all__ = ["AppContext"]

_FLUSHED = "rxtrace.flushed"


def _flushed(session: Session, _context: Any) -> None:
    session.info[_FLUSHED] = True


@dataclass
class AppContext:
    settings: Settings
    must_exist: bool = False
    """Refuse a SQLite file that is not there instead of creating an empty one: a command that
    only reads, pointed at a mistyped path, would otherwise answer "no such case"."""
    _closing: list[Engine] = field(default_factory=list)

    @cached_property
    def _db(self) -> tuple[Engine, sessionmaker[Session]]:
        url = parse_database_url(self.settings.database_url) if self.must_exist else None
        if (
            url is not None
            and url.get_backend_name() == "sqlite"
            and url.database not in (None, "", ":memory:")
        ):
            path = Path(url.database).expanduser()
            if not path.exists():
                raise NotFoundError(
                    f"No database at '{path}': load data first (rxtrace load) or set RXTRACE_DATABASE_URL "
                    "or RXTRACE_DATA_DIR to where it is."
                )
        engine, sessions = connect(self.settings.database_url)
        event.listen(sessions, "after_flush", _flushed)
        return engine, sessions

    @cached_property
    def audit_writer(self) -> AuditWriter:
        """Writes the events of answers that changed nothing, many to a commit, on a connection
        of its own: from the requests' pool, its batch waited behind requests that wait for it,
        and past the pool's timeout every one of them failed (seen at 300 requests a second)."""
        engine = self.engine
        if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:"):
            return AuditWriter(session_batches(self.new_session))  # another engine: another database
        postgres = engine.url.get_backend_name() == "postgresql"
        # On PostgreSQL its batches write their own transaction (postgres_batches): two round trips.
        own = make_engine(
            engine.url.render_as_string(hide_password=False),
            pool_size=1,
            max_overflow=0,
            **({"isolation_level": "AUTOCOMMIT"} if postgres else {}),
        )
        self._closing.append(own)
        if postgres:
            return AuditWriter(postgres_batches(own))
        return AuditWriter(session_batches(sessionmaker(own, expire_on_commit=False)))

    @cached_property
    def audit_inline(self) -> bool:
        """Whether every answer writes its own audit event in its own transaction. On SQLite
        it does: a commit there is no flush to disk (WAL, ``synchronous=NORMAL``), so there is
        nothing to share, and the writer (then a thread of its own) cost more than the write
        (p99 at 200 requests a second 6.3-7.5 ms through it, 3.8-4.8 ms inline;
        ``bench/RESULTS.md``). On PostgreSQL each commit waits for the WAL's flush, which the
        writer shares among the answers waiting."""
        return self.engine.url.get_backend_name() == "sqlite"

    @staticmethod
    def changed(session: Session) -> bool:
        """Whether this context's session has written through the ORM or has changes pending."""
        return bool(session.info.get(_FLUSHED) or session.new or session.dirty or session.deleted)

    def close(self) -> None:
        """Write the audit events still waiting, then close the database's connections (on
        SQLite, this checkpoints its write-ahead log)."""
        if "audit_writer" in self.__dict__:
            self.audit_writer.close()
        for engine in self._closing:
            engine.dispose()
        if "_db" in self.__dict__:
            self._db[0].dispose()

    @property
    def engine(self) -> Engine:
        return self._db[0]

    def new_session(self) -> Session:
        """A session of this database, not yet connected; whoever takes it ends it."""
        return self._db[1]()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self._db[1]) as session:
            yield session

    @cached_property
    def protector(self) -> Protector:
        secret = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
        assert self.settings.key_file is not None
        return Protector(load_or_create_key(secret, self.settings.key_file))
