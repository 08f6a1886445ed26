"""Key rotation: the tolerance, usage kept across restarts (real SQLite ledger), the retry
limit and the global timeout on a fake clock, the single-key forms, and the status view."""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from framework.config.loader import load_bot_config
from framework.config.models import BotConfig, RouterConfig
from framework.domain import ChatTurn, ErrorKind, LLMReply, LLMRequest, ModelSettings, ProviderError, Usage
from framework.domain.keys import KeyUsage
from framework.errors import LLMError
from framework.llm.keypool import DEFAULT_TOLERANCE, KeyPool
from framework.llm.router import ChainLink, Router, build_router
from framework.storage.ledger import UsageLedger

SECRET = "SECRETVALUE"


def value(alias: str) -> str:
    return f"sk-ant-api03-{SECRET}-{alias.lower()}"


class Mono:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Day:
    def __init__(self, day: str = "2026-12-02") -> None:
        self.day = day

    def __call__(self) -> str:
        return self.day


def pool_of(n: int, tolerance: float, seed: int = 11, clock: Mono | None = None, day: Day | None = None) -> KeyPool:
    keys = [(f"GROQ_API_KEY_{i}", value(f"GROQ_API_KEY_{i}")) for i in range(1, n + 1)]
    return KeyPool(keys, clock=clock or Mono(), rng=random.Random(seed), tolerance=tolerance, day=day or Day())


def today_counts(**counts: int) -> dict[str, KeyUsage]:
    return {f"GROQ_API_KEY_{k[1:]}": KeyUsage(today=v, total=v, day="2026-12-02") for k, v in counts.items()}


def ask(**kwargs: Any) -> LLMRequest:
    return LLMRequest(system="You are Cortana.", turns=(ChatTurn("user", "what's on tomorrow?"),), **kwargs)


class FakeTimer:
    """Clock for the router: time moves only on sleep() and when a provider says so."""

    def __init__(self) -> None:
        self.mono = 5000.0
        self.wall = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.mono += seconds


@dataclass
class Scripted:
    """A provider answering from a script; each entry is a reply text or a ProviderError.

    ``cost`` fake seconds pass per call; ``keys`` records which key value each call used.
    """

    name: str
    timer: FakeTimer
    script: list[str | ProviderError] = field(default_factory=list)
    cost: float = 0.0
    keys: list[str] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        self.keys.append(api_key)
        self.timeouts.append(timeout)
        self.timer.mono += self.cost
        entry = self.script.pop(0) if self.script else "ok"
        if isinstance(entry, ProviderError):
            raise entry
        return LLMReply(text=entry, model=model.model, provider=self.name, usage=Usage(input_tokens=10, output_tokens=2))


def limited(retry_after: float) -> ProviderError:
    return ProviderError("anthropic", ErrorKind.RATE_LIMIT, "slow down", retry_after=retry_after)


# -- tolerance ---------------------------------------------------------------------------------


def test_default_tolerance_is_the_rotators_recommendation() -> None:
    assert DEFAULT_TOLERANCE == RouterConfig().rotation_tolerance == 2.0
    assert (RouterConfig().attempts_per_key, RouterConfig().max_keys_per_model) == (2, 2)


def test_tolerance_zero_always_picks_the_least_used() -> None:
    pool = pool_of(3, tolerance=0)
    pool.restore_usage(today_counts(k1=5, k2=2, k3=9))
    assert {pool.choose().alias for _ in range(500)} == {"GROQ_API_KEY_2"}  # type: ignore[union-attr]
    for _ in range(300):
        usage = {a: u.today for a, u in pool.usage().items()}
        least = min(usage.values())
        picked = pool.acquire()
        assert picked is not None and usage[picked.alias] == least
    today = [u.today for u in pool.usage().values()]
    assert sum(today) == 316 and max(today) - min(today) <= 1


def test_tolerance_above_zero_spreads_by_weight() -> None:
    pool = pool_of(3, tolerance=2.0, seed=2026)
    pool.restore_usage(today_counts(k1=0, k2=10, k3=10))
    assert pool.weights() == {"GROQ_API_KEY_1": 13.0, "GROQ_API_KEY_2": 3.0, "GROQ_API_KEY_3": 3.0}
    picks = Counter(pool.choose().alias for _ in range(20_000))  # type: ignore[union-attr]
    assert picks["GROQ_API_KEY_1"] / 20_000 == pytest.approx(13 / 19, abs=0.015)
    assert picks["GROQ_API_KEY_3"] / 20_000 == pytest.approx(3 / 19, abs=0.015)


