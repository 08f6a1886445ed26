"""Chat with sandboxed bots from a terminal.

What you type is posted as you (a human member) in the chosen channel, #general by
default, while the bots' replies, typing indicators and reactions print as they happen.

Syntax:

* ``hello everyone``            a message in the channel
* ``@alpha what's up?``         ``@name`` anywhere in a line mentions that bot or person
  (a real ``<@id>`` mention, matched case-insensitively on username or display name);
  an unknown ``@word`` is left as typed
* ``/dm alpha psst``            a direct message to ``alpha``
* ``/as dana hi all``           a line (a message, or a ``/dm``) posted as someone else, e.g.
  ``/as dana /dm cortana hi`` to see a private bot ignore a stranger's DM
* ``/settings model claude-sonnet-4-6``  a slash command a bot registered, run in this
  channel (``/dm cortana /settings status`` runs it in the DM); the bot's answer prints
  marked "only you" when it is ephemeral. Arguments go in order, or as ``name:value``
* ``/join #random``             post in another channel from now on (its messages print
  unprefixed; the others keep their ``[#channel]`` prefix)
* ``/why``                      turn on (or off) a line under each message the bot let pass,
  saying in plain words why it stayed silent
* ``/help``                     the commands, and the bots' own commands
* ``/quit``                     leave (so do Ctrl-D and Ctrl-C)

Beside the messages, a :class:`SideChannel` (the CLI's view of the bot's logs) adds
notes: which model answered when it was not the configured one, a refused key, and
that the bot exited, which ends the session.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from .slash import parse_slash
from .thread import SandboxThread

_log = logging.getLogger(__name__)

HELP = (
    "Type a message and press Enter to post it. @name mentions a bot, "
    "/dm name text sends a DM, /as name line posts a line as someone else, /image PATH [text] posts a picture, "
    "a bot's slash command "
    "(/settings status) runs here or with /dm name /settings ..., /why explains silences, /help lists everything, "
    "/quit (or Ctrl-D) leaves."
)

HELP_LINES = (
    "Type a line and press Enter: it is posted in the channel as you.",
    "  @name ...             mention a bot or a person (a bot answers a mention)",
    "  /dm name text         a direct message",
    "  /as name line         post a line as someone else (e.g. /as dana hi all)",
    "  /image PATH [text]    post a picture file from this machine",
    "  /join #channel        post in another channel from now on",
    "  /why                  turn on or off: a plain-words line whenever the bot stays silent",
    "  /help                 this list",
    "  /quit                 leave and stop the bot (Ctrl-D and Ctrl-C too)",
)


@dataclass(frozen=True)
class Note:
    """A line beside the messages: not said by anyone, about the session."""

    text: str
    style: str = "dim"
    ends_session: bool = False


class SideChannel(Protocol):
    """What the chat knows about the bot beyond its messages (the CLI reads its logs)."""

    def poll(self) -> list[Note]: ...

    def toggle_why(self) -> bool: ...


#: How often the printer looks at the side channel while no event arrives.
_POLL_S = 0.25

_AT_NAME_RE = re.compile(r"(?<![<\w])@([\w][\w.\-]*)")
_MENTION_RE = re.compile(r"<@!?(\d+)>")
#: A bot re-sends typing every few seconds while composing; show it again after this long.
_TYPING_REPEAT_S = 15.0


def _names(users: dict[str, dict[str, Any]]) -> dict[str, str]:
    by_name: dict[str, str] = {}
    for uid, info in users.items():
        by_name.setdefault(info["username"].lower(), uid)
        by_name.setdefault(str(info["display_name"]).lower(), uid)
    return by_name


def render_mentions(line: str, users: dict[str, dict[str, Any]]) -> str:
    """Turn ``@name`` into ``<@id>`` for known users; trailing ``.``/``-`` stay text."""
    by_name = _names(users)

    def replace(match: re.Match[str]) -> str:
        word = match.group(1)
        core = word.rstrip(".-")
        uid = by_name.get(core.lower())
        return match.group(0) if uid is None else f"<@{uid}>{word[len(core):]}"

    return _AT_NAME_RE.sub(replace, line)


def display_mentions(content: str, users: dict[str, dict[str, Any]]) -> str:
    """Turn ``<@id>`` back into ``@name`` for printing."""
    return _MENTION_RE.sub(
        lambda m: "@" + users[m.group(1)]["username"] if m.group(1) in users else m.group(0), content
    )


class _Printer:
    """Formats sandbox events for the person at the terminal."""

    def __init__(self, sandbox: SandboxThread, channel_id: str, human_user_id: str, console: Console) -> None:
        self.sandbox = sandbox
        self.channel_id = channel_id
        self.human = human_user_id
        self.console = console
        self.users = sandbox.users()
        self._typing_shown: dict[tuple[str, str], float] = {}

    def _name(self, user_id: str) -> str:
        if user_id not in self.users:
            self.users = self.sandbox.users()
        return self.users.get(user_id, {}).get("username", user_id)

    def _where(self, event: dict[str, Any]) -> str | None:
        """A prefix for where it happened, "" for the main channel, None if not ours to show."""
        if event.get("is_dm"):
            return "[DM] " if self.human in event.get("recipient_ids", ()) else None
        if event["channel_id"] == self.channel_id:
            return ""
        return f"[{self.sandbox.channel_name(event['channel_id'])}] "

    def handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("identify", "resumed"):
            verb = "connected" if kind == "identify" else "reconnected"
            self.console.print(Text(f"● {self._name(event['user_id'])} {verb}", style="dim"))
            return
        if kind == "disconnect":
            self.console.print(Text(f"● {self._name(event['user_id'])} disconnected", style="dim"))
            return
        if kind == "interaction_response":
            self._interaction(event)
            return
        if kind not in ("message", "edit", "delete", "reaction", "typing"):
            return
        where = self._where(event)
        if where is None:
            return
        if kind == "typing":
            self._typing(event, where)
            return
        actor = event.get("user_id") if kind == "reaction" else event["author_id"]
        if actor == self.human:
            return  # the terminal already shows what you typed
        author = event["author_name"]
        content = display_mentions(event["content"], self.users)
        if kind == "message":
            self._typing_shown.pop((event["author_id"], event["channel_id"]), None)
            line = Text(where)
            line.append(author, style="bold cyan")
            ref = event["message"].get("referenced_message")
            if ref:
                line.append(f" (replying to {ref['author']['username']})", style="dim")
            line.append(": " + content)
            for attachment in event["message"].get("attachments", []):
                line.append(f" [attachment: {attachment['filename']}]", style="dim")
            self.console.print(line)
        elif kind == "edit":
            self.console.print(Text(f"{where}{author} edited their message: {content}", style="italic"))
        elif kind == "delete":
            self.console.print(Text(f"{where}{author}'s message was deleted: {_excerpt(content)}", style="dim"))
        else:
            self.console.print(
                Text(f"{where}{event['user_name']} reacted {event['emoji']} to {author}: {_excerpt(content)}")
            )

    def _interaction(self, event: dict[str, Any]) -> None:
        """A bot's answer to a slash command; ephemeral ones are marked (only the person sees them)."""
        bot = self._name(event["bot_id"])
        if event["kind"] == "callback" and event["response_type"] == 5:
            self.console.print(Text(f"/{event['command']}: {bot} is thinking…", style="dim italic"))
            return
        if event["kind"] == "delete" or not event.get("content"):
            return
        line = Text(f"/{event['command']} ", style="dim")
        line.append(bot, style="bold cyan")
        if event["ephemeral"]:
            line.append(" (only you)" if event["user_id"] == self.human else f" (only @{self._name(event['user_id'])})",
                        style="dim")
        line.append(":\n" + event["content"] if "\n" in event["content"] else ": " + event["content"])
        self.console.print(line)

    def _typing(self, event: dict[str, Any], where: str) -> None:
        if event["user_id"] == self.human:
            return
        key = (event["user_id"], event["channel_id"])
        now = time.monotonic()
        if now - self._typing_shown.get(key, -_TYPING_REPEAT_S) < _TYPING_REPEAT_S:
            return
        self._typing_shown[key] = now
        self.console.print(Text(f"{where}{event['user_name']} is typing…", style="dim italic"))

    def run(
        self, events: queue.Queue[dict[str, Any] | None], side: SideChannel | None = None,
        on_end: Callable[[], None] = lambda: None,
    ) -> None:
        while True:
            try:
                event = events.get(timeout=_POLL_S if side is not None else None)
            except queue.Empty:
                event = {}
            if event is None:
                break
            try:
                if event:
                    self.handle(event)
                if side is not None and self._notes(side.poll()):
                    on_end()
            except Exception:  # one odd event must not silence the rest of the chat
                _log.exception("could not display sandbox event %r", event.get("type"))
        if side is not None:
            self._notes(side.poll())  # what the last events caused

    def _notes(self, notes: list[Note]) -> bool:
        """Print the notes; True when one of them ends the session."""
        for note in notes:
            self.console.print(Text(note.text, style=note.style))
        return any(note.ends_session for note in notes)


