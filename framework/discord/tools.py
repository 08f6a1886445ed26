"""Discord query tools for the model, answered by the connected client.

:class:`DiscordQueryTools` builds four :class:`~framework.domain.llm.ClientTool` objects:
``get_server_members``, ``get_active_threads``, ``get_pinned_messages`` and
``get_channel_info``. Every call is bounded by the conversation's
:class:`~framework.domain.llm.ConversationScope`, never by what the bot could reach:

* in a DM there is no server data at all;
* only the conversation's own server, even when the bot is in others;
* a channel must belong to that server, and both the bot and the *asking user*
  must be able to view it (and read its history, for pins); a private thread also
  needs the asking user to be in it or allowed to manage threads.

A refusal raises :class:`~framework.domain.llm.ToolError` with a one-line reason that
names ids the model already supplied, never the name or content of what was refused.
Results are compact JSON built field by field, never raw payloads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Union

import discord

from ..domain import ConversationScope, ToolError
from ..ports import ClientTool

__all__ = ["DiscordQueryTools", "QueryTool"]

_log = logging.getLogger(__name__)

#: A snowflake as the model may write it: digits, or a channel/user mention around them.
_ID_RE = re.compile(r"^(?:<[#@]!?)?(\d{1,20})>?$")
_MAX_SNOWFLAKE = (1 << 64) - 1

#: Guild channels and threads alike: what a channel id can name inside a server.
ServerChannel = Union[discord.abc.GuildChannel, discord.Thread]

Handler = Callable[[dict[str, Any], ConversationScope], Awaitable[Any]]

_SERVER_ID = {
    "type": "string",
    "description": "Discord server (guild) id. Optional: defaults to the server of this conversation, "
    "the only one that may be queried.",
}
_CHANNEL_ID = {
    "type": "string",
    "description": "Discord channel id (digits, or a <#id> mention). Optional: defaults to the "
    "channel of this conversation.",
}


@dataclass(frozen=True)
class QueryTool:
    """One Discord query as a client tool (implements :class:`ClientTool`)."""

    name: str
    description: str
    properties: dict[str, Any]
    handler: Handler

    def _schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": json.loads(json.dumps(self.properties)),  # a fresh copy each call
            "required": [],
            "additionalProperties": False,
        }

    def anthropic_param(self) -> dict[str, Any]:
        """A custom tool for the Anthropic API: ``{"name", "description", "input_schema"}``."""
        return {"name": self.name, "description": self.description, "input_schema": self._schema()}

    def function_schema(self) -> dict[str, Any]:
        """An OpenAI-style function: ``{"name", "description", "parameters"}``."""
        return {"name": self.name, "description": self.description, "parameters": self._schema()}

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        """Answer within *scope* as compact JSON; ToolError to refuse."""
        if not isinstance(args, dict):
            raise ToolError(f"{self.name} expects an object of arguments")
        unknown = sorted(str(k) for k in args if k not in self.properties)
        if unknown:
            raise ToolError(f"{self.name} takes only {', '.join(self.properties)}; unknown: {', '.join(unknown)}")
        result = await self.handler(args, scope)
        return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


class DiscordQueryTools:
    """The Discord query tools, answered by a connected ``discord.Client``.

    *member_limit* caps the member list, *pin_limit* the pins fetched, *content_limit*
    the characters of each pinned message, and *timeout* each call's Discord requests
    (seconds), so a stalled API turns into a refusal instead of a stuck tool loop.
    """

    def __init__(
        self,
        client: discord.Client,
        *,
        member_limit: int = 100,
        pin_limit: int = 50,
        content_limit: int = 500,
        timeout: float = 15.0,
    ) -> None:
        self.client = client
        self.member_limit = member_limit
        self.pin_limit = pin_limit
        self.content_limit = content_limit
        self.timeout = timeout

    def tools(self) -> list[ClientTool]:
        """The four tools: get_server_members, get_active_threads, get_pinned_messages, get_channel_info."""
        return [
            QueryTool(
                "get_server_members",
                "List the members of this Discord server: id, name, display name, roles and whether "
                f"each is a bot (at most {self.member_limit}; `query` filters by name).",
                {"server_id": _SERVER_ID, "query": {
                    "type": "string", "description": "Optional: only members whose name or display name "
                    "contains this text (case-insensitive)."}},
                self._guarded(self._members),
            ),
            QueryTool(
                "get_active_threads",
                "List the active (not archived) threads of a channel in this server: id, name, "
                "message count and creation time.",
                {"channel_id": _CHANNEL_ID, "server_id": _SERVER_ID},
                self._guarded(self._threads),
            ),
            QueryTool(
                "get_pinned_messages",
                "List the pinned messages of a channel in this server, newest pin first: id, author, "
                "content (shortened when long) and creation time.",
                {"channel_id": _CHANNEL_ID, "server_id": _SERVER_ID},
                self._guarded(self._pins),
            ),
            QueryTool(
                "get_channel_info",
                "Describe a channel or thread of this server: id, name, type, topic and creation time.",
                {"channel_id": _CHANNEL_ID, "server_id": _SERVER_ID},
                self._guarded(self._channel_info),
            ),
        ]

    # -- error handling -------------------------------------------------------------

    def _guarded(self, handler: Handler) -> Handler:
        """*handler* with Discord failures and timeouts turned into ToolError."""

        async def run(args: dict[str, Any], scope: ConversationScope) -> Any:
            try:
                return await asyncio.wait_for(handler(args, scope), self.timeout)
            except ToolError as exc:
                _log.debug("discord query refused: %s", exc)
                raise
            except TimeoutError:
                raise ToolError(f"Discord did not answer within {self.timeout:g} s; try again later") from None
            except discord.Forbidden:
                raise ToolError("Discord refused the request: the bot lacks permission") from None
            except discord.NotFound:
                raise ToolError("Discord does not know that server, channel or member") from None
            except discord.HTTPException as exc:
                _log.warning("discord query failed: HTTP %s (code %s)", exc.status, exc.code)
                raise ToolError(f"Discord request failed (HTTP {exc.status}); try again later") from None
            except (discord.ClientException, discord.InvalidData) as exc:
                _log.warning("discord query failed: %s", exc)
                raise ToolError("the Discord client could not answer that request") from None

        return run

    # -- scope checks ---------------------------------------------------------------

    async def _guild(self, args: dict[str, Any], scope: ConversationScope) -> tuple[discord.Guild, discord.Member]:
        """The conversation's server and the asking user's member there; ToolError otherwise."""
        if scope.guild_id is None:
            raise ToolError("this is a direct message: no Discord server data is available here")
        scope_guild = _parse_id(scope.guild_id, "the conversation's server id")
        requested = args.get("server_id")
        if requested is not None and requested != "":
            server_id = _parse_id(requested, "server_id")
            if server_id != scope_guild:
                raise ToolError(
                    f"server {server_id} is not this conversation's server: only server {scope_guild} may be queried"
                )
        guild = self.client.get_guild(scope_guild)
        if guild is None:
            raise ToolError(f"the bot is not connected to server {scope_guild}")
        return guild, await self._asker(guild, scope)

    async def _asker(self, guild: discord.Guild, scope: ConversationScope) -> discord.Member:
        user_id = _parse_id(scope.user_id, "the asking user's id")
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:  # not cached (e.g. no members intent): ask Discord
            return await guild.fetch_member(user_id)
        except discord.NotFound:
            raise ToolError("the asking user is not a member of this server") from None

    async def _channel(
        self, guild: discord.Guild, asker: discord.Member, args: dict[str, Any], scope: ConversationScope,
        *, history: bool = False,
    ) -> ServerChannel:
        """The requested (or current) channel of *guild*, if both the asker and the bot may see it."""
        raw = args.get("channel_id")
        if raw is None or raw == "":
            raw = scope.channel_id
        channel_id = _parse_id(raw, "channel_id")
        channel: ServerChannel | None = guild.get_channel_or_thread(channel_id)
        if channel is None:
            try:  # e.g. an archived thread, which is not cached
                channel = await guild.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden, discord.InvalidData):
                # Unknown, another server's, a DM, or hidden from the bot: all one answer.
                raise ToolError(f"there is no channel {channel_id} in this server") from None
        await self._check_view(channel, guild, asker, history=history)
        return channel

    async def _check_view(
        self, channel: ServerChannel, guild: discord.Guild, asker: discord.Member, *, history: bool = False
    ) -> None:
        """Refuse unless the asker and the bot can view *channel* (and read its history)."""
        theirs = channel.permissions_for(asker)
        if not theirs.view_channel:
            raise ToolError(f"the asking user cannot view channel {channel.id}")
        if history and not theirs.read_message_history:
            raise ToolError(f"the asking user cannot read the history of channel {channel.id}")
        if isinstance(channel, discord.Thread) and channel.is_private() and not await self._in_private_thread(
            channel, asker
        ):
            raise ToolError(f"the asking user is not in private thread {channel.id}")
        ours = channel.permissions_for(guild.me)
        if not ours.view_channel:
            raise ToolError(f"the bot cannot view channel {channel.id}")
        if history and not ours.read_message_history:
            raise ToolError(f"the bot cannot read the history of channel {channel.id}")

    async def _in_private_thread(self, thread: discord.Thread, member: discord.Member) -> bool:
        """Whether *member* may see private *thread*: its owner, a manager of threads, or a member."""
        if thread.owner_id == member.id or thread.permissions_for(member).manage_threads:
            return True
        if any(m.id == member.id for m in thread.members):  # cached membership, when known
            return True
        try:
            await thread.fetch_member(member.id)
        except discord.NotFound:
            return False
        return True

    # -- the tools ------------------------------------------------------------------

    async def _members(self, args: dict[str, Any], scope: ConversationScope) -> dict[str, Any]:
        guild, _asker = await self._guild(args, scope)
        query = args.get("query")
        if query is not None and not isinstance(query, str):
            raise ToolError("query must be text")
        note = None
        if not guild.chunked:
            if self.client.intents.members:
                await guild.chunk()
            else:
                note = "the bot lacks the members intent, so the list may be incomplete"
        members = sorted(guild.members, key=lambda m: (m.display_name.casefold(), m.id))
        if query:
            wanted = query.casefold()
            members = [m for m in members if wanted in m.name.casefold() or wanted in m.display_name.casefold()]
        shown = members[: self.member_limit]
        result: dict[str, Any] = {
            "server": {"id": str(guild.id), "name": guild.name},
            "member_count": guild.member_count,
            "matched": len(members),
            "truncated": len(members) > len(shown),
            "members": [
                {
                    "id": str(m.id),
                    "name": m.name,
                    "display_name": m.display_name,
                    "roles": [r.name for r in reversed(m.roles) if not r.is_default()],  # highest first
                    "bot": m.bot,
                }
                for m in shown
            ],
        }
        if note:
            result["note"] = note
        return result

    async def _threads(self, args: dict[str, Any], scope: ConversationScope) -> dict[str, Any]:
        guild, asker = await self._guild(args, scope)
        channel = await self._channel(guild, asker, args, scope)
        if isinstance(channel, discord.Thread):  # asked from inside a thread: its siblings
            parent = channel.parent
            if parent is None:
                raise ToolError(f"the parent channel of thread {channel.id} is unknown")
            await self._check_view(parent, guild, asker)
            channel = parent
        threads = []
        for thread in await guild.active_threads():
            if thread.parent_id != channel.id:
                continue
            if thread.is_private() and not await self._in_private_thread(thread, asker):
                continue  # private threads the asker is not in stay unmentioned
            threads.append({
                "id": str(thread.id),
                "name": thread.name,
                "message_count": thread.message_count,
                "created_at": _iso(thread.created_at),
            })
        return {"channel": {"id": str(channel.id), "name": channel.name}, "threads": threads}

    async def _pins(self, args: dict[str, Any], scope: ConversationScope) -> dict[str, Any]:
        guild, asker = await self._guild(args, scope)
        channel = await self._channel(guild, asker, args, scope, history=True)
        if not isinstance(channel, discord.abc.Messageable):
            raise ToolError(f"channel {channel.id} is a {channel.type} channel and holds no messages")
        pins = []
        async for message in channel.pins(limit=self.pin_limit):
            content = message.content
            if len(content) > self.content_limit:
                content = content[: self.content_limit] + "…"
            entry: dict[str, Any] = {
                "id": str(message.id),
                "author": message.author.name,
                "content": content,
                "created_at": _iso(message.created_at),
            }
            if message.attachments:
                entry["attachments"] = len(message.attachments)
            pins.append(entry)
        return {"channel": {"id": str(channel.id), "name": channel.name}, "pins": pins}

    async def _channel_info(self, args: dict[str, Any], scope: ConversationScope) -> dict[str, Any]:
        guild, asker = await self._guild(args, scope)
        channel = await self._channel(guild, asker, args, scope)
        info: dict[str, Any] = {
            "id": str(channel.id),
            "name": channel.name,
            "type": str(channel.type),
            "topic": getattr(channel, "topic", None),
            "created_at": _iso(channel.created_at),
        }
        if isinstance(channel, discord.Thread):
            info["parent_id"] = str(channel.parent_id)
            info["message_count"] = channel.message_count
            info["archived"] = channel.archived
        elif channel.category is not None:
            info["category"] = channel.category.name
        return info


def _parse_id(value: Any, what: str) -> int:
    """A snowflake from the model's argument; ToolError when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ToolError(f"{what} must be a Discord id (digits)")
    match = _ID_RE.match(text)
    if match is None or not 0 < int(match.group(1)) <= _MAX_SNOWFLAKE:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ToolError(f"{what} must be a Discord id (digits), not {shown!r}")
    return int(match.group(1))


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
