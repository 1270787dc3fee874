"""Certificates (requested or uploaded) and revocation requests.

Revision ID: 0002_certificates
Revises: 0001_tenants
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_certificates"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operation_id", sa.String(48), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(1000), nullable=False),
        sa.Column("csr_sha256", sa.String(64), nullable=True),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("issuer", sa.String(1000), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(30), nullable=True),
        sa.Column("revoked_by", sa.String(120), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_certificates_tenant_id_tenants"),
        sa.UniqueConstraint("operation_id", name="uq_certificates_operation_id"),
    )
    op.create_index("ix_certificates_tenant_id", "certificates", ["tenant_id"])
    op.create_table(
        "certificate_revocation_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.String(48), nullable=True),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("cumulative", sa.Boolean(), nullable=False),
        sa.Column("revoked_count", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_certificate_revocation_requests"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_certificate_revocation_requests_tenant_id_tenants"),
    )
    op.create_index("ix_certificate_revocation_requests_tenant_id", "certificate_revocation_requests",
                    ["tenant_id"])


def downgrade() -> None:
    op.drop_table("certificate_revocation_requests")
    op.drop_table("certificates")
