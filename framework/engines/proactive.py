"""When and where the bot may start a conversation unprompted.

Pure policy: the caller gathers each allowed channel's activity (message store) and the
bot's own past posts (proactive log) into :class:`ChannelActivity` rows, and
:meth:`ProactivePolicy.choose` answers with one channel or none, saying why. No IO, no
clock: ``now`` is an argument.

The rules, in order:

1. ``enabled`` false: nothing.
2. Quiet hours, read on the server's clock (``timezone``): nothing.
3. The global daily cap, "today" on the server's clock (the caller counts the posts
   since :func:`local_day_start`): nothing.
4. Less than ``min_provocation_gap_hours`` since the last proactive post anywhere: nothing.
5. Per channel: listed in ``allowed_channels`` (empty = none: proactive talk is opt-in per
   channel); idle at least ``min_idle_hours`` and at most ``max_idle_hours`` (a channel
   silent for longer is dead, one with no message never active); under its daily cap.
6. Back-off: a channel with at least ``min_samples`` evaluated posts in the learning window
   and a success rate below ``engagement_threshold`` waits ``min_provocation_gap_hours *
   backoff_factor`` after its own last post, and gets one post a day at most.
7. Among the channels left, the highest success rate wins, smoothed as (engaged + 1) /
   (evaluated + 2), so a channel with no history counts as 0.5; ties go to the channel
   idle longest, then the lowest id. The choice is deterministic.

Quiet hours are whole local hours ``[start, end)``: ``(22, 6)`` wraps past midnight
(22:00-05:59), ``start == end`` means none, ``(0, 24)`` means always. On a DST night the
local hour is what a clock on the wall shows: a skipped hour never happens, a repeated
one is quiet both times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Sequence
from zoneinfo import ZoneInfo

from ..config.models import ProactiveConfig

__all__ = [
    "ChannelActivity",
    "ProactiveChoice",
    "ProactivePolicy",
    "local_day_start",
    "quiet_hours_active",
]

_HOUR = timedelta(hours=1)


def _aware(value: datetime) -> datetime:
    # A naive datetime is taken as UTC, as the stores do.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def quiet_hours_active(now_utc: datetime, quiet_hours: tuple[int, int], tz: str) -> bool:
    """Whether ``now_utc`` falls in the quiet hours ``[start, end)`` of the clock in ``tz``."""
    start, end = quiet_hours
    if start == end:
        return False
    hour = _aware(now_utc).astimezone(ZoneInfo(tz)).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # wraps past midnight


def local_day_start(now_utc: datetime, tz: str) -> datetime:
    """The UTC instant at which the local day holding ``now_utc`` began in ``tz``.

    Where a DST change skips midnight, the day begins at the first local time that exists.
    """
    zone = ZoneInfo(tz)
    local = _aware(now_utc).astimezone(zone)
    # fold=0 (PEP 495) reads a skipped midnight (America/Santiago in September) with the
    # offset in force before the jump, which lands on 01:00, the day's first instant; a
    # repeated midnight (America/Havana in November) as its first occurrence.
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class ChannelActivity:
    """One channel as the policy sees it.

    ``last_message_at``: the channel's latest message (None: nothing stored);
    ``posts_today``: proactive posts in it since :func:`local_day_start`;
    ``last_post_at``: its latest proactive post; ``engaged``/``evaluated``: outcomes of its
    proactive posts over the learning window.
    """

    channel_id: str
    guild_id: str | None
    last_message_at: datetime | None
    posts_today: int
    last_post_at: datetime | None
    engaged: int
    evaluated: int


@dataclass(frozen=True)
class ProactiveChoice:
    """The channel to talk in (None: nowhere), why, and why not each other channel."""

    channel_id: str | None
    reason: str
    skipped: dict[str, str] = field(default_factory=dict)


def _hours(delta: timedelta) -> str:
    return f"{delta / _HOUR:.1f} h"


def _rate(engaged: int, evaluated: int) -> str:
    return f"{engaged}/{evaluated} engaged ({engaged / evaluated:.0%})" if evaluated else "no history"


class ProactivePolicy:
    """Decides where (if anywhere) to start a conversation; see the module docstring."""

    def __init__(self, config: ProactiveConfig, *, min_samples: int = 3, backoff_factor: float = 4.0) -> None:
        if min_samples < 1:
            raise ValueError(f"min_samples must be 1 or more, got {min_samples}")
        if backoff_factor < 1:
            raise ValueError(f"backoff_factor must be 1 or more, got {backoff_factor}")
        self.config = config
        self.min_samples = min_samples
        self.backoff_factor = backoff_factor

    def choose(
        self,
        now: datetime,
        channels: Sequence[ChannelActivity],
        *,
        posts_today_global: int,
        last_post_at_global: datetime | None,
        rng: random.Random | None = None,
    ) -> ProactiveChoice:
        """Pick a channel for a conversation starter at ``now``, or none.

        Args:
            now: the current instant (UTC).
            channels: the activity of the candidate channels (normally the allowed ones);
                an allowed channel missing here counts as never active.
            posts_today_global: proactive posts anywhere since :func:`local_day_start`.
            last_post_at_global: the latest proactive post anywhere.
            rng: unused; the choice is deterministic. Accepted so a caller may pass one.
        """
        del rng
        config = self.config
        now = _aware(now)
        if not config.enabled:
            return ProactiveChoice(None, "proactive talk is disabled")
        start, end = config.quiet_hours
        if quiet_hours_active(now, config.quiet_hours, config.timezone):
            local = now.astimezone(ZoneInfo(config.timezone))
            return ProactiveChoice(
                None, f"quiet hours {start:02d}:00-{end:02d}:00 {config.timezone} (it is {local:%H:%M} there)"
            )
        if posts_today_global >= config.max_per_day_global:
            return ProactiveChoice(
                None, f"daily cap reached: {posts_today_global} of {config.max_per_day_global} posts today"
            )
        gap = timedelta(hours=config.min_provocation_gap_hours)
        if last_post_at_global is not None and now - _aware(last_post_at_global) < gap:
            return ProactiveChoice(
                None,
                f"last proactive post {_hours(now - _aware(last_post_at_global))} ago; "
                f"the minimum gap is {_hours(gap)}",
            )
        if not config.allowed_channels:
            return ProactiveChoice(
                None, "no channel allows proactive talk: it is opt-in, list channel ids in allowed_channels"
            )
        allowed = set(config.allowed_channels)
        skipped: dict[str, str] = {}
        eligible: list[tuple[float, timedelta, str, str]] = []
        for activity in channels:
            idle = None if activity.last_message_at is None else now - _aware(activity.last_message_at)
            why_not = self._why_not(now, activity, idle, allowed)
            if why_not is not None or idle is None:
                skipped[activity.channel_id] = why_not or "never active: no message stored"
                continue
            score = (activity.engaged + 1) / (activity.evaluated + 2)
            reason = f"idle {_hours(idle)}, {_rate(activity.engaged, activity.evaluated)}"
            eligible.append((score, idle, activity.channel_id, reason))
        seen = {a.channel_id for a in channels}
        for channel_id in config.allowed_channels:
            if channel_id not in seen:
                skipped[channel_id] = "never active: no message stored"
        if not eligible:
            return ProactiveChoice(None, "no allowed channel is eligible", skipped)
        # Highest smoothed rate, then longest idle, then lowest id.
        _, _, channel_id, reason = min(eligible, key=lambda e: (-e[0], -e[1], e[2]))
        return ProactiveChoice(channel_id, reason, skipped)

    def _why_not(
        self, now: datetime, activity: ChannelActivity, idle: timedelta | None, allowed: set[str]
    ) -> str | None:
        """Why this channel may not get a post now, or None when it may."""
        config = self.config
        if activity.channel_id not in allowed:
            return "not in allowed_channels"
        if idle is None:
            return "never active: no message stored"
        min_idle = timedelta(hours=config.min_idle_hours)
        max_idle = timedelta(hours=config.max_idle_hours)
        if idle < min_idle:
            return f"active {_hours(idle)} ago; waits for {_hours(min_idle)} of silence"
        if idle > max_idle:
            return f"dead channel: silent for {_hours(idle)}, over {_hours(max_idle)}"
        backoff = (
            activity.evaluated >= self.min_samples
            and activity.engaged / activity.evaluated < config.engagement_threshold
        )
        cap = min(1, config.max_per_day_per_channel) if backoff else config.max_per_day_per_channel
        low = (
            f"; backing off: {_rate(activity.engaged, activity.evaluated)} is below "
            f"{config.engagement_threshold:.0%}"
            if backoff
            else ""
        )
        if activity.posts_today >= cap:
            return f"channel cap reached: {activity.posts_today} of {cap} posts today{low}"
        if backoff and activity.last_post_at is not None:
            wait = timedelta(hours=config.min_provocation_gap_hours * self.backoff_factor)
            since = now - _aware(activity.last_post_at)
            if since < wait:
                return f"last post here {_hours(since)} ago, waits {_hours(wait)}{low}"
        return None
