"""The download from KSeF (#14.4): `ksef_downloads.key_alias` dropped. It was written and never read: the rounds
log in with the customer's KSeF token, and KSEF_KEY_ALIAS, which filled it, is gone.

Revision ID: 0015_ksef_download_no_key_alias
Revises: 0014_ksef_download_range_from
Create Date: 2026-12-07

On SQLite the column is dropped in place (ALTER TABLE ... DROP COLUMN, SQLite 3.35+), not by batch mode's
copy of the table: `ksef_received.download_id` references ksef_downloads with ON DELETE SET NULL, and with
foreign keys on, dropping the old copy would empty that column of every invoice taken.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_ksef_download_no_key_alias"
down_revision = "0014_ksef_download_range_from"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ksef_downloads", recreate="never") as batch:
        batch.drop_column("key_alias")


def downgrade() -> None:
    # back as the old code filled it (KSEF_KEY_ALIAS's default, ksef-<NIP>)
    with op.batch_alter_table("ksef_downloads", recreate="never") as batch:
        batch.add_column(sa.Column("key_alias", sa.String(128), nullable=False, server_default=""))
    op.execute("UPDATE ksef_downloads SET key_alias = 'ksef-' || (SELECT substr(tenants.vat_number, 3) FROM tenants "
               "WHERE tenants.id = ksef_downloads.tenant_id)")
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot drop a default in place
        op.alter_column("ksef_downloads", "key_alias", server_default=None)
