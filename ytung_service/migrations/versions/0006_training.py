"""Training jobs, parameter sets and job templates (SPEC T1–T7)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 21:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=True),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_jobs_owner"), ["owner"], unique=False)
    for table in ("training_param_sets", "training_templates"):
        columns = [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("owner", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("description", sa.Text(), nullable=False),
            sa.Column("spec", sa.JSON(), nullable=False),
            sa.Column("created", sa.DateTime(), nullable=False),
        ]
        if table == "training_param_sets":
            columns.append(sa.Column("updated", sa.DateTime(), nullable=False))
        op.create_table(
            table,
            *columns,
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("owner", "name"),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_owner"), ["owner"], unique=False)


def downgrade() -> None:
    for table in ("training_templates", "training_param_sets", "training_jobs"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_owner"))
        op.drop_table(table)
