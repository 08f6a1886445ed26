"""SandboxThread: a SandboxServer on its own event loop in a daemon thread.

For synchronous callers: tests that drive bot *processes*, and the terminal chat, which
blocks on ``input()``. Every method marshals onto the server's loop, so the server's
state is only ever touched from that one thread. The server's methods are not copied:
each is a :func:`_delegate` of the :class:`SandboxServer` method, with its signature,
so the two cannot drift; only the methods whose synchronous form differs (events as
copies, a thread-safe queue, a blocking wait) are written out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

from .events import Event, Predicate
from .server import SandboxServer

T = TypeVar("T")
P = ParamSpec("P")


@overload
def _delegate(
    method: Callable[Concatenate[SandboxServer, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SandboxThread, P], T]: ...
@overload
def _delegate(method: Callable[Concatenate[SandboxServer, P], T]) -> Callable[Concatenate[SandboxThread, P], T]: ...
def _delegate(method: Callable[..., Any]) -> Callable[..., Any]:
    """A :class:`SandboxThread` method running the server's *method* of that name on its loop."""
    name = method.__name__

    @functools.wraps(method)
    def on_loop(self: SandboxThread, *args: Any, **kwargs: Any) -> Any:
        return self._call(getattr(self.server, name), *args, **kwargs)

    on_loop.__qualname__ = f"SandboxThread.{name}"
    on_loop.__doc__ = f"See :meth:`SandboxServer.{name}` (run on the server's loop, blocking)."
    return on_loop


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

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a server *method* on the server's loop: awaited if it is a coroutine function."""
        if not inspect.iscoroutinefunction(method):
            return self.call(method, *args, **kwargs)
        if self._loop is None:  # before the coroutine exists: it would never be awaited
            raise RuntimeError("SandboxThread is not started")
        return self.run(method(*args, **kwargs))

    # -- server API, synchronously --------------------------------------------------

    def add_bot(self, token: str, username: str) -> str:
        """See :meth:`SandboxServer.add_bot`; the id is also kept in :attr:`bot_ids`."""
        user_id: str = self._call(self.server.add_bot, token, username)
        self.bot_ids[token] = user_id
        return user_id

    add_human = _delegate(SandboxServer.add_human)
    inject_message = _delegate(SandboxServer.inject_message)
    inject_dm = _delegate(SandboxServer.inject_dm)
    inject_reaction = _delegate(SandboxServer.inject_reaction)
    inject_typing = _delegate(SandboxServer.inject_typing)
    inject_interaction = _delegate(SandboxServer.inject_interaction)
    interaction_responses = _delegate(SandboxServer.interaction_responses)
    registered_commands = _delegate(SandboxServer.registered_commands)
    edit_message = _delegate(SandboxServer.edit_message)
    delete_message = _delegate(SandboxServer.delete_message)
    close_gateway = _delegate(SandboxServer.close_gateway)
    send_reconnect = _delegate(SandboxServer.send_reconnect)
    send_invalid_session = _delegate(SandboxServer.send_invalid_session)
    messages = _delegate(SandboxServer.messages)
    get_message = _delegate(SandboxServer.get_message)
    dm_channel_id = _delegate(SandboxServer.dm_channel_id)
    users = _delegate(SandboxServer.users)
    channel_name = _delegate(SandboxServer.channel_name)
    text_channels = _delegate(SandboxServer.text_channels)
    add_channel = _delegate(SandboxServer.add_channel)
    set_channel_overwrite = _delegate(SandboxServer.set_channel_overwrite)
    add_role = _delegate(SandboxServer.add_role)
    set_member_roles = _delegate(SandboxServer.set_member_roles)
    create_thread = _delegate(SandboxServer.create_thread)
    pin_message = _delegate(SandboxServer.pin_message)
    unpin_message = _delegate(SandboxServer.unpin_message)
    pinned_ids = _delegate(SandboxServer.pinned_ids)

    # -- where the synchronous form differs -----------------------------------------

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
