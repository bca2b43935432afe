"""Settings: the only reader of the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration, from ZEROGRAD_* variables (DATABASE_URL/REDIS_URL also bare)."""

    model_config = SettingsConfigDict(env_prefix="ZEROGRAD_", extra="ignore")

    database_url: str = Field(
        "sqlite:///var/zerograd.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "ZEROGRAD_DATABASE_URL"),
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "ZEROGRAD_REDIS_URL")
    )
    data_dir: Path = Path.home() / ".cache" / "zerograd" / "data"
    sandbox_backend: str = "auto"  # auto | bwrap | fallback


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
