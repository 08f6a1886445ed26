"""Application commands in the sandbox: registration, slash-command interactions, responses.

What a discord.py ``app_commands`` bot does, and what the sandbox answers:

* ``tree.sync()`` sends ``PUT /applications/{app}/commands`` (or the guild variant): the
  scope's whole set is replaced and echoed back with ids (Discord's bulk overwrite).
* A person's slash command is injected with :meth:`Interactions.create` and dispatched as
  ``INTERACTION_CREATE`` (type 2) in Discord's DM or guild shape. Only registered commands
  can be injected: discord.py routes commands locally, so a bot that never synced would
  otherwise still "work" in tests and fail on Discord.
* The bot answers through ``POST /interactions/{id}/{token}/callback`` (type 4 a message,
  5 deferred; flag 64 ephemeral), then ``PATCH …/messages/@original`` and follow-ups on
  ``POST /webhooks/{app}/{token}``. These carry no bot token (Discord authenticates them by
  the interaction token), so they are not checked against ``Authorization``.

Every response is recorded on its interaction and emitted as an ``interaction_response``
event, which is how tests and the terminal chat read the bot's answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import payloads
from .rest import ApiError, json_response
from .state import SandboxState

__all__ = ["EPHEMERAL", "Interaction", "Interactions", "InteractionRest"]

EPHEMERAL = 64  # message flag: only the person who ran the command sees it
_CHANNEL_MESSAGE = 4
_DEFERRED = 5
_STRING = 3
_SUBCOMMAND, _GROUP = 1, 2


@dataclass
class Interaction:
    """One injected slash command and what the bot answered to it."""

    id: str
    token: str
    application_id: str
    user_id: str
    channel_id: str
    guild_id: str | None
    command: str
    options: dict[str, Any]
    acknowledged: bool = False
    original: dict[str, Any] | None = None  # the original response as a message, once there is one
    responses: list[dict[str, Any]] = field(default_factory=list)


class Interactions:
    """Registered commands per application and scope, and every interaction injected."""

    def __init__(self, state: SandboxState, emit: Callable[[dict[str, Any]], None]) -> None:
        self.state = state
        self.emit = emit
        # (application id, guild id or None for global) -> the command objects, as echoed
        self.commands: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self.by_id: dict[str, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}

    # -- registration ---------------------------------------------------------------

    def register(self, app_id: str, guild_id: str | None, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the scope's commands with *body*; returns them with ids, as Discord does."""
        if not isinstance(body, list) or any(not isinstance(c, dict) or not c.get("name") for c in body):
            raise ApiError(400, 50035, "Invalid Form Body")
        previous = {c["name"]: c for c in self.commands.get((app_id, guild_id), [])}
        stored = []
        for command in body:
            kept = previous.get(command["name"])
            stored.append({
                **command,
                "id": kept["id"] if kept else self.state.ids.next(),  # a re-sync keeps the command's id
                "application_id": app_id,
                "version": self.state.ids.next(),
                "guild_id": guild_id,
                "type": command.get("type", 1),
                "description": command.get("description", ""),
            })
        self.commands[(app_id, guild_id)] = stored
        self.emit({"type": "commands_sync", "application_id": app_id, "guild_id": guild_id,
                   "names": [c["name"] for c in stored]})
        return stored

    def registered(self, app_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        """The commands of *app_id* in one scope (global when *guild_id* is None)."""
        return list(self.commands.get((app_id, guild_id), []))

    def _find(self, app_id: str, guild_id: str | None, name: str) -> dict[str, Any] | None:
        scopes = [(app_id, guild_id), (app_id, None)] if guild_id else [(app_id, None)]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name:
                    return command
        return None

    # -- injection ------------------------------------------------------------------

    def create(
        self, app_id: str, user_id: str, command: str, options: dict[str, Any], channel_id: str
    ) -> tuple[Interaction, dict[str, Any]]:
        """A new interaction for ``/command`` (``"settings model"``: a subcommand) and its
        INTERACTION_CREATE payload. Raises ``LookupError`` for a command not registered."""
        channel = self.state.channels[channel_id]
        words = command.strip().lstrip("/").split()
        if not words:
            raise ValueError("no command given")
        registered = self._find(app_id, channel.guild_id, words[0])
        if registered is None:
            raise LookupError(f"/{words[0]} is not registered by application {app_id} (did the bot sync its commands?)")
        _check_context(registered, in_dm=channel.guild_id is None)
        data_options = _options(registered.get("options") or [], words[1:], options)
        iid = self.state.ids.next()
        interaction = Interaction(
            id=iid, token=f"itoken-{iid}", application_id=app_id, user_id=user_id, channel_id=channel.id,
            guild_id=channel.guild_id, command=" ".join(words), options=dict(options),
        )
        self.by_id[iid] = interaction
        self._by_token[interaction.token] = interaction
        data: dict[str, Any] = {
            "id": iid, "application_id": app_id, "type": 2, "token": interaction.token, "version": 1,
            "data": {"id": registered["id"], "name": words[0], "type": 1, "options": data_options},
            "channel_id": channel.id,
            "locale": "en-US", "app_permissions": "1126451687104064", "entitlements": [],
            "attachment_size_limit": 10485760,
        }
        if channel.guild_id is None:
            data.update(channel={"id": channel.id, "type": 1}, user=payloads.user_payload(self.state.users[user_id]),
                        authorizing_integration_owners={"1": user_id}, context=1)
        else:
            guild = self.state.guilds[channel.guild_id]
            if registered.get("guild_id"):
                data["data"]["guild_id"] = guild.id
            member = {**payloads.member_payload(self.state, guild, user_id), "permissions": "2248473465835073"}
            data.update(
                guild_id=guild.id, guild={"id": guild.id, "locale": "en-US", "features": []},
                channel=payloads.channel_payload(self.state, channel), member=member, guild_locale="en-US",
                authorizing_integration_owners={"0": guild.id}, context=0,
            )
        self.emit({"type": "interaction", "interaction_id": iid, "user_id": user_id, "channel_id": channel.id,
                   "command": interaction.command, "options": dict(options)})
        return interaction, data

    # -- responses ------------------------------------------------------------------

    def interaction(self, iid: str, token: str) -> Interaction:
        found = self.by_id.get(iid)
        if found is None or found.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        return found

    def by_token(self, app_id: str, token: str) -> Interaction:
        found = self._by_token.get(token)
        if found is None or found.application_id != app_id:
            raise ApiError(404, 10015, "Unknown Webhook")
        return found

    def record(self, interaction: Interaction, kind: str, body: dict[str, Any], message: dict[str, Any] | None) -> None:
        flags = int(body.get("flags") or 0)
        entry = {
            "kind": kind,  # callback, edit, followup
            "response_type": body.get("type"),  # 4 message, 5 deferred (callbacks only)
            "content": (message or {}).get("content", body.get("content")),
            "ephemeral": bool(flags & EPHEMERAL),
            "message_id": (message or {}).get("id"),
        }
        interaction.responses.append(entry)
        self.emit({"type": "interaction_response", "interaction_id": interaction.id,
                   "bot_id": interaction.application_id, "user_id": interaction.user_id,
                   "channel_id": interaction.channel_id, "command": interaction.command, **entry})

    def message(self, interaction: Interaction, content: str | None, flags: int) -> dict[str, Any]:
        """A webhook message payload: the bot's answer as the channel would show it."""
        app_user = self.state.users.get(interaction.application_id)
        author = payloads.user_payload(app_user) if app_user else {"id": interaction.application_id,
                                                                   "username": "app", "discriminator": "0"}
        return {
            "id": self.state.ids.next(), "channel_id": interaction.channel_id, "type": 20,
            "content": content or "", "author": author, "flags": flags, "webhook_id": interaction.application_id,
            "application_id": interaction.application_id, "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "interaction_metadata": {"id": interaction.id, "type": 2,
                                     "user": payloads.user_payload(self.state.users[interaction.user_id])},
        }


