"""Operations: worker heartbeats, infra-fault flag, unique lower(login), regrade index.

Revision ID: 0004_ops
Revises: 0004_auth
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_ops"
down_revision: str | None = "0004_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# students whose login differs only in case: their rows move to the oldest one, then go
KEEP = ("(SELECT MIN(k.id) FROM student k "
        "WHERE lower(k.github_login) = lower(student.github_login))")


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("infra_fault", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(
        "UPDATE submission SET student_id = (SELECT MIN(k.id) FROM student k, student s "
        "WHERE s.id = submission.student_id AND lower(k.github_login) = lower(s.github_login))")
    op.execute(f"DELETE FROM student WHERE id <> {KEEP}")
    op.create_index("uq_student_login_lower", "student", [sa.text("lower(github_login)")],
                    unique=True)
    op.create_index("ix_submission_regrade_of", "submission", ["regrade_of"],
                    postgresql_where=sa.text("regrade_of IS NOT NULL"),
                    sqlite_where=sa.text("regrade_of IS NOT NULL"))


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_submission_regrade_of", table_name="submission")
    op.drop_index("uq_student_login_lower", table_name="student")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_column("infra_fault")
        batch_op.drop_column("heartbeat_at")
