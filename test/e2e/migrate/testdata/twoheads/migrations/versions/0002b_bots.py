"""branch b

Revision ID: 0002b
Revises: 0001
"""
revision = "0002b"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