def _excerpt(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= width else text[: width - 1] + '…'}”"


def run_terminal_chat(
    sandbox: SandboxThread,
    channel_id: str,
    human_user_id: str,
    console: Console,
    input_fn: Callable[[], str] = input,
    side: SideChannel | None = None,
    interrupt: Callable[[], None] = lambda: None,
    extra_help: Callable[[], list[str]] = list,
) -> None:
    """Read lines with *input_fn* and post them as *human_user_id* until ``/quit`` or EOF.

    Bot activity is printed to *console* from a background thread while this one waits
    for input. Everything already observed is printed before this returns. When *side*
    reports that the session is over, *interrupt* wakes the waiting *input_fn* (the CLI
    sends itself SIGINT) and the chat ends.
    """
    console.print(Text(f"You are @{sandbox.users()[human_user_id]['username']} in "
                       f"{sandbox.channel_name(channel_id)}. {HELP}", style="bold"))
    events: queue.Queue[dict[str, Any] | None] = sandbox.subscribe()  # type: ignore[assignment]
    printer = _Printer(sandbox, channel_id, human_user_id, console)
    ended = threading.Event()
    waiting = threading.Event()  # set while input_fn may be interrupted

    def end() -> None:
        ended.set()
        if waiting.is_set():
            interrupt()

    thread = threading.Thread(target=printer.run, args=(events, side, end), name="sandbox-chat-printer", daemon=True)
    thread.start()
    try:
        while not ended.is_set():
            try:
                waiting.set()
                line = input_fn().strip()
            except (EOFError, KeyboardInterrupt):
                break
            finally:
                waiting.clear()
            if ended.is_set():
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            author = human_user_id
            if line.split(maxsplit=1)[0] == "/as":
                parts = line.split(maxsplit=2)
                users = sandbox.users()
                uid = _names(users).get(parts[1].lstrip("@").lower()) if len(parts) == 3 else None
                if uid is None or users[uid]["bot"]:
                    console.print("Usage: /as name line (name: a person in the sandbox, e.g. dana)")
                    continue
                author, line = uid, parts[2]
                console.print(Text(f"(as @{users[uid]['username']}) {line}", style="dim"))
            if line == "/help":
                _print_help(sandbox, console, extra_help())
            elif line == "/why":
                if side is None:
                    console.print("/why needs the bot's logs: it works in `bot_manager sandbox`")
                else:
                    on = side.toggle_why()
                    console.print(Text("/why on: a line says why whenever the bot stays silent" if on
                                       else "/why off", style="dim"))
            elif line.split(maxsplit=1)[0] == "/join":
                joined = _join(sandbox, line, console)
                if joined is not None:
                    channel_id = printer.channel_id = joined
            elif line.split(maxsplit=1)[0] == "/image":
                _send_image(sandbox, channel_id, author, line, console)
            elif line.startswith("/dm"):
                _send_dm(sandbox, author, line, console)
            elif line.startswith("/") and run_slash(sandbox, author, line, console, channel_id=channel_id):
                pass
            elif line.startswith("/"):
                console.print(f"Unknown command {line.split()[0]}. {HELP}")
            else:
                sandbox.inject_message(channel_id, author, render_mentions(line, sandbox.users()))
    finally:
        sandbox.unsubscribe(events)  # type: ignore[arg-type]
        events.put(None)  # after everything already queued, so it all gets printed
        thread.join(5.0)


