"""Ana's human-behaviour layer: probabilities, timings, typos, splitting, the plain plan, ana.yaml."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from framework.config import check_bot, load_bot_config
from framework.config.behaviour import BehaviourConfig
from framework.config.models import ANA_GROQ_MODELS
from framework.engines.actions import Action, Send, Typing, Wait
from framework.engines.behaviour import HumanBehaviour
from framework.engines.typos import inject_typo, split_reply
from framework.errors import ConfigError
from tests.conftest import write_bot

REPO = Path(__file__).resolve().parent.parent
ANA = BehaviourConfig(enabled=True)
N = 20_000


def behaviour(seed: int = 0, config: BehaviourConfig = ANA) -> HumanBehaviour:
    return HumanBehaviour(config, random.Random(seed))


def within(value: float, span: tuple[float, float]) -> bool:
    return span[0] - 1e-9 <= value <= span[1] + 1e-9


def rate(hits: int, total: int) -> float:
    return hits / total


# --- the gates -----------------------------------------------------------------------------


def test_ghost_typing_rate_and_duration() -> None:
    b = behaviour(1)
    plans = [b.ghost_typing() for _ in range(N)]
    hits = [p for p in plans if p is not None]
    assert abs(rate(len(hits), N) - 0.06) < 0.01
    for plan in hits:
        assert len(plan) == 1 and isinstance(plan[0], Typing) and within(plan[0].seconds, (1.5, 4.0))


def test_ghost_typing_and_overlay_only_on_quiet_messages() -> None:
    b = behaviour(2)
    for _ in range(2000):
        assert b.ghost_typing(mode="roast") is None
        assert b.ghost_typing(mentioned=True) is None
        assert b.reaction_overlay(mode="roast") is None
        assert b.reaction_overlay(mode="flirt", mentioned=True) is None


def test_reaction_overlay_rate_and_emoji() -> None:
    b = behaviour(3)
    picks = [b.reaction_overlay(mode="flirt") for _ in range(N)]
    chosen = [p for p in picks if p is not None]
    assert abs(rate(len(chosen), N) - 0.10) < 0.01
    assert set(chosen) <= set(ANA.reactions.emoji) and len(set(chosen)) > 20
    assert len(ANA.reactions.emoji) == 28


def test_low_signal_skip_rate_never_for_mentions_or_roasts() -> None:
    b = behaviour(4)
    skips = sum(b.low_signal_skip(low_signal=True) for _ in range(N))
    assert abs(rate(skips, N) - 0.05) < 0.01
    assert not any(b.low_signal_skip(low_signal=True, mentioned=True) for _ in range(2000))
    assert not any(b.low_signal_skip(low_signal=True, mode="roast") for _ in range(2000))
    assert not any(b.low_signal_skip(low_signal=False) for _ in range(2000))


# --- plans -----------------------------------------------------------------------------------


def check_plan(plan: list[Action], reply: str, *, mode: str, incoming_chars: int) -> dict[str, object]:
    """Walk a plan, assert its shape and every timing, and report which features it used."""
    cfg = ANA
    parts = split_reply(reply)
    steps = list(plan)
    read = steps.pop(0)
    assert isinstance(read, Wait)
    if mode == "roast":
        assert within(read.seconds, cfg.read_delay.roast)
    else:
        extra = min(0.004 * incoming_chars, 1.8)
        assert within(read.seconds, (0.5 + extra, 1.2 + extra))
    typing = steps.pop(0)
    assert isinstance(typing, Typing)
    band = cfg.typing.roast if mode == "roast" else (
        cfg.typing.short if len(reply) < 60 else cfg.typing.medium if len(reply) < 180 else cfg.typing.long
    )
    assert within(typing.seconds, band)
    first = steps.pop(0)
    assert isinstance(first, Send)
    seen: dict[str, object] = {"threaded": first.reply_to_incoming, "typo": first.text != parts[0], "correction": False}
    if seen["typo"]:
        assert mode != "roast"
        differing = [(a, b) for a, b in zip(first.text.split(" "), parts[0].split(" ")) if a != b]
        assert len(differing) == 1 and sorted(differing[0][0]) == sorted(differing[0][1])
        if len(steps) >= 2 and isinstance(steps[1], Send) and steps[1].text == "*" + differing[0][1]:
            wait, correction = steps.pop(0), steps.pop(0)
            assert isinstance(wait, Wait) and within(wait.seconds, cfg.typo.correction_delay)
            assert not correction.reply_to_incoming and not correction.counts  # a fix is not a new message
            seen["correction"] = True
    for part in parts[1:]:
        pause, typing, send = steps.pop(0), steps.pop(0), steps.pop(0)
        assert isinstance(pause, Wait) and within(pause.seconds, cfg.later_parts.pause)
        per_char = 0.018 * len(part)
        assert isinstance(typing, Typing) and within(typing.seconds, (0.4 + per_char, 0.8 + per_char))
        assert send == Send(part)
    seen["followup"] = None
    if steps:
        follow = getattr(cfg.followups, mode)
        wait, typing, send = steps
        assert isinstance(wait, Wait) and within(wait.seconds, follow.wait)
        assert isinstance(typing, Typing) and within(typing.seconds, follow.typing)
        assert isinstance(send, Send) and send.text in follow.lines and not send.reply_to_incoming
        seen["followup"] = send.text
    return seen


TWO_PARTS = "quick brown foxes jump\nlazy dogs sleep"


def test_plan_shape_timings_typo_and_correction_rates() -> None:
    b = behaviour(5)
    runs = [check_plan(b.plan_reply(TWO_PARTS, incoming_chars=100, mode="normal", mentioned=False), TWO_PARTS,
                       mode="normal", incoming_chars=100) for _ in range(40_000)]
    typos = [r for r in runs if r["typo"]]
    # "quick brown foxes jump" always has a candidate and no double letter: every draw below 0.04 shows
    assert abs(rate(len(typos), len(runs)) - 0.04) < 0.005
    assert abs(rate(sum(bool(r["correction"]) for r in typos), len(typos)) - 0.70) < 0.04
    assert abs(rate(sum(bool(r["threaded"]) for r in runs), len(runs)) - 0.65) < 0.01


def test_mentioned_is_always_threaded() -> None:
    b = behaviour(6)
    for _ in range(3000):
        plan = b.plan_reply("hey", incoming_chars=3, mode="normal", mentioned=True)
        assert check_plan(plan, "hey", mode="normal", incoming_chars=3)["threaded"] is True


@pytest.mark.parametrize(("mode", "expected"), [("roast", 0.25), ("flirt", 0.20), ("normal", 0.08)])
def test_followup_rate_per_mode(mode: str, expected: float) -> None:
    b = behaviour(7)
    reply = "sure thing"
    runs = [check_plan(b.plan_reply(reply, incoming_chars=40, mode=mode, mentioned=False), reply, mode=mode,
                       incoming_chars=40) for _ in range(N)]
    lines = Counter(r["followup"] for r in runs if r["followup"])
    assert abs(rate(sum(lines.values()), N) - expected) < 0.01
    assert len(lines) >= 10  # the whole list is used, at most one line per reply


def test_roast_never_gets_a_typo_and_reads_fast() -> None:
    b = behaviour(8)
    reply = "quick brown foxes jump over everything"
    for _ in range(5000):
        plan = b.plan_reply(reply, incoming_chars=2000, mode="roast", mentioned=False)
        assert check_plan(plan, reply, mode="roast", incoming_chars=2000)["typo"] is False


@pytest.mark.parametrize("length", [10, 59, 60, 150, 179, 180, 400])
def test_typing_band_follows_reply_length(length: int) -> None:
    b = behaviour(9)
    reply = ("word " * 100)[:length].strip() or "w"
    for _ in range(300):
        check_plan(b.plan_reply(reply, incoming_chars=10, mode="normal", mentioned=True), reply, mode="normal",
                   incoming_chars=10)


def test_read_delay_can_be_left_to_the_executor_and_empty_reply_only_types() -> None:
    b = behaviour(10)
    plan = b.plan_reply("ok then", incoming_chars=10, mode="flirt", mentioned=True, include_read_delay=False)
    assert isinstance(plan[0], Typing) and isinstance(plan[1], Send)
    empty = b.plan_reply("  ", incoming_chars=10, mode="normal", mentioned=True)
    assert [type(a) for a in empty] == [Wait, Typing] and within(empty[1].seconds, ANA.typing.empty)
    assert within(b.read_delay(10_000, "normal"), (0.5 + 1.8, 1.2 + 1.8))


def test_disabled_behaviour_is_a_plain_plan() -> None:
    rng = random.Random(11)
    state = rng.getstate()
    b = HumanBehaviour(BehaviourConfig(), rng)
    assert not b.enabled
    long_text = "x" * 2500
    assert b.plan_reply("hello there", incoming_chars=5, mode="roast", mentioned=False) == [
        Typing(0.8), Send("hello there", reply_to_incoming=True)
    ]
    plan = b.plan_reply(long_text, incoming_chars=5, mode="normal", mentioned=True)
    assert plan[0] == Typing(3.0)
    assert [a.reply_to_incoming for a in plan[1:]] == [True, False]
    assert "".join(a.text for a in plan[1:]) == long_text
    assert b.plan_reply("", incoming_chars=5, mode="normal", mentioned=True) == []
    assert b.ghost_typing() is None and b.reaction_overlay() is None
    assert not b.low_signal_skip(low_signal=True)
    assert rng.getstate() == state  # nothing random happened


# --- typos -------------------------------------------------------------------------------


def test_typo_needs_an_alphabetic_word_of_four_letters() -> None:
    for seed in range(200):
        assert inject_typo("hi ok yes 1234 can't 4real", random.Random(seed)) is None


def test_typo_double_letter_gives_none() -> None:
    for seed in range(200):
        assert inject_typo("hmmm", random.Random(seed)) is None
    outcomes = {inject_typo("ok hello", random.Random(seed)) for seed in range(300)}
    texts = {o.text for o in outcomes if o is not None}
    assert None in outcomes  # position 2 swaps "l" with "l": no typo
    assert texts == {"ok hlelo", "ok helol"}


def test_typo_swaps_one_letter_pair_and_keeps_the_rest() -> None:
    seen = set()
    for seed in range(300):
        typo = inject_typo("so,  abcd   done!", random.Random(seed))
        assert typo is not None
        seen.add(typo.text)
        assert typo.correction == "*" + typo.word
    # "done!" is not purely alphabetic; the first letter never moves; spacing is kept
    assert seen == {"so,  acbd   done!", "so,  abdc   done!"}


# --- splitting ---------------------------------------------------------------------------


def test_split_lines_become_messages() -> None:
    assert split_reply("one\n\n two \nthree") == ["one", "two", "three"]
    assert split_reply("   ") == []


def test_split_short_line_is_one_message() -> None:
    line = "a" * 119
    assert split_reply(line) == [line]


def test_split_long_line_cuts_after_last_separator_before_middle_plus_40() -> None:
    text = "a" * 48 + ". " + "b" * 48 + ". " + "c" * 70  # 170 chars: search ends before 125
    assert split_reply(text) == ["a" * 48 + ". " + "b" * 48 + ".", "c" * 70]
    late = "a" * 20 + ", " + "b" * 120 + ". " + "c" * 10  # the ". " at 142 is past 116
    assert split_reply(late) == ["a" * 20 + ",", "b" * 120 + ". " + "c" * 10]


def test_split_takes_the_first_separator_kind_found() -> None:
    text = "a" * 10 + ". " + "b" * 80 + "! " + "c" * 60
    assert split_reply(text) == ["a" * 10 + ".", "b" * 80 + "! " + "c" * 60]


def test_split_without_separator_and_over_discord_limit() -> None:
    plain = "x" * 150
    assert split_reply(plain) == [plain]
    huge = ("word " * 900).strip()
    parts = split_reply(huge)
    assert len(parts) >= 3 and all(len(p) <= 2000 for p in parts)


# --- configuration -----------------------------------------------------------------------


def test_ana_yaml_loads_and_validates() -> None:
    config = load_bot_config(REPO / "bots" / "ana.yaml", REPO)
    env = {"ANA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}
    result = check_bot(REPO / "bots" / "ana.yaml", env, REPO, check_model=False)
    assert result.ok, result.errors
    b = config.personality.behaviour
    assert b == BehaviourConfig(enabled=True)  # the file spells out Ana's defaults
    assert config.discord.token_env_var == "ANA_BOT_TOKEN"
    assert config.api.model == "claude-sonnet-4-6"
    cd = config.reactive.cooldowns
    assert (cd.per_user, cd.single_message, cd.multi_message, cd.heavy_activity) == (25, 7, 7, 7)
    assert config.api.fallback.groq.models == list(ANA_GROQ_MODELS)
    assert "phone" in config.personality.base_prompt  # she is told never to collect contact details
    assert check_bot(REPO / "bots" / "ana.yaml", {}, REPO, check_model=False).errors


def test_alpha_keeps_the_layer_off() -> None:
    config = load_bot_config(REPO / "bots" / "alpha.yaml", REPO)
    assert config.personality.behaviour.enabled is False
    assert config.discord.owner_ids == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    read_delay:\n      roast: [0.7, 0.2]\n", "the first number must not exceed the second"),
        ("    followups:\n      roast: {probability: 0.5, wait: [1, 2], typing: [1, 2], lines: []}\n",
         "the list of lines is empty"),
        ("    typo:\n      probabilty: 0.1\n", "did you mean 'probability'"),
        ("    ghost_typing:\n      probability: 1.5\n", "expected a number <= 1"),
    ],
)
def test_bad_behaviour_settings_are_named(project: Path, extra: str, message: str) -> None:
    path = write_bot(project, extra="personality:\n  base_prompt: x\n  behaviour:\n" + extra)
    path.write_text(path.read_text().replace('personality:\n  base_prompt: "You are a terse test bot."\n', ""))
    with pytest.raises(ConfigError) as err:
        load_bot_config(path, project)
    assert message in str(err.value) and "personality.behaviour." in str(err.value)


def test_owner_ids_accept_unquoted_snowflakes(project: Path) -> None:
    path = write_bot(project, extra="")
    path.write_text(path.read_text().replace('"ALPHA_BOT_TOKEN"', '"ALPHA_BOT_TOKEN"\n  owner_ids: [123456789012345678]'))
    assert load_bot_config(path, project).discord.owner_ids == ["123456789012345678"]
