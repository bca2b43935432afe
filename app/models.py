"""SQLAlchemy 2 models (Postgres in production, SQLite for `make run`)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SOURCES = ("fork", "upload", "webhook")
STATUSES = ("queued", "running", "graded", "failed")
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now (UTC)."""
    return datetime.now(UTC)


def new_submission_id() -> str:
    """An unguessable id (22 url-safe characters)."""
    return secrets.token_urlsafe(16)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic-friendly)."""

    metadata = MetaData(naming_convention=NAMING)


Id = BigInteger().with_variant(Integer(), "sqlite")  # sqlite autoincrement needs INTEGER
TS = DateTime(timezone=True)


class Student(Base):
    """A GitHub user who submits work."""

    __tablename__ = "student"
    # one student per login whatever its letter case (GitHub logins are case-insensitive)
    __table_args__ = (Index("uq_student_login_lower", func.lower("github_login"), unique=True),
                      Index("uq_student_pseudonym", "pseudonym", unique=True))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    github_login: Mapped[str] = mapped_column(String(39), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    # verifies pushes from this student's own fork (shown on their page; never shared)
    webhook_secret: Mapped[str | None] = mapped_column(String(64))
    # opt-in name on the student-facing leaderboard (None: shown as "anonymous")
    pseudonym: Mapped[str | None] = mapped_column(String(40))

    submissions: Mapped[list[Submission]] = relationship(back_populates="student")


class Submission(Base):
    """One week's work, from an upload, a fork URL or a push webhook."""

    __tablename__ = "submission"
    __table_args__ = (
        Index("ix_submission_student_week", "student_id", "week", "received_at"),
        Index("ix_submission_status", "status", "received_at"),
        # covering index for the gradebook's per-(student, week) aggregates over graded rows
        Index("ix_submission_gradebook", "status", "student_id", "week", "received_at", "score",
              "max_score", "finished_at", "id"),
        # the few regrades: which submissions have a newer grading (gradebook.counted)
        Index("ix_submission_regrade_of", "regrade_of",
              postgresql_where=text("regrade_of IS NOT NULL"),
              sqlite_where=text("regrade_of IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_submission_id)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"))
    week: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # fork | upload | webhook
    repo_url: Mapped[str | None] = mapped_column(String(300))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    notebook_sha256: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    notebook: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    received_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    # refreshed by the claiming worker while it grades; a stale one means the worker died
    heartbeat_at: Mapped[datetime | None] = mapped_column(TS)
    # ended by an infrastructure fault (autograder/GitHub trouble): never uses the daily quota
    infra_fault: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    grader_version: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    report_json: Mapped[dict | None] = mapped_column(JSON)  # GradeReport.to_dict(staff=True)
    error: Mapped[str | None] = mapped_column(Text)  # student-facing message
    # "<repo_url>@<sha>#<week>" for webhook submissions, NULL otherwise (NULLs never collide)
    dedupe_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    # a staff regrade is a new row that copies the source; this names the submission it regrades
    regrade_of: Mapped[str | None] = mapped_column(
        ForeignKey("submission.id", ondelete="SET NULL"))

    # the instructor's login when staff submitted on the student's behalf (NULL: the student)
    submitted_by: Mapped[str | None] = mapped_column(String(100))

    student: Mapped[Student] = relationship(back_populates="submissions")
    checks: Mapped[list[CheckResult]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="CheckResult.id"
    )
    benchmarks: Mapped[list[Benchmark]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="Benchmark.id"
    )


class CheckResult(Base):
    """One check's verdict for one submission."""

    __tablename__ = "check_result"
    __table_args__ = (UniqueConstraint("submission_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    points: Mapped[float] = mapped_column(Float)
    max_points: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)

    submission: Mapped[Submission] = relationship(back_populates="checks")


class Benchmark(Base):
    """A measured figure (loss, throughput, …) from a submission."""

    __tablename__ = "benchmark"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    track: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32), default="")
    device: Mapped[str] = mapped_column(String(100), default="cpu")
    seed: Mapped[int | None] = mapped_column(Integer)
    # provenance: the grader's torch and CUDA versions (grader version, commit: the submission)
    torch_version: Mapped[str] = mapped_column(String(40), default="", server_default="")
    cuda_version: Mapped[str] = mapped_column(String(40), default="", server_default="")

    submission: Mapped[Submission] = relationship(back_populates="benchmarks")


class WebhookDelivery(Base):
    """A GitHub delivery we have seen (X-GitHub-Delivery), for at-most-once handling."""

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(50))
    received_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(200), default="")


class Instructor(Base):
    """A staff login (argon2 password hash)."""

    __tablename__ = "instructor"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class RosterEntry(Base):
    """A student enrolled in the course (unique by lower-cased GitHub login)."""

    __tablename__ = "roster_entry"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    login_lower: Mapped[str] = mapped_column(String(39), unique=True)
    github_login: Mapped[str] = mapped_column(String(39))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    section: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class WebSession(Base):
    """A server-side session (student or staff sign-in, or a pending OAuth login); revocable."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie value
    kind: Mapped[str] = mapped_column(String(16))  # student | staff | oauth
    student_id: Mapped[int | None] = mapped_column(
        ForeignKey("student.id", ondelete="CASCADE"), index=True)
    instructor_id: Mapped[int | None] = mapped_column(
        ForeignKey("instructor.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict | None] = mapped_column(JSON)  # oauth: PKCE verifier and next page
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS, index=True)


class ApiToken(Base):
    """A staff API token for scripts (only its sha256 is stored); revocable."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instructor_id: Mapped[int] = mapped_column(
        ForeignKey("instructor.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)

    instructor: Mapped[Instructor] = relationship()
