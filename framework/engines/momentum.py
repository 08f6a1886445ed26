"""Conversation momentum, ported from ``get_conversation_momentum`` of the single-bot predecessor.

The mean gap between consecutive messages classifies a channel: under 15 min "hot",
under 1 h "warm", otherwise "cold"; fewer than two messages is "cold". The original's comment
said 10 min while its code used 900 s; the code's 900 s is kept.
Momentum picks the chance of an unsolicited reply from the persona's engagement rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from ..config.models import EngagementConfig

__all__ = ["Momentum", "conversation_momentum", "response_chance", "HOT_GAP_S", "WARM_GAP_S"]

Momentum = Literal["hot", "warm", "cold"]

HOT_GAP_S = 900.0
WARM_GAP_S = 3600.0


def conversation_momentum(
    timestamps: Sequence[datetime], *, hot_gap_s: float = HOT_GAP_S, warm_gap_s: float = WARM_GAP_S
) -> Momentum:
    """Classify activity from message timestamps (all aware, or all naive).

    The timestamps are sorted first. The original took them in store order; a store that
    hands them newest-first (or an edit that reorders them) would give negative gaps
    and a falsely "hot" channel, so order is not trusted. After sorting, the mean gap is
    (last - first) / (n - 1).
    """
    if len(timestamps) < 2:
        return "cold"
    ordered = sorted(timestamps)
    gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:])]
    mean_gap = sum(gaps) / len(gaps)
    if mean_gap < hot_gap_s:
        return "hot"
    if mean_gap < warm_gap_s:
        return "warm"
    return "cold"


def response_chance(momentum: Momentum, engagement: EngagementConfig) -> float:
    """The persona's unsolicited-reply probability for this momentum."""
    if momentum == "hot":
        return engagement.hot_conversation_rate
    if momentum == "warm":
        return engagement.warm_conversation_rate
    return engagement.cold_conversation_rate
