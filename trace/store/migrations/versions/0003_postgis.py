"""PostGIS on the server, where it is installed.

On PostgreSQL the spatial joins of ``rxtrace.geo`` run in SQL when the extension exists; this
creates it when the server offers it and the role may. SQLite, and a server without PostGIS,
keep the same tables and compute the same results in Python.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    offered = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
    if offered is None:
        return
    # A role that may not create extensions still gets a working schema: geo falls back to Python.
    with bind.begin_nested() as savepoint:
        try:
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except sa.exc.DBAPIError:
            savepoint.rollback()


def downgrade() -> None:
    # Other things in the database may use PostGIS; dropping it is the administrator's call.
    pass
