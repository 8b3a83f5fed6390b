"""jobs: deadline, predicted completion, usual speed, and the late/slow warnings

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TIMES = ("deadline", "predicted_completion_at", "predicted_completion_latest_at", "past_deadline_since",
          "below_usual_since", "late_since", "slow_since")


def upgrade() -> None:
    dialect = op.get_bind().dialect
    time_type = mysql.DATETIME(fsp=6) if dialect.name in ("mysql", "mariadb") else sa.DateTime()
    with op.batch_alter_table("jobs") as batch:
        for name in _TIMES[:3]:
            batch.add_column(sa.Column(name, time_type, nullable=True))
        batch.add_column(sa.Column("usual_speed_bps", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("speed_vs_usual", sa.Double(), nullable=True))
        for name in _TIMES[3:5]:
            batch.add_column(sa.Column(name, time_type, nullable=True))
        batch.add_column(sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("late_since", time_type, nullable=True))
        batch.add_column(sa.Column("slow", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("slow_since", time_type, nullable=True))
    op.create_index("ix_jobs_usual_speed", "jobs", ["machine", "job_type", "status", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_usual_speed", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for name in ("slow_since", "slow", "late_since", "late", "below_usual_since", "past_deadline_since",
                     "speed_vs_usual", "usual_speed_bps") + _TIMES[2::-1]:
            batch.drop_column(name)