def test_tolerance_decides_how_random_the_order_is() -> None:
    """Same fixed seed, 4 level keys, 400 calls: at 0 every round of 4 uses each key once
    (predictable); at 2.0 the order is random yet the counts stay within a few calls of each
    other; a large tolerance lets them drift further apart."""

    def run(tolerance: float) -> tuple[int, int]:
        pool = pool_of(4, tolerance=tolerance, seed=7)
        picks = [pool.acquire().alias for _ in range(400)]  # type: ignore[union-attr]
        usage = [u.today for u in pool.usage().values()]
        broken_rounds = sum(len(set(picks[i:i + 4])) < 4 for i in range(0, 400, 4))
        return broken_rounds, max(usage) - min(usage)

    assert run(0) == (0, 0)
    broken, spread = run(2.0)
    assert broken >= 50 and spread <= 6  # uniform order would break ~91 of 100 rounds
    assert run(50.0)[1] > spread


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        pool_of(2, tolerance=-1)
    with pytest.raises(Exception, match="rotation_tolerance"):
        BotConfig.model_validate({"bot_id": "x", "name": "X", "discord": {"token_env_var": "X_TOKEN"},
                                  "personality": {"base_prompt": "x"}, "api": {"router": {"rotation_tolerance": -1}}})


# -- usage across days and restarts ------------------------------------------------------------


def test_the_days_counts_reset_at_the_utc_day_total_stays() -> None:
    day = Day("2026-12-02")
    pool = pool_of(2, tolerance=0, day=day)
    for _ in range(6):
        pool.acquire()
    day.day = "2026-12-03"
    assert {a: (u.today, u.total) for a, u in pool.usage().items()} == {"GROQ_API_KEY_1": (0, 3), "GROQ_API_KEY_2": (0, 3)}
    pool.restore_usage({"GROQ_API_KEY_1": KeyUsage(today=4, total=9, day="2026-12-02")})  # yesterday: total only
    assert pool.usage()["GROQ_API_KEY_1"] == KeyUsage(today=0, total=12, day="2026-12-03")


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


async def test_usage_is_kept_in_the_ledger_and_restored_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    wall = WallClock(datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc))
    timer = FakeTimer()

    async def run_bot(requests: int, failures: int = 0) -> tuple[Router, dict[str, KeyUsage]]:
        ledger = await UsageLedger.open(db, {}, clock=wall)
        try:
            provider = Scripted("anthropic", timer, [ProviderError("anthropic", ErrorKind.SERVER, "boom")] * failures)
            pool = KeyPool([(a, value(a)) for a in ("ANTHROPIC_API_KEY_1", "ANTHROPIC_API_KEY_2")],
                           clock=timer.monotonic, rng=random.Random(1), tolerance=0,
                           day=lambda: wall.now().date().isoformat())
            router = Router([ChainLink(provider, [ModelSettings("claude-sonnet-4-6")], pool)], usage_sink=ledger,
                            clock=timer, rng=random.Random(1), max_keys_per_model=1, static_lines=["x"])
            restored = await ledger.key_usage(wall.now())
            router.restore_usage(restored)
            for _ in range(requests):
                await router.complete(ask(owed=True))
                timer.mono += 600  # every cooldown over
            return router, restored
        finally:
            await ledger.close()

    first, restored = await run_bot(3, failures=1)  # yesterday: 3 calls, one of them failed
    assert restored == {}
    wall.at = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    second, restored = await run_bot(0)
    assert sorted((u.today, u.total) for u in restored.values()) == [(0, 1), (0, 2)]  # yesterday's: totals only
    _, restored = await run_bot(3)  # today: 3 calls, level with tolerance 0
    third, restored = await run_bot(0)
    counts = {k.alias: (k.usage_today, k.usage_total) for p in third.pools() for k in p.keys}
    assert sum(t for t, _ in counts.values()) == 3 and sum(n for _, n in counts.values()) == 6
    assert {a: u.total for a, u in restored.items()} == {a: n for a, (_, n) in counts.items()}
    # The restored counts drive the choice: the key used less today is taken next.
    pool = third.chain[0].pool
    assert pool is not None
    least = min(counts, key=lambda a: counts[a][0])
    assert pool.choose("claude-sonnet-4-6").alias == least  # type: ignore[union-attr]


