"""Conservation: archival packages on S3 and their objects.

Revision ID: 0005_conservation
Revises: 0001_tenants
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_conservation"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_packages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("package_id", sa.String(160), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("owner_kind", sa.String(40), nullable=False),
        sa.Column("owner_id", sa.String(120), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("prefix", sa.String(300), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("document_type", sa.String(4), nullable=False),
        sa.Column("document_number", sa.String(40), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("sender_vat", sa.String(30), nullable=False),
        sa.Column("recipient_id", sa.String(30), nullable=False),
        sa.Column("sdi_file_name", sa.String(200), nullable=False),
        sa.Column("sdi_id", sa.String(40), nullable=True),
        sa.Column("index_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_verify_ok", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_archive_packages"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="RESTRICT",
                                name="fk_archive_packages_tenant_id_tenants"),
        sa.UniqueConstraint("package_id", name="uq_archive_packages_package_id"),
        sa.UniqueConstraint("owner_kind", "owner_id", name="uq_archive_packages_owner"),
    )
    op.create_index("ix_archive_packages_tenant_id", "archive_packages", ["tenant_id"])
    op.create_index("ix_archive_packages_document_date", "archive_packages", ["document_date"])
    op.create_table(
        "archive_objects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("package_ref", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("version_id", sa.String(200), nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("is_index", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_archive_objects"),
        sa.ForeignKeyConstraint(["package_ref"], ["archive_packages.id"], ondelete="CASCADE",
                                name="fk_archive_objects_package_ref_archive_packages"),
        sa.UniqueConstraint("package_ref", "name", name="uq_archive_objects_package_name"),
    )
    op.create_index("ix_archive_objects_package_ref", "archive_objects", ["package_ref"])


def downgrade() -> None:
    op.drop_table("archive_objects")
    op.drop_table("archive_packages")
