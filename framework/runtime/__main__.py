"""``python -m framework.runtime BOT``: run one bot in this process (the keeper's child)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sys
from datetime import datetime, timezone

from .. import exitcodes
from ..config import load_bot_config, merged_environ
from ..errors import ConfigError, UnreachableError
from ..fsutil import atomic_write_json
from ..paths import BOT_ID_PATTERN, BotPaths, project_home
from ..redact import Redactor, secret_values
from .app import BotRuntime
from .logs import FILE_ONLY, setup_logging

_log = logging.getLogger("framework.runtime")


def _report_exit(paths: BotPaths, code: int, error: str) -> None:
    atomic_write_json(
        paths.exit_file,
        {"exit_code": code, "error": error, "at": datetime.now(timezone.utc).isoformat()},
    )


def _single_instance_lock(paths: BotPaths) -> int | None:
    """Hold an exclusive lock for this bot for the life of the process, or None if taken.

    Both `spawn` (through the keeper) and `run` come through here, so two copies of one
    bot, which would answer everything twice, can never run at once. The kernel drops
    the lock when the process dies, however it dies.
    """
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.runtime_lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not BOT_ID_PATTERN.match(args[0]):
        print("usage: python -m framework.runtime BOT", file=sys.stderr)
        return exitcodes.USAGE
    bot_id = args[0]
    home = project_home()
    environ = merged_environ(home)
    paths = BotPaths(home, bot_id)
    paths.exit_file.unlink(missing_ok=True)
    redact = Redactor(secret_values(environ))
    try:
        config = load_bot_config(paths.config, home)
    except ConfigError as exc:
        message = redact(str(exc))
        print(f"configuration error: {message}", file=sys.stderr)
        _report_exit(paths, exitcodes.CONFIG, message.splitlines()[0])
        return exitcodes.CONFIG
    redact = setup_logging(config, home, environ, supervised=environ.get("BOT_MANAGER_SUPERVISED") == "1")
    lock = _single_instance_lock(paths)
    if lock is None:
        message = (
            f"{bot_id} is already running in another process ({paths.runtime_lock} is held); "
            f"stop it first (`bot_manager stop {bot_id}`, or Ctrl-C where `bot_manager run {bot_id}` runs)"
        )
        _log.error("%s", message)
        _report_exit(paths, exitcodes.FAILURE, message)
        return exitcodes.FAILURE
    # The SDKs read these themselves when no base URL is passed: an empty one (copied
    # from .env.example) would replace the real endpoint with ''.
    for name in ("ANTHROPIC_BASE_URL", "GROQ_BASE_URL"):
        if os.environ.get(name) == "":
            del os.environ[name]
    _log.info("starting %s (pid %d, model %s)", bot_id, os.getpid(), config.api.model)
    try:
        return asyncio.run(BotRuntime(config, paths, environ, redact=redact).run())
    except ConfigError as exc:
        message = redact(str(exc))
        _log.error("configuration error: %s", message)
        _report_exit(paths, exitcodes.CONFIG, message)
        return exitcodes.CONFIG
    except UnreachableError as exc:
        # The network's fault, not the bot's: one line on the terminal, the traceback in
        # the log file only, and an exit code that tells the keeper to keep trying.
        message = redact(str(exc))
        _log.error("%s; exiting with code %d to be retried", message, exitcodes.UNREACHABLE)
        _log.error("%s: the underlying error", message, exc_info=exc, extra=FILE_ONLY)
        _report_exit(paths, exitcodes.UNREACHABLE, message)
        return exitcodes.UNREACHABLE
    except KeyboardInterrupt:
        return exitcodes.OK
    except Exception as exc:  # the crash path: logged with traceback, reported, restarted by the keeper
        _log.exception("crashed")
        _report_exit(paths, exitcodes.FAILURE, redact(f"{type(exc).__name__}: {exc}"))
        return exitcodes.FAILURE


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown, once everything is closed and flushed.

    With the anthropic SDK loaded, tearing down the interpreter takes ~0.4 s (measured)
    of a ~0.5 s stop; by the time ``main`` returns the gateway session, the database and
    the log files are closed, so nothing is left for the teardown to do but free memory.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
