"""``bot_manager sandbox [BOT]``: try a bot offline against a loopback Discord server.

The sandbox gets its own project folder, ``run/sandbox/`` (never committed), holding a
copy of the bot's config and prompt files; so a sandbox session never mixes its messages into the real
bot's history or memories, and never collides with the real bot if it is running.
"""

from __future__ import annotations

import re
import secrets
import signal
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import exitcodes
from ..errors import ConfigError
from ..paths import BotPaths
from .common import CliContext, err, fail, out

__all__ = ["register", "sandbox_home"]

STANDIN_API_KEY = "sandbox-standin-key"


def sandbox_home(home: Path) -> Path:
    return home / "run" / "sandbox"


def _prepare_home(home: Path, bot_id: str, stopwaitsecs: float) -> Path:
    """A fresh sandbox project folder with a copy of the bot's config.

    A bot left over from a session that was killed outright is stopped first: wiping
    its pidfile would otherwise orphan it.
    """
    from ..supervisor.control import Supervisor

    target = sandbox_home(home)
    copy = BotPaths(target, bot_id)
    leftovers = [p.stem for p in copy.run_dir.glob("*.pid")]
    if leftovers:
        Supervisor(target, {}).stop([(bot, stopwaitsecs) for bot in leftovers])
    shutil.rmtree(target, ignore_errors=True)
    copy.config.parent.mkdir(parents=True)
    shutil.copy2(BotPaths(home, bot_id).config, copy.config)
    # The prompt files are part of who the bot is (a missing read-only one stops it): they
    # come along; the rest of its memories stay behind.
    prompt = BotPaths(home, bot_id).memories / "prompt"
    if prompt.is_dir():
        shutil.copytree(prompt, copy.memories / "prompt", symlinks=True)
    return target


