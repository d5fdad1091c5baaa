"""The schema built by the migrations is the schema the models declare, on both engines."""

from __future__ import annotations

from pathlib import Path

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


def test_the_head_a_start_trusts_is_alembics_head(any_engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from rxtrace.trace.store.db import HEAD_REVISION, alembic_config, current_revision

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
    assert current_revision(any_engine) == HEAD_REVISION  # a migrated database is found current


def test_a_new_database_is_migrated_and_a_current_one_left_alone(tmp_path: Path) -> None:
    from rxtrace.trace.store.db import HEAD_REVISION, current_revision, make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == HEAD_REVISION
    migrate(engine)  # the fast path: nothing to do
    assert current_revision(engine) == HEAD_REVISION
