"""The sandbox session explains itself: one session per project (the second refuses with
one line naming the first), logs kept; notes beside the chat (which model answered, a
refused key, a static line, why the bot stayed silent, that it exited); a real /help;
Ana's sandbox: owner, offline jokes, modes visible through the stand-in."""

from __future__ import annotations

import io
import json
import queue
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console

from framework.cli.sandbox_home import SandboxBusy, SessionLock, adapt_config, prepare_home
from framework.cli.sandbox_watch import SessionWatch
from framework.config import load_bot_config
from framework.config.behaviour import BehaviourConfig, JokesConfig
from framework.domain import Usage
from framework.domain.llm import UsageRecord
from framework.engines.modes import ModeDetector
from framework.paths import BotPaths
from framework.runtime.fetchers import dad_joke_fetcher
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread
from framework.sandbox.anthropic_standin import STANDIN_PREFIX, standin_text
from framework.sandbox.chat import Note, run_terminal_chat
from framework.sandbox.jokes_standin import JokesStandin
from framework.sandbox.why import explain
from framework.storage.ledger import UsageLedger
from framework.supervisor.states import BotState, KeeperStatus, write_state

from .conftest import write_bot

REPO = Path(__file__).resolve().parent.parent


# -- one session per project, logs kept ------------------------------------------------


def test_a_second_session_refuses_naming_the_first_and_logs_outlive_a_session(tmp_path: Path) -> None:
    write_bot(tmp_path)
    first = SessionLock.take(tmp_path, "alpha")
    with pytest.raises(SandboxBusy) as refused:
        SessionLock.take(tmp_path, "ana")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("a sandbox is already running in this project: alpha (pid ")
    assert "/quit" in message
    home = prepare_home(tmp_path, "alpha")
    (home / "logs").mkdir()
    (home / "logs" / "alpha.log").write_text("the first session's log\n")
    (home / "persistence" / "alpha").mkdir(parents=True)
    first.release()
    second = SessionLock.take(tmp_path, "alpha")  # free again once the first ended
    prepare_home(tmp_path, "alpha")
    second.release()
    assert (home / "logs" / "alpha.log").read_text() == "the first session's log\n"
    assert not (home / "persistence").exists()  # the rest starts fresh
    assert (home / "bots" / "alpha.yaml").exists()


def test_the_sandbox_copy_makes_you_an_owner_and_asks_the_local_joke_api(tmp_path: Path) -> None:
    write_bot(tmp_path, extra="discord:\n  token_env_var: ALPHA_BOT_TOKEN  # the token\n")
    path = tmp_path / "bots" / "alpha.yaml"
    path.write_text(path.read_text().replace('discord:\n  token_env_var: "ALPHA_BOT_TOKEN"\n', ""))
    adapt_config(path, owner_id=HUMAN_USER_ID, jokes_url="http://127.0.0.1:5/")
    assert "# the token" in path.read_text()  # the comments stay
    config = load_bot_config(path, tmp_path)
    assert config.discord.owner_ids == [HUMAN_USER_ID]
    assert config.personality.behaviour.jokes.api_url == "http://127.0.0.1:5/"
    adapt_config(path, owner_id=HUMAN_USER_ID, jokes_url=None)  # twice: still one owner
    assert load_bot_config(path, tmp_path).discord.owner_ids == [HUMAN_USER_ID]


def test_ana_copy_keeps_her_owners_and_jokes_section(tmp_path: Path) -> None:
    (tmp_path / "bots").mkdir()
    path = tmp_path / "bots" / "ana.yaml"
    path.write_text((REPO / "bots" / "ana.yaml").read_text())
    adapt_config(path, owner_id=HUMAN_USER_ID, jokes_url="http://127.0.0.1:5/")
    config = load_bot_config(path, tmp_path)
    assert HUMAN_USER_ID in config.discord.owner_ids
    jokes = config.personality.behaviour.jokes
    assert jokes.api_url == "http://127.0.0.1:5/" and jokes.intros  # the rest of her jokes section is hers


async def test_the_local_joke_api_answers_the_real_fetcher() -> None:
    jokes = JokesStandin()
    await jokes.start()
    try:
        fetch = dad_joke_fetcher(JokesConfig(api_url=jokes.url))
        assert await fetch() == "(sandbox joke) I only know jokes about the offline sandbox. They don't get out much."
        assert (await fetch() or "").startswith("(sandbox joke) Why did the loopback server")
    finally:
        await jokes.stop()


