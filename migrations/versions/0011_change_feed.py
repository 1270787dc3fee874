"""The change feed (#15): entries written with each change to a customer's invoices, notifications, files,
certificates, contract and profile, and the per-customer retention horizon.

Revision ID: 0011_change_feed
Revises: 0001_tenants
Create Date: 2026-12-06

On PostgreSQL each entry stores its writer's transaction id (`pg_current_xact_id()`), the feed is read in
(xid, seq) order below the reader's snapshot xmin (models/feed.py). Changes made before this revision have
no entries: a client starts from the snapshot.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_change_feed"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_entries",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("xid", sa.BigInteger, nullable=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("op", sa.String(6), nullable=False),
        sa.Column("data", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    # the reader's order: per customer, by (transaction, sequence)
    op.create_index("ix_feed_entries_tenant_position", "feed_entries", ["tenant_id", "xid", "seq"])
    op.create_index("ix_feed_entries_created_at", "feed_entries", ["created_at"])
    op.create_table(
        "feed_horizons",
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("xid", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feed_horizons")
    op.drop_index("ix_feed_entries_created_at", "feed_entries")
    op.drop_index("ix_feed_entries_tenant_position", "feed_entries")
    op.drop_table("feed_entries")
