"""Typed schema of ``access``: who may talk to the bot, and where.

``open`` (the default) is every other bot's behaviour: anyone, in any channel the bot
reads. ``master_dm`` makes a private assistant: only one person (the master, whose
Discord user id is read from the environment variable ``master_user_env`` names, so the
id never sits in a synced config) and only in direct messages.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError

__all__ = ["AccessConfig", "AccessMode", "master_user_id", "master_user_problem"]

AccessMode = Literal["open", "master_dm"]

# A Discord user id: a snowflake, 17 to 20 digits for every account made since 2015.
_SNOWFLAKE = re.compile(r"^\d{17,20}$")


class AccessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: AccessMode = "open"
    """``open``: anyone, anywhere the bot reads. ``master_dm``: only the master, only in DMs."""
    master_user_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "MASTER_USER_ID"
    """Name of the environment variable holding the master's Discord user id (``master_dm`` only)."""


def master_user_problem(access: AccessConfig, environ: Mapping[str, str]) -> str | None:
    """One line saying why the master's id is unusable, or None (also None when ``open``)."""
    if access.mode != "master_dm":
        return None
    var = access.master_user_env
    value = (environ.get(var) or "").strip()
    if not value:
        return (
            f"access.master_user_env: environment variable {var} is not set; access.mode master_dm needs "
            f"the master's Discord user id: add {var}=<17-20 digit user id> to .env"
        )
    if not _SNOWFLAKE.match(value):
        return (
            f"access.master_user_env: environment variable {var} is not a Discord user id "
            f"(17-20 digits expected, got {len(value)} characters); copy it with Developer Mode on"
        )
    return None


def master_user_id(access: AccessConfig, environ: Mapping[str, str]) -> str | None:
    """The master's user id (None when ``open``); a :class:`ConfigError` when it is unusable."""
    problem = master_user_problem(access, environ)
    if problem is not None:
        raise ConfigError(problem)
    if access.mode != "master_dm":
        return None
    return (environ.get(access.master_user_env) or "").strip()