def test_the_standin_shows_the_personas_mode() -> None:
    detector = ModeDetector(BehaviourConfig(enabled=True))

    def mode_of(text: str) -> str:
        return detector.detect(text, mentioned=True).mode

    def ask(text: str) -> str:
        body = {"messages": [{"role": "user", "content": f"you is talking to you: {text}\nReply to them."}]}
        return standin_text(body, mode_of)

    assert ask("you're so dumb lol").startswith(f"{STANDIN_PREFIX} [roast mode] ")
    assert ask("you're cute").startswith(f"{STANDIN_PREFIX} [flirt mode] ")
    assert ask("what time is it").startswith(f"{STANDIN_PREFIX} You said: “what time is it”")
    assert standin_text({"messages": [{"role": "user", "content": "x"}]}) == f"{STANDIN_PREFIX} You said: “x”"


# -- /why in plain words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("channel cooldown (39 s left)", "I spoke in this channel a moment ago and wait before talking here again (39 s to go)"),
        ("ignored_threshold", "my last few messages here got no answer, so I stay quiet until someone talks to me "
                              "(mention me, reply to me or DM me and I answer)"),
        ("response chance (cold, 0.05)", "nobody spoke to me, so I join in only by chance (5% while the chat is cold), "
                                         "and this time I let it pass"),
        ("trigger word; user cooldown (12 s left)", "you said one of my trigger words; I answered you a moment ago and "
                                                    "give you a break before answering again (12 s to go)"),
        ("command shutdown refused", "only my owners may use shutdown"),
        ("periodic check: chose silence", "I read the channel on my regular check and chose to stay quiet"),
        ("something new", "something new"),
    ],
)
def test_why_in_plain_words(reason: str, said: str) -> None:
    assert explain(reason) == said


# -- notes beside the chat, from the bot's own records --------------------------------------


async def _ledger_rows(db: Path, rows: list[tuple[str, str, str | None, str, bool, str | None]]) -> None:
    ledger = await UsageLedger.open(db, {})
    try:
        for provider, model, alias, purpose, ok, kind in rows:
            await ledger.record(UsageRecord("alpha", provider, model, alias, purpose, Usage(10, 5), 0.1, ok, kind))
    finally:
        await ledger.close()


def _decision(log: Path, content: str, decision: str, reason: str) -> None:
    entry = {"time": datetime.now(timezone.utc).isoformat(), "content": content, "decision": decision, "reason": reason}
    with log.open("a") as f:
        f.write(json.dumps(entry) + "\n")


async def test_notes_say_which_model_answered_a_refused_key_a_static_line_and_why(tmp_path: Path) -> None:
    paths = BotPaths(tmp_path, "alpha")
    paths.logs_dir.mkdir(parents=True)
    log = paths.conversation_log
    await _ledger_rows(paths.database, [("anthropic", "claude-sonnet-4-6", "ANTHROPIC_API_KEY", "reply", True, None)])
    _decision(log, "before the session", "ignore", "ignored_threshold")
    watch = SessionWatch(paths, log, "claude-sonnet-4-6", standin=False)
    assert watch.poll() == []  # what happened before the session is not news
    await _ledger_rows(paths.database, [
        ("anthropic", "claude-sonnet-4-6", "ANTHROPIC_API_KEY", "reply", False, "auth"),
        ("anthropic", "claude-haiku-4-5", "ANTHROPIC_API_KEY", "reply", False, "auth"),
        ("groq", "llama-3.3-70b-versatile", "GROQ_API_KEY", "reply", True, None),
        ("anthropic", "claude-sonnet-4-6", "ANTHROPIC_API_KEY", "profile", False, "rate_limit"),
    ])
    _decision(log, "hello room", "ignore", "channel cooldown (39 s left)")
    _decision(log, "@alpha hi", "reply", "mentioned; static line (no model answered)")
    assert [n.text for n in watch.poll()] == [
        "warning: anthropic refused the key in ANTHROPIC_API_KEY (fix it in .env); the bot falls back to the next model",
        "(answered by groq llama-3.3-70b-versatile, not the configured claude-sonnet-4-6)",
        "(a static line, not a model: no model answered)",
    ]
    assert watch.toggle_why() is True
    _decision(log, "hello room " + "x" * 60, "ignore", "ignored_threshold")
    (note,) = watch.poll()
    assert note.text.startswith("why silent on “hello room xxxxxxxxxxxxxxxxxxxxxxxxxxxx…”: my last few messages here")
    write_state(paths.state_file, KeeperStatus(BotState.RUNNING))
    assert watch.poll() == []
    write_state(paths.state_file, KeeperStatus(BotState.BACKOFF, restarts=1, last_exit_code=1, last_error="RuntimeError: x"))
    assert [n.text for n in watch.poll()] == ["alpha crashed (RuntimeError: x); it restarts shortly"]
    assert watch.poll() == []  # said once
    write_state(paths.state_file, KeeperStatus(BotState.STOPPED, last_exit_code=0))
    (ended,) = watch.poll()
    assert ended.ends_session and ended.text == "alpha shut down (an owner's shutdown command, or a signal); the sandbox closes"
    assert watch.poll() == []


