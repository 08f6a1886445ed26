"""Key pool: keys from the environment, balanced choice, cooldowns and lockouts on a fake clock."""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest

from framework.llm.keypool import COOLDOWN_SCHEDULE, KeyPool
from framework.domain import ErrorKind


class Mono:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pool_of(n: int, clock: Mono | None = None, seed: int = 7, tolerance: float = 3.0) -> KeyPool:
    keys = [(f"GROQ_API_KEY_{i}", f"gsk_secret_value_number_{i}") for i in range(1, n + 1)]
    return KeyPool(keys, clock=clock or Mono(), rng=random.Random(seed), tolerance=tolerance)


# -- from_env ---------------------------------------------------------------------------


def test_from_env_reads_plain_and_numbered_keys_in_numeric_order() -> None:
    env = {
        "GROQ_API_KEY_10": "k10",
        "GROQ_API_KEY_2": "k2",
        "GROQ_API_KEY": "k0",
        "GROQ_API_KEY_1": "k1",
        "GROQ_API_KEY_BACKUP": "nope",  # not our naming: ignored
        "XGROQ_API_KEY": "nope",
        "ANTHROPIC_API_KEY": "other",
    }
    pool = KeyPool.from_env("groq", env)
    assert pool.aliases == ["GROQ_API_KEY", "GROQ_API_KEY_1", "GROQ_API_KEY_2", "GROQ_API_KEY_10"]


def test_from_env_dedupes_values_and_skips_empty_ones() -> None:
    env = {"GEMINI_API_KEY": "same", "GEMINI_API_KEY_1": " same\n", "GEMINI_API_KEY_2": "", "GEMINI_API_KEY_3": "  "}
    pool = KeyPool.from_env("gemini", env)
    assert pool.aliases == ["GEMINI_API_KEY"]
    assert len(KeyPool.from_env("gemini", {})) == 0


def test_key_value_never_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"GROQ_API_KEY": "gsk_topsecretvalue1234567", "GROQ_API_KEY_1": "gsk_topsecretvalue1234567"}
    clock = Mono()
    pool = KeyPool.from_env("GROQ", env, clock=clock)
    key = pool.acquire("m")
    assert key is not None and key.value == "gsk_topsecretvalue1234567"
    for kind in ErrorKind:
        pool.report_failure(key, kind, model="m")
    texts = [repr(key), str(key), repr(pool), repr(pool.status("m"))] + [r.getMessage() for r in caplog.records]
    assert caplog.records and all("topsecret" not in t for t in texts)
    assert str(key) == "GROQ_API_KEY"


# -- selection ---------------------------------------------------------------------------


def test_least_used_key_is_the_likeliest_with_tolerance_3() -> None:
    pool = pool_of(3, seed=1234)
    for _ in range(10):  # keys 2 and 3 used 10 times each, key 1 never
        for alias in ("GROQ_API_KEY_2", "GROQ_API_KEY_3"):
            pool.acquire(exclude={a for a in pool.aliases if a != alias})
    assert pool.weights() == {"GROQ_API_KEY_1": 14.0, "GROQ_API_KEY_2": 4.0, "GROQ_API_KEY_3": 4.0}
    picks = Counter(pool.choose().alias for _ in range(20_000))  # choose() counts no use
    assert picks["GROQ_API_KEY_1"] / 20_000 == pytest.approx(14 / 22, abs=0.015)
    assert picks["GROQ_API_KEY_2"] / 20_000 == pytest.approx(4 / 22, abs=0.015)


def test_balanced_use_over_many_requests() -> None:
    pool = pool_of(3, seed=99)
    for _ in range(3000):
        pool.acquire()
    usage = [s.usage for s in pool.status()]
    assert sum(usage) == 3000 and max(usage) - min(usage) <= 8  # weighting pulls them level


def test_tolerance_zero_always_takes_the_least_used() -> None:
    pool = pool_of(2, tolerance=0)
    first = pool.acquire()
    second = pool.acquire()
    assert first is not None and second is not None and first != second


