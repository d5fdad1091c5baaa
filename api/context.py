"""What a command needs to run: settings, a migrated database and the hashing key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.api.config import Settings
from rxtrace.trace.errors import NotFoundError
from rxtrace.trace.protect import Protector, load_or_create_key
from rxtrace.trace.store.db import connect, parse_database_url, session_scope

__all__ = ["AppContext"]


@dataclass
class AppContext:
    settings: Settings
    must_exist: bool = False
    """Refuse a SQLite file that is not there instead of creating an empty one: a command that
    only reads, pointed at a mistyped path, would otherwise answer "no such case"."""

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
        return connect(self.settings.database_url)

    def close(self) -> None:
        """Close the database's connections (on SQLite, this checkpoints its write-ahead log)."""
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
