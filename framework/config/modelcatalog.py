"""Which Claude model ids this framework knows, and which of them are deprecated.

The table is ours, not the anthropic SDK's private deprecation table: that table changes
between SDK releases (an id can drop out of it while the model is still deprecated), so a
warning read from it would come and go with whatever version pip installed. ``validate``
warns about a deprecated id (end of life and a replacement) and about an id it does not
know (naming the closest one it does); ``validate --online`` can also ask the Models API,
which knows models released after this table was written.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

__all__ = [
    "SUGGESTED_MODEL",
    "ModelEntry",
    "closest_known",
    "deprecation_warning",
    "known_ids",
    "lookup",
    "model_warning",
    "online_warnings",
]

SUGGESTED_MODEL = "claude-sonnet-4-6"

_LEGACY = "an older generation, retired or scheduled for retirement"


@dataclass(frozen=True)
class ModelEntry:
    """One model family: its undated id, its dated snapshot ids, and its lifecycle."""

    family: str
    snapshots: tuple[str, ...] = ()
    end_of_life: str | None = None
    """Set for a deprecated model: the day requests naming it stop working."""
    note: str | None = None
    """Set for a model that is outdated without a known end-of-life day."""


CATALOGUE: tuple[ModelEntry, ...] = (
    # Claude 3.x: kept so an old config gets a clear "move on" rather than "unknown id".
    ModelEntry("claude-3-haiku", ("claude-3-haiku-20240307",), note=_LEGACY),
    ModelEntry("claude-3-opus", ("claude-3-opus-20240229", "claude-3-opus-latest"), note=_LEGACY),
    ModelEntry("claude-3-5-haiku", ("claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"), note=_LEGACY),
    ModelEntry(
        "claude-3-5-sonnet",
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest"),
        note=_LEGACY,
    ),
    ModelEntry("claude-3-7-sonnet", ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest"), note=_LEGACY),
    # Claude 4.x
    ModelEntry("claude-opus-4-0", ("claude-opus-4-20250514",), end_of_life="June 15th, 2026"),
    ModelEntry("claude-sonnet-4-0", ("claude-sonnet-4-20250514",), end_of_life="June 15th, 2026"),
    ModelEntry("claude-opus-4-1", ("claude-opus-4-1-20250805",)),
    ModelEntry("claude-sonnet-4-5", ("claude-sonnet-4-5-20250929",), end_of_life="November 30th, 2026"),
    ModelEntry("claude-haiku-4-5", ("claude-haiku-4-5-20251001",)),
    ModelEntry("claude-opus-4-5", ("claude-opus-4-5-20251101",), end_of_life="January 22nd, 2027"),
    ModelEntry("claude-sonnet-4-6"),
    ModelEntry("claude-opus-4-6"),
    ModelEntry("claude-opus-4-7"),
    ModelEntry("claude-opus-4-8"),
    ModelEntry("claude-mythos-preview", end_of_life="June 30th, 2026"),
    # Claude 5.x
    ModelEntry("claude-sonnet-5"),
    ModelEntry("claude-opus-5"),
    ModelEntry("claude-fable-5"),
    ModelEntry("claude-mythos-5"),
    ModelEntry("claude-fable-5-1"),
    ModelEntry("claude-mythos-5-1"),
    ModelEntry("claude-fable-5-2"),
    ModelEntry("claude-mythos-5-2"),
    ModelEntry("claude-haiku-5-5"),
    ModelEntry("claude-sonnet-5-5"),
    ModelEntry("claude-opus-5-5"),
)

_BY_ID: dict[str, ModelEntry] = {}
for _entry in CATALOGUE:
    _BY_ID[_entry.family] = _entry
    for _snapshot in _entry.snapshots:
        _BY_ID[_snapshot] = _entry

_DATED = re.compile(r"^(?P<base>claude-[a-z0-9-]+?)-(?P<date>\d{8})$")


def lookup(model: str) -> ModelEntry | None:
    """The family ``model`` belongs to: a listed id, or ``<family>-YYYYMMDD`` of a known family."""
    entry = _BY_ID.get(model)
    if entry is not None:
        return entry
    match = _DATED.match(model)
    if match is None:
        return None
    try:
        datetime.strptime(match["date"], "%Y%m%d")
    except ValueError:
        return None
    base = match["base"]
    # The 4.0 snapshots drop the minor version ("claude-opus-4-20250514" is claude-opus-4-0).
    return _BY_ID.get(base) or _BY_ID.get(f"{base}-0")


def known_ids() -> list[str]:
    return list(_BY_ID)


def closest_known(model: str) -> str:
    """The known id nearest to ``model`` in spelling, or the suggested model when none is near."""
    # Compare in the ids' own spelling so "Claude_Sonnet_4.6" still finds claude-sonnet-4-6.
    probe = re.sub(r"[._\s]+", "-", model.strip().lower())
    close = difflib.get_close_matches(probe, known_ids(), n=1, cutoff=0.6)
    return close[0] if close else SUGGESTED_MODEL


def deprecation_warning(model: str) -> str | None:
    """A one-line warning when ``model`` is deprecated or outdated, else None."""
    entry = lookup(model)
    if entry is None:
        return None
    if entry.end_of_life is not None:
        return f"model {model!r} is deprecated (end of life {entry.end_of_life}); use {SUGGESTED_MODEL!r}"
    if entry.note is not None:
        return f"model {model!r} is {entry.note}; use {SUGGESTED_MODEL!r}"
    return None


def model_warning(model: str) -> str | None:
    """A one-line warning when ``model`` is deprecated or not a known Claude id, else None."""
    if lookup(model) is None:
        return (
            f"unknown Claude model id {model!r}; did you mean {closest_known(model)!r}? "
            "(a model newer than this framework is fine: `validate --online` asks the Models API)"
        )
    return deprecation_warning(model)


def _api_key(environ: Mapping[str, str]) -> str | None:
    if (environ.get("ANTHROPIC_API_KEY") or "").strip():
        return environ["ANTHROPIC_API_KEY"].strip()
    pooled = sorted(
        (int(m[1]), value.strip())
        for name, value in environ.items()
        if (m := re.fullmatch(r"ANTHROPIC_API_KEY_(\d+)", name)) and (value or "").strip()
    )
    return pooled[0][1] if pooled else None


def online_warnings(models: Iterable[str], environ: Mapping[str, str], *, timeout: float = 10.0) -> list[str]:
    """Ask the Models API about each id; one warning line per problem, never an exception.

    Honours ``ANTHROPIC_BASE_URL`` from ``environ``. Anything that keeps the question from
    being answered (no network, a refused key) is itself a warning: the offline checks stand.
    """
    key = _api_key(environ)
    if key is None:
        return ["--online skipped: ANTHROPIC_API_KEY is not set"]
    try:
        import anthropic  # the SDK takes about a second to import: only when asked

        base_url = (environ.get("ANTHROPIC_BASE_URL") or "").strip() or None
        client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - a broken SDK setup must not crash validate
        return [f"--online skipped: cannot create the Anthropic client ({type(exc).__name__})"]
    warnings: list[str] = []
    try:
        for model in dict.fromkeys(models):
            warning = _ask(client, model)
            if warning:
                warnings.append(warning)
    finally:
        client.close()
    return warnings


def _ask(client: Any, model: str) -> str | None:
    import anthropic

    try:
        info = client.models.retrieve(model)
    except anthropic.NotFoundError:
        return f"the Models API does not know model {model!r}: requests naming it will fail"
    except anthropic.APIStatusError as exc:
        # Never the body: it may echo request details; the status code says enough.
        return f"could not check model {model!r} online: the Models API answered HTTP {exc.status_code}"
    except Exception as exc:  # noqa: BLE001 - offline, DNS, TLS, timeouts: a warning, not a crash
        return f"could not check model {model!r} online ({type(exc).__name__}); checked offline only"
    lifecycle = getattr(info, "lifecycle", "active")
    retires = getattr(info, "retires_at", None)
    when = f", retires {retires:%Y-%m-%d}" if retires is not None else ""
    if lifecycle == "retired":
        return f"the Models API says model {model!r} is retired: requests naming it fail; use {SUGGESTED_MODEL!r}"
    if lifecycle == "deprecated":
        return f"the Models API says model {model!r} is deprecated{when}; use {SUGGESTED_MODEL!r}"
    return None
