"""``python -m framework.runtime BOT``: run one bot in this process (the keeper's child)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from .. import exitcodes
from ..config import BotConfig, load_bot_config, merged_environ
from ..config.health import HEALTH_PORT_ENV
from ..config.shards import PROCESS_ENV, shard_process_index
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


def _flock(path: Path, mode: int) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _single_instance_lock(paths: BotPaths) -> list[int] | None:
    """Hold this process's locks for its life, or None if another process holds them.

    Both `spawn` (through the keeper) and `run` come through here, so two copies of one
    bot, which would answer everything twice, can never run at once. A bot run as one
    process holds its lock exclusive; a shard process holds the bot's lock shared (its
    sibling processes too) and its own exclusive, so neither a second copy of a shard
    process nor a whole copy of the bot beside the shard processes can start. The kernel
    drops the locks when the process dies, however it dies.
    """
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    if paths.shard_process is None:
        fd = _flock(paths.runtime_lock, fcntl.LOCK_EX)
        return None if fd is None else [fd]
    bot_fd = _flock(paths.bot_runtime_lock, fcntl.LOCK_SH)
    if bot_fd is None:
        return None
    own_fd = _flock(paths.runtime_lock, fcntl.LOCK_EX)
    if own_fd is None:
        os.close(bot_fd)
        return None
    return [bot_fd, own_fd]


def _with_health_port(config: BotConfig, environ: Mapping[str, str]) -> BotConfig:
    """``BOT_HEALTH_PORT`` replaces ``health.port``: the image's HEALTHCHECK reads the same
    variable, and each shard process on one machine is given its own port in it."""
    value = (environ.get(HEALTH_PORT_ENV) or "").strip()
    if not value:
        return config
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigError(f"{HEALTH_PORT_ENV}={value!r} is not a TCP port; set a number from 1 to 65535, or unset it")
    return config.model_copy(update={"health": config.health.model_copy(update={"port": int(value)})})


def _process_paths(home: Path, bot_id: str, config: BotConfig | None, environ: Mapping[str, str]) -> BotPaths:
    """This process's paths: the bot's, or one shard process's (``BOT_SHARD_PROCESS``).
    Before the config loads, a well-formed index is taken at its word, so a config error
    is still reported in the run files the keeper of that process reads."""
    if config is None:
        value = (environ.get(PROCESS_ENV) or "").strip()
        return BotPaths(home, bot_id, int(value) if value.isdigit() and len(value) < 3 else None)
    return BotPaths(home, bot_id, shard_process_index(config.discord.shards, environ))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not BOT_ID_PATTERN.match(args[0]):
        print("usage: python -m framework.runtime BOT", file=sys.stderr)
        return exitcodes.USAGE
    bot_id = args[0]
    home = project_home()
    environ = merged_environ(home)
    paths = _process_paths(home, bot_id, None, environ)
    paths.exit_file.unlink(missing_ok=True)
    redact = Redactor(secret_values(environ))
    try:
        config = load_bot_config(paths.config, home)
        paths = _process_paths(home, bot_id, config, environ)
        config = _with_health_port(config, environ)
    except ConfigError as exc:
        message = redact(str(exc))
        print(f"configuration error: {message}", file=sys.stderr)
        _report_exit(paths, exitcodes.CONFIG, message.splitlines()[0])
        return exitcodes.CONFIG
    redact = setup_logging(
        config, paths.log_file(config.log_file), environ, supervised=environ.get("BOT_MANAGER_SUPERVISED") == "1"
    )
    lock = _single_instance_lock(paths)
    if lock is None:
        message = (
            f"{paths.name} is already running in another process ({paths.runtime_lock.name} or "
            f"{paths.bot_runtime_lock.name} in {paths.run_dir} is held); stop it first (`bot_manager stop {bot_id}`, "
            f"or Ctrl-C where `bot_manager run {paths.name}` runs)"
        )
        _log.error("%s", message)
        _report_exit(paths, exitcodes.FAILURE, message)
        return exitcodes.FAILURE
    # The SDKs read these themselves when no base URL is passed: an empty one (copied
    # from .env.example) would replace the real endpoint with ''.
    for name in ("ANTHROPIC_BASE_URL", "GROQ_BASE_URL"):
        if os.environ.get(name) == "":
            del os.environ[name]
    _log.info("starting %s (pid %d, model %s)", paths.name, os.getpid(), config.api.model)
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
