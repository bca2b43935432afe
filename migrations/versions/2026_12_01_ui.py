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
    """Apply."""
    with op.batch_alter_table("student", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pseudonym", sa.String(40), nullable=True))
        batch_op.create_unique_constraint("uq_student_pseudonym", ["pseudonym"])
    with op.batch_alter_table("benchmark", schema=None) as batch_op:
        batch_op.add_column(sa.Column("torch_version", sa.String(40), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("cuda_version", sa.String(40), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("benchmark", schema=None) as batch_op:
        batch_op.drop_column("cuda_version")
        batch_op.drop_column("torch_version")
    with op.batch_alter_table("student", schema=None) as batch_op:
        batch_op.drop_constraint("uq_student_pseudonym", type_="unique")
        batch_op.drop_column("pseudonym")
