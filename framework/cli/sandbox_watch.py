"""What the sandbox chat shows beside the messages, from the bot's own records.

The bot runs in another process; the chat learns from what it writes:

* the usage ledger (``llm_calls``): a reply that came from a model other than the one
  configured (a fallback, the local stand-in) is named under it, and a key the provider
  refused shows once as a one-line warning;
* the conversation log (``logs/<bot>.conversation.jsonl``): a reply made of a static
  line says so, and with ``/why`` on every silence is explained in plain words;
* the keeper's state file: when the bot exits (an owner's ``!shutdown``, a crash), the
  chat says so and ends the session.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ..paths import BotPaths
from ..sandbox.chat import Note
from ..sandbox.why import explain
from ..storage.ledger_tail import calls_after, last_call_id
from ..supervisor.states import BotState, read_state

__all__ = ["SessionWatch"]

_ANSWERING = frozenset({"reply", "check"})  # purposes whose answer is what the chat shows
_LIVE = frozenset({BotState.STARTING, BotState.RUNNING, BotState.STOPPING})
_PREVIEW = 40


class SessionWatch:
    """Turns the bot's records into chat notes (``SideChannel`` of the sandbox chat)."""

    def __init__(self, paths: BotPaths, conversation_log: Path, configured_model: str, *, standin: bool) -> None:
        self._paths = paths
        self._log = conversation_log
        self._configured = configured_model
        self._standin = standin
        self._why = False
        self._lock = threading.Lock()  # the printer thread polls, the input thread toggles
        self._last_call = last_call_id(paths.database)
        self._log_offset = conversation_log.stat().st_size if conversation_log.exists() else 0
        self._warned: set[tuple[str, str | None, str | None]] = set()
        self._ended = False
        self._crashes_told: set[int] = set()

    def toggle_why(self) -> bool:
        with self._lock:
            self._why = not self._why
            return self._why

    def poll(self) -> list[Note]:
        with self._lock:
            notes = self._calls() + self._decisions()
            ended = self._exit()
            return notes + ([ended] if ended else [])

    # -- the ledger -----------------------------------------------------------------

    def _calls(self) -> list[Note]:
        notes: list[Note] = []
        for call in calls_after(self._paths.database, self._last_call):
            self._last_call = call.id
            if not call.ok:
                if call.error_kind != "auth" and call.purpose not in _ANSWERING:
                    continue  # a background call (a profile, a summary) failing is not the chat's business
                warning = self._failure(call.provider, call.model, call.key_alias, call.error_kind)
                if warning is not None:
                    notes.append(warning)
                continue
            if call.purpose not in _ANSWERING:
                continue
            if self._standin and call.provider == "anthropic":
                continue  # the stand-in's replies say so themselves
            if call.model != self._configured:
                notes.append(Note(f"(answered by {call.provider} {call.model}, not the configured {self._configured})"))
        return notes

    def _failure(self, provider: str, model: str, alias: str | None, kind: str | None) -> Note | None:
        """One warning per provider, key and kind of failure: a refused key, or a provider not answering."""
        if (provider, alias, kind) in self._warned:
            return None
        self._warned.add((provider, alias, kind))
        if kind == "auth":
            text = (f"warning: {provider} refused the key in {alias or 'its key variable'} (fix it in .env); "
                    "the bot falls back to the next model")
        else:
            text = f"warning: {provider} {model} did not answer ({kind or 'error'}); the bot falls back to the next model"
        return Note(text, style="yellow")

    # -- the conversation log -------------------------------------------------------

    def _decisions(self) -> list[Note]:
        notes: list[Note] = []
        for entry in self._new_entries():
            reason = str(entry.get("reason", ""))
            decision = entry.get("decision")
            excerpt = _excerpt(str(entry.get("content", "")))
            if decision == "reply" and "static line (" in reason:
                cause = reason.split("static line (", 1)[1].rstrip(")")
                notes.append(Note(f"(a static line, not a model: {cause})", style="yellow"))
            elif decision in ("ignore", "error") and self._why:
                notes.append(Note(f"why silent on {excerpt}: {explain(reason)}"))
        return notes

    def _new_entries(self) -> list[dict[str, object]]:
        try:
            size = self._log.stat().st_size
        except FileNotFoundError:
            return []
        if size < self._log_offset:  # rotated: the new file starts from the top
            self._log_offset = 0
        with self._log.open("rb") as f:
            f.seek(self._log_offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self._log_offset += len(complete)
        entries = []
        for line in complete.decode("utf-8", "replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    # -- the keeper -----------------------------------------------------------------

    def _exit(self) -> Note | None:
        if self._ended:
            return None
        status = read_state(self._paths.state_file)
        if status is None or status.state in _LIVE:
            return None
        name = self._paths.bot_id
        if status.state is BotState.BACKOFF:
            if status.restarts in self._crashes_told:
                return None
            self._crashes_told.add(status.restarts)
            return Note(f"{name} crashed ({status.last_error or 'no error reported'}); it restarts shortly", style="yellow")
        self._ended = True
        if status.state is BotState.STOPPED and status.last_exit_code == 0:
            said = f"{name} shut down (an owner's shutdown command, or a signal); the sandbox closes"
        else:
            said = f"{name} has exited ({status.state.value}: {status.last_error or 'no error reported'}); the sandbox closes"
        return Note(said, style="bold", ends_session=True)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + '…'}”"
