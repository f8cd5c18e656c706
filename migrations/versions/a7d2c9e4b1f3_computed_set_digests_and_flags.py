"""Computed sets keep the SHA-256 of their SDF; molecules get flags

computed_sets.sdf_sha256: the same file uploaded again to the same target is recognised
(refused unless the uploader ticks "upload anyway"). Sets stored before have none (NULL)
and are not compared.

computed_molecules.flags: the problems found on import (disconnected, lost aromaticity,
DDG > 0, non-finite numbers), a JSON list of names; NULL for molecules stored before.

Revision ID: a7d2c9e4b1f3
Revises: ede5c5fbcb10
Create Date: 2026-12-03 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a7d2c9e4b1f3"
down_revision = "ede5c5fbcb10"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("computed_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sdf_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_computed_sets_target_id_sdf_sha256", ["target_id", "sdf_sha256"], unique=False
        )
    with op.batch_alter_table("computed_molecules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("computed_molecules", schema=None) as batch_op:
        batch_op.drop_column("flags")
    with op.batch_alter_table("computed_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_computed_sets_target_id_sdf_sha256")
        batch_op.drop_column("sdf_sha256")
