"""The in-stack sync's targets (#15.2): one per customer, its database URL sealed.

Revision ID: 0012_sync_targets
Revises: 0011_change_feed
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_sync_targets"
down_revision = "0011_change_feed"
branch_labels = None
depends_on = "0006_identity"  # scheduled_by references users


def upgrade() -> None:
    op.create_table(
        "sync_targets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False, unique=True),
        sa.Column("database_url_sealed", sa.Text(), nullable=False),
        sa.Column("database_label", sa.String(300), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("scheduled_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_applied", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_behind", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sync_targets")
