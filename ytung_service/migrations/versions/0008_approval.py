"""Workload approval (VCs that need it, VC admins) and dev environments of hub spawns

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 00:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vcs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("vc_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("devenvs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hub_server", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devenvs", schema=None) as batch_op:
        batch_op.drop_column("hub_server")
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("approved_at")
    with op.batch_alter_table("vc_members", schema=None) as batch_op:
        batch_op.drop_column("admin")
    with op.batch_alter_table("vcs", schema=None) as batch_op:
        batch_op.drop_column("approval_required")
