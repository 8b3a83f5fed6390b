"""jobs.node: the node (host.name) a job runs on

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect
    node_type = sa.String(191)
    if dialect.name in ("mysql", "mariadb"):
        collation = "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
        node_type = mysql.VARCHAR(191, collation=collation)
    op.add_column("jobs", sa.Column("node", node_type, nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "node")
