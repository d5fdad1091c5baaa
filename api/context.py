"""What a command needs to run: settings, a migrated database and the hashing key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.api.config import Settings
from rxtrace.trace.protect import Protector, load_or_create_key
from rxtrace.trace.store.db import connect, session_scope

__all__ = ["AppContext"]


@dataclass
class AppContext:
    settings: Settings

    @cached_property
    def _db(self) -> tuple[Engine, sessionmaker[Session]]:
        return connect(self.settings.database_url)

    @property
    def engine(self) -> Engine:
        return self._db[0]

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self._db[1]) as session:
            yield session

    @cached_property
    def protector(self) -> Protector:
        secret = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
        assert self.settings.key_file is not None
        return Protector(load_or_create_key(secret, self.settings.key_file))
