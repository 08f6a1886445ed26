"""The coding agent (``tools.coding``): a jailed shell, file tools and skills on one workspace.

:func:`build_coding` turns the config into the client tools and the system-prompt block; the
composition root offers them to the model. Nothing here imports discord.py or an SDK.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config.coding import CodingConfig
from ..ports import ClientTool
from .bash import BashSettings, ExecuteBash
from .calls import CallSink, ToolCall, log_call
from .files import FileTools
from .jail import JailLimits, jail_owner, probe_jail
from .skills import CodingPrompt
from .workspace import Workspace

__all__ = ["CodingParts", "ToolCall", "build_coding", "jail_owner"]

_log = logging.getLogger(__name__)


@dataclass
class CodingParts:
    workspace: Workspace
    tools: list[ClientTool]
    prompt: CodingPrompt


def build_coding(
    config: CodingConfig, workspace_dir: Path, *, master_id: str, owner: tuple[int, int] | None,
    sink: CallSink = log_call, bwrap: str | None = None,
) -> CodingParts | None:
    """The tools and prompt block, or None when every coding tool is off.

    ``bwrap`` defaults to the one on ``PATH``; with ``execute_bash`` on and ``jail: bubblewrap``
    the jail is tried once here, and a jail that cannot run is a ``ConfigError`` naming the
    package (the bot does not start: there is no unjailed fallback). ``owner`` is who the
    jailed shell runs as and owns the workspace (:func:`~framework.coding.jail.jail_owner`:
    nobody for a root bot, whose shell must not run as root; None: the bot's own user).
    """
    if not config.enabled:
        return None
    user = owner
    workspace = Workspace(workspace_dir, user)
    root = workspace.prepare()
    tools: list[ClientTool] = []
    if config.bash:
        jailed = config.jail == "bubblewrap"
        binary = (bwrap or shutil.which("bwrap")) if jailed else None
        if jailed:
            probe_jail(binary, root, network=config.network, owner=user)
        else:
            _log.warning("tools.coding.jail: none: execute_bash runs UNCONFINED as the bot's own user")
        settings = BashSettings(
            workspace=root, bwrap=binary, network=config.network, timeout_s=config.bash_timeout_seconds,
            max_bytes=config.output_max_bytes, max_lines=config.output_max_lines,
            limits=JailLimits(config.max_processes, config.max_memory_mb * 1024 * 1024, config.max_cpu_seconds),
            owner=user,
        )
        tools.append(ExecuteBash(settings, master_id=master_id, sink=sink))
    if config.files:
        tools.extend(FileTools(
            workspace, max_read_lines=config.file_read_max_lines, max_read_bytes=config.output_max_bytes,
            master_id=master_id, sink=sink,
        ).tools())
    prompt = CodingPrompt(workspace, bash=config.bash, files=config.files, skills=config.skills,
                          user_ids=(master_id,))
    return CodingParts(workspace, tools, prompt)
