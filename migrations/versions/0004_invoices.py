"""Invoices, their documents' keys, SDI progressives, the transmission outbox and the notification inbox.

Revision ID: 0004_invoices
Revises: 0001_tenants
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_invoices"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(60), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("file_name", sa.String(60), nullable=False),
        sa.Column("transmitter_id", sa.String(30), nullable=False),
        sa.Column("sign_mode", sa.String(10), nullable=False),
        sa.Column("key_alias", sa.String(128), nullable=True),
        sa.Column("format", sa.String(5), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("sdi_id", sa.BigInteger(), nullable=True),
        sa.Column("counterparty_name", sa.String(200), nullable=True),
        sa.Column("counterparty_vat", sa.String(30), nullable=True),
        sa.Column("recipient_code", sa.String(7), nullable=True),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("doc_date", sa.String(10), nullable=False),
        sa.Column("total", sa.String(20), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_invoices_tenant_id_tenants"),
    )
    op.create_index("ix_invoices_tenant_id", "invoices", ["tenant_id"])
    op.create_index("ix_invoices_file_name", "invoices", ["file_name"])
    op.create_table(
        "invoice_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("invoice_id", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoice_documents"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_invoice_documents_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ondelete="CASCADE",
                                name="fk_invoice_documents_invoice_id_invoices"),
        sa.UniqueConstraint("tenant_id", "key", name="uq_invoice_documents_tenant_key"),
    )
    op.create_index("ix_invoice_documents_invoice_id", "invoice_documents", ["invoice_id"])
    op.create_table(
        "sdi_progressives",
        sa.Column("transmitter_id", sa.String(30), nullable=False),
        sa.Column("last", sa.String(5), nullable=False),
        sa.PrimaryKeyConstraint("transmitter_id", name="pk_sdi_progressives"),
    )
    op.create_table(
        "sdi_transmissions",
        sa.Column("file_name", sa.String(60), nullable=False),
        sa.Column("invoice_id", sa.String(60), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("sdi_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.String(40), nullable=True),
        sa.Column("error", sa.String(10), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file_name", name="pk_sdi_transmissions"),
    )
    op.create_table(
        "sdi_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("invoice_id", sa.String(60), nullable=True),
        sa.Column("kind", sa.String(2), nullable=False),
        sa.Column("sdi_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("signaled", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sdi_notifications"),
        sa.UniqueConstraint("name", name="uq_sdi_notifications_name"),
    )
    op.create_index("ix_sdi_notifications_invoice_id", "sdi_notifications", ["invoice_id"])


def downgrade() -> None:
    op.drop_table("sdi_notifications")
    op.drop_table("sdi_transmissions")
    op.drop_table("sdi_progressives")
    op.drop_table("invoice_documents")
    op.drop_table("invoices")