def _check_context(command: dict[str, Any], *, in_dm: bool) -> None:
    """Discord offers a command only where its registration allows: ``contexts`` (0 guild,
    1 the bot's DM) when given, else ``dm_permission`` for DMs."""
    contexts = command.get("contexts")
    if isinstance(contexts, list):
        allowed = (1 in contexts) if in_dm else (0 in contexts)
    else:
        allowed = command.get("dm_permission", True) is not False if in_dm else True
    if not allowed:
        raise PermissionError(f"/{command['name']} is not offered in {'DMs' if in_dm else 'guilds'} (its registration)")


def _options(declared: list[dict[str, Any]], path: list[str], values: dict[str, Any]) -> list[dict[str, Any]]:
    """``data.options`` for a command: nested subcommands along *path*, then the arguments."""
    if path:
        sub = next((o for o in declared if o.get("name") == path[0] and o.get("type") in (_SUBCOMMAND, _GROUP)), None)
        if sub is None:
            raise LookupError(f"no subcommand {path[0]!r} (registered: {[o.get('name') for o in declared]})")
        return [{"name": sub["name"], "type": sub["type"], "options": _options(sub.get("options") or [], path[1:], values)}]
    out = []
    for name, value in values.items():
        spec = next((o for o in declared if o.get("name") == name), None)
        if spec is None:
            raise LookupError(f"no option {name!r} (registered: {[o.get('name') for o in declared]})")
        out.append({"name": name, "type": spec.get("type", _STRING), "value": value})
    missing = [o["name"] for o in declared if o.get("required") and o["name"] not in values]
    if missing:
        raise ValueError(f"required option(s) missing: {', '.join(missing)}")
    return out


