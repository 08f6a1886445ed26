"""Typed schema of ``tools.coding``: the coding agent's shell, file tools and skills.

Everything is off by default. On, the model gets ``execute_bash`` (a command run in a
bubblewrap jail: the system read-only, the workspace the only writable place, no network,
no secrets, hard limits), ``read_file`` / ``write_file`` / ``edit_file`` (confined to the
workspace) and the skills kept there. Only a bot in ``access.mode: master_dm`` may turn any
of it on: a shell offered to whoever writes in a server is a shell for strangers.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["CodingConfig", "ToolsConfig", "coding_access_problem", "coding_warnings", "workspace_path"]

# Folders of the project a workspace must never be in or hold: the jailed shell can write
# the workspace, and the bot's memories, history, configs and run files must stay out of its reach.
_RESERVED = ("bots", "memories", "persistence", "logs", "run", ".git", "framework")


class CodingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bash: bool = False
    """Offer ``execute_bash``: one command per call, in the jail below."""
    files: bool = False
    """Offer ``read_file``, ``write_file`` and ``edit_file`` on the workspace."""
    skills: bool = False
    """List the workspace's skills (``skills/*/SKILL.md``) in the system prompt (needs ``files``)."""
    network: bool = False
    """Let ``execute_bash`` reach the network (off: the jail has only its own loopback)."""
    jail: Literal["bubblewrap", "none"] = "bubblewrap"
    """``none`` runs commands unconfined, as the bot's own user: ``validate`` warns about it."""
    workspace: str | None = None
    """The folder the tools work in, relative to the project folder (default ``workspaces/<bot_id>``)."""
    bash_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    output_max_lines: Annotated[int, Field(ge=10, le=100_000)] = 500
    output_max_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = 51_200
    file_read_max_lines: Annotated[int, Field(ge=10, le=100_000)] = 1_000
    max_processes: Annotated[int, Field(ge=8, le=4096)] = 64
    """Processes (and threads) the jail's user may have at once: a fork bomb stops here."""
    max_memory_mb: Annotated[int, Field(ge=64, le=65_536)] = 1_024
    """Address space of each process in the jail."""
    max_cpu_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    """CPU time of each process in the jail (a busy loop is killed past it)."""

    @property
    def enabled(self) -> bool:
        return self.bash or self.files or self.skills

    @field_validator("workspace")
    @classmethod
    def _relative_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        norm = posixpath.normpath(value.strip())
        if not value.strip() or value.startswith(("/", "~")) or "\\" in value or norm == "." or norm.startswith(".."):
            raise ValueError(
                f"{value!r} must be a folder inside the project folder, relative to it (e.g. workspaces/cortana)"
            )
        top = norm.split("/")[0]
        if top in _RESERVED or norm.startswith(".env"):
            raise ValueError(
                f"{value!r} is inside the project's {top}/ folder, which the jailed shell must not write; "
                "use a folder of its own such as workspaces/<bot>"
            )
        return norm

    @model_validator(mode="after")
    def _skills_need_files(self) -> CodingConfig:
        if self.skills and not self.files:
            raise ValueError("skills: true needs files: true (the model reads and writes SKILL.md with the file tools)")
        return self


class ToolsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    coding: CodingConfig = CodingConfig()


def workspace_path(coding: CodingConfig, bot_id: str) -> str:
    """The workspace, relative to the project folder (``workspaces/<bot_id>`` unless set)."""
    return coding.workspace or f"workspaces/{bot_id}"


def coding_access_problem(coding: CodingConfig, access_mode: str) -> str | None:
    """One line saying why this bot may not have the coding tools it enables, or None."""
    if not coding.enabled or access_mode == "master_dm":
        return None
    on = [name for name in ("bash", "files", "skills") if getattr(coding, name)]
    fields = ", ".join(f"tools.coding.{name}" for name in on)
    return (
        f"{fields}: coding tools are for a private assistant only, and access.mode is {access_mode!r}; "
        "set access.mode: master_dm (one person, DMs only) or turn them off"
    )


def coding_warnings(coding: CodingConfig) -> list[str]:
    """What ``validate`` says loudly about a risky but allowed setting."""
    warnings = []
    if coding.bash and coding.jail == "none":
        warnings.append(
            "tools.coding.jail: none: UNCONFINED SHELL. execute_bash runs as the bot's own user, with every file "
            "and the network that user can reach (only the environment is cleared); whoever can write in the "
            "master's DM, or a prompt injection in anything the bot reads, can run any command. Use jail: bubblewrap"
        )
    if coding.bash and coding.network:
        warnings.append(
            "tools.coding.network: true: commands in the jail can reach the network (downloads, uploads of the workspace)"
        )
    return warnings
