"""Annotation projects, datasets, images and COCO exports (SPEC S4-S7)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 21:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("annotation_projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annotation_projects_owner"), ["owner"], unique=False)

    op.create_table(
        "annotation_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("source_dataset_id", sa.Integer(), nullable=True),
        sa.Column("source_version", sa.Integer(), nullable=True),
        sa.Column("data_type", sa.String(length=16), nullable=False),
        sa.Column("object_types", sa.JSON(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["annotation_projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name"),
    )
    with op.batch_alter_table("annotation_datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annotation_datasets_owner"), ["owner"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_annotation_datasets_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "annotation_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=1024), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("shapes", sa.JSON(), nullable=False),
        sa.Column("labeled_by", sa.String(length=64), nullable=True),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["annotation_datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "file_name"),
    )
    with op.batch_alter_table("annotation_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annotation_images_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_annotation_images_state"), ["state"], unique=False)

    op.create_table(
        "annotation_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("annotations", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("result_dataset_id", sa.Integer(), nullable=True),
        sa.Column("result_version", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["annotation_datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("annotation_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annotation_exports_dataset_id"), ["dataset_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("annotation_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_exports_dataset_id"))
    op.drop_table("annotation_exports")
    with op.batch_alter_table("annotation_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_images_state"))
        batch_op.drop_index(batch_op.f("ix_annotation_images_dataset_id"))
    op.drop_table("annotation_images")
    with op.batch_alter_table("annotation_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_datasets_project_id"))
        batch_op.drop_index(batch_op.f("ix_annotation_datasets_owner"))
    op.drop_table("annotation_datasets")
    with op.batch_alter_table("annotation_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_projects_owner"))
    op.drop_table("annotation_projects")
