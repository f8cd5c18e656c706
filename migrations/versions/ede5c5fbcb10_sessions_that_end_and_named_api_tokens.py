"""Sessions that end; API tokens with a name, an expiry and revocation; disabled users

users.session_generation is part of the id every session cookie carries: raising it (log
out, an admin's "end sessions", disabling) refuses every cookie issued before. Cookies from
before this migration carry a bare id, read as generation 0, so nobody is logged out by the
upgrade. users.disabled: when the account was disabled (its cookies and tokens refused).

api_tokens gets a name (unique among a user's unrevoked tokens; existing tokens are called
``token-`` and the first 8 hex digits of their hash, as unnamed new ones are), an optional
expiry and the time it was revoked.

Revision ID: ede5c5fbcb10
Revises: 3c1f0a9d2e71
Create Date: 2026-12-02 07:22:33
"""

import sqlalchemy as sa
from alembic import op

revision = "ede5c5fbcb10"
down_revision = "3c1f0a9d2e71"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("disabled", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("expires", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE api_tokens SET name = 'token-' || substr(token_hash, 1, 8)")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=100), nullable=False)
        batch_op.create_index(
            "uq_api_tokens_user_id_name_live",
            ["user_id", "name"],
            unique=True,
            sqlite_where=sa.text("revoked IS NULL"),
            postgresql_where=sa.text("revoked IS NULL"),
        )


def downgrade():
    # Revoked tokens would be accepted again once the column is gone: delete them first
    op.execute("DELETE FROM api_tokens WHERE revoked IS NOT NULL")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index("uq_api_tokens_user_id_name_live")
        batch_op.drop_column("revoked")
        batch_op.drop_column("expires")
        batch_op.drop_column("name")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled")
        batch_op.drop_column("session_generation")
