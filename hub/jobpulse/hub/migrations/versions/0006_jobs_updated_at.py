"""jobs: an index on (updated_at, id) for the live job list

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_updated_at", "jobs", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_updated_at", table_name="jobs")
