"""RateLimiter: the predecessor's SimpleRateLimiter plus ignore expiry (its ignored count never expired)."""

from __future__ import annotations

from framework.config.models import RateLimitingConfig, RateWindow, RateWindows
from framework.engines.ratelimit import RateLimiter
from tests.fakes import FakeClock

CH = "100"


def test_twenty_allowed_then_the_21st_is_blocked_by_the_short_window() -> None:
    limiter = RateLimiter(FakeClock())
    for _ in range(20):
        assert limiter.can_respond(CH) == (True, None)
        limiter.record_response(CH)
    assert limiter.can_respond(CH) == (False, "rate_limit_short")
    assert limiter.can_respond("other") == (True, None)  # per channel


def test_short_window_recovers_after_five_minutes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for _ in range(20):
        limiter.record_response(CH)
    clock.advance(299)
    assert limiter.can_respond(CH) == (False, "rate_limit_short")
    clock.advance(1)  # exactly 300 s: the strict "< 300" window lets them out
    assert limiter.can_respond(CH) == (True, None)


def test_long_window_blocks_at_200_in_an_hour_and_recovers() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    # 10 bursts of 20, 6 min apart (t = 0 .. 3240 s): the short window never holds > 20.
    for burst in range(10):
        if burst:
            clock.advance(360)
        for _ in range(20):
            allowed, reason = limiter.can_respond(CH)
            assert allowed, (burst, reason)
            limiter.record_response(CH)
    clock.advance(301)  # t = 3541: the last burst left the short window, the first is in the hour
    assert limiter.get_stats(CH)["responses_long"] == 200
    assert limiter.can_respond(CH) == (False, "rate_limit_long")
    clock.advance(59)  # t = 3600: the first burst leaves the hour
    assert limiter.can_respond(CH) == (True, None)
    assert limiter.get_stats(CH)["responses_long"] == 180


def test_short_is_reported_before_long() -> None:
    limiter = RateLimiter(FakeClock(), short_max=5, long_max=5)
    for _ in range(5):
        limiter.record_response(CH)
    assert limiter.can_respond(CH) == (False, "rate_limit_short")


def test_five_ignores_silence_the_channel_and_engagement_reopens_it() -> None:
    limiter = RateLimiter(FakeClock())
    for _ in range(4):
        limiter.record_ignored(CH)
    assert limiter.can_respond(CH) == (True, None)
    limiter.record_ignored(CH)
    assert limiter.can_respond(CH) == (False, "ignored_threshold")
    limiter.record_engagement(CH)
    assert limiter.can_respond(CH) == (True, None)
    assert limiter.get_stats(CH)["ignored_count"] == 4


def test_engagement_never_goes_below_zero() -> None:
    limiter = RateLimiter(FakeClock())
    limiter.record_engagement(CH)
    limiter.record_engagement(CH)
    limiter.record_ignored(CH)
    assert limiter.get_stats(CH)["ignored_count"] == 1


def test_ignored_count_expires_thirty_minutes_after_the_last_ignore() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for _ in range(5):
        limiter.record_ignored(CH)
    clock.advance(1799)
    assert limiter.can_respond(CH) == (False, "ignored_threshold")
    clock.advance(1)
    assert limiter.can_respond(CH) == (True, None)
    assert limiter.get_stats(CH)["ignored_count"] == 0


def test_a_new_ignore_restarts_the_expiry_and_builds_on_the_live_count() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for _ in range(4):
        limiter.record_ignored(CH)
    clock.advance(1000)
    limiter.record_ignored(CH)  # 5th, 1000 s later: the count is still live
    clock.advance(1000)  # 2000 s after the first ignore, 1000 s after the last
    assert limiter.can_respond(CH) == (False, "ignored_threshold")
    clock.advance(800)
    assert limiter.can_respond(CH) == (True, None)
    limiter.record_ignored(CH)  # starts again from 0, not from 5
    assert limiter.get_stats(CH)["ignored_count"] == 1


def test_expiry_none_keeps_the_seed_behaviour() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, ignore_expiry_s=None)
    for _ in range(5):
        limiter.record_ignored(CH)
    clock.advance(7 * 24 * 3600)
    assert limiter.can_respond(CH) == (False, "ignored_threshold")


def test_stats_and_pruning() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limiter.record_response(CH)
    clock.advance(301)
    limiter.record_response(CH)
    stats = limiter.get_stats(CH)
    assert stats["responses_short"] == 1
    assert stats["responses_long"] == 2
    assert stats["can_respond"] is True and stats["reason"] is None
    clock.advance(3600)
    limiter.can_respond(CH)
    assert CH not in limiter._response_times  # nothing left to keep


def test_from_config_converts_minutes() -> None:
    config = RateLimitingConfig(
        windows=RateWindows(
            short=RateWindow(duration_minutes=1, max_responses=2),
            long=RateWindow(duration_minutes=10, max_responses=3),
        ),
        ignore_threshold=2,
    )
    clock = FakeClock()
    limiter = RateLimiter.from_config(config, clock)
    assert (limiter.short_window_s, limiter.long_window_s) == (60, 600)
    limiter.record_response(CH)
    limiter.record_response(CH)
    assert limiter.can_respond(CH) == (False, "rate_limit_short")
    clock.advance(60)
    limiter.record_response(CH)
    assert limiter.can_respond(CH) == (False, "rate_limit_long")
    defaults = RateLimiter.from_config(RateLimitingConfig(), clock)
    assert (defaults.short_max, defaults.long_max, defaults.ignore_threshold) == (20, 200, 5)
    assert defaults.ignore_expiry_s == 1800
