"""``followups.json`` (and ``followups.archive.json``): a three-way union of items by ``id``.

The file is ``{"pending": [...], "completed": [...]}``; items carry an
``id``. For each id, against the common ancestor (``base``):

- completed on either side: completed (this machine's completed copy if both are);
- on both sides, not completed: whichever side changed it (this machine's if both did,
  with the other side's extra keys added);
- on one side only: kept if it is new or was changed there; dropped if the other side
  removed it and this side left it as it was (expired, capped or archived over there);
- items without an id are kept once each (by equal content);
- the same id on both sides for different follow-ups (another person or event, case and
  spacing ignored; not an edit of the base's item): both are kept, the other side's one
  under a fresh id ``<id>-2`` (``-3``, ...), as the follow-up parser renames duplicates.

Other top-level keys: this machine's value, the other's when only it has the key. When one
side is not JSON at all, the other side wins and the corrupt text is kept aside by the
caller; when neither is, the caller falls back to keeping both versions as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["FollowupsMerge", "merge_followups", "parse"]

_DONE_LISTS = frozenset({"completed"})
_DONE_STATUS = frozenset({"completed", "done"})


@dataclass(frozen=True)
class FollowupsMerge:
    text: str | None  # None: neither side is JSON (keep both as text)
    corrupt_side: str | None  # "local" or "other": that side's text must be kept aside


def parse(text: str) -> Any | None:
    """The JSON value, or None when ``text`` is not JSON (an empty file is an empty document)."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return None


def _key(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), (str, int)):
        return f"id:{item['id']}"
    return "json:" + json.dumps(item, sort_keys=True, ensure_ascii=False)


def _lists(doc: Any) -> dict[str, list[Any]]:
    """``{list name: items}``: the top-level lists of a document (a bare list is ``pending``)."""
    if isinstance(doc, list):
        return {"pending": doc}
    if isinstance(doc, dict):
        return {k: v for k, v in doc.items() if isinstance(v, list)}
    return {}


def _index(doc: Any) -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for name, items in _lists(doc).items():
        for item in items:
            found.setdefault(_key(item), (name, item))
    return found


def _identity(item: Any) -> tuple[str, str] | None:
    """What makes two items the same follow-up: the person and the event, normalised."""
    if not isinstance(item, dict):
        return None

    def norm(value: Any) -> str:
        return " ".join(str(value or "").split()).casefold()

    return (norm(item.get("user_id")), norm(item.get("event")))


def _split_id_clashes(
    local: dict[str, tuple[str, Any]], base: dict[str, tuple[str, Any]], other: dict[str, tuple[str, Any]]
) -> None:
    """Give the other side's item a fresh id where both sides used one id for different follow-ups."""
    used = {str(item[1]["id"]) for idx in (local, base, other) for item in idx.values() if isinstance(item[1], dict) and "id" in item[1]}
    for key in [k for k in other if k.startswith("id:") and k in local]:
        name, theirs = other[key]
        mine, was = _identity(local[key][1]), base.get(key)
        if mine is None or _identity(theirs) is None or mine == _identity(theirs):
            continue
        if was is not None and _identity(was[1]) in (mine, _identity(theirs)):
            continue  # one side edited the base's item: an ordinary change
        n = 2
        while f"{theirs['id']}-{n}" in used:
            n += 1
        fresh = f"{theirs['id']}-{n}"
        used.add(fresh)
        del other[key]
        other[f"id:{fresh}"] = (name, {**theirs, "id": fresh})


def _done(entry: tuple[str, Any]) -> bool:
    name, item = entry
    return name in _DONE_LISTS or (isinstance(item, dict) and item.get("status") in _DONE_STATUS)


def _resolve(
    key: str, local: dict[str, tuple[str, Any]], base: dict[str, tuple[str, Any]], other: dict[str, tuple[str, Any]]
) -> tuple[str, Any] | None:
    here, there, was = local.get(key), other.get(key), base.get(key)
    if here is not None and there is not None:
        if _done(here) or _done(there):
            return here if _done(here) else there
        if here == was:
            return there
        if there != was and isinstance(here[1], dict) and isinstance(there[1], dict):
            return here[0], {**there[1], **here[1]}
        return here
    only = here if here is not None else there
    if was is not None and only == was:  # removed on the other side, untouched here
        return None
    return only


def merge_followups(local_text: str, base_text: str, other_text: str) -> FollowupsMerge:
    local, other = parse(local_text), parse(other_text)
    if local is None and other is None:
        return FollowupsMerge(None, None)
    if local is None:
        return FollowupsMerge(other_text, "local")
    if other is None:
        return FollowupsMerge(local_text, "other")
    base = parse(base_text) or {}
    idx_local, idx_base, idx_other = _index(local), _index(base), _index(other)
    _split_id_clashes(idx_local, idx_base, idx_other)
    final: dict[str, tuple[str, Any]] = {}
    for key in [*idx_local, *(k for k in idx_other if k not in idx_local)]:
        resolved = _resolve(key, idx_local, idx_base, idx_other)
        if resolved is not None:
            final[key] = resolved
    names = [*_lists(local), *(n for n in _lists(other) if n not in _lists(local))]
    for name, _ in final.values():
        if name not in names:
            names.append(name)
    merged_lists: dict[str, list[Any]] = {name: [] for name in names}
    placed: set[str] = set()
    for doc in (local, other):
        for name, items in _lists(doc).items():
            for item in items:
                key = _key(item)
                if key in final and key not in placed and final[key][0] == name:
                    merged_lists[name].append(final[key][1])
                    placed.add(key)
    for key, (name, item) in final.items():  # moved to a list neither side had it in
        if key not in placed:
            merged_lists[name].append(item)
    if isinstance(local, list) and isinstance(other, list):
        result: Any = merged_lists.get("pending", [])
    else:
        mine = local if isinstance(local, dict) else {}
        theirs = other if isinstance(other, dict) else {}
        result = {**mine, **{k: v for k, v in theirs.items() if k not in mine}, **merged_lists}
    return FollowupsMerge(json.dumps(result, indent=2, ensure_ascii=False) + "\n", None)
