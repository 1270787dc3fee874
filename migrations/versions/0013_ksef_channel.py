"""KSeF as an invoice channel (#14.3): the interactive sessions (their AES key sealed) and the invoices sent
in them (KSeF's reference, the KSeF number, the UPO file, or KSeF's refusal); and an archival package's
document type widened from FatturaPA's TipoDocumento (TD01, 4 characters) to take every FA(3) RodzajFaktury
the archive index allows (KOR_ZAL, KOR_ROZ: 7), so any FA(3) invoice is conserved like an Italian one.

Revision ID: 0013_ksef_channel
Revises: 0001_tenants
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_ksef_channel"
down_revision = "0001_tenants"
branch_labels = None
depends_on = ("0004_invoices", "0009_package_requested_by")  # invoices referenced; archive_packages altered


def upgrade() -> None:
    op.create_table(
        "ksef_sessions",
        sa.Column("reference_number", sa.String(60), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("opening_key", sa.String(250), nullable=False, unique=True),
        sa.Column("key_sealed", sa.Text(), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ksef_sessions_tenant_id", "ksef_sessions", ["tenant_id"])
    op.create_table(
        "ksef_invoices",
        sa.Column("invoice_id", sa.String(60), sa.ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("session_reference", sa.String(60), nullable=False),
        sa.Column("invoice_reference", sa.String(60), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("ksef_number", sa.String(40), nullable=True, unique=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("status_description", sa.Text(), nullable=True),
        sa.Column("upo_file_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ksef_invoices_session_reference", "ksef_invoices", ["session_reference"])
    with op.batch_alter_table("archive_packages") as batch:
        batch.alter_column("document_type", type_=sa.String(12), existing_type=sa.String(4), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("archive_packages") as batch:
        batch.alter_column("document_type", type_=sa.String(4), existing_type=sa.String(12), existing_nullable=False)
    op.drop_table("ksef_invoices")
    op.drop_table("ksef_sessions")
