"""Which Claude model ids this framework knows, and which of them are deprecated.

The table is ours, not the anthropic SDK's private deprecation table: that table changes
between SDK releases (an id can drop out of it while the model is still deprecated), so a
warning read from it would come and go with whatever version pip installed. ``validate``
warns about a deprecated id (end of life and a replacement) and about an id it does not
know (naming the closest one it does); ``validate --online`` can also ask the Models API,
which knows models released after this table was written (``framework.llm.models_api``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "SUGGESTED_MODEL",
    "ModelEntry",
    "closest_known",
    "deprecation_warning",
    "known_ids",
    "lookup",
    "model_warning",
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