# -- retry limit and global timeout ------------------------------------------------------------


def two_key_router(timer: FakeTimer, provider: Scripted, **kwargs: Any) -> Router:
    pool = KeyPool([(a, value(a)) for a in ("ANTHROPIC_API_KEY_1", "ANTHROPIC_API_KEY_2")],
                   clock=timer.monotonic, rng=random.Random(3), tolerance=0, day=Day())
    return Router([ChainLink(provider, [ModelSettings("claude-sonnet-4-6")], pool)], clock=timer,
                  rng=random.Random(3), static_lines=["x"], **kwargs)


@pytest.mark.parametrize(("attempts_per_key", "same_key_calls", "sleeps"), [(1, 1, []), (2, 2, [1.0]), (4, 4, [1.0] * 3)])
async def test_retry_limit_bounds_attempts_on_one_key(attempts_per_key: int, same_key_calls: int, sleeps: list[float]) -> None:
    timer = FakeTimer()
    provider = Scripted("anthropic", timer, [limited(1.0)] * 10)
    router = two_key_router(timer, provider, attempts_per_key=attempts_per_key)
    reply = await router.complete(ask(owed=True))
    assert reply.static  # every attempt was refused
    first_key = provider.keys[0]
    assert provider.keys[:same_key_calls] == [first_key] * same_key_calls
    assert provider.keys[same_key_calls] != first_key  # then the other key
    assert timer.sleeps == sleeps * 2  # the same limit on the second key
    usage = {a: u.today for a, u in router.chain[0].pool.usage().items()}  # type: ignore[union-attr]
    assert list(usage.values()) == [same_key_calls, same_key_calls]  # every attempt counted on its key


async def test_the_global_timeout_bounds_the_request() -> None:
    timer = FakeTimer()
    provider = Scripted("anthropic", timer, [ProviderError("anthropic", ErrorKind.TIMEOUT, "slow")] * 10, cost=50.0)
    other = Scripted("groq", timer, cost=50.0)
    pool = KeyPool([(a, value(a)) for a in ("ANTHROPIC_API_KEY_1", "ANTHROPIC_API_KEY_2")],
                   clock=timer.monotonic, rng=random.Random(3), day=Day())
    router = Router([ChainLink(provider, [ModelSettings("a"), ModelSettings("b")], pool),
                     ChainLink(other, [ModelSettings("c")])],
                    clock=timer, rng=random.Random(3), request_deadline_seconds=120, attempt_timeout_seconds=60)
    started = timer.mono
    with pytest.raises(LLMError, match="deadline of 120 s reached"):
        await router.complete(ask())
    assert provider.timeouts == [60, 60, 20]  # the third attempt gets only what is left
    assert other.timeouts == [] and timer.mono - started == 150  # no attempt starts past the deadline


def test_build_router_takes_the_rotation_settings_from_config() -> None:
    timer = FakeTimer()
    config = BotConfig.model_validate({
        "bot_id": "cortana", "name": "Cortana", "discord": {"token_env_var": "C_TOKEN"},
        "personality": {"base_prompt": "x"},
        "api": {"cheap_model": None, "fallback": {"groq": {"enabled": False}}, "router": {
            "request_deadline_seconds": 120, "attempt_timeout_seconds": 45, "attempts_per_key": 3,
            "max_keys_per_model": 4, "rotation_tolerance": 0}},
    })
    env = {"ANTHROPIC_API_KEY_1": value("a1"), "ANTHROPIC_API_KEY_2": value("a2")}
    router = build_router(config, env, anthropic_provider=Scripted("anthropic", timer), clock=timer, rng=random.Random(0))
    assert (router._deadline, router._attempt_timeout, router._attempts_per_key, router._max_keys) == (120, 45, 3, 4)
    pool = router.chain[0].pool
    assert pool is not None and pool.tolerance == 0


