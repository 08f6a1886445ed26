"""What the bot process does with each Discord event: store it first, then hand it on.

The Discord adapter calls these methods; they translate nothing (the adapter already
did) and decide nothing (the engines do). Every message is stored before any engine sees
it, so a crash mid-reply never loses history; then the access policy (``access`` in the
config) says whether any engine sees it at all. Once shutdown begins (:meth:`Intake.close`)
events that discord.py still delivers are dropped: nothing new starts while the process
closes.

The intake is built before the engines (the Discord client needs its callbacks, and the
engines need the client's tools), and :meth:`Intake.attach` joins the two once both exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..clock import Clock
from ..domain import Decision, IncomingMessage
from ..engines.access import OPEN, AccessPolicy
from ..ports import DecisionLog
from ..storage import MessageStore

if TYPE_CHECKING:  # only for annotations: the runtime builds these, the intake is handed them
    from ..discord.adapter import BotClient
    from ..engines.backfill import Backfill
    from ..engines.context import ContextBuilder
    from ..engines.reactive import ReactiveEngine
    from ..memory.profiles import ProfileUpdater

__all__ = ["Intake"]

_log = logging.getLogger(__name__)


class Intake:
    def __init__(
        self,
        *,
        store: MessageStore,
        clock: Clock,
        on_ready: Callable[[], None],
        access: AccessPolicy = OPEN,
        decisions: DecisionLog | None = None,
    ) -> None:
        self._store = store
        self._access = access
        self._decisions = decisions
        self._clock = clock
        self._on_ready = on_ready
        self._closing = False
        self._session_started = clock.now()
        self._engine: ReactiveEngine | None = None
        self._context: ContextBuilder | None = None
        self._client: BotClient | None = None
        self._backfill: Backfill | None = None
        self._profiles: ProfileUpdater | None = None

    def attach(
        self,
        *,
        engine: ReactiveEngine,
        context: ContextBuilder,
        client: BotClient,
        backfill: Backfill,
        profiles: ProfileUpdater | None,
    ) -> None:
        self._engine, self._context, self._client = engine, context, client
        self._backfill, self._profiles = backfill, profiles

    def close(self) -> None:
        """No new work from here on (shutdown has begun)."""
        self._closing = True

    @property
    def engine(self) -> ReactiveEngine:
        if self._engine is None:
            raise RuntimeError("Intake.attach() was not called: the runtime wiring is incomplete")
        return self._engine

    # -- messages --------------------------------------------------------------------------

    async def on_incoming(self, message: IncomingMessage) -> None:
        if self._closing:  # discord.py may still deliver events while it closes
            return
        await self._store.add(message)
        if self._closing:
            return
        refusal = self._access.refusal(message)
        if refusal is not None:
            # Stored (it is history) and logged, but no engine, no profile extraction, no
            # model ever sees it: the periodic check has nothing of it to look at either.
            if self._decisions is not None:
                self._decisions.record(message, Decision("ignore", refusal))
            return
        await self.engine.on_message(message)  # returns at once: replies are written by channel workers
        if self._profiles is not None:
            self._profiles.consider(message)  # a background task when worth it

    async def on_edit(self, message_id: str, content: str | None, edited_at: datetime) -> None:
        if not self._closing:
            await self._store.mark_edited(message_id, content, edited_at)

    async def on_delete(self, message_id: str, deleted_at: datetime) -> None:
        if not self._closing:
            await self._store.mark_deleted(message_id, deleted_at)

    async def on_reaction(self, channel_id: str, message_id: str, user_id: str, emoji: str, added: bool) -> None:
        if self._closing:
            return
        if not added:
            await self._store.remove_reaction(message_id, user_id, emoji)
            return
        await self._store.add_reaction(message_id, user_id, emoji, self._clock.now())
        target = await self._store.get(message_id)
        engine = self.engine
        own = target is not None and target.author_id == engine.self_user_id
        engine.observe_reaction(channel_id, message_id, user_id, emoji, on_own_message=own)

    # -- the gateway session ---------------------------------------------------------------

    def on_connected(self, user_id: str) -> None:
        """The first session is ready: who the bot is, and the names of the guild's
        channels and roles (how ``<#id>`` and ``<@&id>`` in history read to the model)."""
        self.engine.self_user_id = user_id
        if self._context is not None:
            self._context.self_user_id = user_id
            if self._client is not None:
                channel_names, role_names = self._client.channel_and_role_names()
                self._context.channel_names.update(channel_names)
                self._context.role_names.update(role_names)
        self._on_ready()

    def on_session_start(self) -> None:
        self._session_started = self._clock.now()

    def on_session_ready(self) -> None:
        """After a start, or a reconnect that could not resume: fetch what was missed."""
        if self._closing or self._backfill is None:
            return
        self._backfill.start(session_started=self._session_started, self_user_id=self.engine.self_user_id)
