"""The proactive policy: quiet hours on the server's clock (midnight, DST), the local day,
caps, gaps, the idle window, allowed channels, back-off and the choice between channels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from framework.config.models import ProactiveConfig
from framework.engines.proactive import (
    ChannelActivity,
    ProactiveChoice,
    ProactivePolicy,
    local_day_start,
    quiet_hours_active,
)
from framework.storage import ProactiveLog

UTC = timezone.utc
H = timedelta(hours=1)
# Sunday 2026-11-22 12:00 UTC: 04:00 in Los Angeles, 13:00 in Berlin.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
A, B, C = "111", "222", "333"


def config(**kw: Any) -> ProactiveConfig:
    base: dict[str, Any] = dict(quiet_hours=(0, 6), allowed_channels=[A, B, C])
    base.update(kw)
    return ProactiveConfig(**base)


def channel(channel_id: str = A, *, idle: timedelta | None = 2 * H, posts_today: int = 0,
            last_post: timedelta | None = None, engaged: int = 0, evaluated: int = 0) -> ChannelActivity:
    return ChannelActivity(
        channel_id=channel_id,
        guild_id="9",
        last_message_at=None if idle is None else NOW - idle,
        posts_today=posts_today,
        last_post_at=None if last_post is None else NOW - last_post,
        engaged=engaged,
        evaluated=evaluated,
    )


def choose(channels: list[ChannelActivity], *, cfg: ProactiveConfig | None = None, now: datetime = NOW,
           posts_today_global: int = 0, last_post_at_global: datetime | None = None,
           **policy: Any) -> ProactiveChoice:
    return ProactivePolicy(cfg or config(), **policy).choose(
        now, channels, posts_today_global=posts_today_global, last_post_at_global=last_post_at_global
    )


def quiet_minutes(start: datetime, hours: int, quiet: tuple[int, int], tz: str) -> int:
    """Real minutes in ``hours`` from ``start`` during which the quiet hours hold."""
    return sum(quiet_hours_active(start + timedelta(minutes=m), quiet, tz) for m in range(hours * 60))


# -- quiet hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_hm", "quiet", "expected"),
    [
        ((23, 0), (22, 6), True),   # wraps past midnight
        ((0, 30), (22, 6), True),
        ((5, 59), (22, 6), True),
        ((6, 0), (22, 6), False),   # end is exclusive
        ((21, 59), (22, 6), False),
        ((22, 0), (22, 6), True),   # start is inclusive
        ((3, 0), (0, 6), True),
        ((12, 0), (0, 6), False),
        ((3, 0), (5, 5), False),    # start == end: no quiet hours
        ((12, 0), (0, 24), True),   # always
        ((23, 59), (0, 24), True),
        ((23, 30), (22, 24), True),  # 24 as the end: up to midnight
        ((0, 0), (22, 24), False),
    ],
)
def test_quiet_hours_in_utc(local_hm: tuple[int, int], quiet: tuple[int, int], expected: bool) -> None:
    now = datetime(2026, 11, 22, *local_hm, tzinfo=UTC)
    assert quiet_hours_active(now, quiet, "UTC") is expected


def test_quiet_hours_read_the_servers_clock() -> None:
    # One instant, three servers: 04:00 in Los Angeles, 13:00 in Berlin, 17:30 in Kolkata.
    assert quiet_hours_active(NOW, (0, 6), "America/Los_Angeles")
    assert not quiet_hours_active(NOW, (0, 6), "Europe/Berlin")
    assert not quiet_hours_active(NOW, (0, 6), "UTC")
    # Kolkata is UTC+5:30: its midnight is 18:30 UTC.
    assert not quiet_hours_active(datetime(2026, 11, 22, 18, 29, tzinfo=UTC), (0, 6), "Asia/Kolkata")
    assert quiet_hours_active(datetime(2026, 11, 22, 18, 30, tzinfo=UTC), (0, 6), "Asia/Kolkata")
    # Past local midnight in Los Angeles while UTC is still mid-morning the next day.
    assert quiet_hours_active(datetime(2026, 11, 23, 7, 59, tzinfo=UTC), (22, 6), "America/Los_Angeles")
    assert not quiet_hours_active(datetime(2026, 11, 23, 14, 0, tzinfo=UTC), (22, 6), "America/Los_Angeles")


def test_naive_time_is_taken_as_utc() -> None:
    assert quiet_hours_active(datetime(2026, 11, 22, 12, 0), (0, 6), "America/Los_Angeles")


def test_quiet_hours_on_the_spring_forward_night_los_angeles() -> None:
    # 2026-03-08: 02:00 PST jumps to 03:00 PDT (10:00 UTC); 01:00-01:59 PST is 09:00-09:59 UTC.
    night = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 22:00 PST the evening before
    assert quiet_hours_active(datetime(2026, 3, 8, 9, 59, tzinfo=UTC), (1, 3), "America/Los_Angeles")
    assert not quiet_hours_active(datetime(2026, 3, 8, 10, 0, tzinfo=UTC), (1, 3), "America/Los_Angeles")  # 03:00 PDT
    # Hour 2 never happens that night: [1, 3) is one real hour, [2, 3) none at all.
    assert quiet_minutes(night, 8, (1, 3), "America/Los_Angeles") == 60
    assert quiet_minutes(night, 8, (2, 3), "America/Los_Angeles") == 0
    assert quiet_minutes(night, 8, (0, 6), "America/Los_Angeles") == 5 * 60


def test_quiet_hours_on_the_fall_back_night_los_angeles() -> None:
    # 2026-11-01: 02:00 PDT falls back to 01:00 PST (09:00 UTC); 01:00-01:59 happens twice.
    night = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 22:00 PDT the evening before
    assert quiet_hours_active(datetime(2026, 11, 1, 8, 30, tzinfo=UTC), (1, 2), "America/Los_Angeles")  # 01:30 PDT
    assert quiet_hours_active(datetime(2026, 11, 1, 9, 30, tzinfo=UTC), (1, 2), "America/Los_Angeles")  # 01:30 PST
    assert not quiet_hours_active(datetime(2026, 11, 1, 10, 0, tzinfo=UTC), (1, 2), "America/Los_Angeles")  # 02:00 PST
    assert quiet_minutes(night, 10, (1, 2), "America/Los_Angeles") == 120
    assert quiet_minutes(night, 10, (0, 6), "America/Los_Angeles") == 7 * 60
    # Across midnight on that night: [22, 6) is nine real hours.
    assert quiet_minutes(night, 10, (22, 6), "America/Los_Angeles") == 9 * 60


def test_quiet_hours_on_both_dst_nights_in_berlin() -> None:
    # 2026-03-29 01:00 UTC: 02:00 CET jumps to 03:00 CEST.
    spring = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert quiet_minutes(spring, 6, (1, 3), "Europe/Berlin") == 60
    assert quiet_minutes(spring, 6, (2, 3), "Europe/Berlin") == 0
    assert quiet_hours_active(datetime(2026, 3, 29, 0, 59, tzinfo=UTC), (1, 3), "Europe/Berlin")  # 01:59 CET
    assert not quiet_hours_active(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), (1, 3), "Europe/Berlin")  # 03:00 CEST
    # 2026-10-25 01:00 UTC: 03:00 CEST falls back to 02:00 CET; 02:00-02:59 happens twice.
    fall = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert quiet_minutes(fall, 6, (2, 3), "Europe/Berlin") == 120
    assert quiet_hours_active(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), (2, 3), "Europe/Berlin")  # 02:30 CEST
    assert quiet_hours_active(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), (2, 3), "Europe/Berlin")  # 02:30 CET


# -- the local day ----------------------------------------------------------------------------


def test_local_day_start_is_local_midnight_as_utc() -> None:
    assert local_day_start(NOW, "UTC") == datetime(2026, 11, 22, tzinfo=UTC)
    assert local_day_start(NOW, "America/Los_Angeles") == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert local_day_start(NOW, "Europe/Berlin") == datetime(2026, 11, 21, 23, tzinfo=UTC)
    assert local_day_start(NOW, "Asia/Kolkata") == datetime(2026, 11, 21, 18, 30, tzinfo=UTC)
    # 07:59 UTC is still Saturday evening in Los Angeles.
    assert local_day_start(datetime(2026, 11, 22, 7, 59, tzinfo=UTC), "America/Los_Angeles") == datetime(
        2026, 11, 21, 8, tzinfo=UTC
    )
    assert local_day_start(datetime(2026, 11, 22, 12, 0), "UTC") == datetime(2026, 11, 22, tzinfo=UTC)  # naive


def test_local_day_start_across_dst_changes() -> None:
    la = "America/Los_Angeles"
    # The spring-forward day is 23 hours long, the fall-back day 25.
    spring = local_day_start(datetime(2026, 3, 8, 20, tzinfo=UTC), la)
    assert spring == datetime(2026, 3, 8, 8, tzinfo=UTC)
    assert local_day_start(datetime(2026, 3, 9, 20, tzinfo=UTC), la) - spring == timedelta(hours=23)
    fall = local_day_start(datetime(2026, 11, 1, 20, tzinfo=UTC), la)
    assert fall == datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert local_day_start(datetime(2026, 11, 2, 20, tzinfo=UTC), la) - fall == timedelta(hours=25)
    # America/Santiago skips midnight on 2026-09-06 (00:00 -> 01:00): the day starts at 01:00.
    assert local_day_start(datetime(2026, 9, 6, 12, tzinfo=UTC), "America/Santiago") == datetime(
        2026, 9, 6, 4, tzinfo=UTC
    )


# -- the rules in order -----------------------------------------------------------------------


def test_disabled_means_nothing() -> None:
    choice = choose([channel()], cfg=config(enabled=False))
    assert choice.channel_id is None and "disabled" in choice.reason


def test_quiet_hours_stop_everything_on_the_servers_clock() -> None:
    # NOW is 04:00 in Los Angeles (quiet) and 13:00 in Berlin (not).
    choice = choose([channel()], cfg=config(timezone="America/Los_Angeles"))
    assert choice.channel_id is None and "quiet hours" in choice.reason and "04:00" in choice.reason
    assert choose([channel()], cfg=config(timezone="Europe/Berlin")).channel_id == A


def test_global_daily_cap() -> None:
    cfg = config(max_per_day_global=2)
    assert choose([channel()], cfg=cfg, posts_today_global=1).channel_id == A
    choice = choose([channel()], cfg=cfg, posts_today_global=2)
    assert choice.channel_id is None and "daily cap" in choice.reason
    assert choose([channel()], cfg=config(max_per_day_global=0)).channel_id is None


def test_minimum_gap_since_the_last_post_anywhere() -> None:
    cfg = config(min_provocation_gap_hours=1.5)
    choice = choose([channel()], cfg=cfg, last_post_at_global=NOW - timedelta(minutes=89))
    assert choice.channel_id is None and "minimum gap" in choice.reason
    assert choose([channel()], cfg=cfg, last_post_at_global=NOW - timedelta(minutes=90)).channel_id == A


def test_allowed_channels_are_opt_in() -> None:
    choice = choose([channel()], cfg=config(allowed_channels=[]))
    assert choice.channel_id is None and "opt-in" in choice.reason
    # A channel outside the list is skipped; a listed one with no stored message too.
    choice = choose([channel("444", idle=3 * H), channel(B)], cfg=config(allowed_channels=[A, B]))
    assert choice.channel_id == B
    assert choice.skipped == {"444": "not in allowed_channels", A: "never active: no message stored"}


def test_idle_window_bounds() -> None:
    cfg = config(min_idle_hours=1, max_idle_hours=8)
    below = choose([channel(idle=H - timedelta(seconds=1))], cfg=cfg)
    assert below.channel_id is None and "waits for 1.0 h of silence" in below.skipped[A]
    assert choose([channel(idle=H)], cfg=cfg).channel_id == A  # at the minimum
    assert choose([channel(idle=8 * H)], cfg=cfg).channel_id == A  # at the maximum
    dead = choose([channel(idle=8 * H + timedelta(seconds=1))], cfg=cfg)
    assert dead.channel_id is None and dead.skipped[A].startswith("dead channel")
    never = choose([channel(idle=None)], cfg=cfg)
    assert never.channel_id is None and never.skipped[A].startswith("never active")
    assert never.reason == "no allowed channel is eligible"


def test_per_channel_daily_cap() -> None:
    cfg = config(max_per_day_per_channel=2)
    choice = choose([channel(A, posts_today=2, idle=5 * H), channel(B, posts_today=1)], cfg=cfg)
    assert choice.channel_id == B
    assert choice.skipped[A] == "channel cap reached: 2 of 2 posts today"


# -- back-off and choice ----------------------------------------------------------------------


def test_back_off_on_a_low_success_rate() -> None:
    cfg = config(min_provocation_gap_hours=1, engagement_threshold=0.3, max_per_day_per_channel=3)
    # 1 of 5 engaged (20% < 30%): the channel waits 4 h after its own last post ...
    low = dict(engaged=1, evaluated=5)
    choice = choose([channel(last_post=3 * H, **low)], cfg=cfg)
    assert choice.channel_id is None
    assert "waits 4.0 h" in choice.skipped[A] and "1/5 engaged (20%) is below 30%" in choice.skipped[A]
    assert choose([channel(last_post=4 * H, **low)], cfg=cfg).channel_id == A
    # ... and gets one post a day at most.
    capped = choose([channel(last_post=5 * H, posts_today=1, **low)], cfg=cfg)
    assert capped.channel_id is None and "1 of 1 posts today; backing off" in capped.skipped[A]
    # backoff_factor sets the longer gap.
    assert choose([channel(last_post=3 * H, **low)], cfg=cfg, backoff_factor=2.0).channel_id == A


def test_no_back_off_without_enough_samples_or_with_a_good_rate() -> None:
    cfg = config(min_provocation_gap_hours=1, engagement_threshold=0.3)
    # 0 of 2: too few to judge, so the normal rules apply.
    assert choose([channel(last_post=2 * H, posts_today=2, engaged=0, evaluated=2)], cfg=cfg).channel_id == A
    # 0 of 2 with min_samples=2 is judged.
    assert choose([channel(last_post=2 * H, engaged=0, evaluated=2)], cfg=cfg, min_samples=2).channel_id is None
    # 2 of 5 (40%) is above the threshold.
    assert choose([channel(last_post=2 * H, posts_today=2, engaged=2, evaluated=5)], cfg=cfg).channel_id == A


def test_highest_success_rate_wins_unknown_counts_as_half() -> None:
    good = channel(A, engaged=4, evaluated=5, idle=2 * H)
    unknown = channel(B, idle=3 * H)
    poor = channel(C, engaged=1, evaluated=3, idle=4 * H)  # 33%: above the threshold, below 0.5
    choice = choose([poor, unknown, good])
    assert choice.channel_id == A and "4/5 engaged (80%)" in choice.reason and choice.skipped == {}
    assert choose([poor, unknown]).channel_id == B
    assert "no history" in choose([poor, unknown]).reason


def test_ties_go_to_the_longest_idle_then_the_lowest_id() -> None:
    assert choose([channel(A, idle=2 * H), channel(B, idle=5 * H), channel(C, idle=3 * H)]).channel_id == B
    assert choose([channel(C, idle=2 * H), channel(B, idle=2 * H)]).channel_id == B
    # Same rate, same idle: the order of the input does not matter.
    assert choose([channel(B), channel(A)]).channel_id == choose([channel(A), channel(B)]).channel_id == A


def test_policy_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        ProactivePolicy(config(), min_samples=0)
    with pytest.raises(ValueError, match="backoff_factor"):
        ProactivePolicy(config(), backoff_factor=0.5)


# -- with the proactive log: "today" on the server's clock ------------------------------------


async def test_daily_caps_count_the_local_day_from_the_log(tmp_path: Path) -> None:
    # 17:00 UTC is 09:00 in Los Angeles; 07:30 UTC was 23:30 there *yesterday*.
    now = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    cfg = config(timezone="America/Los_Angeles", max_per_day_global=1, max_per_day_per_channel=1,
                 min_provocation_gap_hours=1, allowed_channels=[A])
    log = await ProactiveLog.open(tmp_path / "messages.db")
    try:
        await check_local_day_caps(log, cfg, now)
    finally:
        await log.close()


async def check_local_day_caps(log: ProactiveLog, cfg: ProactiveConfig, now: datetime) -> None:
    await log.record(message_id="m1", guild_id="9", channel_id=A, kind="proactive",
                     posted_at=datetime(2026, 11, 22, 7, 30, tzinfo=UTC))

    async def decide(at: datetime) -> str | None:
        today = await log.posts_since(local_day_start(at, cfg.timezone), kind="proactive")
        activity = ChannelActivity(A, "9", at - 2 * H, sum(p.channel_id == A for p in today),
                                   await log.last_post_at(channel_id=A), 0, 0)
        return ProactivePolicy(cfg).choose(at, [activity], posts_today_global=len(today),
                                           last_post_at_global=await log.last_post_at()).channel_id

    assert await decide(now) == A  # yesterday's post does not count today
    await log.record(message_id="m2", guild_id="9", channel_id=A, kind="proactive", posted_at=now)
    assert await decide(now + 2 * H) is None  # today's does
    # A follow-up is not a proactive post: it does not use up the cap.
    assert await decide(datetime(2026, 11, 23, 17, tzinfo=UTC)) == A
    await log.record(message_id="f1", guild_id="9", channel_id=A, kind="followup",
                     posted_at=datetime(2026, 11, 23, 16, tzinfo=UTC))
    assert await decide(datetime(2026, 11, 23, 18, tzinfo=UTC)) == A
