"""Capstone views: opt-in leaderboard pseudonyms, benchmark provenance (torch/CUDA versions).

Revision ID: 0005_ui
Revises: 0004_ops
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_ui"
down_revision: str | None = "0004_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (plain ADD COLUMN: a batch copy of `student` would lose its expression index)."""
    op.add_column("student", sa.Column("pseudonym", sa.String(40), nullable=True))
    op.create_index("uq_student_pseudonym", "student", ["pseudonym"], unique=True)
    op.add_column("benchmark", sa.Column("torch_version", sa.String(40), nullable=False,
                                         server_default=""))
    op.add_column("benchmark", sa.Column("cuda_version", sa.String(40), nullable=False,
                                         server_default=""))


def downgrade() -> None:
    """Revert."""
    op.drop_column("benchmark", "cuda_version")
    op.drop_column("benchmark", "torch_version")
    op.drop_index("uq_student_pseudonym", table_name="student")
    op.drop_column("student", "pseudonym")
