"""jobs, job_disks, pipeline_state, settings

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None



def _job_id_type():
    """Job ids compare byte for byte, trailing spaces included: a NO PAD binary collation."""
    dialect = op.get_bind().dialect
    if dialect.name not in ("mysql", "mariadb"):
        return sa.String(191)
    collation = "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
    return mysql.VARCHAR(191, collation=collation)

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
PCT = sa.Numeric(5, 2)
KW = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    JOB_ID = _job_id_type()
    op.create_table(
        "jobs",
        sa.Column("id", JOB_ID, primary_key=True),
        sa.Column("job_type", sa.String(32), nullable=False),
        sa.Column("machine", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("current_phase", sa.String(32), nullable=False, server_default="pending"),
        sa.Column("bytes_transferred", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("total_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("transfer_speed_bps", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("eta_seconds", sa.Integer, nullable=True),
        sa.Column("progress_percent", PCT, nullable=False, server_default="0"),
        sa.Column("average_speed_bps", sa.BigInteger, nullable=True),
        sa.Column("duration_seconds", sa.Double, nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("last_telemetry_at", TS, nullable=True),
        sa.Column("last_progress_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        **KW,
    )
    op.create_index("ix_jobs_status_last_telemetry", "jobs", ["status", "last_telemetry_at"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_machine_status", "jobs", ["machine", "status"])
    op.create_table(
        "job_disks",
        sa.Column("job_id", JOB_ID, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("disk_index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes_transferred", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("progress_percent", PCT, nullable=False, server_default="0"),
        **KW,
    )
    op.create_table(
        "pipeline_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_reconcile_at", TS, nullable=True),
        sa.Column("newest_point_at", TS, nullable=True),
        sa.Column("reconciler_id", sa.String(64), nullable=True),
        sa.Column("updated_at", TS, nullable=True),
        **KW,
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        **KW,
    )
    op.bulk_insert(
        sa.table("pipeline_state", sa.column("id", sa.Integer)), [{"id": 1}]
    )
    op.bulk_insert(
        sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.String)),
        [
            {"key": "stalled_after_seconds", "value": "60"},
            {"key": "failed_after_seconds", "value": "300"},
        ],
    )


def downgrade() -> None:
    op.drop_table("settings")
    op.drop_table("pipeline_state")
    op.drop_table("job_disks")
    op.drop_index("ix_jobs_machine_status", table_name="jobs")
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.drop_index("ix_jobs_status_last_telemetry", table_name="jobs")
    op.drop_table("jobs")
