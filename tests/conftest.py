"""Shared fixtures: a fresh SQLite database per test, and real PostgreSQL when one is there.

PostgreSQL tests use ``RXTRACE_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and run each test in its own freshly created database. They skip only when no server answers,
and fail instead when ``RXTRACE_REQUIRE_PG=1`` (CI sets it: CI has a server).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.trace.protect import Protector
from rxtrace.trace.store.db import make_engine, migrate

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE = SHARED / "contract" / "sample"
PG_URL = os.environ.get("RXTRACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """A function that finds a loopback port nothing listens on (for servers a test starts)."""

    def find() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return find


@pytest.fixture
def protector() -> Protector:
    return Protector(b"test-key-" + b"0" * 32)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rxtrace.db'}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with sessionmaker(engine, expire_on_commit=False)() as s:
        yield s


def _pg_admin() -> Engine | None:
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
        return admin
    except Exception as exc:
        if os.environ.get("RXTRACE_REQUIRE_PG") == "1":
            raise RuntimeError(f"PostgreSQL required but unreachable at {PG_URL}: {exc}") from exc
        return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = _pg_admin()
    if admin is None:
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    name = f"rxtrace_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL."""
    name = "engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def any_session(any_engine: Engine) -> Iterator[Session]:
    with sessionmaker(any_engine, expire_on_commit=False)() as s:
        yield s
