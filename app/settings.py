"""Service settings, read once from the environment (prefix DEALGATE_)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set without touching code."""

    model_config = SettingsConfigDict(env_prefix="DEALGATE_", extra="ignore")

    database_url: str = "sqlite:///./dealgate.db"
    max_body_bytes: int = 1_048_576


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
