"""KSeF's announcements of unavailability and failure (#14.3), recorded by the intermediary's operator.

Revision ID: 0016_ksef_outages
Revises: 0001_tenants
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_ksef_outages"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ksef_outages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("recorded_by", sa.String(320), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.String(320), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ksef_outages")
