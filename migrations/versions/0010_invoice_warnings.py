"""Refuse what the SDI refuses, and nothing more (#17.1): the hub's advice kept with the invoice as warnings,
and the warnings a customer holds as errors.

Revision ID: 0010_invoice_warnings
Revises: 0008_acted_by
Create Date: 2026-12-06

invoices.warnings: a JSON list of {field, message, code} ("[]" for invoices before it);
tenants.strict_warnings: comma-separated warning codes (hub:total, hub:due-date, hub:rounding), "" = none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_invoice_warnings"
down_revision = "0008_acted_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("warnings", sa.Text(), nullable=False, server_default="[]"))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("strict_warnings", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("strict_warnings")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("warnings")
