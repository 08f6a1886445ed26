"""SandboxServer: a loopback Discord-compatible server for the real discord.py client.

Point discord.py at it with two class attributes (no other client change is needed)::

    discord.http.Route.BASE = server.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)

Everything bots do arrives over REST or the gateway; everything humans do is injected
through the ``inject_*`` methods, and guild structure (channels, permission overwrites,
roles, threads, pins) is shaped with the :class:`~framework.sandbox.controls.StructureControls`
methods. All of it ends up as observer events (see :meth:`subscribe` and
:meth:`wait_for`; :mod:`framework.sandbox.events` lists their types).
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from .actions import Actions
from .controls import StructureControls
from .events import EventBus
from .gateway import GatewayHub
from .guild_actions import GuildActions
from .interactions import InteractionRest, Interactions
from .rest import ApiError, RestApi, json_response
from .rest_structure import StructureRest
from .seed import GUILD_ID
from .models import TEXT_CHANNEL
from .state import SandboxState

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
_API_PREFIX_RE = re.compile(r"^/api/v\d+")


class SandboxServer(EventBus, StructureControls):
    """A Discord REST + gateway stand-in on loopback, with a test-facing API.

    Attributes tests read: ``requests`` ((method, path, query) of every HTTP request,
    path relative to the API base; the gateway upgrade and attachment downloads too), ``unknown_routes`` ((method, path) answered 404 by
    the catch-all), ``typing_events``, ``events`` (every observer event, in order) and
    ``state`` (the world, see :mod:`framework.sandbox.state`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.state = SandboxState()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.gateway = GatewayHub(self.state, self._emit)
        self.actions = Actions(self.state, self.gateway, self._emit, lambda: self.base_url)
        self.guild_actions = GuildActions(self.state, self.gateway, self._emit)
        self.rest = RestApi(self.state, self.actions, lambda: self.gateway_url)
        self.structure_rest = StructureRest(self.rest, self.guild_actions)
        self.interactions = Interactions(self.state, self._emit)
        self.interaction_rest = InteractionRest(self.interactions, self.rest._me)
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on *host*:*port* (0 picks a free port; see :attr:`port`)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024 * 1024)
        # Structure routes first: /messages/pins must not be taken for a message id.
        app.add_routes(self.structure_rest.routes(API_PREFIX))
        app.add_routes(self.rest.routes(API_PREFIX))
        app.add_routes(self.interaction_rest.routes(API_PREFIX))
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        # A short shutdown timeout: a frozen bot process must not hold stop() for a minute.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host = host
        self._port = int(self._runner.addresses[0][1])
        self.gateway.url = self.gateway_url
        _log.info("sandbox listening on %s (gateway %s)", self.api_base, self.gateway_url)

    async def stop(self) -> None:
        """Close every gateway socket, stop listening and fail pending waiters."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.cancel_waiters()

    @property
    def port(self) -> int:
        """The listening port (0 before :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``, where attachments are served."""
        return f"http://{self._host}:{self._port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (and READY's resume_gateway_url)."""
        return f"ws://{self._host}:{self._port}/gateway"

    # -- accounts -------------------------------------------------------------------

    def add_bot(self, token: str, username: str) -> str:
        """Register a bot account joined to every seeded guild; returns its user id.

        Re-adding the same token and name returns the same id. Connected bots with the
        members intent get GUILD_MEMBER_ADD.
        """
        account, created = self.state.add_bot(token, username)
        if created:
            for guild_id in self.state.guilds:
                self.actions.member_joined(guild_id, account.user.id)
        return account.user.id

    def add_human(self, username: str, display_name: str | None = None) -> str:
        """Add another human member to the main guild; returns the user id."""
        before = set(self.state.users)
        user = self.state.add_human(username, display_name)
        if user.id not in before:
            self.actions.member_joined(GUILD_ID, user.id)
        return user.id

    # -- acting as a human ----------------------------------------------------------

    async def inject_message(
        self,
        channel_id: str | int,
        author_id: str | int,
        content: str,
        *,
        reply_to: str | int | None = None,
        attachments: Sequence[tuple[str, bytes]] | None = None,
        mention_reply_author: bool = True,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Post *content* as *author_id* (a human) and dispatch MESSAGE_CREATE.

        ``<@id>`` in *content* becomes a mention; *reply_to* makes it a reply (which
        mentions the replied-to author unless *mention_reply_author* is false);
        *attachments* are (filename, bytes); *at* (timezone-aware) backdates it, as if
        posted then (history tests). Returns the message payload.
        """
        channel = self._channel(channel_id)
        author = self._user(author_id)
        if not self.state.can_access(author, channel):
            raise PermissionError(f"user {author} cannot post in channel {channel.id}")
        reference = self._message(channel.id, reply_to) if reply_to is not None else None
        files = [(name, mimetypes.guess_type(name)[0] or "application/octet-stream", data)
                 for name, data in attachments or ()]
        message = self.actions.post(channel, author, content, reference=reference,
                                    mention_reply_author=mention_reply_author, files=files, at=at)
        return self.actions.payload(message)

    async def inject_dm(self, author_id: str | int, bot_user_id: str | int, content: str) -> dict[str, Any]:
        """Send *content* from *author_id* to *bot_user_id* in their DM channel."""
        channel = self.state.dm_channel(self._user(author_id), self._user(bot_user_id))
        return await self.inject_message(channel.id, author_id, content)

    async def inject_reaction(
        self, channel_id: str | int, message_id: str | int, user_id: str | int, emoji: str, *, remove: bool = False
    ) -> bool:
        """Add (or with *remove*, take back) *user_id*'s *emoji* reaction; False if no change."""
        message = self._message(channel_id, message_id)
        return self.actions.react(message, self._user(user_id), emoji, add=not remove)

    async def inject_typing(self, channel_id: str | int, user_id: str | int) -> None:
        """Show *user_id* typing in *channel_id* (TYPING_START to the bots)."""
        self.actions.typing(self._channel(channel_id), self._user(user_id))

    async def edit_message(self, channel_id: str | int, message_id: str | int, content: str) -> dict[str, Any]:
        """Edit a message as its author would and dispatch MESSAGE_UPDATE."""
        return self.actions.payload(self.actions.edit(self._message(channel_id, message_id), content))

    async def delete_message(
        self, channel_id: str | int, message_id: str | int, *, deleted_by: str | int | None = None
    ) -> None:
        """Delete a message (by its author unless *deleted_by*) and dispatch MESSAGE_DELETE."""
        message = self._message(channel_id, message_id)
        self.actions.delete(message, str(deleted_by) if deleted_by is not None else message.author_id)

    async def inject_interaction(
        self,
        user_id: str | int,
        command: str,
        options: dict[str, Any] | None = None,
        channel_id: str | int | None = None,
        *,
        bot_user_id: str | int | None = None,
    ) -> str:
        """Run the slash command *command* (``"settings model"``: command then subcommands)
        with *options* as *user_id*, in the DM with the bot (*channel_id* None) or in a guild
        channel; dispatches INTERACTION_CREATE to the bot and returns the interaction id.

        *bot_user_id* may be left out when the sandbox has one bot. The command must have
        been registered by the bot (``tree.sync()``): ``LookupError`` otherwise. Read the
        answers with :meth:`interaction_responses` or wait for ``interaction_response`` events.
        """
        user = self._user(user_id)
        bot = self._bot(bot_user_id)
        if channel_id is None:
            channel = self.state.dm_channel(user, bot)
        else:
            channel = self._channel(channel_id)
            if not self.state.can_access(user, channel) or not self.state.can_access(bot, channel):
                raise PermissionError(f"user {user} or bot {bot} cannot see channel {channel.id}")
        sessions = [s for s in self.gateway.live_sessions() if s.user_id == bot]
        if not sessions:
            raise LookupError(f"bot {bot} has no gateway session to receive the interaction")
        interaction, data = self.interactions.create(bot, user, command, dict(options or {}), channel.id)
        for session in sessions:
            session.dispatch("INTERACTION_CREATE", data)
        return interaction.id

    def interaction_responses(self, interaction_id: str | int) -> list[dict[str, Any]]:
        """What the bot answered to an interaction, in order: dicts with ``kind``
        (callback, edit, followup, delete), ``response_type``, ``content``, ``ephemeral``, ``message_id``."""
        found = self.interactions.by_id.get(str(interaction_id))
        if found is None:
            raise LookupError(f"no interaction {interaction_id}")
        return [dict(r) for r in found.responses]

    def registered_commands(self, bot_user_id: str | int, guild_id: str | int | None = None) -> list[dict[str, Any]]:
        """The application commands *bot_user_id* registered (global, or in *guild_id*)."""
        return self.interactions.registered(str(bot_user_id), None if guild_id is None else str(guild_id))

    def _bot(self, bot_user_id: str | int | None) -> str:
        bots = [b.user.id for b in self.state.bots_by_token.values()]
        if bot_user_id is None:
            if len(bots) != 1:
                raise ValueError(f"{len(bots)} bots in the sandbox: say which one (bot_user_id)")
            return bots[0]
        if str(bot_user_id) not in bots:
            raise KeyError(f"no bot {bot_user_id}")
        return str(bot_user_id)

    # -- gateway drills -------------------------------------------------------------

    async def close_gateway(self, user_id: str | int, code: int = 4000) -> int:
        """Close *user_id*'s gateway sockets with *code* (resumable unless 4004/4010-4014).

        Dispatches made after this returns are replayed on RESUME. Returns socket count.
        """
        return await self.gateway.drill_close(str(user_id), code)

    def send_reconnect(self, user_id: str | int) -> int:
        """Send op 7 RECONNECT to *user_id*'s sockets."""
        return self.gateway.drill_reconnect(str(user_id))

    def send_invalid_session(self, user_id: str | int, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION; not resumable forces a fresh IDENTIFY."""
        return self.gateway.drill_invalid_session(str(user_id), resumable)

    # -- queries --------------------------------------------------------------------

    def messages(self, channel_id: str | int) -> list[dict[str, Any]]:
        """Every message in *channel_id*, oldest first, as payloads."""
        return [self.actions.payload(m) for m in self.state.messages.get(str(channel_id), [])]

    def get_message(self, channel_id: str | int, message_id: str | int) -> dict[str, Any] | None:
        """One message payload, or None."""
        message = self.state.find_message(str(channel_id), str(message_id))
        return None if message is None else self.actions.payload(message)

    def dm_channel_id(self, user_a: str | int, user_b: str | int) -> str:
        """The id of the DM channel between two users (created if needed)."""
        return self.state.dm_channel(self._user(user_a), self._user(user_b)).id

    def users(self) -> dict[str, dict[str, Any]]:
        """``{user_id: {"username", "display_name", "bot"}}`` for every account."""
        return {
            u.id: {"username": u.username, "display_name": u.global_name or u.username, "bot": u.bot}
            for u in self.state.users.values()
        }

    def text_channels(self) -> dict[str, str]:
        """``{name: channel_id}`` of the guild text channels (where a person can post)."""
        return {
            channel.name: channel.id
            for channel in self.state.channels.values()
            if channel.guild_id is not None and channel.type == TEXT_CHANNEL
        }

    def channel_name(self, channel_id: str | int) -> str:
        """``#name`` for guild channels, ``DM`` for DM channels."""
        channel = self._channel(channel_id)
        return f"#{channel.name}" if channel.guild_id is not None else "DM"

    # -- HTTP plumbing --------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        path = _API_PREFIX_RE.sub("", request.path, count=1) or "/"
        self.requests.append((request.method, path, dict(request.query)))
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except ApiError as exc:
            return exc.response()
        except ValueError as exc:  # malformed JSON body and the like
            _log.warning("bad request %s %s: %s", request.method, path, exc)
            return json_response({"message": "400: Bad Request", "code": 50109}, 400)

    async def _unknown(self, request: web.Request) -> web.Response:
        path = _API_PREFIX_RE.sub("", request.path, count=1) or "/"
        self.unknown_routes.append((request.method, path))
        _log.warning("sandbox has no route for %s %s", request.method, path)
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _attachment(self, request: web.Request) -> web.Response:
        message_list = self.state.messages.get(request.match_info["channel_id"], [])
        wanted = request.match_info["attachment_id"]
        for message in message_list:
            for attachment in message.attachments:
                if attachment.id == wanted:
                    return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})
        return json_response({"message": "404: Not Found", "code": 0}, 404)
