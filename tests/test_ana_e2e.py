"""Ana on the framework, end to end against the sandbox: a trigger word (no mention) gets
a reply with her human timing, `!joke` fetches from a loopback joke API, and the owner's
`!shutdown` says goodbye and stops the bot cleanly (a stranger's is ignored)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from ruamel.yaml import YAML

from framework.fsutil import read_json
from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub
from framework.sandbox import DANA_USER_ID, GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sandbox.ana.e2e-token-0123456789"

pytestmark = pytest.mark.slow


class JokeAPI:
    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        async def joke(request: web.Request) -> web.Response:
            assert request.headers["Accept"] == "application/json"
            return web.json_response({"id": "x", "joke": "i'm reading a book about anti-gravity. it's impossible to put down"})

        app = web.Application()
        app.router.add_get("/", joke)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def ana_config(home: Path, joke_url: str) -> None:
    yaml = YAML()
    data = yaml.load((REPO / "bots" / "ana.yaml").read_text())
    data["discord"]["owner_ids"] = [HUMAN_USER_ID]
    behaviour = data["personality"]["behaviour"]
    # Determinism: no ghost typing or reaction overlay in this test; her timing stays.
    behaviour.setdefault("ghost_typing", {})["probability"] = 0
    behaviour.setdefault("reactions", {})["probability"] = 0
    behaviour.setdefault("jokes", {})["api_url"] = joke_url
    data["supervisor"] = {"ready_timeout_seconds": 60, "startsecs": 60}
    out = io.StringIO()
    yaml.dump(data, out)
    (home / "bots").mkdir(parents=True, exist_ok=True)
    (home / "bots" / "ana.yaml").write_text(out.getvalue())


def test_ana_trigger_word_joke_and_owner_shutdown(tmp_path: Path) -> None:
    with SandboxThread() as sandbox:
        stub, jokes = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES)), JokeAPI()
        sandbox.run(stub.start())
        sandbox.run(jokes.start())
        ana_config(tmp_path, jokes.url)
        ana_id = sandbox.add_bot(TOKEN, "ana")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_"))}
        env.update(ANA_BOT_TOKEN=TOKEN, DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
                   ANTHROPIC_API_KEY="test-key-ana", ANTHROPIC_BASE_URL=stub.base_url)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path), *args],
                                  env=env, capture_output=True, text=True, timeout=90)

        spawned = cli("spawn", "ana")
        assert spawned.returncode == 0, spawned.stdout + spawned.stderr
        try:
            def from_ana(since: int, timeout: float = 30):  # type: ignore[no-untyped-def]
                return sandbox.wait_for_event(
                    lambda e: e["type"] == "message" and e["author_id"] == ana_id, timeout=timeout, since=since
                )

            mark = len(sandbox.events())
            sandbox.inject_message(GENERAL_CHANNEL_ID, DANA_USER_ID, "hey ana, how was your day")  # no mention
            reply = from_ana(mark)
            assert reply["content"].strip()
            typing = [e for e in sandbox.events()[mark:] if e["type"] == "typing" and e["user_id"] == ana_id]
            assert typing  # she types before she answers

            mark = len(sandbox.events())
            sandbox.inject_message(GENERAL_CHANNEL_ID, DANA_USER_ID, "!joke")
            joke = from_ana(mark)
            for _ in range(3):  # a set-up line may come first
                if "anti-gravity" in joke["content"]:
                    break
                joke = from_ana(joke["index"] + 1)
            assert "anti-gravity" in joke["content"]

            mark = len(sandbox.events())
            sandbox.inject_message(GENERAL_CHANNEL_ID, DANA_USER_ID, "!shutdown")  # not an owner
            sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "!shutdown")  # the owner
            goodbye = from_ana(mark)
            assert goodbye["author_id"] == ana_id
            state_file = tmp_path / "run" / "ana.state.json"
            sandbox.wait_for_event(lambda e: e["type"] == "disconnect", timeout=30, since=mark)
        finally:
            cli("stop", "ana")
            sandbox.run(stub.stop())
            sandbox.run(jokes.stop())
    status = json.loads(cli("status", "ana", "--json").stdout)[0]
    assert status["state"] == "stopped" and status["restarts"] == 0  # a deliberate exit 0, not a crash
    decisions = [json.loads(line) for line in (tmp_path / "logs" / "ana.conversation.jsonl").read_text().splitlines()]
    by_content = {d["content"]: d for d in decisions}
    assert by_content["hey ana, how was your day"]["reason"] == "trigger word"
    shutdowns = [(d["author_id"], d["decision"], d["reason"]) for d in decisions if d["content"] == "!shutdown"]
    assert shutdowns == [(DANA_USER_ID, "ignore", "command shutdown refused"), (HUMAN_USER_ID, "reply", "command shutdown")]
    assert read_json(state_file) is not None
