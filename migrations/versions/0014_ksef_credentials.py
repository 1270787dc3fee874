"""A Polish customer's KSeF token (#14), sealed: what the worker logs in to KSeF with for the customer.

Revision ID: 0014_ksef_credentials
Revises: 0001_tenants
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_ksef_credentials"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ksef_credentials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False, unique=True),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(320), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ksef_credentials")
