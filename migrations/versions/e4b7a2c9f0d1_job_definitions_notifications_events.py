"""Job definitions read from Squonk2, e-mail on job end, Squonk2 task events, missing files

- ``job_definitions``: the cache of Squonk2 job definitions (``get_job_by_version``), one
  row per Squonk2 URL and job version, refreshed on a schedule and by ``flask jobs refresh``;
- ``users.notify_by_email``: the settings page's default for "e-mail me when it ends";
- ``job_requests.notify_by_email`` / ``notified``: the launch's choice, and when the one
  e-mail for it was handed to the mail server (set once, by a conditional update);
- ``job_requests.squonk_event_ordinal``: the last Squonk2 task event stored with the job;
- ``job_file_transfers.files_missing``: the files the snapshot's proteins lack (not sent).

Revision ID: e4b7a2c9f0d1
Revises: c3e8f1a6d2b9
Create Date: 2026-12-03 11:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e4b7a2c9f0d1"
down_revision = "c3e8f1a6d2b9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "job_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("squonk_url", sa.String(length=500), nullable=False),
        sa.Column("collection", sa.String(length=100), nullable=False),
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("fetched", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_definitions")),
        sa.UniqueConstraint(
            "squonk_url", "collection", "job", "version", name="uq_job_definitions_version"
        ),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("notify_by_email", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("job_requests") as batch:
        batch.add_column(
            sa.Column("notify_by_email", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("notified", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("squonk_event_ordinal", sa.Integer(), nullable=True))
    with op.batch_alter_table("job_file_transfers") as batch:
        batch.add_column(sa.Column("files_missing", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("job_file_transfers") as batch:
        batch.drop_column("files_missing")
    with op.batch_alter_table("job_requests") as batch:
        batch.drop_column("squonk_event_ordinal")
        batch.drop_column("notified")
        batch.drop_column("notify_by_email")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notify_by_email")
    op.drop_table("job_definitions")
