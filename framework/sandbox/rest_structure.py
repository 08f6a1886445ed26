"""REST handlers for guild structure: roles, active threads and pinned messages.

discord.py 2.7 pages pins through ``GET /channels/{id}/messages/pins`` (``{items:
[{pinned_at, message}], has_more}``, newest pin first, ``before`` an ISO timestamp) and
pins with ``PUT/DELETE /channels/{id}/messages/pins/{message_id}``; the older
``/channels/{id}/pins`` routes, which other clients still use, are served too.
These routes must be registered before :class:`~framework.sandbox.rest.RestApi`'s,
whose ``/messages/{message_id}`` would otherwise take ``/messages/pins``.
"""

from __future__ import annotations

from aiohttp import web

from . import payloads
from .guild_actions import GuildActions
from .perms import MANAGE_MESSAGES, PIN_MESSAGES, READ_MESSAGE_HISTORY
from .rest import ApiError, RestApi, json_response
from .state import Channel, Message

MAX_PINS_PAGE = 50


class StructureRest:
    """Route handlers that reuse :class:`RestApi`'s authentication and lookups."""

    def __init__(self, api: RestApi, guild_actions: GuildActions) -> None:
        self.api = api
        self.state = api.state
        self.guild_actions = guild_actions

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """Route table under *prefix* (e.g. ``/api/v10``)."""
        pins = prefix + "/channels/{channel_id}/messages/pins"
        legacy = prefix + "/channels/{channel_id}/pins"
        return [
            web.get(prefix + "/guilds/{guild_id}/roles", self.get_roles),
            web.get(prefix + "/guilds/{guild_id}/threads/active", self.active_threads),
            web.get(prefix + "/channels/{channel_id}/thread-members/{user_id}", self.thread_member),
            web.get(pins, self.get_pins),
            web.put(pins + "/{message_id}", self.pin),
            web.delete(pins + "/{message_id}", self.unpin),
            web.get(legacy, self.get_pins_legacy),
            web.put(legacy + "/{message_id}", self.pin),
            web.delete(legacy + "/{message_id}", self.unpin),
        ]

    # -- helpers --------------------------------------------------------------------

    def _readable(self, request: web.Request) -> tuple[str, Channel]:
        """(caller, channel) when the caller may read the channel's history; 403 otherwise."""
        me = self.api._me(request)
        channel = self.api._channel(request, me)
        if not self.state.has_permission(me, channel, READ_MESSAGE_HISTORY):
            raise ApiError(403, 50013, "Missing Permissions")
        return me, channel

    def _pinnable(self, request: web.Request) -> tuple[str, Message]:
        """(caller, message) when the caller may pin in the channel; 403 otherwise."""
        me = self.api._me(request)
        channel = self.api._channel(request, me)
        message = self.api._message(request, channel)
        if not self.state.has_permission(me, channel, MANAGE_MESSAGES | PIN_MESSAGES):
            raise ApiError(403, 50013, "Missing Permissions")
        return me, message

    # -- handlers -------------------------------------------------------------------

    async def get_roles(self, request: web.Request) -> web.Response:
        guild = self.api._guild_member(request, self.api._me(request))
        roles = [payloads.everyone_role(guild), *(payloads.role_payload(r) for r in guild.roles.values())]
        return json_response(roles)

    async def active_threads(self, request: web.Request) -> web.Response:
        me = self.api._me(request)
        guild = self.api._guild_member(request, me)
        threads = self.state.active_threads(guild, me)
        return json_response({
            "threads": [payloads.thread_payload(t, me) for t in threads],
            "members": [payloads.thread_member_payload(t, me) for t in threads if me in t.thread_members],
            "has_more": False,
        })

    async def thread_member(self, request: web.Request) -> web.Response:
        channel = self.api._channel(request, self.api._me(request))
        if not channel.is_thread:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        user_id = request.match_info["user_id"]
        if user_id not in channel.thread_members:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(payloads.thread_member_payload(channel, user_id))

    async def get_pins(self, request: web.Request) -> web.Response:
        me, channel = self._readable(request)
        try:
            limit = int(request.query.get("limit", str(MAX_PINS_PAGE)))
            found, more = self.state.pinned(channel, limit, request.query.get("before"))
        except ValueError:
            raise ApiError(400, 50035, "Invalid Form Body") from None
        items = [{"pinned_at": at, "message": self.api.actions.payload(m, me)} for m, at in found]
        return json_response({"items": items, "has_more": more})

    async def get_pins_legacy(self, request: web.Request) -> web.Response:
        me, channel = self._readable(request)
        found, _more = self.state.pinned(channel, MAX_PINS_PAGE)
        return json_response([self.api.actions.payload(m, me) for m, _at in found])

    async def pin(self, request: web.Request) -> web.Response:
        me, message = self._pinnable(request)
        self.guild_actions.set_pinned(message, True, me)
        return web.Response(status=204)

    async def unpin(self, request: web.Request) -> web.Response:
        me, message = self._pinnable(request)
        self.guild_actions.set_pinned(message, False, me)
        return web.Response(status=204)
