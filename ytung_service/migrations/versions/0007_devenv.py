"""Dev environments, saved images, the Privilege Job setting (SPEC D1–D9, I1, U1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devenvs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("code_dir", sa.String(length=1024), nullable=False),
        sa.Column("engine_source", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=512), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=False),
        sa.Column("engine_type", sa.String(length=64), nullable=False),
        sa.Column("job_type", sa.String(length=16), nullable=False),
        sa.Column("vc", sa.String(length=64), nullable=False),
        sa.Column("device_type", sa.String(length=64), nullable=True),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("devices_per_node", sa.Integer(), nullable=False),
        sa.Column("preemptible", sa.Boolean(), nullable=False),
        sa.Column("privileged", sa.Boolean(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("ssh_port", sa.Integer(), nullable=True),
        sa.Column("ssh_password", sa.String(length=128), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name"),
    )
    with op.batch_alter_table("devenvs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devenvs_owner"), ["owner"], unique=False)
    op.create_table(
        "saved_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("from_devenv", sa.String(length=128), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=False),
        sa.Column("engine_type", sa.String(length=64), nullable=False),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        sa.Column("start_command", sa.JSON(), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name", "version"),
    )
    with op.batch_alter_table("saved_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_images_owner"), ["owner"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("privilege_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("privilege_enabled")
    with op.batch_alter_table("saved_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_images_owner"))
    op.drop_table("saved_images")
    with op.batch_alter_table("devenvs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devenvs_owner"))
    op.drop_table("devenvs")
