"""The download from KSeF (#14.4): each download's cursor (the customer's schedule, each range) and every
invoice taken, unique per customer by its KSeF number.

Revision ID: 0013_ksef_download
Revises: 0001_tenants
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_ksef_download"
down_revision = "0001_tenants"
branch_labels = None
depends_on = ("0004_invoices", "0006_identity")  # invoices.id and users.id are referenced


def upgrade() -> None:
    op.create_table(
        "ksef_downloads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("key_alias", sa.String(128), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("range_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("every_minutes", sa.Integer(), nullable=True),
        sa.Column("date_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("page_offset", sa.Integer(), nullable=False),
        sa.Column("at_hwm", sa.Boolean(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_taken", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("tenant_id", "name", name="uq_ksef_downloads_tenant_name"),
    )
    op.create_table(
        "ksef_received",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ksef_number", sa.String(40), nullable=False),
        sa.Column("invoice_id", sa.String(60), sa.ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("download_id", sa.Integer(), sa.ForeignKey("ksef_downloads.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("invoice_number", sa.String(256), nullable=False),
        sa.Column("invoice_type", sa.String(10), nullable=False),
        sa.Column("permanent_storage_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle_started", sa.Boolean(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "ksef_number", name="uq_ksef_received_tenant_number"),
    )
    op.create_index("ix_ksef_received_download_id", "ksef_received", ["download_id"])
    op.create_index("ix_ksef_received_cycle_started", "ksef_received", ["cycle_started"])


def downgrade() -> None:
    op.drop_table("ksef_received")
    op.drop_table("ksef_downloads")
