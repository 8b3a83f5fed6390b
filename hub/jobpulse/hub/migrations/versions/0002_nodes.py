"""nodes: the newest host-metrics snapshot of each node

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
KW = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}
FLOATS = ("cpu_percent", "memory_percent", "memory_used_mb", "memory_total_mb", "disk_percent", "disk_used_gb",
          "disk_total_gb")
RATES = ("network_rx_rate_mbps", "network_tx_rate_mbps")
LOADS = ("load_avg_1m", "load_avg_5m", "load_avg_15m")


def _node_id_type():
    # Node names compare byte for byte, as job ids do (0001: a NO PAD binary collation).
    dialect = op.get_bind().dialect
    if dialect.name not in ("mysql", "mariadb"):
        return sa.String(191)
    collation = "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
    return mysql.VARCHAR(191, collation=collation)


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("node_id", _node_id_type(), primary_key=True),
        *[sa.Column(name, sa.Double(), nullable=True) for name in FLOATS],
        sa.Column("network_rx_bytes", sa.BigInteger(), nullable=True),
        sa.Column("network_tx_bytes", sa.BigInteger(), nullable=True),
        *[sa.Column(name, sa.Double(), nullable=True) for name in RATES],
        sa.Column("uptime_seconds", sa.BigInteger(), nullable=True),
        sa.Column("process_count", sa.Integer(), nullable=True),
        sa.Column("active_connections", sa.Integer(), nullable=True),
        *[sa.Column(name, sa.Double(), nullable=True) for name in LOADS],
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        **KW,
    )
    op.create_index("ix_nodes_last_seen_at", "nodes", ["last_seen_at"])


def downgrade() -> None:
    op.drop_table("nodes")
