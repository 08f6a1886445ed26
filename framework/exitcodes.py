"""Exit codes shared by the CLI, the keeper and the bot runtime (see ARCHITECTURE.md)."""

from __future__ import annotations

OK = 0
FAILURE = 1
USAGE = 2
CONFIG = 78  # EX_CONFIG from sysexits.h: never retried by the keeper
# EX_TEMPFAIL: Discord (or DNS) could not be reached. The keeper retries with capped
# backoff for as long as it takes and never counts it towards `fatal`.
UNREACHABLE = 75
