"""The download from KSeF (#14.4): where each download began (`range_from`), shown beside its cursor.

Revision ID: 0014_ksef_download_range_from
Revises: 0013_ksef_download
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_ksef_download_range_from"
down_revision = "0013_ksef_download"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ksef_downloads") as batch:
        batch.add_column(sa.Column("range_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ksef_downloads") as batch:
        batch.drop_column("range_from")
