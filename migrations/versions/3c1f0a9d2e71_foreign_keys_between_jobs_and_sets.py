"""Foreign keys between job requests and computed sets; drop the RQ job id columns

computed_sets.job_request_id -> job_requests.id and job_requests.computed_set_id ->
computed_sets.id, both ON DELETE SET NULL, so deleting a set leaves its job with no
dangling id (the "retry import" button comes back) and deleting a job keeps its set.
Ids that already point nowhere are cleared first. RQ job ids are now derived from the row
(``transfer-<id>``, ``launch-<id>``), so the stored copies go.

Revision ID: 3c1f0a9d2e71
Revises: 227bdc15bc87
Create Date: 2026-12-02 01:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "3c1f0a9d2e71"
down_revision = "227bdc15bc87"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE job_requests SET computed_set_id = NULL WHERE computed_set_id IS NOT NULL "
        "AND computed_set_id NOT IN (SELECT id FROM computed_sets)"
    )
    op.execute(
        "UPDATE computed_sets SET job_request_id = NULL WHERE job_request_id IS NOT NULL "
        "AND job_request_id NOT IN (SELECT id FROM job_requests)"
    )
    with op.batch_alter_table("job_requests", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_job_requests_computed_set_id_computed_sets"),
            "computed_sets",
            ["computed_set_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_column("rq_job_id")
    with op.batch_alter_table("computed_sets", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_computed_sets_job_request_id_job_requests"),
            "job_requests",
            ["job_request_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("job_file_transfers", schema=None) as batch_op:
        batch_op.drop_column("rq_job_id")


def downgrade():
    with op.batch_alter_table("job_file_transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rq_job_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("computed_sets", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_computed_sets_job_request_id_job_requests"), type_="foreignkey"
        )
    with op.batch_alter_table("job_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rq_job_id", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(
            batch_op.f("fk_job_requests_computed_set_id_computed_sets"), type_="foreignkey"
        )
