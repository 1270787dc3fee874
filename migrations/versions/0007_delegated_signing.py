"""A customer's grant of delegated signing (firma delegata): the intermediary's key signs its invoices.

Revision ID: 0007_delegated_signing
Revises: 0006_identity
Create Date: 2026-12-06

Existing customers start without it: the intermediary's key is refused for them until the customer grants it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_delegated_signing"
down_revision = "0006_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("delegated_signing", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("delegated_signing")
