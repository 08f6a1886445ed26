"""The keeper process: ``python -m framework.supervisor.keeper BOT`` (or ``BOT@K``).

``bot_manager spawn`` starts it detached (new session, no terminal, stdio to /dev/null).
It holds ``run/<bot>.lock``, writes ``run/<bot>.pid`` and ``run/<bot>.state.json``, runs
the bot runtime as its child and copies the child's output, redacted, into the bot's
rotating log file together with its own events. The state machine is
:class:`~framework.supervisor.machine.Keeper`; this module only wires the real OS to it.

A bot split into shard processes (``discord.shards.processes``) gets one keeper per
process, named ``BOT@K``: it holds ``run/<bot>@<k>.*`` and ``logs/<bot>@<k>.log``, and
hands the runtime its share in the environment (``BOT_SHARD_PROCESS``, with
``DISCORD_SHARD_COUNT`` and ``DISCORD_SHARD_IDS`` spelled out for anyone reading ``ps`` (an
exec'd bot's; a bot forked from the zygote shows the zygote's environment in ``/proc``),
and ``BOT_HEALTH_PORT`` = ``health.port + k`` so the processes of one machine never
compete for a port).

Test hook: ``--child-cmd '["python", "fake_bot.py", "alpha"]'`` (a JSON list, hidden from
``--help``) replaces the runtime command, used verbatim. It is a command-line argument
of the keeper on purpose, not an environment variable, so nothing inherited by a real
deployment can switch it on; ``Supervisor(child_cmd=...)`` passes it.

Keeper exit codes: 0 stopped, 1 fatal, 78 the bot config does not load, 75 another
keeper already holds the lock (the second ``spawn`` in a race).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

from .. import exitcodes
from ..errors import SupervisorError
from ..logfile import DATE_FORMAT, LOG_FORMAT, rotating_handler
from ..paths import BotPaths, project_home, split_process_name
from ..redact import Redactor
from .machine import Keeper, KeeperSettings
from .pidfile import EXIT_LOCKED, KeeperLock
from ..clock import SystemBlockingClock
from .process_ops import ProcessOps
from .keeper_config import KeeperConfig, read_keeper_config
from .shares import SHARE_VARS
from .zygote_client import ForkingOps
from .zygote_protocol import preload_switched_off
from .states import BotState, KeeperStatus, write_state

__all__ = ["main", "runtime_command", "EXIT_LOCKED", "LogSink"]

_log = logging.getLogger(__name__)


def runtime_command(bot_id: str) -> list[str]:
    """The command of the real bot runtime, as the process contract specifies."""
    return [sys.executable, "-u", "-m", "framework.runtime", bot_id]


class _KeeperFormatter(logging.Formatter):
    """Child lines go in verbatim (the runtime formats its own); keeper events get a prefix."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "raw", False):
            return record.getMessage()
        return super().format(record)


