"""End to end in the sandbox: a person posts an image with a mention; the real discord.py
client hands the attachment over, the pipeline downloads it from the sandbox's own
attachment route (allowed because the bot runs against that server), and the request the
Anthropic stub receives carries the image block before the text. A second mention that
replies to the image shows it again without downloading it again."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from PIL import Image
from rich.console import Console

from framework.config import load_bot_config
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread
from framework.sandbox.chat import run_terminal_chat
from tests.stubs.anthropic import AnthropicStub

from .conftest import write_bot
from .sandbox_helpers import bot_running, eventually, sandbox  # noqa: F401 - the fixture

TOKEN = "sandbox.alpha.images-token-0123456789"


def decisions(home: Path) -> dict[str, dict]:
    path = home / "logs" / "alpha.conversation.jsonl"
    if not path.exists():
        return {}
    return {d["message_id"]: d for d in map(json.loads, path.read_text().splitlines())}


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2400, 1600), (20, 120, 200)).save(out, "JPEG", quality=90)
    return out.getvalue()


def reply_requests(stub: AnthropicStub) -> list[dict]:
    return [r["body"] for r in stub.requests if any(
        isinstance(m["content"], list) and any(b.get("type") == "image" for b in m["content"]) for m in r["body"]["messages"]
    )]


async def test_a_posted_image_reaches_the_model_once_downloaded(
    tmp_path: Path, sandbox: tuple[SandboxThread, AnthropicStub]  # noqa: F811
) -> None:
    server, stub = sandbox
    write_bot(tmp_path)
    bot_user = server.add_bot(TOKEN, "Alpha")
    environ = {
        "ALPHA_BOT_TOKEN": TOKEN, "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": "test-anthropic-key", "ANTHROPIC_BASE_URL": stub.base_url,
    }
    paths = BotPaths(tmp_path, "alpha")
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)

    def downloads() -> int:
        return sum(1 for _, path, _ in server.call(lambda: list(server.server.requests)) if "/attachments/" in path)

    async with bot_running(runtime, paths.ready_file, server):
        first = server.inject_message(
            GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot_user}> what do you make of this?",
            attachments=[("sky.jpg", photo())],
        )
        await eventually(lambda: decisions(tmp_path).get(first["id"], {}).get("decision"), "the first answer")
        second = server.inject_message(
            GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot_user}> and what colour was it?", reply_to=first["id"],
        )
        await eventually(lambda: decisions(tmp_path).get(second["id"], {}).get("decision"), "the second answer")

    assert decisions(tmp_path)[first["id"]]["decision"] == "reply"
    with_images = reply_requests(stub)
    assert len(with_images) == 2, [r["messages"] for r in stub.requests]
    for body in with_images:
        last = body["messages"][-1]["content"]
        kinds = [block["type"] for block in last]
        assert kinds.index("image") < kinds.index("text")  # the image before the text about it
        image = next(block for block in last if block["type"] == "image")
        assert image["source"]["media_type"] == "image/jpeg" and image["source"]["type"] == "base64"
        text = "\n".join(block["text"] for block in last if block["type"] == "text")
        assert "Image 1: sky.jpg (" in text and "KB), posted by" in text and f"(message id {first['id']})" in text
    assert downloads() == 1  # the reply used the cached image
    with sqlite3.connect(paths.database) as db:  # the ledger counts each call's images
        assert [n for (n,) in db.execute("SELECT images FROM llm_calls WHERE images > 0")] == [1, 1]


def test_the_terminal_chat_posts_a_picture_with_image(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    Image.new("RGB", (32, 32), (250, 0, 0)).save(picture)
    lines = iter([f"/image {picture} look at this", f"/image {tmp_path / 'missing.png'}", "/image", "/quit"])
    out = io.StringIO()
    with SandboxThread().start() as server:
        run_terminal_chat(server, GENERAL_CHANNEL_ID, HUMAN_USER_ID, Console(file=out, width=200), lambda: next(lines))
        posted = [m for m in server.messages(GENERAL_CHANNEL_ID) if m["attachments"]]
        assert [(m["content"], m["attachments"][0]["filename"]) for m in posted] == [("look at this", "cat.png")]
        assert posted[0]["attachments"][0]["content_type"] == "image/png"
    printed = out.getvalue()
    assert "Cannot read " in printed and "No such file or directory" in printed and "Usage: /image PATH [text]" in printed
