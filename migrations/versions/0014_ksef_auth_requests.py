"""A Polish customer's certificate request signed by the customer itself (#14.2): the challenge we handed out
and, once signed, the AuthTokenRequest (sealed) under the request's operation id, used once.

Revision ID: 0014_ksef_auth_requests
Revises: 0014_ksef_credentials
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_ksef_auth_requests"
down_revision = "0014_ksef_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ksef_auth_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("challenge", sa.String(36), nullable=False, unique=True),
        sa.Column("challenge_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(320), nullable=False),
        sa.Column("operation_id", sa.String(64), nullable=True, unique=True),
        sa.Column("signed_sealed", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ksef_auth_requests")
