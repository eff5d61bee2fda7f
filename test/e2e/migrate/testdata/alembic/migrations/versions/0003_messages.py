"""create messages (fails on demand)

Revision ID: 0003
Revises: 0002
"""
import os

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    print("0003: creating table messages")
    op.create_table("messages", sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text))
    if os.environ.get("FAIL_REVISION") == "0003":
        print("0003: FAIL_REVISION=0003 set, failing on purpose")
        raise RuntimeError("migration 0003 failed on purpose (FAIL_REVISION=0003)")


def downgrade():
    op.drop_table("messages")
