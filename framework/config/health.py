"""Typed schema of ``health``: the optional HTTP endpoint for probes and Prometheus.

Off unless ``port`` is set. ``host`` defaults to loopback, so a bot on a shared machine
never exposes its metrics by accident; a container or a pod sets ``0.0.0.0``.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HEALTH_PORT_ENV", "HealthConfig"]

# Replaces ``health.port`` in the bot process; the Docker image's HEALTHCHECK reads it too.
HEALTH_PORT_ENV = "BOT_HEALTH_PORT"


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """TCP port of ``/``, ``/healthz``, ``/readyz`` and ``/metrics``; none (the default) serves nothing."""
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    """Address to listen on; loopback unless a container or a pod needs the outside to reach it."""

    def url(self, shard_process: int | None = None) -> str | None:
        """Where the endpoint answers (None when off); shard process k of a bot on one
        machine answers on ``port + k``."""
        if self.port is None:
            return None
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port + (shard_process or 0)}/"
