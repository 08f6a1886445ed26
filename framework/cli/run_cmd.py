"""``bot_manager run BOT``: one bot in the foreground, for systemd, Docker or a terminal."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..paths import split_process_name
from ..paths import split_process_name
from .common import CliContext

__all__ = ["register"]


def run(
    ctx: typer.Context,
    bot: Annotated[
        str,
        typer.Argument(
            help="Bot to run (the name of `bots/<bot>.yaml`), or BOT@K for its shard process K.", show_default=False
        ),
    ],
) -> None:
    """Run one bot in the foreground, logging to the terminal and `logs/<bot>.log`.

    For service managers (systemd, Docker, Kubernetes): no keeper, no restarts (leave them
    to the service manager). SIGTERM or Ctrl-C shut the bot down gracefully; the exit
    code is 0 after a clean stop, 78 for a configuration error, 1 after a crash.

    A bot split into shard processes (discord.shards.processes) runs one process per
    share: `run alpha@0`, `run alpha@1` (or BOT_SHARD_PROCESS=K, as a Kubernetes pod
    sets it from its ordinal); each logs to `logs/<bot>@<K>.log`.
    """
    cli: CliContext = ctx.obj
    parts = split_process_name(bot)
    bot_id, shard_process = parts if parts is not None else (bot, None)
    cli.resolve_targets(bot_id, False)
    if shard_process is not None:
        os.environ["BOT_SHARD_PROCESS"] = str(shard_process)
    bot = bot_id
    os.environ["BOT_HOME"] = str(cli.home)
    os.environ.pop("BOT_MANAGER_SUPERVISED", None)
    from ..runtime.__main__ import exit_now
    from ..runtime.__main__ import main as runtime_main

    exit_now(runtime_main([bot]))


def register(app: typer.Typer) -> None:
    app.command()(run)
