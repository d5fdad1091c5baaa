"""The schema built by the migrations is the schema the models declare, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from rxtrace.trace.store.db import include_object
from rxtrace.trace.store.models import Base


def test_migrations_match_models(any_engine: Engine) -> None:
    with any_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_postgis_is_created_on_the_server(pg_engine: Engine) -> None:
    from sqlalchemy import text

    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
