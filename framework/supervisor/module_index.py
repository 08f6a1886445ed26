"""Where the zygote's preloaded modules live, and their bytecode, kept for the next zygote.

Preloading discord.py, the anthropic SDK and the framework imports ~4,000 modules. For
each, the import system searches its package's folder (a few ``stat`` calls and the
path finder's Python code), then opens, reads and checks its bytecode cache: together
about a fifth of a cold preload (0.25 s of 1.5 s measured). So a zygote whose preload
searched has a helper process record, in ``run/zygote.modules``, every module's file and
bytecode; the next zygote's finder answers from that record. Its modules are built by
the standard machinery from the same code, so they are what a search would have given.

A record is used only while it still describes the disk:

* where modules are: it holds the interpreter, ``sys.path`` and the modification time of
  every folder the search looks in (each folder a recorded module came from and each
  ``sys.path`` entry, where a new top-level module would shadow one). Adding, removing or
  renaming a file changes its folder's time: an upgrade, a new module. Folders changed in
  the two seconds before the preload began are not recorded (their next change could
  land on the same time stamp); the next zygote records them.
* what a module holds: each module's code is used only while its source has the size and
  modification time (to the nanosecond) it had when recorded, and names that file;
  otherwise the module is loaded from its own bytecode cache as usual.

The record is in marshal's format, like the bytecode caches it copies, and trusted as
they are: it lives in the project's ``run/``, never synced, and is used only when this
user wrote it and nobody else may change it (mode 0600). ``python -m
framework.supervisor.module_index INDEX`` is the helper that writes it.
"""

from __future__ import annotations

import marshal
import mmap
import os
import sys
import time
from importlib.machinery import ExtensionFileLoader, ModuleSpec, SourceFileLoader, SourcelessFileLoader
from importlib.util import MAGIC_NUMBER, cache_from_source, spec_from_file_location
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, Sequence

from ..fsutil import atomic_write_bytes

__all__ = ["ModuleIndexFinder", "collect", "install", "load", "record", "record_in_background", "uninstall"]

_FORMAT = 2
# The standard file loaders, named in the record by kind.
_LOADERS: dict[str, type] = {"source": SourceFileLoader, "extension": ExtensionFileLoader,
                             "bytecode": SourcelessFileLoader}
_KINDS = {loader: kind for kind, loader in _LOADERS.items()}
# Younger than this, a folder's time stamp may not yet tell its next change apart.
_SETTLED_SECONDS = 2.0
_LENGTH_BYTES = 8  # the file: the header's length, the header (marshal), the code area


class ModuleIndexFinder:
    """A meta path finder that answers, for the recorded names only, the recorded file."""

    def __init__(self, modules: dict[str, list[Any]], image: mmap.mmap, code_start: int) -> None:
        self._modules = modules
        self._image: mmap.mmap | None = image  # None once closed
        self._code_start = code_start
        self.answered = 0  # how many imports it resolved
        self.from_record = 0  # how many of those took their code from the record

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        entry = self._modules.get(name)
        if entry is None or target is not None:  # not ours, or a reload: search as usual
            return None
        try:
            kind, origin, search_locations, code = entry
            if kind == "source" and code is not None:
                loader: Any = _RecordedSourceLoader(name, origin, self, tuple(code))
            else:
                loader = _LOADERS[kind](name, origin)
            spec = spec_from_file_location(name, origin, loader=loader, submodule_search_locations=search_locations)
        except (ValueError, TypeError, KeyError):  # a damaged record: search as usual
            return None
        self.answered += 1
        return spec

    def recorded_code(self, path: str, code: tuple[int, int, int, int]) -> CodeType | None:
        """The recorded code of the source at ``path``, while that file is the recorded one."""
        if self._image is None:
            return None
        mtime_ns, size, offset, length = code
        try:
            stat = os.stat(path)
        except OSError:
            return None
        if (stat.st_mtime_ns, stat.st_size) != (mtime_ns, size):
            return None
        start = self._code_start + offset
        try:
            loaded = marshal.loads(self._image[start:start + length])
        except (ValueError, EOFError, TypeError):
            return None
        if not isinstance(loaded, CodeType) or loaded.co_filename != path:
            return None
        self.from_record += 1
        return loaded

    def close(self) -> None:
        """Forget the record and unmap its code: what is imported after searches as usual."""
        self._modules = {}
        if self._image is not None:
            self._image.close()
            self._image = None


class _RecordedSourceLoader(SourceFileLoader):
    """The standard source loader, with the module's code from the record when it is current."""

    def __init__(self, fullname: str, path: str, finder: ModuleIndexFinder, code: tuple[int, int, int, int]) -> None:
        super().__init__(fullname, path)
        self._finder = finder
        self._code = code

    def get_code(self, fullname: str) -> CodeType | None:
        recorded = self._finder.recorded_code(self.path, self._code)
        return recorded if recorded is not None else super().get_code(fullname)


# -- using a record ----------------------------------------------------------------------

def load(index: Path) -> ModuleIndexFinder | None:
    """The record at ``index`` as a finder; None when it is missing, unreadable or stale."""
    try:
        with open(index, "rb") as fh:
            owner = os.fstat(fh.fileno())
            # Code we will run: only from a file this user wrote and nobody else may change.
            if owner.st_uid != os.getuid() or owner.st_mode & 0o022:
                return None
            image = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
    except (OSError, ValueError):  # missing, or empty
        return None
    try:
        length = int.from_bytes(image[:_LENGTH_BYTES], "little")
        header = marshal.loads(image[_LENGTH_BYTES:_LENGTH_BYTES + length])
        if header["format"] != _FORMAT or header["python"] != sys.version or header["path"] != _search_path():
            raise ValueError("another interpreter or search path")
        if any(_mtime(folder) != when for folder, when in header["folders"].items()):
            raise ValueError("a folder changed")
        return ModuleIndexFinder(header["modules"], image, _LENGTH_BYTES + length)
    except (ValueError, EOFError, KeyError, TypeError, AttributeError):
        image.close()
        return None


