"""The customer's profile confirmations (seed 001, #16): who confirmed its data and accepted which version of
the conditions, when, and the data confirmed (its address included).

Revision ID: 0013_tenant_confirmation
Revises: 0001_tenants
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_tenant_confirmation"
down_revision = "0001_tenants"
branch_labels = None
depends_on = "0006_identity"  # user_id references users


def upgrade() -> None:
    op.create_table(
        "tenant_confirmations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_by", sa.String(120), nullable=False),
        sa.Column("surface", sa.String(20), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conditions_version", sa.String(20), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("pec", sa.String(254), nullable=False),
        sa.Column("sdi_code", sa.String(7), nullable=True),
        sa.Column("street", sa.String(60), nullable=False),
        sa.Column("postcode", sa.String(10), nullable=False),
        sa.Column("city", sa.String(60), nullable=False),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_confirmations"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_tenant_confirmations_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_tenant_confirmations_user_id_users"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_tenant_confirmations_tenant_number"),
    )
    op.create_index("ix_tenant_confirmations_tenant_id", "tenant_confirmations", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("tenant_confirmations")
