"""Alembic environment: runs on the connection rxtrace hands over, or on RXTRACE_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from rxtrace.trace.store.db import include_object, make_engine
from rxtrace.trace.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("RXTRACE_DATABASE_URL", "sqlite:///rxtrace.db")
    with make_engine(url).begin() as conn:
        _run(conn)
