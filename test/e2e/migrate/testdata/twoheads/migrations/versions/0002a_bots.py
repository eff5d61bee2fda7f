"""branch a

Revision ID: 0002a
Revises: 0001
"""
revision = "0002a"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