def test_cortana_ships_the_rotators_defaults() -> None:
    config = load_bot_config(Path(__file__).resolve().parents[1] / "bots" / "cortana.yaml")
    router = config.api.router
    assert (router.request_deadline_seconds, router.attempts_per_key, router.rotation_tolerance) == (120, 2, 2.0)


# -- single-key forms --------------------------------------------------------------------------


def cortana(**api: Any) -> BotConfig:
    return BotConfig.model_validate({"bot_id": "cortana", "name": "Cortana", "discord": {"token_env_var": "C_TOKEN"},
                                     "personality": {"base_prompt": "x"}, "api": {"cheap_model": None, **api}})


def aliases(router: Router) -> list[tuple[str, list[str]]]:
    return [(link.provider.name, link.pool.aliases if link.pool else []) for link in router.chain]


async def test_one_key_per_provider_still_works() -> None:
    timer = FakeTimer()
    claude = Scripted("anthropic", timer, [ProviderError("anthropic", ErrorKind.SERVER, "boom"), "again"])
    router = build_router(cortana(fallback={"groq": {"enabled": False}}), {"ANTHROPIC_API_KEY": value("only")},
                          anthropic_provider=claude, clock=timer, rng=random.Random(0))
    assert aliases(router) == [("anthropic", ["ANTHROPIC_API_KEY"])]
    assert (await router.complete(ask(owed=True))).static  # the only key failed: no other to try
    timer.mono += 10  # its cooldown is over
    reply = await router.complete(ask())
    assert (reply.text, reply.key_alias) == ("again", "ANTHROPIC_API_KEY") and set(claude.keys) == {value("only")}


def test_llm_api_key_serves_claude_when_it_is_an_anthropic_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.llm")
    timer = FakeTimer()
    groq_off = {"groq": {"enabled": False}}

    def build(env: dict[str, str]) -> Router:
        return build_router(cortana(fallback=groq_off), env, anthropic_provider=Scripted("anthropic", timer), clock=timer)

    assert aliases(build({"LLM_API_KEY": value("legacy")})) == [("anthropic", ["LLM_API_KEY"])]
    assert aliases(build({"LLM_API_KEY": value("legacy"), "ANTHROPIC_API_KEY": value("new")})) == [
        ("anthropic", ["ANTHROPIC_API_KEY"])]  # a provider's own variables win
    assert aliases(build({"LLM_API_KEY": f"sk-proj-{SECRET}"})) == []  # an OpenAI key would only earn 401s
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "LLM_API_KEY is set but is not an Anthropic key" in logged and SECRET not in logged


# -- status view -------------------------------------------------------------------------------


def test_snapshot_states_and_no_key_value() -> None:
    clock = Mono()
    pool = pool_of(3, tolerance=0, clock=clock)
    keys = {k.alias: k for k in (pool.acquire("m") for _ in range(3)) if k is not None}
    pool.report_failure(keys["GROQ_API_KEY_2"], ErrorKind.RATE_LIMIT, model="kimi", retry_after=40)
    pool.report_failure(keys["GROQ_API_KEY_2"], ErrorKind.SERVER, model="qwen")
    pool.report_failure(keys["GROQ_API_KEY_3"], ErrorKind.AUTH)
    clock.now += 5
    snap = {k.alias: k for k in pool.snapshot()}
    assert (snap["GROQ_API_KEY_1"].state, snap["GROQ_API_KEY_1"].remaining_seconds) == ("healthy", 0.0)
    assert snap["GROQ_API_KEY_2"].state == "cooling" and snap["GROQ_API_KEY_2"].remaining_seconds == 35
    assert snap["GROQ_API_KEY_2"].cooling_models == ("kimi", "qwen")
    assert (snap["GROQ_API_KEY_3"].state, snap["GROQ_API_KEY_3"].remaining_seconds) == ("locked", 295)
    assert all((k.usage_today, k.usage_total) == (1, 1) for k in snap.values())
    clock.now += 300
    assert {k.state for k in pool.snapshot()} == {"healthy"}
    assert SECRET not in repr(pool.snapshot()) + repr(pool.usage())