def test_same_seed_same_choices() -> None:
    a, b = pool_of(4, seed=5), pool_of(4, seed=5)
    assert [a.acquire().alias for _ in range(50)] == [b.acquire().alias for _ in range(50)]  # type: ignore[union-attr]


# -- cooldowns ---------------------------------------------------------------------------


def test_cooldown_escalates_10_30_60_120_300_and_caps() -> None:
    clock = Mono()
    pool = pool_of(1, clock)
    key = pool.acquire("m")
    assert key is not None
    seen = []
    for _ in range(7):
        seen.append(pool.report_failure(key, ErrorKind.SERVER, model="m"))
        assert pool.acquire("m") is None  # resting
        clock.now += seen[-1]
        assert pool.choose("m") == key  # rested
    assert seen == [10, 30, 60, 120, 300, 300, 300] and tuple(seen[:5]) == COOLDOWN_SCHEDULE


def test_success_resets_the_escalation() -> None:
    clock = Mono()
    pool = pool_of(1, clock)
    key = pool.acquire("m")
    assert key is not None
    assert pool.report_failure(key, ErrorKind.TIMEOUT, model="m") == 10
    clock.now += 10
    assert pool.report_failure(key, ErrorKind.OVERLOADED, model="m") == 30
    clock.now += 30
    pool.report_success(key, "m")
    assert pool.report_failure(key, ErrorKind.SERVER, model="m") == 10


def test_rate_limit_honours_retry_after_else_60_and_does_not_escalate() -> None:
    clock = Mono()
    pool = pool_of(1, clock)
    key = pool.acquire("m")
    assert key is not None
    assert pool.report_failure(key, ErrorKind.RATE_LIMIT, model="m", retry_after=7.5) == 7.5
    clock.now += 7.4
    assert pool.choose("m") is None
    clock.now += 0.2
    assert pool.choose("m") == key
    assert pool.report_failure(key, ErrorKind.RATE_LIMIT, model="m") == 60
    assert pool.status("m")[0].consecutive_failures == 0
    assert pool.report_failure(key, ErrorKind.SERVER, model="m") == 10  # still the first step


def test_cooldowns_are_per_model_lockouts_per_key() -> None:
    clock = Mono()
    pool = pool_of(1, clock)
    key = pool.acquire("kimi")
    assert key is not None
    pool.report_failure(key, ErrorKind.RATE_LIMIT, model="kimi")
    assert pool.choose("kimi") is None and pool.choose("llama") == key
    pool.report_failure(key, ErrorKind.AUTH, model="llama")
    assert pool.choose("llama") is None and pool.choose("qwen") is None


def test_auth_lockout_300_s_doubling_to_an_hour_and_cleared_by_success() -> None:
    clock = Mono()
    pool = pool_of(2, clock)
    key = pool.acquire(exclude={"GROQ_API_KEY_2"})
    assert key is not None
    lockouts = []
    for _ in range(6):
        lockouts.append(pool.report_failure(key, ErrorKind.AUTH))
        assert pool.acquire() != key  # the other key serves meanwhile
        assert not [s for s in pool.status() if s.alias == key.alias][0].available
        clock.now += lockouts[-1]
    assert lockouts == [300, 600, 1200, 2400, 3600, 3600]
    pool.report_success(key)
    assert pool.report_failure(key, ErrorKind.AUTH) == 300


def test_bad_requests_cost_the_key_nothing() -> None:
    pool = pool_of(1)
    key = pool.acquire()
    assert key is not None
    assert pool.report_failure(key, ErrorKind.BAD_REQUEST) == 0
    assert pool.report_failure(key, ErrorKind.CONTEXT_TOO_LONG) == 0
    assert pool.choose() == key


def test_exclude_and_exhaustion() -> None:
    pool = pool_of(2)
    first = pool.acquire("m")
    assert first is not None
    second = pool.acquire("m", exclude={first.alias})
    assert second is not None and second != first
    assert pool.acquire("m", exclude={first.alias, second.alias}) is None
