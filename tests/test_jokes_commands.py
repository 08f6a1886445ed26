"""Dad jokes (chance, cooldown, daily cap, refunds, timeouts) and the !joke / !shutdown commands."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from framework.config.behaviour import CommandsConfig, JokesConfig
from framework.engines.actions import Action, Send, Shutdown, Typing, Wait
from framework.engines.commands import Command, is_command_prefixed, is_owner, parse_command, run_command, shutdown_plan
from framework.engines.jokes import JokeService
from tests.fakes import FakeClock

JOKE = "why did the scarecrow win an award? he was outstanding in his field"


@dataclass
class Fetcher:
    """A scripted joke download: each call takes the next outcome (text, None or an exception)."""

    outcomes: list[str | None | BaseException] = field(default_factory=list)
    default: str | None = JOKE
    calls: int = 0

    async def __call__(self) -> str | None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else self.default
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def service(
    fetch: Fetcher | None = None, *, clock: FakeClock | None = None, seed: int = 0, **overrides: object
) -> tuple[JokeService, FakeClock, Fetcher]:
    clock = clock or FakeClock()
    fetch = fetch or Fetcher()
    return JokeService(JokesConfig(**overrides), clock, random.Random(seed), fetch), clock, fetch


def within(value: float, span: tuple[float, float]) -> bool:
    return span[0] <= value <= span[1]


def joke_sent(plan: list[Action]) -> bool:
    return any(isinstance(a, Send) and a.text == JOKE for a in plan)


# --- unprompted jokes -----------------------------------------------------------------------


async def test_chance_is_about_fifteen_percent() -> None:
    jokes, clock, _ = service(seed=1, max_per_day=1_000_000)
    told = 0
    for _ in range(6000):
        clock.advance(61)
        told += joke_sent(await jokes.maybe_joke())
    assert abs(told / 6000 - 0.15) < 0.015


async def test_cooldown_is_monotonic_and_kept_after_a_joke() -> None:
    jokes, clock, fetch = service(chance=1.0)
    assert joke_sent(await jokes.maybe_joke())
    clock.advance(59.9)
    assert await jokes.maybe_joke() == []
    assert fetch.calls == 1
    clock.advance(0.1)
    assert joke_sent(await jokes.maybe_joke())


async def test_daily_cap_resets_on_the_next_utc_day() -> None:
    clock = FakeClock(datetime(2026, 11, 22, 23, 50, tzinfo=timezone.utc))
    jokes, _, fetch = service(clock=clock, chance=1.0, cooldown_seconds=0)
    assert [joke_sent(await jokes.maybe_joke()) for _ in range(4)] == [True, True, True, False]
    assert jokes.told_today == 3 and fetch.calls == 3
    clock.advance(9 * 60)  # 23:59 UTC: still the same day
    assert await jokes.maybe_joke() == []
    clock.advance(60)  # 00:00 UTC
    assert jokes.told_today == 0
    assert joke_sent(await jokes.maybe_joke())


@pytest.mark.parametrize("failure", [None, "   ", OSError("connection reset"), RuntimeError("bad json")])
async def test_failed_download_refunds_the_day_but_keeps_the_cooldown(failure: object) -> None:
    jokes, clock, fetch = service(Fetcher([failure]), chance=1.0)  # type: ignore[list-item]
    assert await jokes.maybe_joke() == []
    assert jokes.told_today == 0
    assert await jokes.maybe_joke() == []  # cooldown still running: the API is not hammered
    assert fetch.calls == 1
    clock.advance(60)
    assert joke_sent(await jokes.maybe_joke())
    assert jokes.told_today == 1


async def test_a_hanging_download_times_out_and_is_refunded() -> None:
    never = asyncio.Event()

    async def hang() -> str | None:
        await never.wait()
        return JOKE

    jokes = JokeService(JokesConfig(chance=1.0, timeout_seconds=0.05), FakeClock(), random.Random(0), hang)
    assert await jokes.maybe_joke() == []
    assert jokes.told_today == 0
    assert await jokes.joke_command() == [Send("idk any rn try again later lol")]


async def test_refund_never_touches_the_next_day() -> None:
    clock = FakeClock(datetime(2026, 11, 22, 23, 59, 59, tzinfo=timezone.utc))

    async def slow_fail() -> str | None:
        clock.advance(5)  # the download spans midnight
        return None

    jokes = JokeService(JokesConfig(chance=1.0, cooldown_seconds=0), clock, random.Random(0), slow_fail)
    assert await jokes.maybe_joke() == []
    assert jokes.told_today == 0


async def test_disabled_or_zero_cap_never_fetches() -> None:
    for overrides in ({"enabled": False}, {"max_per_day": 0}, {"chance": 0.0}):
        jokes, _, fetch = service(**overrides)
        assert await jokes.maybe_joke() == []
        assert fetch.calls == 0
    jokes, _, fetch = service(enabled=False)
    assert await jokes.joke_command() == [] and fetch.calls == 0


async def test_intro_outro_rates_and_timings() -> None:
    cfg = JokesConfig()
    jokes, clock, _ = service(Fetcher(default="  a  dad \n\n\n joke  "), seed=3, chance=1.0, max_per_day=1_000_000)
    intros = outros = 0
    runs = 4000
    for _ in range(runs):
        clock.advance(61)
        plan = await jokes.maybe_joke()
        steps = list(plan)
        if isinstance(steps[1], Send) and steps[1].text in cfg.intros:
            intros += 1
            typing, intro, pause = steps.pop(0), steps.pop(0), steps.pop(0)
            assert isinstance(typing, Typing) and within(typing.seconds, cfg.intro_typing)
            assert isinstance(pause, Wait) and within(pause.seconds, cfg.intro_pause)
        typing, joke = steps.pop(0), steps.pop(0)
        assert isinstance(typing, Typing) and within(typing.seconds, cfg.joke_typing)
        assert joke == Send("a dad\n\njoke")  # whitespace tidied by textclean, lines kept
        if steps:
            outros += 1
            pause, typing, outro = steps
            assert isinstance(pause, Wait) and within(pause.seconds, cfg.outro_pause)
            assert isinstance(typing, Typing) and within(typing.seconds, cfg.outro_typing)
            assert isinstance(outro, Send) and outro.text in cfg.outros
    assert abs(intros / runs - 0.75) < 0.03
    assert abs(outros / runs - 0.5) < 0.03


# --- !joke -------------------------------------------------------------------------------


async def test_joke_command_ignores_cooldown_and_cap() -> None:
    cfg = JokesConfig()
    jokes, _, fetch = service(max_per_day=0)
    for _ in range(5):
        setup, pause, typing, joke = await jokes.joke_command()
        assert isinstance(setup, Send) and setup.text in cfg.command_setups and not setup.reply_to_incoming
        assert isinstance(pause, Wait) and within(pause.seconds, cfg.command_pause)
        assert isinstance(typing, Typing) and within(typing.seconds, cfg.command_typing)
        assert joke == Send(JOKE)
    assert fetch.calls == 5 and jokes.told_today == 0


async def test_joke_command_without_a_joke() -> None:
    jokes, _, _ = service(Fetcher([None, ConnectionError("down")]))
    assert await jokes.joke_command() == [Send("idk any rn try again later lol")]
    assert await jokes.joke_command() == [Send("idk any rn try again later lol")]


# --- commands ----------------------------------------------------------------------------

COMMANDS = CommandsConfig()
OWNER = "111111111111111111"


def test_parse_command() -> None:
    assert parse_command("!joke", COMMANDS) == Command("joke")
    assert parse_command("  !JOKE  pls now ", COMMANDS) == Command("joke", "pls now")
    assert parse_command("!shutdown", COMMANDS) == Command("shutdown")
    assert parse_command("tell me a !joke", COMMANDS) is None
    assert parse_command("!jokes", COMMANDS) is None
    assert parse_command("", COMMANDS) is None
    assert parse_command("!joke", CommandsConfig(joke_command=None)) is None


def test_prefixed_messages_are_commands_or_nothing() -> None:
    assert is_command_prefixed("!play despacito", COMMANDS)
    assert is_command_prefixed("  !joke", COMMANDS)
    assert not is_command_prefixed("hey !joke", COMMANDS)
    assert not is_command_prefixed("", COMMANDS)
    assert not is_command_prefixed("!x", CommandsConfig(joke_command=None, shutdown_command=None))


def test_shutdown_from_an_owner() -> None:
    plan = shutdown_plan(OWNER, [OWNER], COMMANDS)
    assert plan == [
        Send("okay fine i'm going"), Wait(1.5), Send("don't miss me too much lol"), Wait(1.5),
        Send("bye i guess 💀"), Wait(1.5), Send("..."), Shutdown(0),
    ]


def test_shutdown_from_anyone_else_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="framework.engines.commands"):
        assert shutdown_plan("222", [OWNER], COMMANDS) == []
        assert shutdown_plan(OWNER, [], COMMANDS) == []
    assert "ignored !shutdown from user 222" in caplog.text
    assert is_owner(OWNER, [OWNER]) and not is_owner("1", [OWNER])


async def test_run_command_dispatches() -> None:
    jokes, _, _ = service()
    joke_plan = await run_command(Command("joke"), author_id="5", owner_ids=[], config=COMMANDS, jokes=jokes)
    assert joke_plan[-1] == Send(JOKE)
    stop = await run_command(Command("shutdown"), author_id=OWNER, owner_ids=[OWNER], config=COMMANDS, jokes=jokes)
    assert stop[-1] == Shutdown(0)
    assert await run_command(Command("shutdown"), author_id="5", owner_ids=[OWNER], config=COMMANDS, jokes=jokes) == []