def test_router_pools_lists_each_pool_once_with_its_models() -> None:
    timer = FakeTimer()
    env = {"ANTHROPIC_API_KEY": value("a"), "ANTHROPIC_API_KEY_2": value("b"), "GROQ_API_KEY": f"gsk_{SECRET}"}
    router = build_router(cortana(cheap_model="claude-haiku-4-5"), env, anthropic_provider=Scripted("anthropic", timer),
                          clock=timer, rng=random.Random(0), day=lambda: timer.now().date().isoformat())
    pools = router.pools()
    assert [(p.provider, p.models[0], len(p.keys)) for p in pools] == [
        ("anthropic", "claude-sonnet-4-6", 2), ("groq", "moonshotai/kimi-k2-instruct", 1)]
    assert pools[0].models[-1] == "claude-haiku-4-5"  # the cheap link shares Claude's pool
    assert all(k.state == "healthy" and k.usage_total == 0 for p in pools for k in p.keys)
    assert SECRET not in repr(pools) + "\n".join(router.describe())
    yesterday = (timer.now() - timedelta(days=1)).date().isoformat()
    router.restore_usage({"ANTHROPIC_API_KEY_2": KeyUsage(today=7, total=30, day=timer.now().date().isoformat()),
                          "GROQ_API_KEY": KeyUsage(today=5, total=5, day=yesterday), "GONE_API_KEY": KeyUsage(1, 1, "x")})
    counts = {k.alias: (k.usage_today, k.usage_total) for p in router.pools() for k in p.keys}
    assert counts == {"ANTHROPIC_API_KEY": (0, 0), "ANTHROPIC_API_KEY_2": (7, 30), "GROQ_API_KEY": (0, 5)}


def test_validate_counts_an_anthropic_llm_api_key(tmp_path: Path) -> None:
    from framework.config import check_bot

    repo = Path(__file__).resolve().parents[1]
    env = {"ANA_BOT_TOKEN": "x"}
    ok = check_bot(repo / "bots" / "ana.yaml", {**env, "LLM_API_KEY": value("legacy")}, repo, check_model=False)
    assert not [e for e in ok.errors if "provider" in e]
    other = check_bot(repo / "bots" / "ana.yaml", {**env, "LLM_API_KEY": f"sk-proj-{SECRET}"}, repo, check_model=False)
    assert any("no model provider has a key" in e for e in other.errors)
    assert any("LLM_API_KEY is set but is not an Anthropic key" in w for w in other.warnings)
    assert SECRET not in repr(other)


async def test_a_started_bot_takes_its_key_counts_from_the_ledger(tmp_path: Path) -> None:
    """The composition root restores the pools from the bot's own database at start-up."""
    from contextlib import AsyncExitStack

    from framework.clock import SystemClock
    from framework.config import load_settings
    from framework.domain import UsageRecord
    from framework.paths import BotPaths
    from framework.runtime.wiring import build_bot

    from .conftest import write_bot

    extra = "api:\n  cheap_model: null\n  fallback:\n    groq:\n      enabled: false\nmemory:\n  enabled: false\n"
    config = load_bot_config(write_bot(tmp_path, "cortana", "CORTANA_BOT_TOKEN", extra), tmp_path)
    paths = BotPaths(tmp_path, "cortana")
    paths.database.parent.mkdir(parents=True, exist_ok=True)
    ledger = await UsageLedger.open(paths.database, {})
    for alias, calls in (("ANTHROPIC_API_KEY_1", 4), ("ANTHROPIC_API_KEY_2", 1)):
        for _ in range(calls):
            await ledger.record(UsageRecord("cortana", "anthropic", "claude-sonnet-4-6", alias, "reply", Usage(), 0.1, True))
    await ledger.close()
    environ = {"CORTANA_BOT_TOKEN": "t", "ANTHROPIC_API_KEY_1": value("1"), "ANTHROPIC_API_KEY_2": value("2"),
               "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    async with AsyncExitStack() as resources:
        bot = await build_bot(config, paths, environ, load_settings(tmp_path, environ), clock=SystemClock(),
                              resources=resources)
        [pool] = bot.router.pools()
        assert {k.alias: (k.usage_today, k.usage_total) for k in pool.keys} == {
            "ANTHROPIC_API_KEY_1": (4, 4), "ANTHROPIC_API_KEY_2": (1, 1)}
