"""The framework's exception tree.

    FrameworkError
     +-- ConfigError        a bot config or the environment is invalid (exit code 78)
     +-- SupervisorError    a process operation failed (spawn, stop, pidfile)
     +-- StoreError         the message store could not read or write
     +-- LLMError           a model call failed after every fallback
     +-- UnreachableError   Discord (or DNS) could not be reached; retried (exit code 75)

Messages say what failed, where (file, field, bot, pid) and what to do next.
"""

from __future__ import annotations

__all__ = ["FrameworkError", "ConfigError", "SupervisorError", "StoreError", "LLMError", "UnreachableError"]


class FrameworkError(Exception):
    """Root of every error the framework raises on purpose."""


class ConfigError(FrameworkError):
    """A configuration problem a person must fix; never retried."""


class SupervisorError(FrameworkError):
    """A process-management operation failed."""


class StoreError(FrameworkError):
    """The message store failed."""


class LLMError(FrameworkError):
    """A model call failed."""


class UnreachableError(FrameworkError):
    """Discord (or the DNS that finds it) could not be reached: the network, not the
    configuration. The message is one line, e.g. ``cannot reach discord.com (DNS)``."""
