"""Regrades: submission.regrade_of links a new attempt to the submission it regrades.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("regrade_of", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_submission_regrade_of_submission"), "submission", ["regrade_of"],
            ["id"], ondelete="SET NULL")


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_submission_regrade_of_submission"),
                                 type_="foreignkey")
        batch_op.drop_column("regrade_of")
