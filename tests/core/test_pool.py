"""The PostgreSQL pool: a connection is pinged only after it sat idle, and one the database
dropped while idle is replaced before anyone uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from rxtrace.trace.store import db

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool(pg_url: str) -> Iterator[tuple[Engine, list[int]]]:
    """An engine of one pooled connection, and the pings it has sent."""
    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(ping(dbapi_connection))

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    yield engine, pings
    engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_a_moment_ago_is_not_pinged(pool: tuple[Engine, list[int]]) -> None:
    engine, pings = pool
    first = _backend(engine)
    assert [_backend(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_an_idle_connection_the_database_dropped_is_replaced_unseen(
    pool: tuple[Engine, list[int]], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, pings = pool
    dropped = _backend(engine)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped}).scalar_one()
    finally:
        admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if idle long enough
    replaced = _backend(engine)  # no error reaches the caller
    assert replaced != dropped
    assert pings == [1]
