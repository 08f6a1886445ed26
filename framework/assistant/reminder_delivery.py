"""Delivering due reminders to the master's DM, exactly once, across crashes and restarts.

One pass (:meth:`ReminderDelivery.run_once`, every 30 s from the bot process's reminder
loop) sends every pending reminder whose time has come. Quiet hours and the reactive
gates never apply: the person asked for this message at this time.

Exactly once rests on three steps, each its own committed transaction or request:

1. **claim**: the row goes ``pending -> sending`` with ``claimed_at`` and the exact DM
   text (``delivery``), committed *before* anything is sent, and only from the state
   the pass read (a reminder cancelled meanwhile is never claimed);
2. **send** the DM;
3. **mark sent** (a repeat: back to ``pending`` at its next time), matched on the claim.

A process killed between 1 and 3 leaves a claim, and cannot know whether Discord got the
DM. That claim is settled, not guessed: once it is older than ``settle_seconds`` (long
enough that a request that was already on the wire when the process died has been
handled by Discord), the DM channel's history since the claim is read, and a message by
the bot with exactly the claimed text, not already recorded as another reminder's
delivery, means it went out: the row is marked sent with that message's id, nothing is
resent. No such message means it never arrived: it is sent now (marked late). Reading
the history is the one check that sees what Discord actually holds; a nonce would only
de-duplicate within Discord's few-minutes window. A failed send (an HTTP error, a
timeout) is settled the same way on a later pass, since a timed-out request may still
have been delivered.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from ..clock import Clock
from ..domain.reminders import Reminder, delivery_text, next_occurrence
from ..errors import FrameworkError
from ..ports import DirectMessagePort, ReminderStorePort

__all__ = ["ReminderDelivery", "ReminderDeliveryError", "SETTLE_SECONDS"]

_log = logging.getLogger(__name__)

#: How old a claim must be before it is settled against the DM history.
SETTLE_SECONDS = 120.0
#: Discord's clock and ours may differ by a little: the history is read from this much
#: before the claim.
_HISTORY_MARGIN = timedelta(seconds=120)


class ReminderDeliveryError(FrameworkError):
    """Some reminders of a pass could not be sent; they are settled on a later pass."""


class ReminderDelivery:
    """Sends due reminders to ``master_id``'s DM through ``dms``; see the module docstring."""

    def __init__(
        self,
        store: ReminderStorePort,
        dms: DirectMessagePort,
        master_id: str,
        clock: Clock,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        send_timeout: float = 30.0,
    ) -> None:
        self._store = store
        self._dms = dms
        self._master = master_id
        self._clock = clock
        self._settle = timedelta(seconds=settle_seconds)
        self._send_timeout = send_timeout

    async def run_once(self) -> int:
        """One pass: settle old claims, then send what is due; returns the DMs sent.

        Raises :class:`ReminderDeliveryError` after the pass when a send failed, so the
        loop counts a failing pass (and ``status`` shows a loop that keeps failing).
        """
        now = self._clock.now()
        failed: list[str] = []
        sent = await self._settle_claims(now, failed)
        for reminder in await self._store.due(now):
            sent += await self._deliver(reminder, now, failed)
        if failed:
            raise ReminderDeliveryError(f"{len(failed)} reminder(s) not delivered yet: {'; '.join(failed)}")
        return sent

    async def _settle_claims(self, now: datetime, failed: list[str]) -> int:
        claims = await self._store.unresolved_claims(now - self._settle)
        if not claims:
            return 0
        sent = 0
        taken: set[str] = set()  # DMs already matched to a claim in this pass
        for reminder in claims:
            if reminder.claimed_at is None:  # status 'sending' always has one; a hand-edited row may not
                continue
            found = await self._dms.own_dms_since(self._master, reminder.claimed_at - _HISTORY_MARGIN, limit=100)
            candidates = [mid for mid, content in found if content == reminder.delivery and mid not in taken]
            recorded = await self._store.recorded_message_ids(candidates)
            match = next((mid for mid in candidates if mid not in recorded), None)
            if match is not None:
                taken.add(match)
                _log.info("reminder %s: its DM %s went out before the claim was closed; not sending again",
                          reminder.id, match)
                await self._finish(reminder, match, reminder.claimed_at, now)
            else:
                _log.info("reminder %s: claimed at %s but never delivered; sending it now",
                          reminder.id, reminder.claimed_at.isoformat())
                sent += await self._deliver(reminder, now, failed)
        return sent

    async def _deliver(self, reminder: Reminder, now: datetime, failed: list[str]) -> int:
        text = delivery_text(reminder, now)
        if not await self._store.claim(reminder, text, now):
            return 0  # cancelled or settled meanwhile
        try:
            message_id = await asyncio.wait_for(self._dms.send_dm(self._master, text), self._send_timeout)
        except asyncio.CancelledError:
            raise  # the claim stays: the next process settles it against the DM history
        except Exception as exc:  # any failure: whether the DM exists is settled later, never guessed
            _log.warning("reminder %s: the DM may not have gone out (%s: %s); settled against the DM history "
                         "on a later pass", reminder.id, type(exc).__name__, exc)
            failed.append(f"{reminder.id}: {type(exc).__name__}")
            return 0
        await self._finish(reminder, message_id, now, now)
        return 1

    async def _finish(self, reminder: Reminder, message_id: str, claimed_at: datetime, now: datetime) -> None:
        next_due = next_occurrence(reminder, now)
        if not await self._store.mark_sent(
            reminder.id, claimed_at=claimed_at, message_id=message_id, now=now, next_due=next_due
        ):
            _log.warning("reminder %s: sent as %s, but its claim had changed meanwhile", reminder.id, message_id)
            return
        _log.info("reminder %s delivered as %s%s", reminder.id, message_id,
                  f"; next at {next_due.isoformat()}" if next_due else "")
