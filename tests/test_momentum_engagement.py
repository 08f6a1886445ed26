"""Conversation momentum and engagement tracking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from framework.config.models import EngagementConfig, RateLimitingConfig
from framework.engines.engagement import EngagementTracker, Settled
from framework.engines.momentum import conversation_momentum, response_chance
from framework.engines.ratelimit import RateLimiter
from tests.fakes import FakeClock

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


@pytest.mark.parametrize(
    ("gap", "expected"), [(0, "hot"), (899, "hot"), (900, "warm"), (3599, "warm"), (3600, "cold"), (86400, "cold")]
)
def test_momentum_boundaries(gap: float, expected: str) -> None:
    assert conversation_momentum(at(0, gap)) == expected
    assert conversation_momentum(at(0, gap, 2 * gap, 3 * gap)) == expected


def test_momentum_uses_the_mean_gap() -> None:
    # gaps 100 and 1700: mean 900 -> warm, though one gap alone is hot.
    assert conversation_momentum(at(0, 100, 1800)) == "warm"


def test_fewer_than_two_messages_is_cold() -> None:
    assert conversation_momentum([]) == "cold"
    assert conversation_momentum(at(0)) == "cold"


def test_unsorted_timestamps_are_sorted_first() -> None:
    # In given order the gaps are -7200 and +7300: mean 50 s, a false "hot".
    # Sorted (0, 7200, 7300) the mean gap is 3650 s: cold.
    assert conversation_momentum(at(7200, 0, 7300)) == "cold"
    assert conversation_momentum(at(7300, 7200, 0)) == "cold"  # newest first
    assert conversation_momentum(at(1000, 0, 500)) == "hot"


def test_response_chance_follows_the_persona() -> None:
    engagement = EngagementConfig(cold_conversation_rate=0.05, warm_conversation_rate=0.2, hot_conversation_rate=0.6)
    assert response_chance("hot", engagement) == 0.6
    assert response_chance("warm", engagement) == 0.2
    assert response_chance("cold", engagement) == 0.05
    assert response_chance(conversation_momentum(at(0, 60)), EngagementConfig()) == 0.4


class RecordingLimiter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def record_engagement(self, channel_id: str) -> None:
        self.calls.append(("engaged", channel_id))

    def record_ignored(self, channel_id: str) -> None:
        self.calls.append(("ignored", channel_id))


def make(delay: float = 30) -> tuple[FakeClock, RecordingLimiter, EngagementTracker]:
    clock = FakeClock()
    limiter = RecordingLimiter()
    return clock, limiter, EngagementTracker(clock, limiter, delay)


def test_reaction_within_the_delay_is_one_engagement_at_the_check() -> None:
    clock, limiter, tracker = make()
    tracker.track("c", "m1")
    clock.advance(10)
    assert tracker.observe_reaction("c", "m1", "😂", user_id="u1")
    assert tracker.observe_reaction("c", "m1", "💀", user_id="u2")
    assert limiter.calls == []  # nothing until the check: one settlement per message
    clock.advance(19)
    assert tracker.due() == []
    clock.advance(1)
    assert tracker.due() == [Settled("c", "m1", engaged=True)]
    assert limiter.calls == [("engaged", "c")]
    assert tracker.due() == []  # forgotten: exactly once
    assert limiter.calls == [("engaged", "c")]


def test_no_reaction_is_ignored_after_30_seconds() -> None:
    clock, limiter, tracker = make()
    tracker.track("c", "m1")
    clock.advance(29)
    assert tracker.due() == []
    clock.advance(1)
    assert tracker.due() == [Settled("c", "m1", engaged=False)]
    assert limiter.calls == [("ignored", "c")]
    assert not tracker.is_tracked("m1")


def test_a_reply_referencing_the_message_is_engagement() -> None:
    clock, limiter, tracker = make()
    tracker.track("c", "m1")
    tracker.track("c", "m2")
    assert tracker.observe_reply("c", "m1")
    assert not tracker.observe_reply("c", "unknown")
    assert not tracker.observe_reply("c", None)
    assert not tracker.observe_reply("elsewhere", "m2")
    clock.advance(30)
    assert sorted(tracker.due(), key=lambda s: s.message_id) == [
        Settled("c", "m1", engaged=True),
        Settled("c", "m2", engaged=False),
    ]
    assert sorted(limiter.calls) == [("engaged", "c"), ("ignored", "c")]
    # A reply after the check is not engagement (only replies within it count).
    assert not tracker.observe_reply("c", "m2")
    assert tracker.pending_count() == 0


def test_reaction_after_the_check_counts_at_once_and_only_once_per_user_emoji() -> None:
    clock, limiter, tracker = make()
    tracker.track("c", "m1")
    clock.advance(30)
    tracker.due()
    assert limiter.calls == [("ignored", "c")]
    assert tracker.observe_reaction("c", "m1", "🔥", user_id="u1")
    assert limiter.calls == [("ignored", "c"), ("engaged", "c")]
    # Removing and re-adding the same emoji is not new engagement...
    assert not tracker.observe_reaction("c", "m1", "🔥", user_id="u1")
    # ...another user's or another emoji is.
    assert tracker.observe_reaction("c", "m1", "🔥", user_id="u2")
    assert tracker.observe_reaction("c", "m1", "👀", user_id="u1")
    # A reaction during the window was already seen: it cannot count again later.
    tracker.track("c", "m2")
    tracker.observe_reaction("c", "m2", "😭", user_id="u1")
    clock.advance(30)
    tracker.due()
    assert not tracker.observe_reaction("c", "m2", "😭", user_id="u1")
    assert limiter.calls.count(("engaged", "c")) == 4
    # A bot message never tracked (sent before a restart) still counts, straight from the reaction event.
    assert tracker.observe_reaction("c", "old", "❤️")
    assert limiter.calls.count(("engaged", "c")) == 5


def test_tracking_twice_keeps_the_first_deadline() -> None:
    clock, limiter, tracker = make()
    tracker.track("c", "m1")
    clock.advance(20)
    tracker.track("c", "m1")
    clock.advance(10)
    assert tracker.due() == [Settled("c", "m1", engaged=False)]


def test_with_the_real_limiter_ignores_silence_and_a_reaction_reopens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    tracker = EngagementTracker.from_config(RateLimitingConfig(), clock, limiter)
    assert tracker.delay_s == 30
    for i in range(5):
        tracker.track("c", f"m{i}")
    clock.advance(30)
    assert len(tracker.due()) == 5
    assert limiter.can_respond("c") == (False, "ignored_threshold")
    tracker.observe_reaction("c", "m4", "👍", user_id="u1")
    assert limiter.can_respond("c") == (True, None)