def _join(sandbox: SandboxThread, line: str, console: Console) -> str | None:
    """``/join #name``: the id of that text channel, or None (with a line saying which exist)."""
    channels = sandbox.text_channels()
    parts = line.split()
    name = parts[1].lstrip("#").lower() if len(parts) == 2 else ""
    if name not in channels:
        known = ", ".join(f"#{n}" for n in sorted(channels))
        console.print(Text(f"Usage: /join #channel (one of {known})"))
        return None
    console.print(Text(f"You are now in #{name}.", style="dim"))
    return channels[name]


def _send_image(sandbox: SandboxThread, channel_id: str, author: str, line: str, console: Console) -> None:
    """``/image PATH [text]``: the file at PATH posted as an attachment, with the text."""
    parts = line.split(maxsplit=2)
    if len(parts) < 2:
        console.print(Text("Usage: /image PATH [text] (a picture file on this machine, e.g. /image ~/cat.png look @alpha)"))
        return
    path = Path(parts[1]).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        console.print(Text(f"Cannot read {path}: {exc.strerror or exc}; give the path of an image file"))
        return
    text = render_mentions(parts[2], sandbox.users()) if len(parts) == 3 else ""
    sandbox.inject_message(channel_id, author, text, attachments=[(path.name, data)])


def _print_help(sandbox: SandboxThread, console: Console, extra: list[str]) -> None:
    for line in HELP_LINES:
        console.print(Text(line))
    for uid, info in sandbox.users().items():
        if not info["bot"]:
            continue
        commands = sorted(c["name"] for c in sandbox.registered_commands(uid))
        if commands:
            console.print(Text(f"  {info['username']}'s slash commands: " + ", ".join(f"/{c}" for c in commands)))
    for line in extra:
        console.print(Text(f"  {line}"))


