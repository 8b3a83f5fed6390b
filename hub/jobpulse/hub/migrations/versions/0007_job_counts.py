"""job_counts: the number of jobs in each status, kept by the hub's writers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Every status a job can have (jobpulse.semconv.Status), written out: a migration must not
# change when the code it was written against does.
STATUSES = ("pending", "running", "stalled", "completed", "failed", "cancelled")


def upgrade() -> None:
    table = op.create_table(
        "job_counts",
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False, server_default="0"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    counted = dict(op.get_bind().execute(sa.text("SELECT status, COUNT(*) FROM jobs GROUP BY status")).all())
    rows = [{"status": s, "n": counted.pop(s, 0)} for s in STATUSES]
    rows += [{"status": s, "n": n} for s, n in sorted(counted.items())]
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("job_counts")
