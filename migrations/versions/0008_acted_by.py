"""Who acted for whom (#12.6): the user who sent an invoice, as the audit trail names users.

Revision ID: 0008_acted_by
Revises: 0004_invoices
Create Date: 2026-12-06

Invoices sent before it name nobody ("").
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_acted_by"
down_revision = "0004_invoices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("created_by", sa.String(300), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("created_by")
