"""Large computed-set uploads are stored by a background task: computed_set_uploads

One row per upload handed to the task: its status and progress (what the progress page
polls), the staged files, the validation problems and the set it became.

Revision ID: c3e8f1a6d2b9
Revises: a7d2c9e4b1f3
Create Date: 2026-12-03 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c3e8f1a6d2b9"
down_revision = "a7d2c9e4b1f3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "computed_set_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("validate_only", sa.Boolean(), nullable=False),
        sa.Column("upload_anyway", sa.Boolean(), nullable=False),
        sa.Column("sdf_file", sa.String(length=500), nullable=True),
        sa.Column("zip_file", sa.String(length=500), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("computed_set_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["computed_set_id"],
            ["computed_sets.id"],
            name=op.f("fk_computed_set_uploads_computed_set_id_computed_sets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["targets.id"],
            name=op.f("fk_computed_set_uploads_target_id_targets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_computed_set_uploads_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_computed_set_uploads")),
    )
    with op.batch_alter_table("computed_set_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_computed_set_uploads_target_id"), ["target_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_computed_set_uploads_user_id"), ["user_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("computed_set_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_computed_set_uploads_user_id"))
        batch_op.drop_index(batch_op.f("ix_computed_set_uploads_target_id"))
    op.drop_table("computed_set_uploads")
