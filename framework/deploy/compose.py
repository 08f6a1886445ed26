"""A compose file with one service per bot process, built from the repository's Dockerfile.

A bot split into shard processes gets a service per process (``bot-<bot>-<k>`` running
``<bot>@<k>``): they bind-mount the same folders of the bot on one host, so they share its
database and memories exactly as under ``bot_manager spawn``, and each publishes its own
health port (``health.port + k``)."""

from __future__ import annotations

import os
from pathlib import Path

from .target import DeployTarget
from .yamltext import dump

__all__ = ["CONTAINER_HOME", "HEALTH_PORT_VAR", "compose_file", "service_name"]

CONTAINER_HOME = "/srv/bots"  # BOT_HOME inside the image (the Dockerfile's WORKDIR)
HEALTH_PORT_VAR = "BOT_HEALTH_PORT"  # read by the image's HEALTHCHECK; unset = no health server to probe


def _rel(path: Path, start: Path) -> str:
    # Relative when the compose file sits in the project (the pair moves together), else absolute.
    if os.path.commonpath([path, start]) == os.path.sep:
        return str(path)
    relative = os.path.relpath(path, start)
    return relative if relative.startswith(".") else f"./{relative}"


def service_name(target: DeployTarget, shard_process: int | None) -> str:
    return target.name if shard_process is None else f"{target.name}-{shard_process}"


def _service(target: DeployTarget, out_dir: Path, context: Path, image: str, shard_process: int | None) -> dict[str, object]:
    paths = target.paths
    service: dict[str, object] = {
        "build": {"context": _rel(context, out_dir), "dockerfile": "Dockerfile"},
        "image": image,
        "command": [target.bot_id if shard_process is None else f"{target.bot_id}@{shard_process}"],
        # the host's uid owns the bind-mounted folders; the image's user is 10001
        "user": "${BOT_UID:-10001}:${BOT_GID:-10001}",
        "env_file": [{"path": _rel(target.home / ".env", out_dir), "required": False}],
        "volumes": [
            f"{_rel(target.home / 'bots', out_dir)}:{CONTAINER_HOME}/bots:ro",
            f"{_rel(paths.memories, out_dir)}:{CONTAINER_HOME}/memories/{target.bot_id}",
            f"{_rel(paths.persistence, out_dir)}:{CONTAINER_HOME}/persistence/{target.bot_id}",
            f"{_rel(paths.logs_dir, out_dir)}:{CONTAINER_HOME}/logs",
        ],
        # pidfiles and the ready marker live only as long as the container
        "tmpfs": [f"{CONTAINER_HOME}/run"],
        "restart": "unless-stopped",
        "stop_grace_period": "30s",
    }
    port = target.health_port_of(shard_process)
    if port is not None:
        service["environment"] = {HEALTH_PORT_VAR: str(port)}
        # published on the host's loopback only; the bot's health.host must be 0.0.0.0 inside the container
        service["ports"] = [f"127.0.0.1:{port}:{port}"]
    return service


def compose_file(targets: list[DeployTarget], out_dir: Path, context: Path, image: str) -> str:
    """The compose file for ``targets``; paths in it are relative to ``out_dir``, where it is written.

    ``context`` is the folder holding the Dockerfile (the framework's repository).
    """
    services = {
        service_name(t, k): _service(t, out_dir, context, image, k) for t in targets for k in t.shard_indexes
    }
    header = (
        "# Written by `bot_manager deploy compose`: one service per bot (per shard process of a sharded bot).\n"
        "# Start: BOT_UID=$(id -u) BOT_GID=$(id -g) docker compose up -d --build\n"
        "# Secrets come from .env at run time; none is written here or baked into the image.\n"
    )
    return header + dump({"name": "discord-bots", "services": services})
