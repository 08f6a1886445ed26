"""A systemd service unit per bot process: ``bot_manager run BOT`` under the unit's hardening.

A bot split into shard processes gets one unit per process, ``bot-<bot>@<k>.service``
running ``bot_manager run <bot>@<k>`` (an instance name with its own file, so each
carries its own health port, ``health.port + k``, as under ``bot_manager spawn``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .target import DeployTarget

__all__ = ["unit_name", "systemd_unit", "writable_paths"]

# Home directories systemd's ProtectHome= covers.
_HOME_ROOTS = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))


def unit_name(target: DeployTarget, shard_process: int | None = None) -> str:
    suffix = "" if shard_process is None else f"@{shard_process}"
    return f"bot-{target.bot_id}{suffix}.service"


def writable_paths(target: DeployTarget) -> list[Path]:
    """The only folders the bot may write to: its memories, its database, the logs, run/, and
    the coding agent's workspace when ``tools.coding`` is on."""
    paths = target.paths
    found = [paths.memories, paths.persistence, paths.logs_dir, target.log_dir, paths.run_dir]
    if target.workspace is not None:
        found.append(target.workspace)
    return list(dict.fromkeys(found))


def _under_home(path: Path) -> bool:
    posix = PurePosixPath(path.as_posix())
    return any(posix == root or root in posix.parents for root in _HOME_ROOTS)


def _quote(value: str) -> str:
    # systemd splits ExecStart= and Environment= on spaces; a quoted word keeps them.
    return f'"{value}"' if any(c.isspace() for c in value) else value


def systemd_unit(target: DeployTarget, executable: Path, user: str, shard_process: int | None = None) -> str:
    """The unit file for one bot, or for its shard process ``shard_process``.

    ``executable`` is the ``bot_manager`` of the virtualenv the bot runs from; ``user``
    the account it runs as (by default the owner of the project folder).
    ProtectHome= hides /home, /root and /run/user entirely unless the project (or the
    virtualenv) lives there; then those become read-only and ReadWritePaths= reopens
    only the bot's own folders for writing.
    """
    home = target.home
    in_home = _under_home(home) or _under_home(executable)
    protect_home = "read-only" if in_home else "yes"
    rw = " ".join(_quote(str(p)) for p in writable_paths(target))
    process = target.bot_id if shard_process is None else f"{target.bot_id}@{shard_process}"
    share = []
    if shard_process is not None:
        share = [f"# shard process {shard_process} of {target.shard_processes}: one unit per process, never two for one"]
        port = target.health_port_of(shard_process)
        if port is not None:
            share.append(f"Environment=BOT_HEALTH_PORT={port}")
    lines = [
        "[Unit]",
        f"Description=Discord bot {process} (bot_manager run {process})",
        "Wants=network-online.target",
        "After=network-online.target",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=simple",
        f"User={user}",
        f"WorkingDirectory={_quote(str(home))}",
        f"Environment={_quote(f'BOT_HOME={home}')}",
        "Environment=PYTHONUNBUFFERED=1",
        "# the token and API keys; '-' lets the unit start without the file (a config error then exits 78)",
        f"EnvironmentFile=-{_quote(str(home / '.env'))}",
        *share,
        f"ExecStart={_quote(str(executable))} run {process}",
        "Restart=on-failure",
        "RestartSec=5",
        "# 78 is a config error: restarting cannot fix it",
        "RestartPreventExitStatus=78",
        "TimeoutStopSec=30",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        f"ProtectHome={protect_home}",
        f"ReadWritePaths={rw}",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)
