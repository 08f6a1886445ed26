"""The loopback sandbox against the real, unmodified discord.py client."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import discord
import pytest
from rich.console import Console

from framework.sandbox import (
    DANA_USER_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    HUMAN_USER_ID,
    MODERATORS_ROLE_ID,
    OTHER_GUILD_ID,
    RANDOM_CHANNEL_ID,
    VIEW_CHANNEL,
    SandboxServer,
    SandboxThread,
)
from framework.sandbox.chat import render_mentions, run_terminal_chat

try:  # tests/ as a package (rootdir on sys.path) or as plain directory (prepend import mode)
    from tests.sandbox_helpers import BotHarness, full_intents, redirect_discord
except ImportError:
    from sandbox_helpers import BotHarness, full_intents, redirect_discord  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
ALPHA, BETA = "token-alpha", "token-beta"

StartBot = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    srv = SandboxServer()
    srv.add_bot(ALPHA, "alpha")
    srv.add_bot(BETA, "beta")
    await srv.start()
    with redirect_discord(srv.api_base, srv.gateway_url):
        yield srv
    await srv.stop()
    # Every flow in this file must stay within the routes the sandbox implements.
    assert srv.unknown_routes == []


@pytest.fixture
async def start_bot(server: SandboxServer) -> AsyncIterator[StartBot]:
    harnesses: list[BotHarness] = []

    async def start(token: str = ALPHA, intents: discord.Intents | None = None) -> BotHarness:
        harness = BotHarness(token, intents=intents)
        harnesses.append(harness)
        return await harness.start()

    yield start
    for harness in harnesses:
        await harness.close()
    for harness in harnesses:
        assert harness.errors == [], harness.errors


def is_message(content: str) -> Callable[..., bool]:
    return lambda m: m.content == content


# -- login and ready -----------------------------------------------------------------


async def test_login_and_ready_cache_guild(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    guild = bot.client.get_guild(int(GUILD_ID))
    assert guild is not None and guild.name == "Sandbox" and guild.chunked
    assert {c.name for c in guild.text_channels} == {"general", "random"}
    assert {m.name for m in guild.members} == {"you", "dana", "alpha", "beta"}
    assert guild.default_role.id == guild.id
    assert bot.client.user is not None and bot.client.user.name == "alpha" and bot.client.user.bot
    assert bot.client.application_id == bot.client.user.id
    assert server.requests[:2] == [("GET", "/users/@me", {}), ("GET", "/oauth2/applications/@me", {})]
    assert [e["type"] for e in server.events] == ["identify"]


async def test_bad_token_is_login_failure(server: SandboxServer) -> None:
    client = discord.Client(intents=full_intents())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-a-token")
    await client.close()


async def test_identify_with_wrong_token_closes_4004(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.gateway_url) as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_json({"op": 1, "d": None})
        assert (await ws.receive_json())["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 513, "properties": {}}})
        closing = await ws.receive()
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4004


async def test_resume_with_unknown_session_is_invalid(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.gateway_url) as ws:
        await ws.receive_json()
        await ws.send_json({"op": 6, "d": {"token": ALPHA, "session_id": "nope", "seq": 3}})
        assert await ws.receive_json() == {"op": 9, "d": False, "s": None, "t": None}


async def test_member_chunking_answers_op8_with_nonce(server: SandboxServer, start_bot: StartBot) -> None:
    server.gateway.full_member_list = False  # GUILD_CREATE lists only the bot itself
    bot = await start_bot()
    guild = bot.client.get_guild(int(GUILD_ID))
    assert guild is not None and guild.chunked
    assert {m.name for m in guild.members} == {"you", "dana", "alpha", "beta"}
    assert (bot.user_id, 8) in server.gateway.received


# -- messages in and out -------------------------------------------------------------


async def test_human_message_with_mention_reaches_on_message(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    sent = await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"hey <@{bot.user_id}> hi")
    assert [u["id"] for u in sent["mentions"]] == [bot.user_id]
    (message,) = await bot.wait("message")
    assert message.content == f"hey <@{bot.user_id}> hi"
    assert bot.client.user in message.mentions
    assert message.author.id == int(HUMAN_USER_ID) and isinstance(message.author, discord.Member)
    assert message.channel.name == "general" and message.guild.id == int(GUILD_ID)


async def test_bot_actions_are_recorded(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "ping")
    (ping,) = await bot.wait("message", is_message("ping"))

    async with ping.channel.typing():
        reply = await ping.reply("pong")
    assert server.typing_events[0]["user_id"] == bot.user_id
    assert server.typing_events[0]["channel_id"] == GENERAL_CHANNEL_ID
    stored = server.get_message(GENERAL_CHANNEL_ID, reply.id)
    assert stored is not None and stored["type"] == 19
    assert stored["referenced_message"]["content"] == "ping"
    assert stored["message_reference"]["message_id"] == str(ping.id)
    assert [u["id"] for u in stored["mentions"]] == [HUMAN_USER_ID]  # replies ping the author
    (own,) = await bot.wait("message", is_message("pong"))  # bots get their own MESSAGE_CREATE
    assert own.reference is not None and own.reference.message_id == ping.id

    await ping.add_reaction("👍")
    event = await server.wait_for(lambda e: e["type"] == "reaction")
    assert (event["user_id"], event["emoji"], event["message_id"]) == (bot.user_id, "👍", str(ping.id))
    (raw,) = await bot.wait("raw_reaction_add")
    assert raw.type == discord.ReactionType.normal and raw.burst is False

    fetched = await ping.channel.fetch_message(ping.id)
    assert fetched.content == "ping" and fetched.reactions[0].me and fetched.reactions[0].count == 1

    history = [m.content async for m in ping.channel.history(limit=10)]
    assert history == ["pong", "ping"]

    edited = await reply.edit(content="pong!")
    assert edited.edited_at is not None and edited.content == "pong!"
    await server.wait_for(lambda e: e["type"] == "edit" and e["content"] == "pong!")
    await bot.wait("message_edit", lambda before, after: after.content == "pong!")

    await reply.delete()
    await server.wait_for(lambda e: e["type"] == "delete" and e["message_id"] == str(reply.id))
    await bot.wait("raw_message_delete", lambda p: p.message_id == reply.id)
    assert [m["content"] for m in server.messages(GENERAL_CHANNEL_ID)] == ["ping"]

    quiet = await ping.reply("no ping", mention_author=False)
    assert server.get_message(GENERAL_CHANNEL_ID, quiet.id)["mentions"] == []  # type: ignore[index]

    with pytest.raises(discord.NotFound) as exc:
        await ping.channel.fetch_message(reply.id)
    assert exc.value.code == 10008


async def test_history_cursors_are_newest_first(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    for i in range(120):
        await server.inject_message(RANDOM_CHANNEL_ID, DANA_USER_ID, f"m{i}")
    await bot.wait("message", is_message("m119"))
    channel = bot.client.get_channel(int(RANDOM_CHANNEL_ID))
    assert isinstance(channel, discord.TextChannel)

    everything = [m.content async for m in channel.history(limit=None)]
    assert everything == [f"m{i}" for i in reversed(range(120))]  # two pages via `before`
    ids = [int(m["id"]) for m in server.messages(RANDOM_CHANNEL_ID)]
    after = [m.content async for m in channel.history(after=discord.Object(ids[10]), limit=5)]
    assert after == ["m11", "m12", "m13", "m14", "m15"]
    before = [m.content async for m in channel.history(before=discord.Object(ids[10]), limit=3)]
    assert before == ["m9", "m8", "m7"]
    around = [m.content async for m in channel.history(around=discord.Object(ids[50]), limit=5)]
    assert sorted(around) == ["m48", "m49", "m50", "m51", "m52"]


async def test_files_in_both_directions(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    channel = bot.client.get_channel(int(GENERAL_CHANNEL_ID))
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("see file", file=discord.File(io.BytesIO(b"hello file"), "note.txt"))
    assert sent.attachments[0].filename == "note.txt"
    assert await sent.attachments[0].read() == b"hello file"

    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "pic", attachments=[("a.png", b"\x89PNG")])
    (message,) = await bot.wait("message", is_message("pic"))
    assert message.attachments[0].content_type == "image/png"
    assert await message.attachments[0].read() == b"\x89PNG"


async def test_human_reply_to_a_bot_mentions_it(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    channel = bot.client.get_channel(int(GENERAL_CHANNEL_ID))
    assert isinstance(channel, discord.TextChannel)
    said = await channel.send("I am a bot")
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "so you are", reply_to=said.id)
    (reply,) = await bot.wait("message", is_message("so you are"))
    assert reply.type == discord.MessageType.reply and reply.reference is not None
    assert reply.reference.message_id == said.id and reply.reference.resolved.content == "I am a bot"
    assert bot.client.user in reply.mentions


async def test_human_reaction_edit_delete_and_typing(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    events = server.subscribe()
    sent = await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "first")
    assert events.get_nowait()["message_id"] == sent["id"]
    server.unsubscribe(events)
    await bot.wait("message", is_message("first"))
    await server.inject_reaction(GENERAL_CHANNEL_ID, sent["id"], DANA_USER_ID, "🎉")
    reaction, user = await bot.wait("reaction_add")
    assert str(reaction.emoji) == "🎉" and user.id == int(DANA_USER_ID)
    await server.inject_typing(GENERAL_CHANNEL_ID, HUMAN_USER_ID)
    channel, typer, _when = await bot.wait("typing")
    assert channel.id == int(GENERAL_CHANNEL_ID) and typer.id == int(HUMAN_USER_ID)
    await server.edit_message(GENERAL_CHANNEL_ID, sent["id"], "first (edited)")
    before, after = await bot.wait("message_edit")
    assert (before.content, after.content) == ("first", "first (edited)")
    await server.delete_message(GENERAL_CHANNEL_ID, sent["id"])
    (deleted,) = await bot.wait("message_delete")
    assert deleted.id == int(sent["id"])


async def test_dms_both_ways(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    human = bot.client.get_user(int(HUMAN_USER_ID))
    assert human is not None
    out = await human.send("hello from the bot")
    event = await server.wait_for(lambda e: e["type"] == "message" and e["is_dm"])
    assert event["content"] == "hello from the bot" and HUMAN_USER_ID in event["recipient_ids"]
    assert ("POST", "/users/@me/channels", {}) in server.requests

    await server.inject_dm(HUMAN_USER_ID, bot.user_id, "psst")
    (message,) = await bot.wait("message", is_message("psst"))
    assert message.guild is None and isinstance(message.channel, discord.DMChannel)
    assert message.channel.id == out.channel.id
    fetched = await bot.client.fetch_channel(out.channel.id)
    assert isinstance(fetched, discord.DMChannel) and fetched.recipient is not None
    assert fetched.recipient.id == int(HUMAN_USER_ID)
    general = await bot.client.fetch_channel(int(GENERAL_CHANNEL_ID))
    assert isinstance(general, discord.TextChannel) and general.name == "general"
    assert "guild_id" not in server.messages(out.channel.id)[-1]


async def test_two_bots_share_the_guild(server: SandboxServer, start_bot: StartBot) -> None:
    alpha = await start_bot(ALPHA)
    beta = await start_bot(BETA)
    assert alpha.user_id != beta.user_id
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{beta.user_id}> you there?")
    (seen_by_alpha,) = await alpha.wait("message", lambda m: m.author.id == int(HUMAN_USER_ID))
    (seen_by_beta,) = await beta.wait("message", lambda m: m.author.id == int(HUMAN_USER_ID))
    assert seen_by_alpha.content == seen_by_beta.content
    await seen_by_beta.reply("yes")
    (reply,) = await alpha.wait("message", is_message("yes"))
    assert reply.author.id == int(beta.user_id)
    # Beta's DM with the human is private to beta.
    await server.inject_dm(HUMAN_USER_ID, beta.user_id, "just beta")
    await beta.wait("message", is_message("just beta"))
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "marker")
    await alpha.wait("message", is_message("marker"))  # same socket, so the DM would have come first
    assert not any(m.content == "just beta" for (m,) in alpha.seen("message"))


# -- intents -------------------------------------------------------------------------


async def test_without_message_content_intent_content_is_blank(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot(intents=discord.Intents.default())
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "secret")
    (plain,) = await bot.wait("message", lambda m: m.author.id == int(HUMAN_USER_ID))
    assert plain.content == ""
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot.user_id}> visible")
    await bot.wait("message", is_message(f"<@{bot.user_id}> visible"))
    await server.inject_dm(HUMAN_USER_ID, bot.user_id, "dm text")
    await bot.wait("message", is_message("dm text"))


async def test_without_guild_messages_intent_no_guild_messages(server: SandboxServer, start_bot: StartBot) -> None:
    intents = full_intents()
    intents.guild_messages = False
    bot = await start_bot(intents=intents)
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "not for you")
    await server.inject_dm(HUMAN_USER_ID, bot.user_id, "for you")
    await bot.wait("message", is_message("for you"))
    assert [m.content for (m,) in bot.seen("message")] == ["for you"]


# -- disconnects ---------------------------------------------------------------------


async def test_resume_replays_what_was_missed(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    assert await server.close_gateway(bot.user_id, 4000) == 1
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "during the gap")
    resumed = await server.wait_for(lambda e: e["type"] == "resumed")
    assert resumed["replayed"] == 1
    await bot.wait("message", is_message("during the gap"))
    await bot.wait("resumed")
    assert bot.count("ready") == 1
    assert [e["type"] for e in server.events].count("identify") == 1


async def test_op7_reconnect_resumes(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    assert server.send_reconnect(bot.user_id) == 1
    await server.wait_for(lambda e: e["type"] == "resumed")
    await bot.wait("resumed")
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "after reconnect")
    await bot.wait("message", is_message("after reconnect"))


async def test_resumable_invalid_session_resumes(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    assert server.send_invalid_session(bot.user_id, resumable=True) == 1
    await server.wait_for(lambda e: e["type"] == "resumed")
    await bot.wait("resumed")
    assert bot.count("ready") == 1


async def test_invalid_session_forces_fresh_identify(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    assert server.send_invalid_session(bot.user_id, resumable=False) == 1
    await bot.wait("ready", lambda: bot.count("ready") == 2)
    assert [e["type"] for e in server.events].count("identify") == 2
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "fresh session")
    await bot.wait("message", is_message("fresh session"))
    assert sum(1 for (m,) in bot.seen("message") if m.content == "fresh session") == 1


# -- REST errors ---------------------------------------------------------------------


async def test_rest_errors_are_discord_shaped(server: SandboxServer) -> None:
    auth = {"Authorization": f"Bot {ALPHA}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.api_base + "/users/@me") as resp:
            assert resp.status == 401
        async with http.get(server.api_base + "/channels/123", headers=auth) as resp:
            assert resp.status == 404 and resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["code"] == 10003
        async with http.get(f"{server.api_base}/channels/{GENERAL_CHANNEL_ID}/messages/1", headers=auth) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10008
        async with http.post(f"{server.api_base}/channels/{GENERAL_CHANNEL_ID}/messages", headers=auth,
                             json={"content": ""}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50006
        async with http.post(server.api_base + "/guilds/1/bans", headers=auth) as resp:
            assert resp.status == 404 and json.loads(await resp.text()) == {"message": "404: Not Found", "code": 0}
    assert server.unknown_routes == [("POST", "/guilds/1/bans")]
    server.unknown_routes.clear()  # the fixture asserts it is empty


# -- thread wrapper, terminal chat, __main__ -----------------------------------------


def test_thread_wrapper_offers_every_server_method_with_its_signature() -> None:
    # Written out on the wrapper because the synchronous form differs (or is lifecycle).
    differs = {"start", "stop", "wait_for", "subscribe", "unsubscribe", "add_listener", "remove_listener",
               "cancel_waiters"}
    public = {name: member for name, member in inspect.getmembers(SandboxServer, inspect.isfunction)
              if not name.startswith("_") and name not in differs}
    assert {"inject_message", "delete_message", "pin_message", "send_reconnect"} <= public.keys()
    for name, member in public.items():
        assert inspect.signature(getattr(SandboxThread, name)) == inspect.signature(member), name


def test_thread_wrapper_passes_every_argument_to_the_server() -> None:
    with SandboxThread() as sandbox:
        first = sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "hello")
        quiet = sandbox.inject_message(GENERAL_CHANNEL_ID, DANA_USER_ID, "hi", reply_to=first["id"],
                                       mention_reply_author=False)
        assert quiet["mentions"] == []
        sandbox.delete_message(GENERAL_CHANNEL_ID, first["id"], deleted_by=DANA_USER_ID)
        assert sandbox.events()[-1]["deleted_by"] == DANA_USER_ID
        assert sandbox.get_message(GENERAL_CHANNEL_ID, first["id"]) is None
        assert sandbox.pin_message(GENERAL_CHANNEL_ID, quiet["id"]) is True
        assert sandbox.pinned_ids(GENERAL_CHANNEL_ID) == [quiet["id"]]
    with pytest.raises(RuntimeError, match="not started"):
        sandbox.inject_typing(GENERAL_CHANNEL_ID, HUMAN_USER_ID)


def test_render_mentions() -> None:
    users = {"1": {"username": "alpha", "display_name": "Alpha"}, "2": {"username": "you", "display_name": "You"}}
    assert render_mentions("@alpha hi, @Alpha. mail a@b @nobody", users) == "<@1> hi, <@1>. mail a@b @nobody"


async def test_terminal_chat_with_a_real_bot() -> None:
    with SandboxThread(bots=[(ALPHA, "alpha")]) as sandbox, redirect_discord(sandbox.api_base, sandbox.gateway_url):
        bot = BotHarness(ALPHA)

        @bot.client.event
        async def on_message(message: discord.Message) -> None:
            if message.author.bot:
                return
            async with message.channel.typing():
                reply = await message.reply(f"echo: {message.content}")
            await message.add_reaction("👀")
            await reply.edit(content=f"echo: {message.content} (edited)")

        await bot.start()
        alpha_id = sandbox.bot_ids[ALPHA]
        script = iter(["@alpha hello there", "/dm alpha psst", "/quit"])

        def bot_said(text: str) -> Callable[[dict], bool]:
            return lambda e: e["type"] == "edit" and e["author_id"] == alpha_id and e["content"] == text

        def input_fn() -> str:
            line = next(script)
            if line == "/dm alpha psst":
                sandbox.wait_for_event(bot_said(f"echo: <@{alpha_id}> hello there (edited)"))
            elif line == "/quit":
                sandbox.wait_for_event(bot_said("echo: psst (edited)"))
            return line

        out = io.StringIO()
        await asyncio.to_thread(
            run_terminal_chat, sandbox, GENERAL_CHANNEL_ID, HUMAN_USER_ID, Console(file=out, width=200), input_fn
        )
        await bot.close()
        assert bot.errors == []
        text = out.getvalue()
        assert "alpha is typing…" in text
        assert "alpha (replying to you): echo: @alpha hello there" in text
        assert "alpha reacted 👀 to you: “@alpha hello there”" in text
        assert "alpha edited their message: echo: @alpha hello there (edited)" in text
        assert "[DM] alpha (replying to you): echo: psst" in text
        assert sandbox.unknown_routes() == []
        human_lines = [m["content"] for m in sandbox.messages(GENERAL_CHANNEL_ID) if m["author"]["id"] == HUMAN_USER_ID]
        assert human_lines == [f"<@{alpha_id}> hello there"]


def test_main_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "framework.sandbox", "--port", "0", "--bot", "tok:alpha"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        api_base = proc.stdout.readline().strip().removeprefix("api_base: ")
        assert proc.stdout.readline().startswith("gateway_url: ws://127.0.0.1:")
        assert proc.stdout.readline().startswith("bot: alpha id=")

        async def get_me() -> dict:
            async with aiohttp.ClientSession() as http, http.get(
                api_base + "/users/@me", headers={"Authorization": "Bot tok"}
            ) as resp:
                return await resp.json()

        assert asyncio.run(get_me())["username"] == "alpha"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# -- guild structure: second guild, roles, overwrites, pins, threads ------------------


async def test_second_guild_roles_and_owner(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    main, other = bot.client.get_guild(int(GUILD_ID)), bot.client.get_guild(int(OTHER_GUILD_ID))
    assert main is not None and other is not None
    assert other.name == "Elsewhere" and [c.name for c in other.text_channels] == ["lobby"]
    assert {m.name for m in other.members} == {"dana", "alpha", "beta"}  # you are not in Elsewhere
    assert main.owner_id == other.owner_id == int(DANA_USER_ID)
    you, dana = main.get_member(int(HUMAN_USER_ID)), main.get_member(int(DANA_USER_ID))
    assert you is not None and dana is not None
    assert [r.name for r in you.roles] == ["@everyone", "Regulars"]
    assert [r.name for r in dana.roles] == ["@everyone", "Moderators"]
    moderators = main.get_role(int(MODERATORS_ROLE_ID))
    assert moderators is not None and moderators.permissions.manage_messages and moderators.permissions.pin_messages
    assert main.get_channel(int(GENERAL_CHANNEL_ID)).topic == "Talk to the bots here"  # type: ignore[union-attr]
    assert [r.name for r in await main.fetch_roles()][0] == "@everyone"
    erin = server.add_human("erin")
    (joined,) = await bot.wait("member_join")
    assert joined.id == int(erin) and joined.guild.id == main.id  # extra humans join the main guild only
    assert other.get_member(int(erin)) is None


def test_permission_arithmetic() -> None:
    from framework.sandbox.models import Channel, Guild, Overwrite
    from framework.sandbox.perms import ALL_PERMISSIONS, SEND_MESSAGES, channel_permissions

    guild = Guild(id="1", name="g", owner_id="9", members={"2": "", "3": "", "9": ""}, member_roles={"3": ["r"]})
    channel = Channel(id="5", type=0, guild_id="1", overwrites=[
        Overwrite(id="1", type=0, deny=VIEW_CHANNEL),  # @everyone: hidden
        Overwrite(id="r", type=0, allow=VIEW_CHANNEL),  # role r: shown
        Overwrite(id="3", type=1, deny=SEND_MESSAGES),  # member 3: read-only
    ])
    assert channel_permissions(guild, channel, "2") == 0  # no VIEW_CHANNEL: nothing at all
    three = channel_permissions(guild, channel, "3")
    assert three & VIEW_CHANNEL and not three & SEND_MESSAGES
    assert channel_permissions(guild, channel, "9") == ALL_PERMISSIONS  # the owner ignores overwrites
    assert channel_permissions(guild, channel, "7") == 0  # not a member


async def test_hidden_channel_is_hidden_from_the_bot(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    secret = server.add_channel("secret", topic="no bots")
    (created,) = await bot.wait("guild_channel_create")
    assert created.id == int(secret) and created.topic == "no bots"
    server.set_channel_overwrite(secret, bot.user_id, deny=VIEW_CHANNEL)
    _before, after = await bot.wait("guild_channel_update", lambda _b, a: a.id == int(secret))
    assert isinstance(after, discord.TextChannel)
    assert not after.permissions_for(after.guild.me).view_channel
    assert after.permissions_for(after.guild.get_member(int(HUMAN_USER_ID))).view_channel  # type: ignore[arg-type]
    await server.inject_message(secret, HUMAN_USER_ID, "bots never see this")
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "marker")
    await bot.wait("message", is_message("marker"))
    assert not any(m.content == "bots never see this" for (m,) in bot.seen("message"))
    with pytest.raises(discord.Forbidden) as exc:
        await after.fetch_message(int(server.messages(secret)[0]["id"]))
    assert exc.value.code == 50001
    # Humans are bound too: hide it from you and you cannot post there.
    server.set_channel_overwrite(secret, HUMAN_USER_ID, deny=VIEW_CHANNEL)
    with pytest.raises(PermissionError):
        await server.inject_message(secret, HUMAN_USER_ID, "nope")
    server.set_channel_overwrite(secret, HUMAN_USER_ID)  # no bits: the overwrite is removed
    await server.inject_message(secret, HUMAN_USER_ID, "back again")


async def test_pins_through_discord_py(server: SandboxServer, start_bot: StartBot) -> None:
    bot = await start_bot()
    channel = bot.client.get_channel(int(RANDOM_CHANNEL_ID))
    assert isinstance(channel, discord.TextChannel)
    sent = [await server.inject_message(RANDOM_CHANNEL_ID, DANA_USER_ID, f"p{i}") for i in range(55)]
    for message in sent:
        assert server.pin_message(RANDOM_CHANNEL_ID, message["id"])
    assert not server.pin_message(RANDOM_CHANNEL_ID, sent[0]["id"])  # already pinned
    pinned_channel, last_pin = await bot.wait("guild_channel_pins_update")
    assert pinned_channel.id == channel.id and last_pin is not None
    everything = [m async for m in channel.pins(limit=None)]  # two pages: `before` is the last pinned_at
    assert [m.content for m in everything] == [f"p{i}" for i in reversed(range(55))]
    assert everything[0].pinned and everything[0].pinned_at is not None
    older = [m.content async for m in channel.pins(before=everything[2].pinned_at, limit=2)]
    assert older == ["p51", "p50"]
    assert server.pinned_ids(RANDOM_CHANNEL_ID)[:2] == [sent[54]["id"], sent[53]["id"]]

    mine = await channel.send("pin me")
    with pytest.raises(discord.Forbidden) as exc:  # @everyone may not pin
        await mine.pin()
    assert exc.value.code == 50013
    server.set_member_roles(bot.user_id, [MODERATORS_ROLE_ID])
    await bot.wait("member_update", lambda _b, after: after.id == int(bot.user_id))
    await mine.pin()
    await server.wait_for(lambda e: e["type"] == "pin" and e["message_id"] == str(mine.id))
    assert (await channel.fetch_message(mine.id)).pinned
    await mine.unpin()
    assert str(mine.id) not in server.pinned_ids(RANDOM_CHANNEL_ID)
    auth = {"Authorization": f"Bot {ALPHA}"}
    async with aiohttp.ClientSession() as http:  # the older route other clients use
        async with http.get(f"{server.api_base}/channels/{RANDOM_CHANNEL_ID}/pins", headers=auth) as resp:
            legacy = await resp.json()
    assert [m["content"] for m in legacy[:2]] == ["p54", "p53"] and legacy[0]["pinned"] is True
    await server.delete_message(RANDOM_CHANNEL_ID, sent[54]["id"])
    assert server.pinned_ids(RANDOM_CHANNEL_ID)[0] == sent[53]["id"]  # a deleted message is unpinned


async def test_threads_through_discord_py(server: SandboxServer, start_bot: StartBot) -> None:
    alpha = await start_bot()
    thread_id = server.create_thread(GENERAL_CHANNEL_ID, "plans", HUMAN_USER_ID)
    (created,) = await alpha.wait("thread_create")
    assert isinstance(created, discord.Thread) and created.id == int(thread_id)
    assert created.parent_id == int(GENERAL_CHANNEL_ID) and created.owner_id == int(HUMAN_USER_ID)
    await server.inject_message(thread_id, DANA_USER_ID, "in the thread")
    (message,) = await alpha.wait("message", is_message("in the thread"))
    assert isinstance(message.channel, discord.Thread) and message.channel.id == int(thread_id)

    private_id = server.create_thread(GENERAL_CHANNEL_ID, "mods", DANA_USER_ID, private=True)
    guild = alpha.client.get_guild(int(GUILD_ID))
    assert guild is not None
    (plans,) = await guild.active_threads()  # a private thread is for its members and thread managers
    assert plans.name == "plans" and plans.message_count == 1 and plans.created_at is not None
    fetched = await alpha.client.fetch_channel(int(thread_id))
    assert isinstance(fetched, discord.Thread) and fetched.type == discord.ChannelType.public_thread
    assert (await fetched.fetch_member(int(HUMAN_USER_ID))).id == int(HUMAN_USER_ID)
    with pytest.raises(discord.NotFound):
        await fetched.fetch_member(int(DANA_USER_ID))

    server.set_member_roles(alpha.user_id, [MODERATORS_ROLE_ID])  # Moderators manage threads
    assert {t.name for t in await guild.active_threads()} == {"plans", "mods"}
    beta = await start_bot(BETA)  # a bot connecting later finds the threads it may see in GUILD_CREATE
    beta_guild = beta.client.get_guild(int(GUILD_ID))
    assert beta_guild is not None and [t.id for t in beta_guild.threads] == [int(thread_id)]
    assert beta_guild.get_thread(int(private_id)) is None
