"""The only module that imports discord.py: gateway events in, chat actions out.

Events become :class:`~framework.domain.IncomingMessage` and go to the store and the
engine; the engine acts through :class:`DiscordChat` (a ``ChatPort``). Each handler's
errors are contained and logged, as discord.py's own ``on_error`` does, so one bad
event never takes the bot down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import discord
import yarl

from ..domain import Attachment, IncomingMessage
from ..errors import ConfigError, UnreachableError
from .network import unreachable_reason

__all__ = ["BotClient", "DiscordChat", "ShardedBotClient", "make_client", "configure_endpoints", "build_intents", "to_incoming"]

_log = logging.getLogger(__name__)

MessageHandler = Callable[[IncomingMessage], Awaitable[Any]]


def configure_endpoints(api_base: str | None, gateway_url: str | None) -> None:
    """Point discord.py at a Discord-compatible server (self-hosted, or the sandbox).

    Both settings are process-wide class attributes in discord.py 2.7; a bot process
    talks to exactly one Discord, so that is fine here.
    """
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def build_intents() -> discord.Intents:
    """Default intents plus message content, reactions, guilds and members (content and members are privileged)."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.reactions = True
    intents.guilds = True
    intents.members = True
    return intents


def attachments_of(message: discord.Message) -> tuple[Attachment, ...]:
    """The message's files, then its image embeds (a pasted link Discord previewed)."""
    found = [
        Attachment(str(a.id), a.url, a.filename, a.content_type or "", a.size, a.width, a.height)
        for a in message.attachments
    ]
    for index, embed in enumerate(message.embeds):
        image = embed.image if embed.image and embed.image.url else embed.thumbnail
        url = getattr(image, "proxy_url", None) or getattr(image, "url", None)
        if embed.type in ("image", "gifv") and url:
            name = url.split("?", 1)[0].rsplit("/", 1)[-1] or "image"
            found.append(Attachment(f"{message.id}-embed-{index}", url, name, "", 0, image.width, image.height))
    return tuple(found)


def to_incoming(message: discord.Message, self_id: int | None) -> IncomingMessage:
    guild = message.guild
    channel_name = getattr(message.channel, "name", "") or ""
    return IncomingMessage(
        message_id=str(message.id),
        channel_id=str(message.channel.id),
        guild_id=str(guild.id) if guild else None,
        author_id=str(message.author.id),
        author_name=message.author.display_name,
        content=message.content,
        timestamp=message.created_at,
        is_bot=message.author.bot,
        is_self=self_id is not None and message.author.id == self_id,
        mentions=tuple(str(u.id) for u in message.mentions),
        mention_names=tuple((str(u.id), u.display_name) for u in message.mentions),
        channel_mention_names=tuple(
            (str(c.id), c.name) for c in message.channel_mentions if getattr(c, "name", None)
        ),
        role_mention_names=tuple((str(r.id), r.name) for r in message.role_mentions),
        mentions_self=self_id is not None and any(u.id == self_id for u in message.mentions),
        reference_id=str(message.reference.message_id) if message.reference and message.reference.message_id else None,
        has_attachments=bool(message.attachments),
        channel_name=channel_name,
        attachments=attachments_of(message),
    )


# Bots never join voice: without this, every start logs two warnings about missing
# voice libraries that send people looking for a problem that isn't there.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


