"""Baseline for the benchmarks: a bare discord.py client doing only what a bot must.

It connects with the same intents as a framework bot, writes a ready marker, answers a
mention by sending the last 20 messages to the model endpoint with the anthropic SDK
(when ANTHROPIC_BASE_URL is set), counts every message it receives into
READY_FILE.count, and shuts down on SIGTERM. Run: python bench/bare_client.py READY_FILE
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
    history: list[str] = []
    received = 0

    @client.event
    async def on_message(message: discord.Message) -> None:
        nonlocal received
        received += 1
        history.append(f"{message.author.display_name}: {message.content}")
        del history[:-20]
        if received % 100 == 0:
            with open(ready_file + ".count", "w") as fh:
                fh.write(str(received))
        if llm is not None and client.user in message.mentions:
            async with message.channel.typing():
                reply = await llm.messages.create(
                    model="claude-sonnet-4-6", max_tokens=1024, system="You are a bot.",
                    messages=[{"role": "user", "content": "\n".join(history)}],
                )
            await message.channel.send(reply.content[0].text[:2000])

    @client.event
    async def on_ready() -> None:
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

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
