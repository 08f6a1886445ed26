"""SandboxThread: a SandboxServer on its own event loop in a daemon thread.

For synchronous callers: tests that drive bot *processes*, and the terminal chat, which
blocks on ``input()``. Every method marshals onto the server's loop, so the server's
state is only ever touched from that one thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from .events import Event, Predicate
from .server import SandboxServer

T = TypeVar("T")


class SandboxThread:
    """Run a :class:`SandboxServer` in a background thread; use as a context manager too.

    ``bots`` are (token, username) pairs registered before the server listens.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, bots: Sequence[tuple[str, str]] = ()) -> None:
        self.server = SandboxServer()
        self.bot_ids: dict[str, str] = {token: self.server.add_bot(token, name) for token, name in bots}
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._queue_listeners: dict[int, Callable[[Event], None]] = {}

    # -- lifecycle ------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> SandboxThread:
        """Start the thread; returns once the server listens (raises its startup error)."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="sandbox-server", daemon=True)
        self._thread.start()
        started.result(timeout)
        return self

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._stopped = asyncio.Event()
            try:
                await self.server.start(self._host, self._port)
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            await self._stopped.wait()
            await self.server.stop()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and join the thread (idempotent)."""
        if self._loop is None or self._thread is None or self._stopped is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout)
        self._thread = None
        self._loop = None  # later calls run inline against the stopped server

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The listening port."""
        return self.server.port

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.server.api_base

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY``."""
        return self.server.gateway_url

    # -- marshalling ----------------------------------------------------------------

    def run(self, coro: Awaitable[T], timeout: float | None = 10.0) -> T:
        """Run a coroutine on the server's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("SandboxThread is not started")

        async def wrapper() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a plain function on the server's loop (runs inline before start)."""
        if self._loop is None:
            return fn(*args, **kwargs)

        async def wrapper() -> T:
            return fn(*args, **kwargs)

        return self.run(wrapper())

    # -- server API, synchronously --------------------------------------------------

    def add_bot(self, token: str, username: str) -> str:
        """See :meth:`SandboxServer.add_bot`."""
        user_id = self.call(self.server.add_bot, token, username)
        self.bot_ids[token] = user_id
        return user_id

    def add_human(self, username: str, display_name: str | None = None) -> str:
        """See :meth:`SandboxServer.add_human`."""
        return self.call(self.server.add_human, username, display_name)

    def inject_message(
        self,
        channel_id: str | int,
        author_id: str | int,
        content: str,
        *,
        reply_to: str | int | None = None,
        attachments: Sequence[tuple[str, bytes]] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """See :meth:`SandboxServer.inject_message`."""
        return self.run(
            self.server.inject_message(
                channel_id, author_id, content, reply_to=reply_to, attachments=attachments, at=at
            )
        )

    def inject_dm(self, author_id: str | int, bot_user_id: str | int, content: str) -> dict[str, Any]:
        """See :meth:`SandboxServer.inject_dm`."""
        return self.run(self.server.inject_dm(author_id, bot_user_id, content))

    def inject_reaction(
        self, channel_id: str | int, message_id: str | int, user_id: str | int, emoji: str, *, remove: bool = False
    ) -> bool:
        """See :meth:`SandboxServer.inject_reaction`."""
        return self.run(self.server.inject_reaction(channel_id, message_id, user_id, emoji, remove=remove))

    def inject_typing(self, channel_id: str | int, user_id: str | int) -> None:
        """See :meth:`SandboxServer.inject_typing`."""
        self.run(self.server.inject_typing(channel_id, user_id))

    def edit_message(self, channel_id: str | int, message_id: str | int, content: str) -> dict[str, Any]:
        """See :meth:`SandboxServer.edit_message`."""
        return self.run(self.server.edit_message(channel_id, message_id, content))

    def delete_message(self, channel_id: str | int, message_id: str | int) -> None:
        """See :meth:`SandboxServer.delete_message`."""
        self.run(self.server.delete_message(channel_id, message_id))

    def close_gateway(self, user_id: str | int, code: int = 4000) -> int:
        """See :meth:`SandboxServer.close_gateway`."""
        return self.run(self.server.close_gateway(user_id, code))

    def messages(self, channel_id: str | int) -> list[dict[str, Any]]:
        """See :meth:`SandboxServer.messages`."""
        return self.call(self.server.messages, channel_id)

    def users(self) -> dict[str, dict[str, Any]]:
        """See :meth:`SandboxServer.users`."""
        return self.call(self.server.users)

    def channel_name(self, channel_id: str | int) -> str:
        """See :meth:`SandboxServer.channel_name`."""
        return self.call(self.server.channel_name, channel_id)

    def events(self) -> list[Event]:
        """A copy of every event so far."""
        return self.call(lambda: list(self.server.events))

    def unknown_routes(self) -> list[tuple[str, str]]:
        """A copy of the catch-all's record."""
        return self.call(lambda: list(self.server.unknown_routes))

    def wait_for_event(self, predicate: Predicate, timeout: float = 5.0, *, since: int = 0) -> Event:
        """Block until an event matches (past ones included, see :meth:`SandboxServer.wait_for`).

        *predicate* runs on the server's thread. Raises ``TimeoutError``.
        """
        return self.run(self.server.wait_for(predicate, timeout, since=since), timeout=timeout + 5.0)

    def subscribe(self) -> queue.Queue[Event]:
        """A thread-safe queue receiving every event from now on."""
        q: queue.Queue[Event] = queue.Queue()
        self._queue_listeners[id(q)] = q.put
        self.call(self.server.add_listener, q.put)
        return q

    def unsubscribe(self, q: queue.Queue[Event]) -> None:
        """Stop feeding *q*; events already in it stay."""
        callback = self._queue_listeners.pop(id(q), None)
        if callback is not None:
            self.call(self.server.remove_listener, callback)
