"""``HistoryPort`` on discord.py: readable channels, history since a message, one message.

What the history backfill and the reply-parent fetch need from Discord
(:mod:`framework.engines.backfill` decides what to do with it). Messages are converted
exactly as live ones are (:func:`~framework.discord.adapter.to_incoming`).
"""

from __future__ import annotations

import discord

from ..domain import IncomingMessage
from ..ports import HistoryChannel
from .adapter import to_incoming

__all__ = ["DiscordHistory"]


class DiscordHistory:
    """``HistoryPort`` on a connected client; ``servers`` as in ``discord.servers`` (empty: every guild)."""

    def __init__(self, client: discord.Client, servers: list[str] | None = None) -> None:
        self._client = client
        self._servers = set(servers or [])

    def _self_id(self) -> int | None:
        return self._client.user.id if self._client.user else None

    def readable_channels(self) -> list[HistoryChannel]:
        found: list[tuple[int, HistoryChannel]] = []
        for guild in self._client.guilds:
            if self._servers and str(guild.id) not in self._servers:
                continue
            me = guild.me
            for channel in [*guild.text_channels, *guild.threads]:
                if me is not None:
                    allowed = channel.permissions_for(me)
                    if not (allowed.read_messages and allowed.read_message_history):
                        continue
                latest = channel.last_message_id
                found.append((latest or 0, HistoryChannel(str(channel.id), str(latest) if latest else None)))
        # Busiest first: an owed mention in a lively channel should not wait behind idle ones.
        found.sort(key=lambda item: item[0], reverse=True)
        return [channel for _, channel in found]

    def _messageable(self, channel_id: str) -> discord.abc.Messageable:
        channel = self._client.get_channel(int(channel_id))
        if channel is None:  # a DM channel not cached since the restart
            return self._client.get_partial_messageable(int(channel_id))
        return channel  # type: ignore[return-value]

    async def history_after(self, channel_id: str, after_id: int, limit: int) -> list[IncomingMessage]:
        if limit < 1:
            return []
        self_id = self._self_id()
        # Newest first with ``after`` as the floor: past ``limit`` the oldest are the ones left out.
        newest_first = [
            to_incoming(message, self_id)
            async for message in self._messageable(channel_id).history(
                limit=limit, after=discord.Object(id=after_id), oldest_first=False
            )
        ]
        newest_first.reverse()
        return newest_first

    async def fetch_message(self, channel_id: str, message_id: str) -> IncomingMessage | None:
        try:
            message = await self._messageable(channel_id).fetch_message(int(message_id))
        except (discord.NotFound, discord.Forbidden):
            return None  # gone or not ours to read; other errors may pass and are raised
        return to_incoming(message, self._self_id())
