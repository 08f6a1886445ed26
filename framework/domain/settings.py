"""What ``/settings`` shows about the model chain: plain values, safe to print.

A key is known by its alias (the environment variable's name), never its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KeyView", "ProviderView"]


@dataclass(frozen=True)
class KeyView:
    """One key: ``healthy``, ``cooling`` (resting after failures or a rate limit) or
    ``locked`` (refused by the provider), with its use count and the rest still to go."""

    alias: str
    state: Literal["healthy", "cooling", "locked"]
    usage: str  # e.g. "12 calls" or "3 today, 40 in all"
    remaining_seconds: float = 0.0


@dataclass(frozen=True)
class ProviderView:
    """One provider of the chain: its models (in order) and its keys (empty: needs none)."""

    name: str
    models: tuple[str, ...]
    keys: tuple[KeyView, ...]
    active: bool = True  # False: configured, but left out of the chain (no key)
