"""The per-bot log file: size-rotated, so weeks of running never fill the disk."""

from __future__ import annotations

import logging.handlers
from pathlib import Path

__all__ = ["LOG_FORMAT", "DATE_FORMAT", "rotating_handler"]

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def rotating_handler(path: Path, max_size_mb: float, backup_count: int) -> logging.handlers.RotatingFileHandler:
    """A handler that rotates ``path`` at ``max_size_mb`` keeping ``backup_count`` old files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return logging.handlers.RotatingFileHandler(
        path,
        maxBytes=max(1, int(max_size_mb * 1024 * 1024)),
        backupCount=backup_count,
        encoding="utf-8",
    )