def _send_dm(sandbox: SandboxThread, human_user_id: str, line: str, console: Console) -> None:
    parts = line.split(maxsplit=2)
    if len(parts) < 3:
        console.print("Usage: /dm name message")
        return
    users = sandbox.users()
    uid = _names(users).get(parts[1].lstrip("@").lower())
    if uid is None or uid == human_user_id:
        console.print(f"No such user: {parts[1]}")
        return
    if parts[2].startswith("/") and run_slash(sandbox, human_user_id, parts[2], console, bot_id=uid):
        return
    sandbox.inject_dm(human_user_id, uid, render_mentions(parts[2], users))


def run_slash(
    sandbox: SandboxThread, author: str, line: str, console: Console, *,
    channel_id: str | None = None, bot_id: str | None = None,
) -> bool:
    """Run *line* as a slash command a bot registered: in the DM with *bot_id*, or in
    *channel_id*. False when no bot registered that command (the line is something else)."""
    name = line.lstrip("/").split(maxsplit=1)[0] if line.strip("/ ") else ""
    users = sandbox.users()
    bots = [bot_id] if bot_id is not None else [uid for uid, info in users.items() if info["bot"]]
    found = [(uid, c) for uid in bots for c in sandbox.registered_commands(uid) if c["name"] == name]
    if not found:
        return False
    if len(found) > 1:
        names = ", ".join(users[uid]["username"] for uid, _ in found)
        console.print(Text(f"/{name} belongs to several bots ({names}): /dm name /{name} ... picks one"))
        return True
    uid, command = found[0]
    try:
        path, options = parse_slash(line, command)
        sandbox.inject_interaction(author, path, options, None if bot_id is not None else channel_id, bot_user_id=uid)
    except (ValueError, LookupError, PermissionError) as exc:
        console.print(Text(str(exc)))  # plain text: "[provider]" in a usage is not markup
    return True