class BotClient(discord.Client):
    """discord.py client that forwards messages, edits and deletes to the framework."""

    def __init__(
        self,
        *,
        on_incoming: MessageHandler,
        on_edit: Callable[[str, str | None, datetime], Awaitable[Any]],
        on_delete: Callable[[str, datetime], Awaitable[Any]],
        on_connected: Callable[[str], Any],
        on_reaction: Callable[[str, str, str, str, bool], Awaitable[Any]] | None = None,
        on_session_start: Callable[[], Any] | None = None,
        on_session_ready: Callable[[], Any] | None = None,
        on_resumed: Callable[[], Any] | None = None,
        servers: list[str] | None = None,
        guild_ready_timeout: float = 2.0,
        now: Callable[[], datetime] | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(
            intents=build_intents(),
            guild_ready_timeout=guild_ready_timeout,
            # Replies may ping the person spoken to, never @everyone or a role.
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=True),
            **client_options,
        )
        self._on_incoming = on_incoming
        self._on_edit = on_edit
        self._on_delete = on_delete
        self._on_connected = on_connected
        self._on_reaction = on_reaction
        # A new gateway session (not a resumed one): events flow from its start, and what
        # was posted before it is the history backfill's job once it is ready.
        self._on_session_start = on_session_start
        self._on_session_ready = on_session_ready
        self._on_resumed = on_resumed  # a dropped session taken up again (the metrics count it)
        self._servers = set(servers or [])
        self._announced = False
        # Discord sends no time with a delete: it is stamped with the runtime's clock (the
        # injected one), so history and tests agree on when it happened.
        self._now = now or (lambda: datetime.now(timezone.utc))

    def _wanted(self, guild_id: int | None) -> bool:
        return guild_id is None or not self._servers or str(guild_id) in self._servers

    async def on_ready(self) -> None:
        _log.info("connected as %s (id %s) to %d guild(s)", self.user, self.user.id if self.user else "?", len(self.guilds))
        if not self._announced:  # on_ready fires again after a fresh IDENTIFY
            self._announced = True
            self._on_connected(str(self.user.id) if self.user else "")
        if self._on_session_ready is not None:
            self._on_session_ready()

    async def on_connect(self) -> None:
        # discord.py dispatches this on READY only, so a resumed session never calls it.
        if self._on_session_start is not None:
            self._on_session_start()

    async def on_resumed(self) -> None:
        _log.info("gateway session resumed")
        if self._on_resumed is not None:
            self._on_resumed()

    async def serve(self, token: str, *, token_env_var: str) -> None:
        """Log in and run the session until closed; Discord's refusals that a restart
        cannot fix come out as :class:`ConfigError` with what to do (exit code 78), and
        a Discord that cannot be reached as :class:`UnreachableError` (exit code 75)."""
        try:
            await self.start(token)
        except discord.LoginFailure as exc:
            raise ConfigError(
                f"Discord rejected the token in {token_env_var}; copy a fresh one from the Developer Portal "
                "(Bot > Reset Token)"
            ) from exc
        except discord.PrivilegedIntentsRequired as exc:
            raise ConfigError(
                "Discord refused the privileged intents; enable Message Content and Server Members "
                "intents in the Developer Portal (Bot > Privileged Gateway Intents)"
            ) from exc
        except Exception as exc:
            # Login is one HTTP request that discord.py does not retry; once logged in, its
            # gateway reconnects on its own. An unreachable Discord is the network's fault.
            reason = unreachable_reason(exc)
            if reason is None:
                raise
            raise UnreachableError(reason) from exc

    def channel_and_role_names(self) -> tuple[dict[str, str], dict[str, str]]:
        """Names of the channels and roles of the guilds served, from discord.py's cache:
        how ``<#id>`` and ``<@&id>`` in stored history read to the model after a restart."""
        channels: dict[str, str] = {}
        roles: dict[str, str] = {}
        for guild in self.guilds:
            if self._wanted(guild.id):
                channels.update((str(c.id), c.name) for c in guild.channels)
                channels.update((str(t.id), t.name) for t in guild.threads)
                roles.update((str(r.id), r.name) for r in guild.roles if not r.is_default())
        return channels, roles

    async def on_message(self, message: discord.Message) -> None:
        if not self._wanted(message.guild.id if message.guild else None):
            return
        await self._on_incoming(to_incoming(message, self.user.id if self.user else None))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if not self._wanted(payload.guild_id):
            return
        edited = payload.data.get("edited_timestamp")
        if not edited:  # an embed/link-preview update, not an edit by the author
            return
        await self._on_edit(str(payload.message_id), payload.data.get("content"), datetime.fromisoformat(edited))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if not self._wanted(payload.guild_id):
            return
        await self._on_delete(str(payload.message_id), self._now())

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        if self._on_reaction is None or not self._wanted(payload.guild_id):
            return
        await self._on_reaction(
            str(payload.channel_id), str(payload.message_id), str(payload.user_id), str(payload.emoji), added
        )

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if not self._wanted(payload.guild_id):
            return
        now = self._now()
        for message_id in payload.message_ids:  # a moderator's purge
            await self._on_delete(str(message_id), now)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        _log.exception("error in Discord event handler %s (the bot keeps running)", event_method)

    def session_live(self) -> bool:
        """The gateway session is ready and its socket open (a dropped one is not, until resumed)."""
        ws = self.ws
        return self.is_ready() and not self.is_closed() and ws is not None and ws.open


