"""create bots

Revision ID: 0002
Revises: 0001
"""
import os
import time

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    print("0002: creating table bots")
    # MIGRATE_SLEEP makes the migration take a while (tests of the lock and of Ctrl-C).
    time.sleep(float(os.environ.get("MIGRATE_SLEEP", "0")))
    op.create_table("bots", sa.Column("id", sa.Integer, primary_key=True), sa.Column("user_id", sa.Integer))


def downgrade():
    op.drop_table("bots")
