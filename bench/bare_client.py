"""Baseline for the benchmarks: a bare discord.py client doing only what a bot must.

It does the same job as a framework bot, in the plainest way: connects with the same
intents, writes a ready marker, stores every message in SQLite (aiosqlite, WAL), answers
a mention by reading the last 20 messages back and sending them to the model endpoint
with the anthropic SDK (when ANTHROPIC_BASE_URL is set), keeps its messages in
READY_FILE.db, and shuts down on SIGTERM. Run: python bench/bare_client.py READY_FILE
with DISCORD_API_BASE, DISCORD_GATEWAY_URL and BARE_TOKEN set.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import discord
import yarl


def main() -> int:
    ready_file = sys.argv[1]
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.05)
    llm = None
    if os.environ.get("ANTHROPIC_BASE_URL"):
        import anthropic

        llm = anthropic.AsyncAnthropic(api_key="bench", base_url=os.environ["ANTHROPIC_BASE_URL"], max_retries=0)
    received = 0
    db = None

    async def open_db() -> None:
        nonlocal db
        import aiosqlite

        db = await aiosqlite.connect(ready_file + ".db")
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("CREATE TABLE IF NOT EXISTS m (id TEXT PRIMARY KEY, channel TEXT, author TEXT, content TEXT, ts TEXT)")
        await db.execute("CREATE INDEX IF NOT EXISTS m_ch ON m (channel, ts)")
        await db.commit()

    @client.event
    async def on_message(message: discord.Message) -> None:
        nonlocal received
        received += 1
        await db.execute("INSERT OR IGNORE INTO m VALUES (?, ?, ?, ?, ?)", (str(message.id), str(message.channel.id),
                         message.author.display_name, message.content, message.created_at.isoformat()))
        await db.commit()
        # A bot never answers itself (or another bot): the stand-in model's reply quotes the
        # mention, so without this guard the bare bot would answer its own replies forever.
        if llm is not None and not message.author.bot and client.user in message.mentions:
            rows = await db.execute_fetchall(
                "SELECT author, content FROM m WHERE channel = ? ORDER BY ts DESC LIMIT 20", (str(message.channel.id),)
            )
            history = [f"{author}: {content}" for author, content in reversed(list(rows))]
            async with message.channel.typing():
                reply = await llm.messages.create(
                    model="claude-sonnet-4-6", max_tokens=1024, system="You are a bot.",
                    messages=[{"role": "user", "content": "\n".join(history)}],
                )
            await message.channel.send(reply.content[0].text[:2000])

    @client.event
    async def on_ready() -> None:
        if db is None:
            await open_db()
        with open(ready_file + ".tmp", "w") as fh:
            json.dump({"pid": os.getpid(), "ready_at": time.time()}, fh)
        os.replace(ready_file + ".tmp", ready_file)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        task = asyncio.create_task(client.start(os.environ["BARE_TOKEN"]))
        await stop.wait()
        await client.close()
        await asyncio.gather(task, return_exceptions=True)
        if db is not None:
            await db.close()  # its worker thread would otherwise keep the process alive

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
