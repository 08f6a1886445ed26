"""``bot_manager sandbox [BOT]``: try a bot offline against a loopback Discord server.

The sandbox gets its own project folder, ``run/sandbox/`` (never committed), holding a
copy of the bot's config and prompt files; so a sandbox session never mixes its messages into the real
bot's history or memories, and never collides with the real bot if it is running. One
session runs at a time per project (``sandbox_home.py``); its log outlives it.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .. import exitcodes
from ..errors import ConfigError
from ..paths import BotPaths
from .common import CliContext, err, fail, out
from .sandbox_home import SandboxBusy, SessionLock, adapt_config, prepare_home, sandbox_home

if TYPE_CHECKING:
    from ..config import BotConfig

__all__ = ["register", "sandbox_home"]

STANDIN_API_KEY = "sandbox-standin-key"


def _prepare_home(home: Path, bot_id: str, stopwaitsecs: float) -> Path:
    """A fresh sandbox project folder with a copy of the bot's config.

    A bot left over from a session that was killed outright is stopped first: wiping
    its pidfile would otherwise orphan it.
    """
    from ..supervisor.control import Supervisor

    target = sandbox_home(home)
    leftovers = [p.stem for p in BotPaths(target, bot_id).run_dir.glob("*.pid")]
    if leftovers:
        Supervisor(target, {}).stop([(bot, stopwaitsecs) for bot in leftovers])
    return prepare_home(home, bot_id)


def _scripted_input(
    lines: list[str],
    addressed: Callable[[str], bool],
    wait_reply: Callable[[int], None],
    event_count: Callable[[], int],
    ends_session: Callable[[str], bool] = lambda line: False,
    wait_end: Callable[[], None] = lambda: None,
    settle: Callable[[], None] = lambda: None,
) -> Callable[[], str]:
    """An ``input()`` stand-in: posts each line, first waiting for the bot to answer the
    previous one when that line was addressed to it (a reply is owed only then). After
    a line that shuts the bot down, the script's end waits for the bot to exit."""
    pending: Iterator[str] = iter(lines)
    mark: int | None = None  # sandbox event count when an addressed line was posted
    shutting_down = False

    def next_line() -> str:
        nonlocal mark, shutting_down
        if mark is not None:
            wait_reply(mark)
            mark = None
        try:
            line = next(pending)
        except StopIteration:
            # The bot logs its decision just after its answer: give the chat's notes
            # (a static line, a silence with /why) a moment to arrive before the end.
            wait_end() if shutting_down else settle()
            raise EOFError from None
        shutting_down = ends_session(line)
        if addressed(line):
            mark = event_count()
        out.print(f"[bold]you>[/bold] {line}")
        return line

    return next_line


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wake_main_thread() -> None:
    """End a chat waiting in ``input()``: a real signal interrupts the read."""
    os.kill(os.getpid(), signal.SIGINT)


def _mode_reader(config: BotConfig) -> Callable[[str], str] | None:
    """The persona's mode of a line (roast, flirt, normal), for the stand-in model."""
    if not config.personality.behaviour.enabled:
        return None
    from ..engines.modes import ModeDetector

    detector = ModeDetector(config.personality.behaviour)
    return lambda text: str(detector.detect(text, mentioned=True).mode)


def _first(line: str) -> str:
    return line.split(maxsplit=1)[0].lower() if line.strip() else ""


def _chat_commands(config: BotConfig) -> set[str]:
    """The bot's own ``!`` commands: a scripted line using one waits for the answer."""
    behaviour = config.personality.behaviour
    if not behaviour.enabled:
        return set()
    return {c.lower() for c in (behaviour.commands.joke_command, behaviour.commands.shutdown_command) if c}


def _wait_for_exit(timeout: float) -> None:
    """Wait ``timeout`` seconds, or until the chat ends because the bot exited (it
    interrupts this with SIGINT)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)


def _help_lines(config: BotConfig) -> list[str]:
    lines = []
    commands = config.personality.behaviour.commands
    if config.personality.behaviour.enabled and commands.joke_command:
        lines.append(f"{commands.joke_command}: a dad joke (from the sandbox's own joke list, offline)")
    if config.personality.behaviour.enabled and commands.shutdown_command:
        lines.append(f"{commands.shutdown_command}: shuts {config.bot_id} down (you are one of its owners here)")
    return lines


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
    from ..sandbox.jokes_standin import JokesStandin
    from .sandbox_watch import SessionWatch
    from ..supervisor.control import SpawnRequest, Supervisor

    cli: CliContext = ctx.obj
    cli.resolve_targets(bot, False)
    try:
        config = load_bot_config(BotPaths(cli.home, bot).config, cli.home)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err.print(f"[red]error:[/red] {line}", markup=True, highlight=False)
        raise typer.Exit(exitcodes.CONFIG) from None
    if config.discord.shards.processes > 1:
        # The terminal chat follows one process's decisions; a split bot would answer from several.
        fail(
            f"{bot} is split into {config.discord.shards.processes} shard processes (discord.shards.processes); "
            "the sandbox runs a bot as one process",
            code=exitcodes.CONFIG,
            hint="to try it here, set discord.shards.processes to 1 (or leave discord.shards out) for the trial",
        )
    try:
        lock = SessionLock.take(cli.home, bot)
    except SandboxBusy as exc:
        fail(str(exc))
    home = _prepare_home(cli.home, bot, config.supervisor.stopwaitsecs)
    environ = merged_environ(cli.home, cli.environ)
    token = f"sandbox.{bot}.{secrets.token_urlsafe(16)}"

    server = SandboxThread().start()
    stub: AnthropicStandin | None = None
    jokes: JokesStandin | None = None
    supervisor: Supervisor | None = None
    # A closed terminal (SIGHUP) or a kill (SIGTERM) must still stop the bot: turn both
    # into KeyboardInterrupt, which ends the chat and runs the cleanup below.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        bot_user_id = server.add_bot(token, bot)
        if config.personality.behaviour.enabled and config.personality.behaviour.commands.joke_command:
            jokes = JokesStandin()
            server.run(jokes.start())
        adapt_config(BotPaths(home, bot).config, owner_id=HUMAN_USER_ID, jokes_url=jokes.url if jokes else None)
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
            stub = AnthropicStandin(mode_of=_mode_reader(config))
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
        watch = SessionWatch(BotPaths(home, bot), home / "logs" / f"{bot}.conversation.jsonl", config.api.model,
                             standin=stub is not None)

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
            commands = _chat_commands(config)
            shutdown = config.personality.behaviour.commands.shutdown_command
            input_fn = _scripted_input(
                list(say),
                lambda line: bool(direct.match(line) or (not private and (mention.search(line) or _first(line) in commands))),
                wait_reply, lambda: len(server.events()),
                ends_session=lambda line: shutdown is not None and _first(line) == shutdown.lower(),
                wait_end=lambda: _wait_for_exit(reply_timeout),
                settle=lambda: _wait_for_exit(1.0),
            )
        run_terminal_chat(server, GENERAL_CHANNEL_ID, HUMAN_USER_ID, out.console, input_fn=input_fn, side=watch,
                          interrupt=_wake_main_thread, extra_help=lambda: _help_lines(config))
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
        if jokes is not None:
            server.run(jokes.stop())
        server.stop()
        lock.release()
    out.print(f"Sandbox closed; {bot} stopped. Its log stays at {home / config.log_file}")


def register(app: typer.Typer) -> None:
    app.command()(sandbox)
