"""Gateway plumbing: opcodes, intent bits, one socket (Connection), one session (Session).

A connection has one writer task fed by a queue, so dispatching is synchronous
(``Session.dispatch`` just enqueues) and ``s`` numbers reach the client in order even
when REST handlers dispatch concurrently. A session outlives its socket so the client
can RESUME; dispatches made while it is away are kept in its log and replayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .state import BotAccount

_log = logging.getLogger(__name__)

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME, OP_RECONNECT = 0, 1, 2, 6, 7
OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 8, 9, 10, 11

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15

#: Dispatches kept per session for replay; older gaps get op 9 (not resumable).
REPLAY_LIMIT = 2000

Builder = Callable[["Session"], "dict[str, Any] | None"]


class Connection:
    """One websocket; frames are queued and written by :meth:`run_writer`, in order."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: Session | None = None
        self.server_closing = False
        self.user_id: str | None = None  # set on IDENTIFY/RESUME, kept after a detach
        self.finished = asyncio.Event()  # set when the handler is done with the socket
        self._queue: asyncio.Queue[str | int] = asyncio.Queue()

    def send(self, frame: str) -> None:
        """Queue a serialised frame."""
        self._queue.put_nowait(frame)

    def send_op(self, op: int, d: Any) -> None:
        """Queue a non-dispatch frame."""
        self.send(json.dumps({"op": op, "d": d, "s": None, "t": None}))

    def close(self, code: int) -> None:
        """Close with *code* once the frames already queued are written."""
        self.server_closing = True
        self._queue.put_nowait(code)

    async def run_writer(self) -> None:
        """Write queued frames until a close code is dequeued or the socket fails."""
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, int):
                    await self.ws.close(code=item)
                    return
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError) as exc:  # peer vanished mid-write
                _log.debug("gateway write failed: %s", exc)
                return


class Session:
    """A gateway session: identity, intents, sequence and the replay log."""

    def __init__(self, bot: BotAccount, intents: int, shard: tuple[int, int] | None) -> None:
        self.session_id = uuid.uuid4().hex
        self.bot = bot
        self.intents = intents
        self.shard = shard
        self.seq = 0
        self.log: deque[tuple[int, str]] = deque(maxlen=REPLAY_LIMIT)
        self.conn: Connection | None = None
        self.detached_at: float | None = None

    @property
    def user_id(self) -> str:
        """The bot user this session logged in as."""
        return self.bot.user.id

    def has(self, intent: int) -> bool:
        """Whether IDENTIFY asked for *intent*."""
        return bool(self.intents & intent)

    def handles_guild(self, guild_id: str | None) -> bool:
        """Shard routing: (guild_id >> 22) % shard_count; DMs go to shard 0."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_id == ((int(guild_id) >> 22) % count if guild_id else 0)

    def attach(self, conn: Connection) -> None:
        self.conn, conn.session, self.detached_at = conn, self, None
        conn.user_id = self.user_id

    def detach(self) -> None:
        if self.conn is not None:
            self.conn.session = None
        self.conn, self.detached_at = None, time.monotonic()

    def dispatch(self, t: str, d: dict[str, Any]) -> None:
        """Number, log and (if connected) queue a dispatch."""
        self.seq += 1
        frame = json.dumps({"op": OP_DISPATCH, "d": d, "s": self.seq, "t": t})
        self.log.append((self.seq, frame))
        if self.conn is not None:
            self.conn.send(frame)
