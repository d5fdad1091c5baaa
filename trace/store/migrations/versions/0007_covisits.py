"""the leads' basis: cards that come together, a card's visits per drug, doctors' fund share
and bursts

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a basis built before this revision has no such figures; the basis's own
    # version makes the next run build it again.
    with op.batch_alter_table("lead_basis_doctor") as batch:
        batch.add_column(sa.Column("fund_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("billed_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("setls", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("bursts", sa.BigInteger(), nullable=True))
    op.create_table(
        "lead_basis_covisit",
        sa.Column("psn_a", sa.String(length=64), nullable=False),
        sa.Column("psn_b", sa.String(length=64), nullable=False),
        sa.Column("days", sa.BigInteger(), nullable=False),
        sa.Column("institutions", sa.BigInteger(), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("psn_a", "psn_b", name=op.f("pk_lead_basis_covisit")),
    )
    op.create_table(
        "lead_basis_visits",
        sa.Column("psn_no", sa.String(length=64), nullable=False),
        sa.Column("med_list_codg", sa.String(length=64), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("institutions", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=True),
        sa.Column("first_day", sa.BigInteger(), nullable=False),
        sa.Column("last_day", sa.BigInteger(), nullable=False),
        sa.Column("typical", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("psn_no", "med_list_codg", name=op.f("pk_lead_basis_visits")),
    )


def downgrade() -> None:
    op.drop_table("lead_basis_visits")
    op.drop_table("lead_basis_covisit")
    with op.batch_alter_table("lead_basis_doctor") as batch:
        batch.drop_column("bursts")
        batch.drop_column("setls")
        batch.drop_column("billed_fen")
        batch.drop_column("fund_fen")
