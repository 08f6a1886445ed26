"""REST API v10 handlers: the endpoints a chat bot built on discord.py uses.

Two discord.py quirks shape this module:
the Content-Type must be exactly ``application/json`` (``web.json_response`` appends a
charset and discord.py then treats the body as text), and ids arrive as ints but must
leave as strings.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads, seed
from .actions import Actions, emoji_from_key
from .state import Channel, Guild, Message, SandboxState

_log = logging.getLogger(__name__)

MAX_CONTENT = 2000


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type discord.py recognises."""
    return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


class ApiError(Exception):
    """An error answered as Discord does: ``{"message", "code"}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        return json_response({"message": self.message, "code": self.code}, self.status)


def _snowflake(value: Any) -> str | None:
    return None if value is None else str(value)


class RestApi:
    """Route handlers bound to one sandbox's state and actions."""

    def __init__(self, state: SandboxState, actions: Actions, gateway_url: Callable[[], str]) -> None:
        self.state = state
        self.actions = actions
        self._gateway_url = gateway_url  # a callable: the URL is known only once listening

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """Route table under *prefix* (e.g. ``/api/v10``)."""
        msg = prefix + "/channels/{channel_id}/messages/{message_id}"
        return [
            web.get(prefix + "/users/@me", self.get_me),
            web.get(prefix + "/users/{user_id}", self.get_user),
            web.post(prefix + "/users/@me/channels", self.create_dm),
            web.get(prefix + "/oauth2/applications/@me", self.get_application),
            web.get(prefix + "/gateway", self.get_gateway),
            web.get(prefix + "/gateway/bot", self.get_gateway_bot),
            web.get(prefix + "/guilds/{guild_id}", self.get_guild),
            web.get(prefix + "/guilds/{guild_id}/channels", self.get_guild_channels),
            web.get(prefix + "/guilds/{guild_id}/members", self.list_members),
            web.get(prefix + "/guilds/{guild_id}/members/{user_id}", self.get_member),
            web.get(prefix + "/channels/{channel_id}", self.get_channel),
            web.post(prefix + "/channels/{channel_id}/typing", self.typing),
            web.get(prefix + "/channels/{channel_id}/messages", self.history),
            web.post(prefix + "/channels/{channel_id}/messages", self.send),
            web.get(msg, self.get_message),
            web.patch(msg, self.edit),
            web.delete(msg, self.delete),
            web.get(msg + "/reactions/{emoji}", self.reaction_users),
            web.put(msg + "/reactions/{emoji}/@me", self.add_reaction),
            web.delete(msg + "/reactions/{emoji}/@me", self.remove_reaction),
        ]

    # -- helpers --------------------------------------------------------------------

    def _me(self, request: web.Request) -> str:
        """The caller's user id, from ``Authorization: Bot <token>``; 401 otherwise."""
        token = request.headers.get("Authorization", "").removeprefix("Bot ").strip()
        bot = self.state.bots_by_token.get(token)
        if bot is None:
            raise ApiError(401, 0, "401: Unauthorized")
        return bot.user.id

    def _channel(self, request: web.Request, me: str) -> Channel:
        channel = self.state.channels.get(request.match_info["channel_id"])
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        if not self.state.can_access(me, channel):
            raise ApiError(403, 50001, "Missing Access")
        return channel

    def _message(self, request: web.Request, channel: Channel) -> Message:
        message = self.state.find_message(channel.id, request.match_info["message_id"])
        if message is None:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _guild_member(self, request: web.Request, me: str) -> Guild:
        guild = self.state.guilds.get(request.match_info["guild_id"])
        if guild is None or me not in guild.members:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    # -- users, application, gateway ------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        me = self.state.users[self._me(request)]
        return json_response({**payloads.user_payload(me), "verified": True, "mfa_enabled": False, "email": None})

    async def get_user(self, request: web.Request) -> web.Response:
        self._me(request)
        user = self.state.users.get(request.match_info["user_id"])
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(payloads.user_payload(user))

    async def get_application(self, request: web.Request) -> web.Response:
        me = self.state.users[self._me(request)]
        owner = self.state.users[seed.HUMAN_USER_ID]  # the person running the sandbox owns its bots
        return json_response({
            "id": me.id, "name": me.username, "description": "", "icon": None, "bot_public": False,
            "bot_require_code_grant": False, "owner": payloads.user_payload(owner), "verify_key": "0" * 64,
            "flags": 0, "team": None, "summary": "", "rpc_origins": [], "tags": [],
        })

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self._gateway_url()})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        me = self._me(request)
        limit = {"total": 1000, "remaining": 1000, "reset_after": 86_400_000, "max_concurrency": 1}
        # Discord recommends about one shard per 1000 guilds (and requires one per 2500).
        joined = sum(1 for g in self.state.guilds.values() if me in g.members)
        shards = max(1, -(-joined // 1000))
        return json_response({"url": self._gateway_url(), "shards": shards, "session_start_limit": limit})

    async def create_dm(self, request: web.Request) -> web.Response:
        me = self._me(request)
        body = await request.json()
        recipient = _snowflake(body.get("recipient_id"))
        if recipient is None or recipient not in self.state.users:
            raise ApiError(400, 50035, "Invalid Form Body")
        channel = self.state.dm_channel(me, recipient)
        return json_response(payloads.channel_payload(self.state, channel, viewer_id=me))

    # -- guilds ---------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.Response:
        me = self._me(request)
        guild = self._guild_member(request, me)
        data = payloads.guild_payload(self.state, guild, [], me)
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at", "large",
                    "member_count", "unavailable"):
            data.pop(key, None)  # GET /guilds/{id} has no gateway-only fields
        return json_response(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild_member(request, self._me(request))
        return json_response([payloads.channel_payload(self.state, self.state.channels[c]) for c in guild.channel_ids])

    async def list_members(self, request: web.Request) -> web.Response:
        guild = self._guild_member(request, self._me(request))
        limit = max(1, min(1000, int(request.query.get("limit", "1"))))
        after = int(request.query.get("after", "0"))
        ids = sorted((u for u in guild.members if int(u) > after), key=int)[:limit]
        return json_response([payloads.member_payload(self.state, guild, u) for u in ids])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self._guild_member(request, self._me(request))
        user_id = request.match_info["user_id"]
        if user_id not in guild.members:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(payloads.member_payload(self.state, guild, user_id))

    # -- channels and messages ------------------------------------------------------

    async def get_channel(self, request: web.Request) -> web.Response:
        me = self._me(request)
        return json_response(payloads.channel_payload(self.state, self._channel(request, me), viewer_id=me))

    async def typing(self, request: web.Request) -> web.Response:
        me = self._me(request)
        self.actions.typing(self._channel(request, me), me)
        return web.Response(status=204)

    async def history(self, request: web.Request) -> web.Response:
        me = self._me(request)
        channel = self._channel(request, me)
        q = request.query
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            raise ApiError(400, 50035, "Invalid Form Body") from None
        found = self.state.history(channel.id, limit, q.get("before"), q.get("after"), q.get("around"))
        return json_response([self.actions.payload(m, me) for m in found])

    async def get_message(self, request: web.Request) -> web.Response:
        me = self._me(request)
        return json_response(self.actions.payload(self._message(request, self._channel(request, me)), me))

    async def send(self, request: web.Request) -> web.Response:
        me = self._me(request)
        channel = self._channel(request, me)
        body, files = await self._read_body(request)
        content = str(body.get("content") or "")
        embeds = body.get("embeds") or ([body["embed"]] if body.get("embed") else [])
        if not content and not embeds and not files:
            raise ApiError(400, 50006, "Cannot send an empty message")
        if len(content) > MAX_CONTENT:
            raise ApiError(400, 50035, "Invalid Form Body: content must be 2000 or fewer in length.")
        reference = None
        ref = body.get("message_reference")
        if ref and ref.get("message_id") is not None:
            reference = self.state.find_message(str(ref.get("channel_id") or channel.id), str(ref["message_id"]))
            if reference is None and ref.get("fail_if_not_exists", True):
                raise ApiError(400, 50035, "Invalid Form Body: Unknown message")
        # Without allowed_mentions a reply pings its author; with it, only if replied_user is set.
        allowed = body.get("allowed_mentions")
        ping_author = True if allowed is None else bool(allowed.get("replied_user", False))
        message = self.actions.post(
            channel, me, content, reference=reference, mention_reply_author=ping_author,
            embeds=embeds, files=files, nonce=body.get("nonce"), tts=bool(body.get("tts")),
        )
        return json_response(self.actions.payload(message, me))

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        """JSON body, or multipart ``payload_json`` plus ``files[n]`` parts."""
        if not request.content_type.startswith("multipart/"):
            return (await request.json() if request.can_read_body else {}), []
        body: dict[str, Any] = {}
        files: list[tuple[str, str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                body = json.loads(await part.text())  # type: ignore[union-attr]
            elif part.filename:
                data = bytes(await part.read())  # type: ignore[union-attr]
                ctype = part.headers.get("Content-Type") or mimetypes.guess_type(part.filename)[0]
                files.append((part.filename, ctype or "application/octet-stream", data))
        return body, files

    async def edit(self, request: web.Request) -> web.Response:
        me = self._me(request)
        message = self._message(request, self._channel(request, me))
        if message.author_id != me:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body, _files = await self._read_body(request)
        content = body.get("content")
        if content is not None and len(str(content)) > MAX_CONTENT:
            raise ApiError(400, 50035, "Invalid Form Body: content must be 2000 or fewer in length.")
        self.actions.edit(message, None if content is None else str(content), body.get("embeds"))
        return json_response(self.actions.payload(message, me))

    async def delete(self, request: web.Request) -> web.Response:
        me = self._me(request)
        self.actions.delete(self._message(request, self._channel(request, me)), me)
        return web.Response(status=204)

    async def add_reaction(self, request: web.Request) -> web.Response:
        me = self._me(request)
        self.actions.react(self._message(request, self._channel(request, me)), me, request.match_info["emoji"])
        return web.Response(status=204)

    async def remove_reaction(self, request: web.Request) -> web.Response:
        me = self._me(request)
        message = self._message(request, self._channel(request, me))
        self.actions.react(message, me, request.match_info["emoji"], add=False)
        return web.Response(status=204)

    async def reaction_users(self, request: web.Request) -> web.Response:
        me = self._me(request)
        message = self._message(request, self._channel(request, me))
        reaction = message.reactions.get(emoji_from_key(request.match_info["emoji"])[0])
        users = reaction.users if reaction is not None else []
        return json_response([payloads.user_payload(self.state.users[u]) for u in users])
