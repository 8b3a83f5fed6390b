"""jobs: the sender (service.instance.id) a job's figures come from, and a conflicting one

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect
    time_type = mysql.DATETIME(fsp=6) if dialect.name in ("mysql", "mariadb") else sa.DateTime()
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sender", sa.String(64), nullable=True))
        batch.add_column(sa.Column("conflicting_sender", sa.String(64), nullable=True))
        batch.add_column(sa.Column("conflicting_sender_since", time_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in ("conflicting_sender_since", "conflicting_sender", "sender"):
            batch.drop_column(name)
