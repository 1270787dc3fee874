"""Who acted for whom (#12.6): the user a conserved document was made by, with its archival package.

Revision ID: 0009_package_requested_by
Revises: 0005_conservation
Create Date: 2026-12-06

Packages conserved before it name nobody ("").
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_package_requested_by"
down_revision = "0005_conservation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("archive_packages") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(300), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("archive_packages") as batch:
        batch.drop_column("requested_by")