class ShardedBotClient(BotClient, discord.AutoShardedClient):
    """The same handlers on discord.py's sharded client: one session per shard this
    process runs, each sent only the guilds of its shard (DMs come on shard 0)."""

    def session_live(self) -> bool:
        """Every shard this process runs is ready and connected."""
        shards = self.shards.values()
        return self.is_ready() and not self.is_closed() and bool(shards) and not any(s.is_closed() for s in shards)


def make_client(*, shard_count: int | None = None, shard_ids: Sequence[int] | None = None,
                sharded: bool = False, **handlers: Any) -> BotClient:
    """A :class:`BotClient`, or a :class:`ShardedBotClient` when *sharded*: ``shard_count``
    None asks Discord for its recommendation, ``shard_ids`` None runs every shard."""
    if not sharded:
        return BotClient(**handlers)
    options: dict[str, Any] = {"shard_count": shard_count}
    if shard_ids is not None:
        options["shard_ids"] = list(shard_ids)
    return ShardedBotClient(**handlers, **options)


class DiscordChat:
    """``ChatPort`` on a connected :class:`BotClient`."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def _channel(self, channel_id: str) -> discord.abc.Messageable:
        channel = self._client.get_channel(int(channel_id))
        if channel is None:  # e.g. a DM channel not cached: a partial one can still send
            return self._client.get_partial_messageable(int(channel_id))
        return channel  # type: ignore[return-value]

    @asynccontextmanager
    async def typing(self, channel_id: str) -> AsyncIterator[None]:
        # The block (building the context, asking the model) does not wait for Discord to
        # answer the first "typing" request: it is sent first and answered meanwhile, so a
        # mention's model request goes out about one Discord round trip sooner. A failed
        # indicator is logged; the reply it decorates still goes out.
        indicator = self._channel(channel_id).typing()
        started = asyncio.ensure_future(indicator.__aenter__())
        try:
            yield
        except BaseException:
            # Failed or cancelled: no reply is coming, so no waiting for the indicator either.
            if not started.done():
                started.cancel()
            elif not started.cancelled() and started.exception() is None:
                await indicator.__aexit__(None, None, None)
            raise
        try:
            await started
        except asyncio.CancelledError:
            started.cancel()  # never leave discord.py's every-5-seconds typing loop behind
            raise
        except Exception as exc:
            _log.warning("could not show typing in %s: %s", channel_id, exc)
            return
        await indicator.__aexit__(None, None, None)

    async def send(self, channel_id: str, content: str, reply_to: str | None = None, ping: bool = False) -> str:
        reference = None
        if reply_to is not None:
            reference = discord.MessageReference(
                message_id=int(reply_to), channel_id=int(channel_id), fail_if_not_exists=False
            )
        # A threaded reply only pings its author when the engine asks (a person answering
        # a mention may; an aside in a busy channel should not).
        mentions = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=ping)
        sent = await self._channel(channel_id).send(content, reference=reference, allowed_mentions=mentions)
        return str(sent.id)

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        await self._channel(channel_id).get_partial_message(int(message_id)).add_reaction(emoji)

    # -- direct messages (``DirectMessagePort``): reminders to the master ------------------

    async def send_dm(self, user_id: str, content: str) -> str:
        """Send ``content`` to the user's DM (opened if needed); return the message id."""
        channel = await self._client.create_dm(discord.Object(id=int(user_id)))
        # A reminder names no one: it must never ping anybody but the reader of the DM.
        sent = await channel.send(content, allowed_mentions=discord.AllowedMentions.none())
        return str(sent.id)

    async def own_dms_since(self, user_id: str, after: datetime, limit: int = 50) -> list[tuple[str, str]]:
        """``(message_id, content)`` of the bot's own messages in the user's DM after ``after``, oldest first."""
        me = self._client.user
        if me is None:
            raise RuntimeError("not connected to Discord yet: the DM history cannot be read")
        channel = await self._client.create_dm(discord.Object(id=int(user_id)))
        return [
            (str(m.id), m.content)
            async for m in channel.history(after=after, limit=limit, oldest_first=True)
            if m.author.id == me.id
        ]

