"""Logging setup of one bot process: redacted, to stderr, and (unsupervised) to the rotating file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Mapping

from ..config import BotConfig
from ..logfile import DATE_FORMAT, LOG_FORMAT, rotating_handler
from ..redact import RedactingFormatter, Redactor, secret_values

__all__ = ["FILE_ONLY", "setup_logging"]

# ``extra=FILE_ONLY`` on a record keeps it out of the terminal of `bot_manager run` (a
# traceback a person need not read there); the log file still gets it.
FILE_ONLY = {"file_only": True}


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def setup_logging(config: BotConfig, log_file: Path, environ: Mapping[str, str], supervised: bool) -> Redactor:
    """Configure the root logger for a bot process and return the redactor it uses.

    Supervised, the keeper copies stderr into ``log_file`` (one writer, one rotation); in
    the foreground (``bot_manager run``) the process writes that file itself too.
    ``log_file`` is the config's ``logging.file``, per process for a shard process.
    """
    redactor = Redactor(secret_values(environ, [config.discord.token_env_var]))
    formatter = RedactingFormatter(redactor, fmt=LOG_FORMAT, datefmt=DATE_FORMAT)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    if not supervised:
        # Supervised, stderr is the log file (the keeper copies it there); here it is a terminal.
        stderr.addFilter(_not_file_only)
        file_handler = rotating_handler(log_file, config.logging.max_size_mb, config.logging.backup_count)
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    level = (environ.get("LOG_LEVEL") or config.logging.level).upper()
    root.setLevel(getattr(logging, level, logging.INFO))
    # Heartbeat chatter from the gateway is noise at INFO.
    logging.getLogger("discord.gateway").setLevel(max(root.level, logging.WARNING))
    return redactor
