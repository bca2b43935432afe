"""Gradebook: a covering index over graded submissions per (student, week).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["status", "student_id", "week", "received_at", "score", "max_score", "finished_at", "id"]


def upgrade() -> None:
    """Apply."""
    op.create_index("ix_submission_gradebook", "submission", COLUMNS)


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_submission_gradebook", table_name="submission")
