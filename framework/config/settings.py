"""Process environment settings (pydantic-settings): ``.env`` in the project folder, then the environment.

Secrets are ``SecretStr``: they print as ``**********`` and reach code only through
``get_secret_value()``. Per-bot Discord tokens are named by each bot's config
(``discord.token_env_var``) and read with :func:`merged_environ`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["Settings", "load_settings", "merged_environ"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file_encoding="utf-8")

    bot_home: Path = Field(default_factory=Path.cwd)
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    groq_api_key: SecretStr | None = None
    groq_base_url: str | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    log_level: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what load_settings passes in: it has already merged .env and the
        # environment (dropping empty values), and tests pass their own environment.
        return (init_settings,)


def merged_environ(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``home/.env`` overlaid by the real environment (the environment wins)."""
    env = dict(os.environ if environ is None else environ)
    file_values = {k: v for k, v in dotenv_values(home / ".env").items() if v is not None}
    return {**file_values, **env}


def load_settings(home: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``home/.env`` and the environment (environment wins)."""
    env = merged_environ(home, environ)
    # An empty variable (ANTHROPIC_API_KEY= copied from .env.example) means "not set".
    values = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields and v.strip()}
    values.setdefault("bot_home", str(home))
    return Settings(**values)