def _scripted_input(
    lines: list[str],
    addressed: Callable[[str], bool],
    wait_reply: Callable[[int], None],
    event_count: Callable[[], int],
) -> Callable[[], str]:
    """An ``input()`` stand-in: posts each line, first waiting for the bot to answer the
    previous one when that line was addressed to it (a reply is owed only then)."""
    pending: Iterator[str] = iter(lines)
    mark: int | None = None  # sandbox event count when an addressed line was posted

    def next_line() -> str:
        nonlocal mark
        if mark is not None:
            wait_reply(mark)
            mark = None
        try:
            line = next(pending)
        except StopIteration:
            raise EOFError from None
        if addressed(line):
            mark = event_count()
        out.print(f"[bold]you>[/bold] {line}")
        return line

    return next_line


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def sandbox(
    ctx: typer.Context,
    bot: Annotated[str, typer.Argument(help="Bot to try (the name of `bots/<bot>.yaml`).")] = "alpha",
    say: Annotated[
        Optional[list[str]],
        typer.Option("--say", help="Post this line and wait for the bot's answer (repeatable); no prompt, exits after."),
    ] = None,
    reply_timeout: Annotated[float, typer.Option(help="With --say: seconds to wait for each answer.")] = 60.0,
) -> None:
    """Chat with a bot offline: a loopback Discord server, the bot, and you in the terminal.

    Starts a Discord-compatible server on 127.0.0.1 with a seeded guild (#general, #random,
    you and dana), spawns the bot against it, and posts what you type as the user 'you'.
    Mention the bot with @name (e.g. @alpha hi). Without ANTHROPIC_API_KEY the bot answers
    through a local stand-in model that says it is one. /quit or Ctrl-D ends the session
    and stops the bot.
    """
    from ..config import load_bot_config, merged_environ
    from ..sandbox.anthropic_standin import AnthropicStandin
    from ..sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread
    from ..sandbox.chat import run_terminal_chat
    from ..supervisor.control import SpawnRequest, Supervisor

    cli: CliContext = ctx.obj
    cli.resolve_targets(bot, False)
    try:
        config = load_bot_config(BotPaths(cli.home, bot).config, cli.home)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err.print(f"[red]error:[/red] {line}", markup=True, highlight=False)
        raise typer.Exit(exitcodes.CONFIG) from None
    home = _prepare_home(cli.home, bot, config.supervisor.stopwaitsecs)
    environ = merged_environ(cli.home, cli.environ)
    token = f"sandbox.{bot}.{secrets.token_urlsafe(16)}"

    server = SandboxThread().start()
    stub: AnthropicStandin | None = None
    supervisor: Supervisor | None = None
    # A closed terminal (SIGHUP) or a kill (SIGTERM) must still stop the bot: turn both
    # into KeyboardInterrupt, which ends the chat and runs the cleanup below.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        bot_user_id = server.add_bot(token, bot)
        env = {
            **environ,
            config.discord.token_env_var: token,
            "DISCORD_API_BASE": server.api_base,
            "DISCORD_GATEWAY_URL": server.gateway_url,
        }
        if config.access.mode == "master_dm":
            # The person at the terminal plays the master (a real master id is nobody here).
            env[config.access.master_user_env] = HUMAN_USER_ID
            out.print(f"{bot} answers only you, and only in DMs: /dm {bot} <text>")
        if config.commands.slash:
            where = f"/dm {bot} " if config.access.mode == "master_dm" else ""
            out.print(f"slash commands: {where}/settings status, {where}/settings models, {where}/settings model <name>",
                      markup=False)
        if not (environ.get("ANTHROPIC_API_KEY") or "").strip():
            stub = AnthropicStandin()
            server.run(stub.start())
            env.update(ANTHROPIC_API_KEY=STANDIN_API_KEY, ANTHROPIC_BASE_URL=stub.base_url)
            out.print("[yellow]No ANTHROPIC_API_KEY: the bot answers through a local stand-in model, not Claude.[/yellow]")
        supervisor = Supervisor(home, env)
        out.print(f"Starting {bot} against the sandbox at {server.api_base} ...")
        result = supervisor.spawn([SpawnRequest(bot, config.supervisor.ready_timeout_seconds, home / config.log_file)])[0]
        if not result.ok:
            err.print(f"[red]error:[/red] {result.message}", markup=True, highlight=False)
            for line in result.log_tail:
                err.print(f"  {line}", markup=False, highlight=False)
            raise typer.Exit(exitcodes.FAILURE)
        out.print(f"{bot} is connected (pid {result.child_pid}); its log: {home / config.log_file}")

        input_fn: Callable[[], str] = input
        if say:
            def wait_reply(since: int) -> None:
                server.wait_for_event(
                    lambda e: e["type"] == "message" and e["author_id"] == bot_user_id,
                    timeout=reply_timeout,
                    since=since,
                )

            mention = re.compile(rf"@{re.escape(bot)}\b", re.IGNORECASE)
            direct = re.compile(rf"/dm\s+{re.escape(bot)}\b", re.IGNORECASE)
            # A DM is always answered; a mention only by a bot that talks in channels.
            private = config.access.mode == "master_dm"
            input_fn = _scripted_input(
                list(say), lambda line: bool(direct.match(line) or (not private and mention.search(line))),
                wait_reply, lambda: len(server.events()),
            )
        run_terminal_chat(server, GENERAL_CHANNEL_ID, HUMAN_USER_ID, out, input_fn=input_fn)
    except TimeoutError:
        fail(f"{bot} did not answer within {reply_timeout:.0f} s; see {home / config.log_file}")
    except KeyboardInterrupt:
        out.print()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if supervisor is not None:
            supervisor.stop([(bot, config.supervisor.stopwaitsecs)])
        if stub is not None:
            server.run(stub.stop())
        server.stop()
    out.print(f"Sandbox closed; {bot} stopped.")


def register(app: typer.Typer) -> None:
    app.command()(sandbox)
