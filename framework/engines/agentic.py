"""AgenticEngine: the slow loop that makes a bot a member.

Every ``agentic.check_interval_hours`` the runtime calls :meth:`AgenticEngine.run_once`:

1. **upkeep** (``maintain_memories``): expired follow-ups and those over ``max_pending``
   move to ``completed``, old completed ones to the archive file, proactive posts get
   their outcome (engaged / ignored), old messages leave the hot table (``cleanup_old``);
2. **follow-ups** (``check_followups``): a pending item whose ``follow_up_after`` has
   passed, whose person spoke in the last ``active_within_hours``, gets a delivery:
   *standalone* (the channel is idle, or the item is high priority), *woven* (its person is
   in the current conversation: the next reply in that channel carries it) or *deferred*
   (others are talking: wait for a better moment). Items below ``priority_threshold`` are
   never posted on their own, only woven in;
3. **proactive talk** (``check_engagement_opportunities``): at most one conversation
   starter per tick, in a channel the policy (framework.engines.proactive) picks;
4. the actions are executed through the same :class:`PlanExecutor` as replies, so rate
   limits, cooldowns and engagement tracking apply to them too.

:meth:`tick` returns the actions without running them (tests read them); the model
writes the words, and may decline (a silent plan), in which case nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from ..clock import Clock
from ..config.models import AgenticConfig
from ..errors import LLMError
from ..domain.shards import EVERY_SHARD, ShardScope
from ..domain import ResponsePlan, plan_from_text
from ..ports import ActivityStorePort, LLMPort, ProactiveLogPort
from .access import OPEN, AccessPolicy
from .context import ContextBuilder
from .executor import PlanExecutor
from .reactive import default_actions
from .proactive import ChannelActivity, ProactivePolicy, local_day_start, quiet_hours_active

__all__ = ["AgenticEngine", "ProactiveAction", "TickReport", "next_tick_delay", "decide_delivery"]

_log = logging.getLogger(__name__)

Delivery = Literal["standalone", "woven", "deferred"]
_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}
MAX_STANDALONE_PER_TICK = 3  # several due follow-ups never turn into a burst of posts
DECLINE_RETRY_HOURS = 12  # a follow-up the model judged awkward is looked at again after this
WOVEN_PATIENCE_HOURS = 24  # a woven follow-up whose channel went quiet is decided afresh after this


def next_tick_delay(last_tick: datetime | None, now: datetime, interval_seconds: float) -> float:
    """Seconds until the next tick: one catch-up tick at once after downtime (however long),
    never a burst; otherwise the rest of the interval since the last tick."""
    if last_tick is None:
        return 0.0
    elapsed = (now - last_tick).total_seconds()
    if elapsed < 0:  # the clock went back (or another machine's state was pulled): start over
        return interval_seconds
    return max(0.0, interval_seconds - elapsed)


def decide_delivery(priority: str, user_id: str, recent_authors: set[str], *, threshold: str) -> Delivery:
    """How a due follow-up goes out: idle channel -> standalone; high priority -> standalone;
    the person is in the conversation -> woven; otherwise deferred. Below the threshold an
    item is only ever woven in (a casual mention is not worth an unprompted post)."""
    important = _PRIORITY_RANK.get(priority, 0) >= _PRIORITY_RANK.get(threshold, 1)
    if important and (not recent_authors or priority == "high"):
        return "standalone"
    if user_id in recent_authors:
        return "woven"
    return "deferred"


@dataclass(frozen=True)
class ProactiveAction:
    """Something the bot will do unprompted: deliver a follow-up or start a conversation."""

    kind: Literal["followup", "proactive"]
    channel_id: str
    guild_id: str | None
    reason: str
    delivery: Delivery = "standalone"
    folder: str = ""  # the memory folder of a follow-up ("servers/<g>" or "dms/<u>")
    followup_id: str | None = None
    user_id: str | None = None
    user_name: str = ""
    event: str = ""
    context: str = ""
    priority: str = ""


@dataclass
class TickReport:
    """What one agentic pass did, for the log."""

    actions: list[ProactiveAction] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # message ids
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kinds = {}
        for action in self.actions:
            key = f"{action.kind}:{action.delivery}" if action.kind == "followup" else action.kind
            kinds[key] = kinds.get(key, 0) + 1
        planned = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing to do"
        return f"agentic tick: {planned}; sent {len(self.sent)}" + (f"; {'; '.join(self.notes)}" if self.notes else "")


class FollowupStorePort(Protocol):
    def folders(self) -> list[str]: ...
    async def load(self, folder: str) -> Any: ...
    async def update(self, folder: str, fn: Any) -> Any: ...
    async def complete(self, folder: str, followup_id: str, *, outcome: str, now: datetime, followed_up: datetime | None = None) -> Any: ...
    async def expire(self, folder: str, *, now: datetime, max_age_days: float) -> list[Any]: ...
    async def enforce_max_pending(self, folder: str, max_pending: int) -> list[Any]: ...
    async def archive_completed(self, folder: str, *, older_than: datetime) -> int: ...


def guild_of(folder: str) -> str | None:
    kind, _, ident = folder.partition("/")
    return ident if kind == "servers" else None


@dataclass
class _Woven:
    folder: str
    followup_id: str
    user_name: str
    event: str
    context: str


class AgenticEngine:
    def __init__(
        self,
        *,
        config: AgenticConfig,
        context: ContextBuilder,
        followups: FollowupStorePort,
        store: ActivityStorePort,
        proactive_log: ProactiveLogPort,
        llm: LLMPort,
        executor: PlanExecutor,
        clock: Clock,
        rng: random.Random | None = None,
        max_typing_seconds: float = 15.0,
        access: AccessPolicy = OPEN,
        shards: ShardScope = EVERY_SHARD,
    ) -> None:
        self._config = config
        self._access = access
        self._shards = shards
        self._context = context
        self._followups = followups
        self._store = store
        self._log = proactive_log
        self._llm = llm
        self._executor = executor
        self._clock = clock
        self._rng = rng or random.Random()
        self._policy = ProactivePolicy(config.proactive)
        self._max_typing = max_typing_seconds
        self._woven: dict[str, list[_Woven]] = {}  # channel id -> follow-ups the next reply carries
        self._hinted: dict[str, list[_Woven]] = {}  # channel id -> those named in the last request
        self._done: set[str] = set()  # woven follow-ups completed by a reply (ignored if re-read)

    # -- the pass ---------------------------------------------------------------------

    async def tick(self, now: datetime) -> list[ProactiveAction]:
        """Upkeep, then what to do now (not done yet)."""
        await self.maintain_memories(now)
        actions = await self.check_followups(now)
        # One unprompted message per channel per pass: a follow-up there rules out a starter.
        busy = {a.channel_id for a in actions if a.delivery == "standalone"}
        actions += await self.check_engagement_opportunities(now, exclude=busy)
        # A private bot (access master_dm) never speaks unasked where it may not answer.
        allowed = [a for a in actions if self._access.allows_unprompted(guild_id=a.guild_id, user_id=a.user_id)]
        for action in actions:
            if action not in allowed:
                _log.info("%s in %s skipped: the access policy forbids unprompted talk there", action.kind, action.channel_id)
        # A shard process shares the bot's memories and history with the others: it speaks
        # only in the guilds of its own shards (direct messages: the process of shard 0).
        return [a for a in allowed if self._shards.owns_guild(a.guild_id)]

    async def run_once(self, now: datetime | None = None) -> TickReport:
        now = now or self._clock.now()
        report = TickReport()
        if not self._config.enabled:
            report.notes.append("agentic.enabled is false")
            return report
        report.actions = await self.tick(now)
        for action in report.actions:
            try:  # one failing action (a channel the bot may not post in) must not cancel the rest
                report.sent.extend(await self.execute_proactive_action(action, now))
            except LLMError as exc:
                report.notes.append(f"{action.kind} in {action.channel_id}: model: {exc}")
            except Exception as exc:  # noqa: BLE001 - logged with its traceback, the pass goes on
                _log.exception("%s in %s failed", action.kind, action.channel_id)
                report.notes.append(f"{action.kind} in {action.channel_id} failed: {exc}")
        return report

    def _own_folders(self) -> list[str]:
        """The follow-up folders this process looks after: a shard process leaves the other
        shards' servers (and, without shard 0, the DMs) to their processes, which share the
        files, so no file is read, changed and written back by two processes at once."""
        return [folder for folder in self._followups.folders() if self._shards.owns_guild(guild_of(folder))]

    # -- upkeep -------------------------------------------------------------------------

    async def maintain_memories(self, now: datetime) -> None:
        """Each step on its own: a broken folder or a busy database skips that step, not the pass."""
        followups, upkeep = self._config.followups, self._config.upkeep
        for folder in self._own_folders():
            try:
                expired = await self._followups.expire(folder, now=now, max_age_days=followups.max_age_days)
                dropped = await self._followups.enforce_max_pending(folder, followups.max_pending)
                archived = await self._followups.archive_completed(
                    folder, older_than=now - timedelta(days=upkeep.keep_completed_followups_days)
                )
            except Exception:  # noqa: BLE001
                _log.exception("follow-up upkeep in %s failed", folder)
                continue
            if expired or dropped or archived:
                _log.info(
                    "follow-ups in %s: %d expired, %d over max_pending, %d archived",
                    folder, len(expired), len(dropped), archived,
                )
        evaluated = moved = 0
        try:
            evaluated = await self._log.evaluate(self._store, now=now, self_id=self._context.self_user_id)
        except Exception:  # noqa: BLE001
            _log.exception("evaluating proactive posts failed")
        try:
            moved = await self._store.cleanup_old(upkeep.archive_messages_after_days, now=now)
        except Exception:  # noqa: BLE001
            _log.exception("archiving old messages failed")
        if evaluated or moved:
            _log.info("upkeep: %d proactive posts evaluated, %d old messages archived", evaluated, moved)

    # -- follow-ups -----------------------------------------------------------------------

    async def check_followups(self, now: datetime) -> list[ProactiveAction]:
        """Due follow-ups of people seen lately, each with its delivery (standalone, woven or deferred)."""
        config = self._config.followups
        if not config.enabled:
            self._woven = {}
            return []
        woven: dict[str, list[_Woven]] = {}  # built aside, swapped in at the end (replies go on meanwhile)
        stale_woven: list[tuple[str, str]] = []
        actions: list[ProactiveAction] = []
        quiet = quiet_hours_active(now, self._config.proactive.quiet_hours, self._config.proactive.timezone)
        standalone = 0
        for folder in self._own_folders():
            guild_id = guild_of(folder)
            try:
                data = await self._followups.load(folder)
            except Exception:  # noqa: BLE001 - one unreadable folder must not hide the others
                _log.exception("follow-ups in %s could not be read", folder)
                continue
            deferred: list[str] = []
            for item in sorted(data.pending, key=lambda f: (-_PRIORITY_RANK.get(f.priority, 0), f.follow_up_after)):
                if item.delivery == "woven":  # waiting for the next reply in its channel...
                    since = item.last_considered or item.follow_up_after
                    if now - since < timedelta(hours=WOVEN_PATIENCE_HOURS):
                        if item.id not in self._done:
                            woven.setdefault(item.channel_id, []).append(
                                _Woven(folder, item.id, item.user_name, item.event, item.context)
                            )
                        continue
                    stale_woven.append((folder, item.id))  # ...which never came: decide afresh
                if item.follow_up_after > now:
                    continue
                if not await self._channel_fits(folder, item.channel_id):
                    _log.info("follow-up %s skipped: channel %s is not in %s", item.id, item.channel_id, folder)
                    continue
                seen = await self._store.last_seen(item.user_id, guild_id=guild_id)
                if seen is None or now - seen > timedelta(hours=config.active_within_hours):
                    continue  # don't follow up with someone who isn't around
                since = now - timedelta(minutes=config.recent_activity_minutes)
                recent = await self._store.authors_since(item.channel_id, since)
                recent.discard(self._context.self_user_id or "")
                delivery = decide_delivery(item.priority, item.user_id, recent, threshold=config.priority_threshold)
                why = ""
                if delivery == "standalone" and quiet:
                    delivery, why = "deferred", "; quiet hours"  # nobody gets an unprompted message at 3 am
                elif delivery == "standalone" and standalone >= MAX_STANDALONE_PER_TICK:
                    delivery, why = "deferred", "; enough unprompted follow-ups this pass"
                actions.append(
                    ProactiveAction(
                        kind="followup", channel_id=item.channel_id, guild_id=guild_id, delivery=delivery,
                        folder=folder, followup_id=item.id, user_id=item.user_id, user_name=item.user_name,
                        event=item.event, context=item.context, priority=item.priority,
                        reason=f"due since {item.follow_up_after:%Y-%m-%d %H:%M}Z; {item.user_name or item.user_id} "
                        f"last seen {seen:%Y-%m-%d %H:%M}Z{why}",
                    )
                )
                if delivery == "standalone":
                    standalone += 1
                elif delivery == "deferred":
                    deferred.append(item.id)
            if deferred:
                await self._followups.update(folder, lambda data, ids=set(deferred): _mark_deferred(data, ids, now))
        for folder, followup_id in stale_woven:
            await self._followups.update(folder, lambda data, fid=followup_id: _unweave(data, fid))
        self._woven = woven
        return actions

    async def _channel_fits(self, folder: str, channel_id: str) -> bool:
        """A follow-up's channel comes from a file the model wrote: it must be a channel the bot
        has seen, in the folder's server (a DM folder: a DM), so a DM topic never lands in public."""
        info = await self._store.channel_info(channel_id)
        if info is None:
            return False
        return info.guild_id == guild_of(folder)

    async def refresh_woven(self) -> None:
        """Rebuild the woven index from the files (at start-up: it lives in followups.json)."""
        self._woven = {}
        for folder in self._followups.folders():
            data = await self._followups.load(folder)
            for item in data.pending:
                if item.delivery == "woven" and item.id not in self._done:
                    self._woven.setdefault(item.channel_id, []).append(
                        _Woven(folder, item.id, item.user_name, item.event, item.context)
                    )

    def weave_hint(self, channel_id: str) -> str:
        """Instructions for the next reply in ``channel_id``: the follow-ups it should carry."""
        items = [w for w in self._woven.get(channel_id, []) if w.followup_id not in self._done]
        if not items:
            self._hinted.pop(channel_id, None)
            return ""
        self._hinted[channel_id] = list(items)
        lines = [
            f"- ask {w.user_name or 'them'} about: {w.event}" + (f" ({w.context})" if w.context else "")
            for w in items
        ]
        return (
            "If you reply, weave in a natural follow-up (one short clause, not a separate announcement):\n"
            + "\n".join(lines)
        )

    async def on_replied(self, channel_id: str) -> None:
        """A reply went out in ``channel_id``: the follow-ups its request carried are done."""
        carried = self._hinted.pop(channel_id, [])
        if not carried:
            return
        now = self._clock.now()
        waiting = self._woven.get(channel_id, [])
        for woven in carried:
            await self._followups.complete(
                woven.folder, woven.followup_id, outcome="asked in passing, woven into a reply", now=now, followed_up=now
            )
            self._done.add(woven.followup_id)
            if woven in waiting:
                waiting.remove(woven)
            _log.info("follow-up %s woven into a reply in %s", woven.followup_id, channel_id)

    # -- proactive talk --------------------------------------------------------------------

    async def check_engagement_opportunities(
        self, now: datetime, exclude: frozenset[str] | set[str] = frozenset()
    ) -> list[ProactiveAction]:
        config = self._config.proactive
        if not config.enabled:
            return []
        day_start = local_day_start(now, config.timezone)
        window_start = now - timedelta(days=config.learning_window_days)
        rates = await self._log.success_rates(window_start)
        today = await self._log.posts_since(day_start, kind="proactive")
        channels: list[ChannelActivity] = []
        for channel_id in config.allowed_channels:
            if channel_id in exclude:
                continue
            info = await self._store.channel_info(channel_id)
            last_post = await self._log.last_post_at(channel_id=channel_id)
            # Idle is measured from the last *human* message: the bot's own unanswered post does
            # not make a channel look alive, and it never talks to itself twice in a row.
            last_human = info.last_human_message_at if info is not None else None
            if last_post is not None and (last_human is None or last_post >= last_human):
                _log.debug("no proactive talk in %s: its last post is still unanswered", channel_id)
                continue
            engaged, evaluated = rates.get(channel_id, (0, 0))
            channels.append(
                ChannelActivity(
                    channel_id=channel_id,
                    guild_id=info.guild_id if info is not None else None,
                    last_message_at=last_human,
                    posts_today=sum(1 for p in today if p.channel_id == channel_id),
                    last_post_at=last_post,
                    engaged=engaged,
                    evaluated=evaluated,
                )
            )
        choice = self._policy.choose(
            now, channels, posts_today_global=len(today), last_post_at_global=await self._log.last_post_at()
        )
        if choice.channel_id is None:
            _log.debug("no proactive talk: %s", choice.reason)
            return []
        picked = next(c for c in channels if c.channel_id == choice.channel_id)
        return [ProactiveAction(kind="proactive", channel_id=picked.channel_id, guild_id=picked.guild_id, reason=choice.reason)]

    # -- doing it ---------------------------------------------------------------------------

    async def execute_proactive_action(self, action: ProactiveAction, now: datetime) -> list[str]:
        """Run one action; returns the ids of the messages sent."""
        if action.kind == "followup":
            if action.delivery == "woven":
                await self._followups.update(action.folder, lambda data: _mark_woven(data, action.followup_id, now))
                self._woven.setdefault(action.channel_id, []).append(
                    _Woven(action.folder, action.followup_id or "", action.user_name, action.event, action.context)
                )
                return []
            if action.delivery == "deferred":
                return []
            instruction = (
                f"Follow up with {action.user_name or 'them'} (<@{action.user_id}>) about something they told you: "
                f"{action.event}" + (f" ({action.context})" if action.context else "") + ". "
                "Ask how it went, in one short natural message in your own voice, addressed to them. "
                "If it would be awkward right now, stay silent."
            )
        else:
            instruction = (
                "Nobody has said anything here for a while. If you have something worth saying that fits this "
                "channel and this server's culture (see your memory), start a conversation with one short message: "
                "a thought, a question, something topical. No greetings like 'hey everyone', no 'it's quiet in here'. "
                "Silence is fine if nothing is worth saying."
            )
        request = await self._context.build_unprompted(
            channel_id=action.channel_id, guild_id=action.guild_id, instruction=instruction,
            about_user_id=action.user_id, purpose=action.kind,
        )
        try:
            reply = await self._llm.complete(request)
        except LLMError as exc:
            _log.info("%s in %s skipped: model: %s", action.kind, action.channel_id, exc)
            return []
        plan = reply.plan if isinstance(reply.plan, ResponsePlan) else plan_from_text(reply.text)
        if not plan.should_respond or not plan.messages:
            _log.info("%s in %s: the model chose silence (%s)", action.kind, action.channel_id, plan.reasoning)
            if action.kind == "followup" and action.followup_id:
                # Ask again later, not every pass: one model call per item per DECLINE_RETRY_HOURS.
                latest = now + timedelta(hours=DECLINE_RETRY_HOURS)
                limit = timedelta(days=self._config.followups.max_age_days)
                await self._followups.update(
                    action.folder, lambda data: _mark_declined(data, action.followup_id, now, latest, limit)
                )
            return []
        try:
            outcome = await self._executor.run(
                default_actions(plan, reply_first=False, ping=False, max_typing=self._max_typing),
                channel_id=action.channel_id, reply_to=None, user_id=action.user_id,
            )
        except Exception as exc:
            # Part of it may have gone out: never ask the same thing twice, settle the item.
            if action.kind == "followup" and action.followup_id:
                await asyncio.shield(self._followups.complete(
                    action.folder, action.followup_id, outcome=f"not delivered: {exc}", now=self._clock.now(),
                ))
            raise
        if not outcome.sent_ids:
            _log.info("%s in %s not sent: %s", action.kind, action.channel_id, outcome.blocked or "nothing to send")
            return []
        # Shielded: a shutdown arriving now must not leave a sent follow-up pending (asked twice).
        await asyncio.shield(self._settle(action, plan, outcome.sent_ids[0]))
        _log.info("%s sent in %s (%s)", action.kind, action.channel_id, action.reason)
        return list(outcome.sent_ids)

    async def _settle(self, action: ProactiveAction, plan: ResponsePlan, message_id: str) -> None:
        sent_at = self._clock.now()
        if action.kind == "followup" and action.followup_id:
            said = " ".join(plan.messages)
            said = said if len(said) <= 140 else said[:137] + "..."
            await self._followups.complete(
                action.folder, action.followup_id, outcome=f"followed up: \u201c{said}\u201d", now=sent_at,
                followed_up=sent_at,
            )
        await self._log.record(
            message_id=message_id, guild_id=action.guild_id or "", channel_id=action.channel_id,
            kind=action.kind, posted_at=sent_at,
        )


def _mark_deferred(data: Any, ids: set[str], now: datetime) -> None:
    for item in data.pending:
        if item.id in ids:
            item.deferred_count += 1
            item.last_considered = now


def _mark_woven(data: Any, followup_id: str | None, now: datetime) -> None:
    for item in data.pending:
        if item.id == followup_id:
            item.delivery = "woven"
            item.last_considered = now


def _mark_declined(data: Any, followup_id: str | None, now: datetime, retry_at: datetime, limit: timedelta) -> None:
    for item in data.pending:
        if item.id == followup_id:
            item.deferred_count += 1
            item.last_considered = now
            # Never past its natural end: expiry still counts from when it was mentioned.
            item.follow_up_after = min(retry_at, item.mentioned_date + limit)


def _unweave(data: Any, followup_id: str) -> None:
    for item in data.pending:
        if item.id == followup_id:
            item.delivery = None
            item.last_considered = None


