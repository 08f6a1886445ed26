"""DiscordChat.typing: the block runs while Discord answers the first "typing" request,
the indicator is ended after the block, and a failed indicator does not stop the reply.

The channel is a stand-in for discord.py's (only its ``typing()`` is used), because the
point is the order of two awaits, which the loopback server answers too fast to see.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from framework.discord.adapter import DiscordChat


class Indicator:
    def __init__(self, answer: asyncio.Event, fail: bool = False) -> None:
        self.answer = answer
        self.fail = fail
        self.events: list[str] = []

    async def __aenter__(self) -> None:
        self.events.append("typing sent")
        await self.answer.wait()
        if self.fail:
            raise RuntimeError("403 Forbidden")
        self.events.append("typing answered")

    async def __aexit__(self, *exc: Any) -> None:
        self.events.append("typing ended")


def chat_with(indicator: Indicator) -> DiscordChat:
    channel = SimpleNamespace(typing=lambda: indicator)
    return DiscordChat(SimpleNamespace(get_channel=lambda channel_id: channel))  # type: ignore[arg-type]


async def test_the_block_does_not_wait_for_discord_to_answer_the_typing_request() -> None:
    answer = asyncio.Event()
    indicator = Indicator(answer)
    async with chat_with(indicator).typing("1"):
        await asyncio.sleep(0)  # the request is on its way
        indicator.events.append("model asked")
        answer.set()
    assert indicator.events == ["typing sent", "model asked", "typing answered", "typing ended"]


async def test_a_failed_indicator_is_logged_and_the_block_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    answer = asyncio.Event()
    answer.set()
    indicator = Indicator(answer, fail=True)
    ran = False
    with caplog.at_level(logging.WARNING):
        async with chat_with(indicator).typing("1"):
            ran = True
    assert ran and "typing ended" not in indicator.events
    assert "could not show typing in 1: 403 Forbidden" in caplog.text


async def test_a_cancelled_block_leaves_no_typing_behind() -> None:
    indicator = Indicator(asyncio.Event())  # Discord never answers

    async def reply() -> None:
        async with chat_with(indicator).typing("1"):
            await asyncio.sleep(3600)

    task = asyncio.create_task(reply())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert indicator.events == ["typing sent"]
    assert all(t.done() for t in asyncio.all_tasks() if t is not asyncio.current_task())
