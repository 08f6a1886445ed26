"""The sandbox gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME with replay, drills.

Frames go out as plain text JSON whatever ``compress`` the client asks for: discord.py
only inflates binary frames and parses text frames as they are. Sockets and sessions
are in :mod:`framework.sandbox.session`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .session import (
    GUILD_MEMBERS,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    OP_REQUEST_MEMBERS,
    OP_RESUME,
    Builder,
    Connection,
    Session,
)
from .state import Channel, SandboxState

_log = logging.getLogger(__name__)

#: How long a session whose socket dropped may still be resumed.
RESUME_WINDOW_S = 300.0


class GatewayHub:
    """All sessions and connections; ``emit`` reports connects and resumes to observers."""

    def __init__(self, state: SandboxState, emit: Callable[[dict[str, Any]], None]) -> None:
        self.state = state
        self.emit = emit
        self.url = ""  # set by the server once it listens; READY's resume_gateway_url
        self.heartbeat_interval_ms = 41_250
        #: False sends only the bot's own member in GUILD_CREATE, forcing op 8 chunking.
        self.full_member_list = True
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        #: Every frame received: (bot user id or None, op).
        self.received: list[tuple[str | None, int]] = []

    # -- websocket ------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for ``/gateway``."""
        ws = web.WebSocketResponse(autoping=True, compress=False, timeout=3.0)
        await ws.prepare(request)
        conn = Connection(ws)
        self.connections.add(conn)
        writer = asyncio.create_task(conn.run_writer())
        conn.send_op(OP_HELLO, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["sandbox"]})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    conn.close(4002)  # decode error: clients only send text JSON
                    continue
                try:
                    frame = json.loads(msg.data)
                    self._on_frame(conn, frame)
                except (ValueError, KeyError, TypeError) as exc:
                    _log.warning("bad gateway frame %r: %s", msg.data[:200], exc)
                    conn.close(4002)
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None:
                session.detach()
                if not conn.server_closing and ws.close_code in (1000, 1001):
                    self.sessions.pop(session.session_id, None)  # the client said goodbye
            if not writer.done():
                writer.cancel()
            conn.finished.set()
            if conn.user_id is not None:
                self.emit({"type": "disconnect", "user_id": conn.user_id, "code": ws.close_code,
                           "by_server": conn.server_closing})
        return ws

    def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op, d = frame["op"], frame.get("d")
        self.received.append((conn.session.user_id if conn.session else None, op))
        if op == OP_HEARTBEAT:
            conn.send_op(OP_HEARTBEAT_ACK, None)
        elif op == OP_IDENTIFY:
            self._identify(conn, d)
        elif op == OP_RESUME:
            self._resume(conn, d)
        elif op == OP_REQUEST_MEMBERS:
            self._request_members(conn, d)
        elif conn.session is None:
            conn.close(4003)  # not authenticated
        # Presence (3), voice state (4) and anything newer are accepted and ignored.

    def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            conn.close(4005)  # already authenticated
            return
        bot = self.state.bots_by_token.get(str(d.get("token", "")).removeprefix("Bot "))
        if bot is None:
            conn.close(4004)  # authentication failed
            return
        shard = tuple(d["shard"]) if d.get("shard") else None
        session = Session(bot, int(d.get("intents", 0)), shard)  # type: ignore[arg-type]
        bot.intents = session.intents
        self.sessions[session.session_id] = session
        session.attach(conn)
        guilds = [g for g in self.state.guilds.values() if bot.user.id in g.members and session.handles_guild(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**payloads.user_payload(bot.user), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {"id": bot.user.id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["sandbox"],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        session.dispatch("READY", ready)
        for guild in guilds:
            members = list(guild.members) if session.has(GUILD_MEMBERS) and self.full_member_list else [bot.user.id]
            session.dispatch("GUILD_CREATE", payloads.guild_payload(self.state, guild, members, bot.user.id))
        self.emit({"type": "identify", "user_id": bot.user.id, "session_id": session.session_id,
                   "intents": session.intents})

    def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        session = self.sessions.get(str(d.get("session_id")))
        seq = int(d.get("seq") or 0)
        token = str(d.get("token", "")).removeprefix("Bot ")
        oldest = session.log[0][0] if session is not None and session.log else 1
        if session is None or session.bot.token != token or seq < oldest - 1:
            conn.send_op(OP_INVALID_SESSION, False)
            self.emit({"type": "resume_rejected", "session_id": d.get("session_id")})
            return
        if session.conn is not None and session.conn is not conn:
            old = session.conn
            session.detach()
            old.close(4000)  # a newer socket took the session over
        session.attach(conn)
        missed = [frame for s, frame in session.log if s > seq]
        for frame in missed:
            conn.send(frame)
        session.dispatch("RESUMED", {"_trace": ["sandbox"]})
        self.emit({"type": "resumed", "user_id": session.user_id, "session_id": session.session_id,
                   "replayed": len(missed)})

    def _request_members(self, conn: Connection, d: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            conn.close(4003)
            return
        guild = self.state.guilds.get(str(d.get("guild_id")))
        if guild is None:
            return
        wanted = d.get("user_ids")
        if wanted is not None:
            wanted_ids = [str(u) for u in (wanted if isinstance(wanted, list) else [wanted])]
            ids = [u for u in wanted_ids if u in guild.members]
            not_found = [u for u in wanted_ids if u not in guild.members]
        else:
            query = str(d.get("query") or "").lower()
            ids = [u for u in guild.members if self.state.users[u].username.lower().startswith(query)]
            not_found = []
            if int(d.get("limit") or 0) > 0:
                ids = ids[: int(d["limit"])]
        chunk: dict[str, Any] = {
            "guild_id": guild.id,
            "members": [payloads.member_payload(self.state, guild, u) for u in ids],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": not_found,
            "presences": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # -- dispatching ----------------------------------------------------------------

    def live_sessions(self) -> list[Session]:
        """Sessions that are connected or may still resume (expired ones are dropped)."""
        now = time.monotonic()
        for sid, session in list(self.sessions.items()):
            if session.detached_at is not None and now - session.detached_at > RESUME_WINDOW_S:
                del self.sessions[sid]
        return list(self.sessions.values())

    def dispatch_guild(self, guild_id: str, t: str, build: Builder, intent: int) -> None:
        """Dispatch to every session whose bot is in *guild_id* and asked for *intent*."""
        members = self.state.guilds[guild_id].members
        for session in self.live_sessions():
            if session.user_id in members and session.handles_guild(guild_id) and session.has(intent):
                data = build(session)
                if data is not None:
                    session.dispatch(t, data)

    def dispatch_channel(self, channel: Channel, t: str, build: Builder, guild_intent: int, dm_intent: int) -> None:
        """Dispatch an event in *channel*: guild rules for guild channels, recipients for DMs."""
        if channel.guild_id is not None:
            # Discord sends a channel's events only to those who can view the channel.
            def visible(session: Session) -> dict[str, Any] | None:
                return build(session) if self.state.can_access(session.user_id, channel) else None

            self.dispatch_guild(channel.guild_id, t, visible, guild_intent)
            return
        for session in self.live_sessions():
            if session.user_id in channel.recipients and session.handles_guild(None) and session.has(dm_intent):
                data = build(session)
                if data is not None:
                    session.dispatch(t, data)

    # -- drills ---------------------------------------------------------------------

    def _attached(self, user_id: str) -> list[Session]:
        return [s for s in self.live_sessions() if s.user_id == user_id and s.conn is not None]

    async def drill_close(self, user_id: str, code: int = 4000) -> int:
        """Close the sockets of *user_id*'s sessions with *code*; returns how many.

        The sessions are detached before this returns control, so anything dispatched
        right after is logged for replay rather than sent: a deterministic "gap".
        """
        sessions = self._attached(user_id)
        conns = []
        for session in sessions:
            conn = session.conn
            assert conn is not None
            session.detach()
            conn.close(code)
            conns.append(conn)
        for conn in conns:
            await self._wait_closed(conn)
        return len(sessions)

    def drill_reconnect(self, user_id: str) -> int:
        """Send op 7 RECONNECT to *user_id*'s sockets; the client closes and resumes."""
        sessions = self._attached(user_id)
        for session in sessions:
            assert session.conn is not None
            session.conn.send_op(OP_RECONNECT, None)
        return len(sessions)

    def drill_invalid_session(self, user_id: str, resumable: bool) -> int:
        """Send op 9; when not *resumable* the session is forgotten, forcing a fresh IDENTIFY."""
        sessions = self._attached(user_id)
        for session in sessions:
            assert session.conn is not None
            session.conn.send_op(OP_INVALID_SESSION, resumable)
            if not resumable:
                self.sessions.pop(session.session_id, None)
        return len(sessions)

    async def _wait_closed(self, conn: Connection, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(conn.finished.wait(), timeout)
        except TimeoutError:
            _log.warning("gateway socket for %s did not close within %.1fs", conn.user_id, timeout)

    async def close_all(self, code: int = 1001) -> None:
        """Close every socket (server shutdown)."""
        conns = list(self.connections)
        for conn in conns:
            conn.close(code)
        for conn in conns:
            await self._wait_closed(conn, 2.0)
