"""Run the sandbox in the foreground.

    python -m framework.sandbox --port 8765 --bot TOKEN:alpha [--bot TOKEN2:beta] [--chat]

Prints ``api_base`` and ``gateway_url`` (one ``key: value`` per line, flushed, so a
parent process can read them), then serves until Ctrl-C or SIGTERM. With ``--chat`` you
talk to the bots in #general from this terminal (see :mod:`framework.sandbox.chat`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from types import FrameType

from .seed import GENERAL_CHANNEL_ID, HUMAN_USER_ID
from .server import SandboxServer


def _bot_spec(value: str) -> tuple[str, str]:
    token, sep, name = value.rpartition(":")
    if not sep or not token or not name:
        raise argparse.ArgumentTypeError(f"expected TOKEN:NAME, got {value!r}")
    return token, name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m framework.sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--bot", action="append", type=_bot_spec, default=[], metavar="TOKEN:NAME",
                        help="register a bot account; repeat for several bots")
    parser.add_argument("--chat", action="store_true", help="chat with the bots in #general from this terminal")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


def _announce(server: SandboxServer, bots: list[tuple[str, str]]) -> None:
    print(f"api_base: {server.api_base}", flush=True)
    print(f"gateway_url: {server.gateway_url}", flush=True)
    for token, name in bots:
        print(f"bot: {name} id={server.state.bots_by_token[token].user.id}", flush=True)


async def _serve(host: str, port: int, bots: list[tuple[str, str]]) -> None:
    server = SandboxServer()
    for token, name in bots:
        server.add_bot(token, name)
    await server.start(host, port)
    _announce(server, bots)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def _chat(host: str, port: int, bots: list[tuple[str, str]]) -> None:
    from rich.console import Console

    from .chat import run_terminal_chat
    from .thread import SandboxThread

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unblocks input(); the chat treats it as /quit

    signal.signal(signal.SIGTERM, on_term)
    with SandboxThread(host=host, port=port, bots=bots) as sandbox:
        _announce(sandbox.server, bots)
        with contextlib.suppress(KeyboardInterrupt):
            run_terminal_chat(sandbox, GENERAL_CHANNEL_ID, HUMAN_USER_ID, Console())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.chat:
            _chat(args.host, args.port, args.bot)
        else:
            asyncio.run(_serve(args.host, args.port, args.bot))
    except OSError as exc:  # port in use, bad address
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