class LogSink:
    """Writes into the bot's log file through one rotating handler (thread-safe)."""

    def __init__(self, handler: logging.Handler) -> None:
        handler.setFormatter(_KeeperFormatter(LOG_FORMAT, DATE_FORMAT))
        self._handler = handler

    def event(self, level: int, message: str) -> None:
        self._emit(level, message, raw=False)

    def output(self, line: str) -> None:
        self._emit(logging.INFO, line, raw=True)

    def _emit(self, level: int, message: str, raw: bool) -> None:
        # A record built by hand: args=None so a '%' in a child's line is never formatted.
        record = logging.LogRecord("supervisor", level, __file__, 0, message, None, None)
        record.raw = raw
        self._handler.handle(record)

    def close(self) -> None:
        self._handler.close()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m framework.supervisor.keeper",
        description="Supervise one bot runtime (started by `bot_manager spawn`; not meant to be run by hand).",
    )
    parser.add_argument("bot", help="bot id (bots/<bot>.yaml), or <bot>@<k> for its shard process k")
    parser.add_argument("--child-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if split_process_name(args.bot) is None:
        parser.error(f"invalid bot id {args.bot!r}")
    if args.child_cmd is not None:
        try:
            cmd = json.loads(args.child_cmd)
        except ValueError:
            parser.error("--child-cmd must be a JSON list of strings")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
            parser.error("--child-cmd must be a non-empty JSON list of strings")
        args.child_cmd = cmd
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    home = project_home()
    paths = BotPaths.for_process(home, args.bot)
    lock = KeeperLock(paths.keeper_lock)
    try:
        lock.acquire()
    except SupervisorError:
        # Another keeper owns this bot and its files: leave everything to it.
        return EXIT_LOCKED
    try:
        return _supervise(paths.name, home, paths, args.child_cmd or runtime_command(paths.bot_id))
    finally:
        lock.release()


def _supervise(bot_id: str, home: Path, paths: BotPaths, command: list[str]) -> int:
    clock = SystemBlockingClock()

    def give_up(code: int, reason: str) -> int:
        # Nothing was started; the state file is the only place `spawn` can read why.
        write_state(
            paths.state_file,
            KeeperStatus(BotState.FATAL, last_exit_code=code, last_error=reason, updated_at=clock.time()),
        )
        return code

    environ = {k: v for k, v in os.environ.items() if k not in SHARE_VARS}
    # Read in a fork: the config models (pydantic, ruamel) never load in the keeper itself.
    config = read_keeper_config(paths, home, environ)
    if config.config_error is not None or config.settings is None:
        return give_up(exitcodes.CONFIG, config.config_error or "the config did not load")
    env = {**environ, **(config.share or {}), "BOT_HOME": str(home), "PYTHONUNBUFFERED": "1", "BOT_MANAGER_SUPERVISED": "1"}
    redact = Redactor(config.secrets)
    log_path = Path(config.log_path)
    try:
        handler = rotating_handler(log_path, config.max_size_mb, config.backup_count)
    except OSError as exc:
        return give_up(exitcodes.FAILURE, f"cannot open the log file {log_path}: {exc.strerror or exc}")
    sink = LogSink(handler)
    settings = config.settings
    ops = _process_ops(home, environ, config, settings, sink)
    keeper = Keeper(
        bot_id,
        paths,
        command,
        ops=ops,
        clock=clock,
        settings=settings,
        sink=sink,
        env=env,
        redact=redact,
    )

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        keeper.request_stop()

    def _on_hangup(signum: int, frame: FrameType | None) -> None:
        _log.debug("ignoring SIGHUP")

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # There is no terminal (new session), but a stray SIGHUP must not kill the keeper and
    # orphan the bot. A handler rather than SIG_IGN: exec resets handlers, so the runtime
    # starts with default dispositions, whereas an ignored signal would stay ignored.
    signal.signal(signal.SIGHUP, _on_hangup)
    try:
        return keeper.run()
    except Exception as exc:  # the keeper's own bug: record it where `status` and `logs` show it
        sink.event(logging.ERROR, redact(traceback.format_exc().rstrip()))
        keeper.abort(f"keeper error: {type(exc).__name__}: {exc}")
        return exitcodes.FAILURE
    finally:
        if isinstance(ops, ForkingOps):
            ops.close()
        sink.close()


def _process_ops(
    home: Path, environ: dict[str, str], config: KeeperConfig, settings: KeeperSettings, sink: LogSink
) -> ProcessOps | ForkingOps:
    """Fork bots from the project's zygote unless the config or ``BOT_PRELOAD=0`` says not to."""
    if not config.preload or preload_switched_off(environ):
        return ProcessOps()
    return ForkingOps(
        home, environ, grace=settings.stopwaitsecs, notify=lambda message: sink.event(logging.WARNING, message),
        extras=config.extras,
    )


if __name__ == "__main__":
    sys.exit(main())