class _Side:
    def __init__(self) -> None:
        self.notes: queue.Queue[Note] = queue.Queue()
        self.why = False

    def poll(self) -> list[Note]:
        found = []
        while not self.notes.empty():
            found.append(self.notes.get())
        return found

    def toggle_why(self) -> bool:
        self.why = not self.why
        return self.why


def test_the_chat_closes_when_the_bot_exits_and_has_a_real_help() -> None:
    side = _Side()
    lines: queue.Queue[str | None] = queue.Queue()
    for line in ("/help", "/why"):
        lines.put(line)
    interrupted = threading.Event()

    def input_fn() -> str:
        line = lines.get(timeout=10)
        if line is None:
            raise KeyboardInterrupt  # what the CLI's SIGINT does to input()
        if line == "/why":  # after this line the chat waits for the next, and the bot exits
            side.notes.put(Note("alpha shut down (an owner's shutdown command, or a signal); the sandbox closes",
                                ends_session=True))
        return line

    def interrupt() -> None:
        interrupted.set()
        lines.put(None)

    out = io.StringIO()
    with SandboxThread(bots=[("sandbox.alpha.token-0123456789", "alpha")]) as sandbox:
        run_terminal_chat(sandbox, GENERAL_CHANNEL_ID, HUMAN_USER_ID, Console(file=out, width=200), input_fn,
                          side=side, interrupt=interrupt, extra_help=lambda: ["!joke: a dad joke"])
    text = out.getvalue()
    assert interrupted.is_set()
    assert side.why is True and "/why on: a line says why whenever the bot stays silent" in text
    assert "  /why                  turn on or off" in text and "  !joke: a dad joke" in text
    assert text.rstrip().endswith("alpha shut down (an owner's shutdown command, or a signal); the sandbox closes")


async def test_the_routers_static_line_is_logged_as_one(tmp_path: Path) -> None:
    """Every model failed and the router said a static line: the decision says so (the sandbox shows it)."""
    from framework.domain import LLMReply, LLMRequest

    from .test_reactive import BOT, close, make_world

    class StaticRouter:
        async def complete(self, request: LLMRequest) -> LLMReply:
            return LLMReply(text="my thoughts are stuck in traffic", model="static", provider="static", static=True)

    world = await make_world(tmp_path)
    try:
        world.engine._llm = StaticRouter()  # type: ignore[assignment]
        await world.arrive(world.msg(f"<@{BOT}> you there?", mentions_self=True, mentions=(BOT,)))
        await world.engine.idle()
        assert world.sends() == ["my thoughts are stuck in traffic"]
        decision = world.decisions.records[-1][1]
        assert (decision.action, decision.reason) == ("reply", "mentioned; static line (no model answered)")
    finally:
        await close(world)


def test_join_moves_where_your_lines_are_posted() -> None:
    from framework.sandbox import RANDOM_CHANNEL_ID

    lines = iter(["/join #nowhere", "/join #random", "hello from random", "/quit"])
    out = io.StringIO()
    with SandboxThread(bots=[("sandbox.alpha.token-0123456789", "alpha")]) as sandbox:
        run_terminal_chat(sandbox, GENERAL_CHANNEL_ID, HUMAN_USER_ID, Console(file=out, width=200), lambda: next(lines))
        posted_random = [m["content"] for m in sandbox.messages(RANDOM_CHANNEL_ID)]
        posted_general = [m["content"] for m in sandbox.messages(GENERAL_CHANNEL_ID)]
    text = out.getvalue()
    assert "Usage: /join #channel (one of #general, #lobby, #random)" in text
    assert "You are now in #random." in text
    assert "hello from random" in posted_random and "hello from random" not in posted_general