class InteractionRest:
    """The REST routes of application commands and interaction responses."""

    def __init__(self, interactions: Interactions, me: Callable[[web.Request], str]) -> None:
        self.interactions = interactions
        self._me = me  # the bot token check of the main REST API

    def routes(self, prefix: str) -> list[web.RouteDef]:
        app = prefix + "/applications/{app_id}"
        hook = prefix + "/webhooks/{app_id}/{token}"
        return [
            web.put(app + "/commands", self.put_commands),
            web.get(app + "/commands", self.get_commands),
            web.put(app + "/guilds/{guild_id}/commands", self.put_commands),
            web.get(app + "/guilds/{guild_id}/commands", self.get_commands),
            web.post(prefix + "/interactions/{iid}/{token}/callback", self.callback),
            web.post(hook, self.followup),
            web.get(hook + "/messages/@original", self.get_original),
            web.patch(hook + "/messages/@original", self.edit_original),
            web.delete(hook + "/messages/@original", self.delete_original),
        ]

    def _app(self, request: web.Request) -> str:
        app_id = request.match_info["app_id"]
        if self._me(request) != app_id:  # a bot's application id is its user id here
            raise ApiError(403, 50001, "Missing Access")
        return app_id

    async def put_commands(self, request: web.Request) -> web.Response:
        app_id = self._app(request)
        body = json.loads(await request.text() or "[]")
        return json_response(self.interactions.register(app_id, request.match_info.get("guild_id"), body))

    async def get_commands(self, request: web.Request) -> web.Response:
        app_id = self._app(request)
        return json_response(self.interactions.registered(app_id, request.match_info.get("guild_id")))

    async def callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.interaction(request.match_info["iid"], request.match_info["token"])
        if interaction.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = await _json_or_payload(request)
        kind = body.get("type")
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        if kind not in (_CHANNEL_MESSAGE, _DEFERRED):
            raise ApiError(400, 50035, f"Invalid Form Body: interaction response type {kind} is not for commands")
        interaction.acknowledged = True
        message = self.interactions.message(interaction, data.get("content") if kind == _CHANNEL_MESSAGE else "", flags)
        interaction.original = message
        self.interactions.record(interaction, "callback", {"type": kind, "flags": flags,
                                                           "content": data.get("content")},
                                 message if kind == _CHANNEL_MESSAGE else None)
        reply: dict[str, Any] = {
            "interaction": {
                "id": interaction.id, "type": 2, "response_message_id": message["id"],
                "response_message_loading": kind == _DEFERRED,
                "response_message_ephemeral": bool(flags & EPHEMERAL), "activity_instance_id": None,
            },
        }
        if kind == _CHANNEL_MESSAGE:
            reply["resource"] = {"type": kind, "message": message}
        return json_response(reply)

    async def followup(self, request: web.Request) -> web.Response:
        interaction = self.interactions.by_token(request.match_info["app_id"], request.match_info["token"])
        if not interaction.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")  # Discord: respond to the interaction first
        body = await _json_or_payload(request)
        message = self.interactions.message(interaction, body.get("content"), int(body.get("flags") or 0))
        self.interactions.record(interaction, "followup", body, message)
        return json_response(message)

    def _original(self, request: web.Request) -> tuple[Any, dict[str, Any]]:
        interaction = self.interactions.by_token(request.match_info["app_id"], request.match_info["token"])
        if interaction.original is None:
            raise ApiError(404, 10008, "Unknown Message")
        return interaction, interaction.original

    async def get_original(self, request: web.Request) -> web.Response:
        return json_response(self._original(request)[1])

    async def edit_original(self, request: web.Request) -> web.Response:
        interaction, original = self._original(request)
        body = await _json_or_payload(request)
        if "content" in body:
            original["content"] = body["content"] or ""
        original["edited_timestamp"] = "2026-01-01T00:00:01+00:00"
        self.interactions.record(interaction, "edit", {**body, "flags": original.get("flags", 0)}, original)
        return json_response(original)

    async def delete_original(self, request: web.Request) -> web.Response:
        interaction, _original = self._original(request)
        interaction.original = None
        self.interactions.record(interaction, "delete", {}, None)
        return web.Response(status=204)


async def _json_or_payload(request: web.Request) -> dict[str, Any]:
    """A JSON body, or the ``payload_json`` part of a multipart one (files are not kept)."""
    if not request.content_type.startswith("multipart/"):
        return await request.json() if request.can_read_body else {}
    reader = await request.multipart()
    async for part in reader:
        if part.name == "payload_json":
            return dict(json.loads(await part.text()))  # type: ignore[union-attr]
    return {}
