"""An invoice's number as long as its standard allows: FA(3)'s P_2 takes up to 256 characters (TZnakowy),
FatturaPA's Numero 20. The column was FatturaPA's 20, and a KSeF invoice's number was cut to fit.

Revision ID: 0015_invoice_number_length
Revises: 0010_invoice_warnings
Create Date: 2026-12-07

PostgreSQL only: SQLite does not enforce a VARCHAR's length, and rebuilding `invoices` there (what a batch
alter does) would have to drop a table other tables reference.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_invoice_number_length"
down_revision = "0010_invoice_warnings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("invoices", "number", type_=sa.String(256), existing_type=sa.String(20),
                        existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE invoices SET number = left(number, 20) WHERE length(number) > 20")
        op.alter_column("invoices", "number", type_=sa.String(20), existing_type=sa.String(256),
                        existing_nullable=False)
