"""Contract orders, their history (events) and the acceptance tokens sent for them.

Revision ID: 0003_contracts
Revises: 0001_tenants
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_contracts"
down_revision = "0001_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("vat_number", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(80), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_nonce", sa.String(64), nullable=True),
        sa.Column("accepted_ip", sa.String(64), nullable=True),
        sa.Column("accepted_user_agent", sa.String(300), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contract_orders"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_contract_orders_tenant_id_tenants"),
        sa.UniqueConstraint("order_id", name="uq_contract_orders_order_id"),
        sa.UniqueConstraint("run_id", name="uq_contract_orders_run_id"),
    )
    op.create_index("ix_contract_orders_tenant_id", "contract_orders", ["tenant_id"])
    op.create_table(
        "contract_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_pk", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contract_events"),
        sa.ForeignKeyConstraint(["order_pk"], ["contract_orders.id"], ondelete="CASCADE",
                                name="fk_contract_events_order_pk_contract_orders"),
        sa.UniqueConstraint("order_pk", "key", name="uq_contract_events_order_key"),
    )
    op.create_index("ix_contract_events_order_pk", "contract_events", ["order_pk"])
    op.create_table(
        "contract_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_pk", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contract_tokens"),
        sa.ForeignKeyConstraint(["order_pk"], ["contract_orders.id"], ondelete="CASCADE",
                                name="fk_contract_tokens_order_pk_contract_orders"),
        sa.UniqueConstraint("nonce", name="uq_contract_tokens_nonce"),
    )
    op.create_index("ix_contract_tokens_order_pk", "contract_tokens", ["order_pk"])


def downgrade() -> None:
    op.drop_table("contract_tokens")
    op.drop_table("contract_events")
    op.drop_table("contract_orders")