def install(index: Path) -> ModuleIndexFinder | None:
    """Put the record at ``index`` first on ``sys.meta_path``; None when there is none to use."""
    finder = load(index)
    if finder is not None:
        sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder: ModuleIndexFinder | None) -> None:
    """Take ``finder`` off ``sys.meta_path`` and close it: later imports search as usual."""
    if finder is not None:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        finder.close()


# -- making one --------------------------------------------------------------------------

def collect(began: float) -> bytes | None:
    """Where this process's modules live, as the helper's input; None when a folder
    changed within two seconds of ``began`` (when the imports started): not recordable."""
    modules: dict[str, list[Any]] = {}
    for name, module in list(sys.modules.items()):
        entry = _entry(name, module)
        if entry is not None:
            modules[name] = entry
    search_path = _search_path()
    folders: dict[str, int | None] = {}
    for folder in {os.path.dirname(entry[1]) for entry in modules.values()} | set(search_path):
        folders[folder] = _mtime(folder)
    newest = max((when for when in folders.values() if when is not None), default=0)
    if newest > (began - _SETTLED_SECONDS) * 1e9:
        return None
    return marshal.dumps({"format": _FORMAT, "python": sys.version, "path": search_path, "folders": folders,
                          "modules": modules})


def record_in_background(index: Path, collected: bytes) -> int:
    """Start the helper that writes the record at ``index`` from ``collected``; its pid.

    A fresh interpreter, not a fork: reading ~4,000 bytecode caches in a fork of the
    zygote would copy the pages of the zygote's module objects it touches. It reads what
    :func:`collect` gathered from its standard input (an anonymous file)."""
    fd = os.memfd_create("zygote-modules")
    try:
        os.write(fd, collected)
        os.lseek(fd, 0, os.SEEK_SET)
        return os.posix_spawn(
            sys.executable, [sys.executable, "-m", __name__, str(index)], os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0)],
        )
    finally:
        os.close(fd)


def record(index: Path, collected: bytes) -> int:
    """Write the record: ``collected`` plus each source module's code; how many modules.

    The code is the module's bytecode cache when that matches its source (as the import
    system checks it), else the source compiled as the import system compiles it."""
    header = marshal.loads(collected)
    area: list[bytes] = []
    offset = 0
    for name, entry in header["modules"].items():
        kind, origin, search, _ = entry
        code = _code_of(name, origin) if kind == "source" else None
        if code is not None:
            stat, data = code
            entry[3] = [stat.st_mtime_ns, stat.st_size, offset, len(data)]
            area.append(data)
            offset += len(data)
    head = marshal.dumps(header)
    # Not fsynced: losing the record to a crash only costs the next zygote its search.
    atomic_write_bytes(index, [len(head).to_bytes(_LENGTH_BYTES, "little"), head, *area], 0o600, sync=False)
    return len(header["modules"])


def _code_of(name: str, origin: str) -> tuple[os.stat_result, bytes] | None:
    try:
        stat = os.stat(origin)
        data = _cached_code(origin, stat)
        if data is None:
            loader = SourceFileLoader(name, origin)
            data = marshal.dumps(loader.source_to_code(loader.get_data(origin), origin))
        now = os.stat(origin)
        if (now.st_mtime_ns, now.st_size) != (stat.st_mtime_ns, stat.st_size):  # changed while read
            return None
    except (OSError, SyntaxError, ValueError):
        return None
    return stat, data


def _cached_code(origin: str, stat: os.stat_result) -> bytes | None:
    """The code in ``origin``'s bytecode cache, when the import system would use it."""
    try:
        with open(cache_from_source(origin), "rb") as fh:
            data = fh.read()
    except (OSError, NotImplementedError, ValueError):
        return None
    # A timestamp cache: magic, flags 0, the source's mtime (seconds) and size, mod 2**32.
    if (len(data) < 16 or data[:4] != MAGIC_NUMBER or int.from_bytes(data[4:8], "little") != 0
            or int.from_bytes(data[8:12], "little") != int(stat.st_mtime) & 0xFFFFFFFF
            or int.from_bytes(data[12:16], "little") != stat.st_size & 0xFFFFFFFF):
        return None
    return data[16:]


def _entry(name: str, module: ModuleType) -> list[Any] | None:
    """``[loader kind, file, package folders or None, None]`` for a module a file loader
    loaded (the last item is filled with where its code is when recorded)."""
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
    return [kind, spec.origin, list(search) if search is not None else None, None]


def _search_path() -> list[str]:
    return [os.path.abspath(entry or os.curdir) for entry in sys.path if isinstance(entry, str)]


def _mtime(folder: str) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def _main(argv: list[str]) -> int:
    """The helper: the record at ``argv[0]`` from what the zygote collected, on stdin."""
    os.nice(10)  # bots are starting meanwhile: they come first
    started = time.monotonic()
    try:
        count = record(Path(argv[0]), sys.stdin.buffer.read())
    except Exception as exc:  # noqa: BLE001  (one line in the zygote's log; the next zygote searches)
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} module record[{os.getpid()}] not written: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} module record[{os.getpid()}] {count} modules recorded in "
          f"{Path(argv[0]).name} ({time.monotonic() - started:.2f} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
