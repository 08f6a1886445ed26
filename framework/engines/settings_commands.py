"""``/settings``: the person's model choice and a view of the model chain, as plain text.

The Discord layer only parses the command and shows the answer; everything decided is
here, testable without Discord:

* ``model <name>``: ``claude-sonnet-4-6``, ``groq/llama-3.1-8b-instant``, ``openai/gpt-4o``
  (an OpenAI-compatible provider by its configured name). The name must be one the
  provider is known to serve: configured, in the framework's Claude catalogue, or in the
  provider's own model list; an unknown one is refused with the nearest names. ``default``
  goes back to the config's model. The choice is persisted for the bot (it survives a
  restart) and applied to the router at once (the next request uses it).
* ``status``: the model answering first and every provider's keys, healthy, cooling or
  locked, with their use; a key appears by its alias, never its value.
* ``models [provider]``: what each provider offers, from its model-list API where it has
  one, else the configured models (said so).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Protocol

from ..clock import Clock
from ..domain.settings import ProviderView

__all__ = [
    "SettingsCommands", "ModelAdminPort", "SettingsStorePort", "StampedSettings", "MODEL_SETTING", "restore_model",
]

_log = logging.getLogger(__name__)

MODEL_SETTING = "model"
_RESET = {"default", "reset", "config"}
_MAX_LISTED = 40  # a Discord message holds 2,000 characters


class SettingsStorePort(Protocol):
    """Per-bot settings that survive a restart (a JSON file, or the assistant's SQLite table)."""

    async def get_setting(self, key: str) -> str | None: ...
    async def set_setting(self, key: str, value: str | None) -> None: ...


class _StampedStore(Protocol):
    async def get_setting(self, key: str, default: str | None = None) -> str | None: ...
    async def set_setting(self, key: str, value: str, now: datetime) -> None: ...


class StampedSettings:
    """The settings port over a table whose rows carry their time (the assistant's
    ``assistant_settings``: synced between machines, the newer value winning).
    Clearing a setting stores an empty value, so the clearing is the newer row too."""

    def __init__(self, store: _StampedStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def get_setting(self, key: str) -> str | None:
        return await self._store.get_setting(key) or None

    async def set_setting(self, key: str, value: str | None) -> None:
        await self._store.set_setting(key, value or "", self._clock.now())


class ModelAdminPort(Protocol):
    """The model chain, read and steered (``framework.llm.model_admin.ModelAdmin``)."""

    def providers(self) -> list[str]: ...
    def active(self) -> set[str]: ...
    def split(self, name: str) -> tuple[str, str]: ...
    def label(self, provider: str, model: str) -> str: ...
    def current(self) -> tuple[str, str]: ...
    def known_offline(self, provider: str, model: str) -> bool: ...
    def candidates(self, provider: str) -> list[str]: ...
    def apply(self, provider: str | None, model: str | None) -> None: ...
    def pools(self) -> list[ProviderView]: ...
    def list_models(self, provider: str) -> Awaitable[tuple[list[str], bool]]: ...


class SettingsCommands:
    """The three subcommands; each returns the text to show the person."""

    def __init__(self, admin: ModelAdminPort, store: SettingsStorePort) -> None:
        self._admin = admin
        self._store = store

    async def model(self, name: str) -> str:
        name = name.strip()
        if not name:
            return "Name a model, e.g. `claude-sonnet-4-6` or `groq/llama-3.1-8b-instant`."
        if name.lower() in _RESET:
            self._admin.apply(None, None)
            await self._store.set_setting(MODEL_SETTING, None)
            return f"Back to the configured model: `{self._admin.label(*self._admin.current())}`."
        provider, model = self._admin.split(name)
        if provider not in self._admin.providers():
            return f"Unknown provider `{provider}`; configured: {', '.join(self._admin.providers())}."
        if provider not in self._admin.active():
            return f"`{provider}` has no API key set, so it cannot answer; set its key in `.env` first."
        problem = await self._unknown(provider, model)
        if problem is not None:
            return problem
        try:
            self._admin.apply(provider, model)
        except LookupError as exc:
            return f"Cannot use `{name}`: {exc}."
        label = self._admin.label(provider, model)
        await self._store.set_setting(MODEL_SETTING, label)
        _log.info("model set to %s by /settings model", label)
        return f"Model set to `{label}`: the next reply uses it, and it stays after a restart."

    async def _unknown(self, provider: str, model: str) -> str | None:
        if self._admin.known_offline(provider, model):
            return None
        listed, online = await self._admin.list_models(provider)
        if online and model in listed:
            return None
        pool = list(dict.fromkeys(self._admin.candidates(provider) + listed))
        close = difflib.get_close_matches(model, pool, n=3, cutoff=0.4)
        where = "the provider's model list" if online else "the configured and known models"
        hint = f" Did you mean {', '.join(f'`{self._admin.label(provider, c)}`' for c in close)}?" if close else ""
        return f"Unknown model `{self._admin.label(provider, model)}` (not in {where}).{hint}"

    async def status(self) -> str:
        lines = [f"**Model:** `{self._admin.label(*self._admin.current())}`"]
        for view in self._admin.pools():
            head = f"**{view.name}**" + ("" if view.active else " (inactive: no key)")
            models = ", ".join(view.models)
            if not view.active:
                lines.append(f"{head}: {models}")
                continue
            if not view.keys:
                lines.append(f"{head}: {models}; no key needed")
                continue
            healthy = sum(1 for k in view.keys if k.state == "healthy")
            lines.append(f"{head}: {models}; {healthy}/{len(view.keys)} keys healthy")
            for key in view.keys:
                rest = f" ({key.remaining_seconds:.0f} s left)" if key.state != "healthy" else ""
                lines.append(f"- `{key.alias}`: {key.state}{rest}, {key.usage}")
        return "\n".join(lines)

    async def models(self, provider: str | None = None) -> str:
        providers = self._admin.providers()
        if provider:
            provider = provider.strip().lower()
            if provider == "claude":
                provider = "anthropic"
            if provider not in providers:
                return f"Unknown provider `{provider}`; configured: {', '.join(providers)}."
            providers = [provider]
        current = self._admin.current()
        lines = []
        for name in providers:
            listed, online = await self._admin.list_models(name)
            source = "from its API" if online else "configured (model list unavailable)"
            if name not in self._admin.active():
                source += "; inactive: no key"
            lines.append(f"**{name}** ({source}):")
            shown = listed[:_MAX_LISTED]
            for model in shown:
                mark = " (current)" if (name, model) == current else ""
                lines.append(f"- `{self._admin.label(name, model)}`{mark}")
            if len(listed) > len(shown):
                lines.append(f"- … and {len(listed) - len(shown)} more")
        return "\n".join(lines)


async def restore_model(admin: ModelAdminPort, store: SettingsStorePort) -> str | None:
    """Apply the persisted model choice at start-up; returns it, or None when there is none
    or it can no longer be used (its provider lost its key): then the config's model answers."""
    saved = await store.get_setting(MODEL_SETTING)
    if not saved:
        return None
    provider, model = admin.split(saved)
    try:
        admin.apply(provider, model)
    except LookupError as exc:
        _log.warning("saved model %s not applied (%s): the configured model answers", saved, exc)
        return None
    _log.info("model %s restored from the bot's settings", saved)
    return saved
