"""the leads' basis: per-institution, per-card, per-doctor and per-window figures kept between
runs, and the candidate codes

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "lead_basis_code",
        sa.Column("key_hi", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key_lo", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("key_hi", "key_lo", name=op.f("pk_lead_basis_code")),
    )
    op.create_table(
        "lead_basis_institution",
        sa.Column("fixmedins_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        *_counts(
            "setls",
            "cards",
            "boxes",
            "sale_rows",
            "card_days",
            "no_visit",
            "shared_visit",
            "short",
            "short_same",
            "long",
            "long_same",
        ),
        sa.Column("modal_ndrug", sa.BigInteger(), nullable=True),
        sa.Column("modal_dmin", sa.String(length=64), nullable=True),
        sa.Column("modal_dmax", sa.String(length=64), nullable=True),
        sa.Column("modal_boxes", sa.BigInteger(), nullable=True),
        sa.Column("modal_cards", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("fixmedins_code", name=op.f("pk_lead_basis_institution")),
    )
    op.create_table(
        "lead_basis_window",
        sa.Column("psn_no", sa.String(length=64), nullable=False),
        sa.Column("med_list_codg", sa.String(length=64), nullable=False),
        sa.Column("grid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("institutions", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=True),
        sa.Column("typical", sa.Float(), nullable=True),
        sa.Column("plausible", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "psn_no", "med_list_codg", "grid", "bucket", name=op.f("pk_lead_basis_window")
        ),
    )
    op.create_table(
        "lead_basis_card",
        sa.Column("psn_no", sa.String(length=64), nullable=False),
        sa.Column("sale_rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("psn_no", name=op.f("pk_lead_basis_card")),
    )
    op.create_table(
        "lead_basis_doctor",
        sa.Column("dr_code", sa.String(length=64), nullable=False),
        sa.Column("sale_rows", sa.BigInteger(), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("dr_code", name=op.f("pk_lead_basis_doctor")),
    )


def downgrade() -> None:
    for table in (
        "lead_basis_doctor",
        "lead_basis_card",
        "lead_basis_window",
        "lead_basis_institution",
        "lead_basis_code",
    ):
        op.drop_table(table)
