"""SQLAlchemy 2 models of the hub's MySQL schema (the contract Grafana panels and alert
rules query). All times are naive UTC ``DATETIME(6)``.

Job ids compare byte-for-byte on MySQL (the migration picks a NO PAD binary collation,
``utf8mb4_nopad_bin`` on MariaDB): the default case-insensitive, pad-space collations
would merge ``Job-A``, ``job-a`` and ``job-a `` into one row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JOB_ID = String(191).with_variant(mysql.VARCHAR(191, collation="utf8mb4_bin"), "mysql", "mariadb")
UTC_DATETIME = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
PERCENT = Numeric(5, 2, asdecimal=False)

TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}

PIPELINE_ROW_ID = 1
SETTING_STALLED_AFTER = "stalled_after_seconds"
SETTING_FAILED_AFTER = "failed_after_seconds"
SETTING_STUCK_AFTER = "stuck_after_seconds"
SETTING_PIPELINE_FRESH = "pipeline_fresh_seconds"
SETTING_NODE_DOWN_AFTER = "node_down_after_seconds"
SETTING_LATE_AFTER = "late_after_seconds"
SETTING_SLOW_AFTER = "slow_after_seconds"
SETTING_SLOW_RATIO = "slow_speed_ratio"
SETTING_UNKNOWN_JOBS = "unknown_jobs_ignored"
# Counters added to by every hub replica (legacy posts) and the leader (reconcile cycles).
SETTING_LATE_POINTS = "late_points_ignored"
SETTING_INVALID_JOB_IDS = "invalid_job_ids_ignored"
SETTING_CONFLICTING_POINTS = "conflicting_sender_points_ignored"
SETTING_PIPELINE_ALERT = "pipeline_alert_firing_since"


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_last_telemetry", "status", "last_telemetry_at"),
        # The list endpoint pages newest first: (created_at, id) DESC straight from this index.
        Index("ix_jobs_created_at", "created_at", "id"),
        Index("ix_jobs_machine_status", "machine", "status"),
        # Usual speed: the newest completed jobs of one (machine, job type).
        Index("ix_jobs_usual_speed", "machine", "job_type", "status", "completed_at"),
        # The live job list: the rows changed since the last event.
        Index("ix_jobs_updated_at", "updated_at", "id"),
        TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(JOB_ID, primary_key=True)
    job_type: Mapped[str] = mapped_column(String(32))
    machine: Mapped[str] = mapped_column(String(255))
    node: Mapped[str | None] = mapped_column(JOB_ID, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    current_phase: Mapped[str] = mapped_column(String(32), default="pending")
    bytes_transferred: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    transfer_speed_bps: Mapped[int] = mapped_column(BigInteger, default=0)
    eta_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_percent: Mapped[float] = mapped_column(PERCENT, default=0.0)
    average_speed_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    started_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    last_telemetry_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    last_progress_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    predicted_completion_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    predicted_completion_latest_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    usual_speed_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    speed_vs_usual: Mapped[float | None] = mapped_column(Double, nullable=True)
    past_deadline_since: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    below_usual_since: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    late_since: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    slow: Mapped[bool] = mapped_column(Boolean, default=False)
    slow_since: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    sender: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conflicting_sender: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conflicting_sender_since: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME)

    disks: Mapped[list[JobDisk]] = relationship(
        back_populates="job", order_by="JobDisk.disk_index", cascade="all, delete-orphan"
    )


class JobDisk(Base):
    __tablename__ = "job_disks"
    __table_args__ = (TABLE_ARGS,)

    job_id: Mapped[str] = mapped_column(
        JOB_ID, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    disk_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_transferred: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    progress_percent: Mapped[float] = mapped_column(PERCENT, default=0.0)

    job: Mapped[Job] = relationship(back_populates="disks")


class Node(Base):
    """The newest snapshot of each host that runs jobs (the seed node daemon's field names)."""

    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_last_seen_at", "last_seen_at"), TABLE_ARGS)

    node_id: Mapped[str] = mapped_column(JOB_ID, primary_key=True)
    cpu_percent: Mapped[float | None] = mapped_column(Double, nullable=True)
    memory_percent: Mapped[float | None] = mapped_column(Double, nullable=True)
    memory_used_mb: Mapped[float | None] = mapped_column(Double, nullable=True)
    memory_total_mb: Mapped[float | None] = mapped_column(Double, nullable=True)
    disk_percent: Mapped[float | None] = mapped_column(Double, nullable=True)
    disk_used_gb: Mapped[float | None] = mapped_column(Double, nullable=True)
    disk_total_gb: Mapped[float | None] = mapped_column(Double, nullable=True)
    network_rx_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    network_tx_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    network_rx_rate_mbps: Mapped[float | None] = mapped_column(Double, nullable=True)
    network_tx_rate_mbps: Mapped[float | None] = mapped_column(Double, nullable=True)
    uptime_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    process_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active_connections: Mapped[int | None] = mapped_column(Integer, nullable=True)
    load_avg_1m: Mapped[float | None] = mapped_column(Double, nullable=True)
    load_avg_5m: Mapped[float | None] = mapped_column(Double, nullable=True)
    load_avg_15m: Mapped[float | None] = mapped_column(Double, nullable=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class JobCount(Base):
    """How many jobs are in each status, kept by every writer of ``jobs`` in its own transaction:
    the job list's count of all jobs (or of one status) is a read of one to six rows instead of a
    COUNT(*) over the table, which was most of MariaDB's time per page (0.9-1.0 of 1.2 ms at
    10 000 jobs). A writer outside the hub would leave it wrong: the leader recounts every minute
    (``Store.recount_jobs``)."""

    __tablename__ = "job_counts"
    __table_args__ = (TABLE_ARGS,)

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class PipelineState(Base):
    __tablename__ = "pipeline_state"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_reconcile_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    newest_point_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)
    reconciler_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, nullable=True)


class Setting(Base):
    __tablename__ = "settings"
    __table_args__ = (TABLE_ARGS,)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


jobs_table = Job.__table__
disks_table = JobDisk.__table__
job_counts_table = JobCount.__table__
pipeline_table = PipelineState.__table__
nodes_table = Node.__table__
settings_table = Setting.__table__
