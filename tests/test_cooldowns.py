"""Per-user and channel cooldowns, the sweep, and the bot-loop guard."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from framework.config.models import CooldownConfig, ReactiveConfig
from framework.engines.botloop import BotLoopGuard
from framework.engines.cooldowns import ChannelCooldowns, UserCooldowns
from tests.fakes import FakeClock


@dataclass(frozen=True)
class Msg:
    author_id: str
    content: str


def test_user_cooldown_is_40_seconds() -> None:
    clock = FakeClock()
    users = UserCooldowns(clock, 40)
    assert users.can_reply_to_user("u1")
    users.record_reply("u1")
    assert not users.can_reply_to_user("u1")
    assert users.can_reply_to_user("u2")
    clock.advance(39)
    assert not users.can_reply_to_user("u1")
    assert users.remaining("u1") == pytest.approx(1)
    clock.advance(1)
    assert users.can_reply_to_user("u1")
    assert users.remaining("u1") == 0


def test_filter_drops_messages_from_users_on_cooldown_keeping_order() -> None:
    users = UserCooldowns(FakeClock())
    users.record_reply("u2")
    messages = [Msg("u1", "a"), Msg("u2", "b"), Msg("u3", "c"), Msg("u2", "d")]
    assert users.filter_messages(messages) == [messages[0], messages[2]]
    pairs = [("u2", "x"), ("u4", "y")]
    assert users.filter_messages(pairs, author_id=lambda p: p[0]) == [("u4", "y")]


@pytest.mark.parametrize(
    ("count", "seconds"), [(1, 45), (2, 75), (3, 75), (4, 105), (10, 105)]
)
def test_channel_cooldown_length_by_message_count(count: int, seconds: float) -> None:
    clock = FakeClock()
    channels = ChannelCooldowns(clock)
    assert channels.set_cooldown("c", count) == seconds
    assert channels.is_in_cooldown("c")
    clock.advance(seconds - 1)
    assert channels.is_in_cooldown("c")
    assert channels.remaining("c") == pytest.approx(1)
    clock.advance(1)
    assert not channels.is_in_cooldown("c")
    assert channels.remaining("c") == 0


def test_channel_cooldown_replaces_the_running_one_and_zero_messages_set_none() -> None:
    clock = FakeClock()
    channels = ChannelCooldowns(clock)
    channels.set_cooldown("c", 4)
    channels.set_cooldown("c", 1)  # the later call wins, even when it is shorter
    assert channels.remaining("c") == 45
    assert channels.set_cooldown("d", 0) == 0
    assert not channels.is_in_cooldown("d")
    assert not channels.is_in_cooldown("never-seen")


def test_from_config() -> None:
    clock = FakeClock()
    config = CooldownConfig(per_user=10, single_message=1, multi_message=2, heavy_activity=3)
    assert UserCooldowns.from_config(config, clock).cooldown_s == 10
    channels = ChannelCooldowns.from_config(config, clock)
    assert [channels.duration_for(n) for n in (1, 3, 4)] == [1, 2, 3]
    defaults = ChannelCooldowns.from_config(CooldownConfig(), clock)
    assert (defaults.single_s, defaults.multi_s, defaults.heavy_s) == (45, 75, 105)
    assert UserCooldowns.from_config(CooldownConfig(), clock).cooldown_s == 40


def test_user_sweep_drops_only_expired_users() -> None:
    clock = FakeClock()
    users = UserCooldowns(clock, 40)
    users.record_reply("old")
    clock.advance(30)
    users.record_reply("new")
    clock.advance(10)  # "old" expired exactly now, "new" has 30 s left
    assert users.sweep() == 1
    assert len(users) == 1
    assert not users.can_reply_to_user("new")
    assert users.sweep() == 0


def test_channel_sweep_drops_only_expired_channels() -> None:
    clock = FakeClock()
    channels = ChannelCooldowns(clock)
    channels.set_cooldown("short", 1)  # 45 s
    channels.set_cooldown("long", 4)  # 105 s
    clock.advance(60)
    assert channels.sweep() == 1
    assert len(channels) == 1
    assert channels.is_in_cooldown("long")
    clock.advance(45)
    assert channels.sweep() == 1
    assert len(channels) == 0


def test_bot_loop_guard_stops_at_the_limit_and_a_human_resets_it() -> None:
    guard = BotLoopGuard(max_consecutive_bot_turns=3)
    guard.observe("c", author_is_bot=True)
    guard.observe("c", author_is_bot=True)
    assert guard.allows_reply("c")
    guard.observe("c", author_is_bot=True)
    assert not guard.allows_reply("c")
    assert guard.allows_reply("other")  # per channel
    assert guard.stats("c") == {"max_consecutive_bot_turns": 3, "blocked": 1, "consecutive_bot_turns": 3}
    assert guard.stats()["channels_held"] == 1
    guard.observe("c", author_is_bot=False)
    assert guard.allows_reply("c")
    assert guard.consecutive_bot_turns("c") == 0
    assert guard.stats()["channels_held"] == 0


def test_bot_loop_guard_config() -> None:
    assert ReactiveConfig().ignore_bots is True
    assert BotLoopGuard.from_config(ReactiveConfig()).max_consecutive_bot_turns == 3
    assert BotLoopGuard.from_config(ReactiveConfig(max_consecutive_bot_turns=1)).max_consecutive_bot_turns == 1
    with pytest.raises(ValueError):
        ReactiveConfig(max_consecutive_bot_turns=0)
    with pytest.raises(ValueError):
        BotLoopGuard(0)
