"""the leads' basis: cards given baskets that do not look like a treatment, and each drug's
usual and plausible quantity per window

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty until the next build: the basis' own version makes the next run build it again.
    op.create_table(
        "lead_basis_mix",
        sa.Column("psn_no", sa.String(length=64), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=64), nullable=False),
        sa.Column("windows", sa.BigInteger(), nullable=False),
        sa.Column("baskets", sa.BigInteger(), nullable=False),
        sa.Column("drugs", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("core_lines", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("psn_no", "fixmedins_code", name=op.f("pk_lead_basis_mix")),
    )
    op.create_table(
        "lead_basis_drug",
        sa.Column("med_list_codg", sa.String(length=64), nullable=False),
        sa.Column("typical", sa.Float(), nullable=True),
        sa.Column("plausible", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("med_list_codg", name=op.f("pk_lead_basis_drug")),
    )


def downgrade() -> None:
    op.drop_table("lead_basis_drug")
    op.drop_table("lead_basis_mix")
