"""Where the zygote's preloaded modules live, remembered so the next zygote skips the search.

Preloading discord.py, the anthropic SDK and the framework imports ~4,000 modules. For
each, the import system searches its package's folder: a few ``stat`` calls and the path
finder's Python code per module, about a tenth of a cold preload (0.15 s of 1.6 s
measured). After preloading, the zygote records every module's file; the next zygote
resolves those names from the record and loads them with the standard loaders, so each
module, its bytecode cache and its attributes are what the search would have given.

A record is used only while it still describes the disk. It keeps the interpreter,
``sys.path`` and the modification time of every folder the search looks in: each folder
a recorded module came from and each ``sys.path`` entry (where a new top-level module
would shadow one). Adding, removing or renaming a file changes its folder's time (an
upgrade, a new module); an edit in place needs nothing, as the loader still checks each
bytecode cache against its source. A folder changed in the last two seconds is not
recorded (its next change could land on the same time stamp); the next zygote records it.

The record is in marshal's format, like the bytecode caches beside the modules it lists,
and as trusted as they are: it lives in the project's ``run/``, never synced.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
from importlib.machinery import ExtensionFileLoader, ModuleSpec, SourceFileLoader, SourcelessFileLoader
from importlib.util import spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from ..fsutil import atomic_write_bytes

__all__ = ["ModuleIndexFinder", "install", "load", "record", "uninstall"]

_FORMAT = 1
# Recorded by loader, named in the file: the standard file loaders, each rebuilt as is.
_LOADERS: dict[str, type] = {"source": SourceFileLoader, "extension": ExtensionFileLoader,
                             "bytecode": SourcelessFileLoader}
_KINDS = {loader: kind for kind, loader in _LOADERS.items()}
# Younger than this, a folder's time stamp may not yet tell its next change apart.
_SETTLED_SECONDS = 2.0


class ModuleIndexFinder:
    """A meta path finder that answers, for the recorded names only, the recorded file."""

    def __init__(self, modules: dict[str, list[Any]]) -> None:
        self._modules = modules
        self.answered = 0  # how many imports it resolved

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        entry = self._modules.get(name)
        if entry is None or target is not None:  # not ours, or a reload: search as usual
            return None
        try:
            kind, origin, search_locations = entry
            spec = spec_from_file_location(name, origin, loader=_LOADERS[kind](name, origin),
                                           submodule_search_locations=search_locations)
        except (ValueError, TypeError, KeyError):  # a damaged record: search as usual
            return None
        self.answered += 1
        return spec


def load(index: Path) -> ModuleIndexFinder | None:
    """The record at ``index`` as a finder; None when it is missing, unreadable or stale."""
    try:
        data = marshal.loads(index.read_bytes())
        if data["format"] != _FORMAT or data["python"] != sys.version or data["path"] != _search_path():
            return None
        if any(_mtime(folder) != when for folder, when in data["folders"].items()):
            return None
        return ModuleIndexFinder(data["modules"])
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return None


def install(index: Path) -> ModuleIndexFinder | None:
    """Put the record at ``index`` first on ``sys.meta_path``; None when there is none to use."""
    finder = load(index)
    if finder is not None:
        sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder: ModuleIndexFinder | None) -> None:
    """Take ``finder`` off ``sys.meta_path``: later imports search as usual."""
    if finder is not None and finder in sys.meta_path:
        sys.meta_path.remove(finder)


def record(index: Path, clock: Callable[[], float] = time.time) -> bool:
    """Record where every imported module came from at ``index``; False when a folder is
    too fresh to trust (or the record cannot be written), and nothing is written."""
    modules: dict[str, list[Any]] = {}
    for name, module in list(sys.modules.items()):
        entry = _entry(name, module)
        if entry is not None:
            modules[name] = entry
    search_path = _search_path()
    folders: dict[str, int | None] = {}
    for folder in {os.path.dirname(origin) for _, origin, _ in modules.values()} | set(search_path):
        folders[folder] = _mtime(folder)
    newest = max((when for when in folders.values() if when is not None), default=0)
    if newest > (clock() - _SETTLED_SECONDS) * 1e9:
        return False
    data = {"format": _FORMAT, "python": sys.version, "path": search_path, "folders": folders, "modules": modules}
    try:
        # Not fsynced: losing it to a crash only costs the next zygote its search.
        atomic_write_bytes(index, marshal.dumps(data), sync=False)
    except OSError:
        return False
    return True


def _entry(name: str, module: ModuleType) -> list[Any] | None:
    """``[loader kind, file, package folders or None]`` for a module a file loader loaded."""
    spec = getattr(module, "__spec__", None)
    # Only what a standard loader loaded under this very name: not a module that registers
    # itself under another name, not one a custom finder made (an editable install's
    # package is fine: it is a plain file loaded by the standard loader).
    if not isinstance(spec, ModuleSpec) or spec.name != name or not spec.has_location:
        return None
    kind = _KINDS.get(type(spec.loader))
    if kind is None or not isinstance(spec.origin, str) or not os.path.isabs(spec.origin):
        return None
    search = spec.submodule_search_locations
    return [kind, spec.origin, list(search) if search is not None else None]


def _search_path() -> list[str]:
    return [os.path.abspath(entry or os.curdir) for entry in sys.path if isinstance(entry, str)]


def _mtime(folder: str) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None
