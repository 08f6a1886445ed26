"""Baseline for the benchmarks: a bare discord.py client doing only what a bot must.

It connects with the same intents as a framework bot, writes a ready marker, answers
a mention by sending the request to the model endpoint (benchmarks only measure up to
the request), and shuts down on SIGTERM. Run: python bench/bare_client.py READY_FILE
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
