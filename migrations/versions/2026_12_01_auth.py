"""Identity: roster, server-side sessions, staff API tokens, per-student webhook secrets.

Revision ID: 0004_auth
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_auth"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "roster_entry",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("login_lower", sa.String(39), nullable=False),
        sa.Column("github_login", sa.String(39), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("section", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_entry")),
        sa.UniqueConstraint("login_lower", name=op.f("uq_roster_entry_login_lower")))
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("student_id", ID, nullable=True),
        sa.Column("instructor_id", ID, nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], ondelete="CASCADE",
                                name=op.f("fk_web_session_student_id_student")),
        sa.ForeignKeyConstraint(["instructor_id"], ["instructor.id"], ondelete="CASCADE",
                                name=op.f("fk_web_session_instructor_id_instructor")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")))
    for col in ("student_id", "instructor_id", "expires_at"):
        op.create_index(op.f(f"ix_web_session_{col}"), "web_session", [col])
    op.create_table(
        "api_token",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("instructor_id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["instructor_id"], ["instructor.id"], ondelete="CASCADE",
                                name=op.f("fk_api_token_instructor_id_instructor")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")))
    op.create_index(op.f("ix_api_token_instructor_id"), "api_token", ["instructor_id"])
    with op.batch_alter_table("student", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.String(64), nullable=True))
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_by", sa.String(100), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_column("submitted_by")
    with op.batch_alter_table("student", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
    op.drop_table("api_token")
    op.drop_table("web_session")
    op.drop_table("roster_entry")
