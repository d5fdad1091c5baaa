"""A server on a fresh database (SQLite, and PostgreSQL), with case K1 and one user per role."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from serverkit import Server, make_server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The same server test on SQLite and on PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'rxtrace.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    made = make_server(url, tmp_path)
    yield made
    made.app.state.context.engine.dispose()


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    made = make_server(f"sqlite:///{tmp_path / 'rxtrace.db'}", tmp_path)
    yield made
    made.app.state.context.engine.dispose()
