"""the leads' basis: what each institution billed and what the fund paid of it

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a basis built before this revision has no such figures; the basis's own
    # version makes the next run build it again.
    with op.batch_alter_table("lead_basis_institution") as batch:
        batch.add_column(sa.Column("fund_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("billed_fen", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lead_basis_institution") as batch:
        batch.drop_column("billed_fen")
        batch.drop_column("fund_fen")
