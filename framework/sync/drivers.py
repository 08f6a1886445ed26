"""The git merge drivers sync installs: ``python -m framework.sync.drivers KIND %O %A %B %P``.

=============  ===================================  ==========================================
KIND           files (``.gitattributes``)           result
=============  ===================================  ==========================================
``sqlite``     ``persistence/**/snapshot.db``       union of the rows (:func:`merge_database`)
``followups``  ``memories/**/followups*.json``      union by id (:mod:`.followups`)
``text``       ``memories/**``                      git's text merge, both versions kept on a
                                                    conflict (:mod:`.textmerge`)
``keep-local`` ``persistence/**/*.json``            this machine's version
=============  ===================================  ==========================================

git hands over three temporary files (ancestor ``%O``, current ``%A``, other ``%B``) and
the path ``%P``; the result goes into ``%A`` and exit 0 means resolved. "This machine" is
``%A`` in a merge but ``%B`` in a rebase (there ``%A`` is the upstream being rebased onto):
sync says which by ``BOT_MANAGER_SYNC_REBASE=1``; otherwise the git directory tells.

Each file resolved by a fallback (both versions kept, a corrupt side put aside) is reported
as one JSON line appended to the file named by ``BOT_MANAGER_SYNC_REPORT``, for sync's summary.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["main", "REPORT_ENV", "REBASE_ENV"]

REPORT_ENV = "BOT_MANAGER_SYNC_REPORT"
REBASE_ENV = "BOT_MANAGER_SYNC_REBASE"
_KINDS = ("sqlite", "followups", "text", "keep-local")


def _in_rebase() -> bool:
    if os.environ.get(REBASE_ENV) is not None:
        return os.environ[REBASE_ENV] == "1"
    for name in ("rebase-merge", "rebase-apply"):
        found = subprocess.run(["git", "rev-parse", "--git-path", name], capture_output=True, text=True)
        if found.returncode == 0 and Path(found.stdout.strip()).exists():
            return True
    return False


def _report(kind: str, path: str, **extra: str) -> None:
    target = os.environ.get(REPORT_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": kind, "path": path, **extra}) + "\n")


def _is_database(path: Path) -> bool:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            db.close()
    except sqlite3.Error:
        return False


def merge_sqlite(ours: Path, theirs: Path, name: str) -> int:
    from .dbmerge import merge_database
    from .snapshot import finalize

    ok_ours, ok_theirs = _is_database(ours), _is_database(theirs)
    if not ok_ours and not ok_theirs:
        print(f"bot_manager: neither version of {name} is a SQLite database", file=sys.stderr)
        return 1
    if not ok_theirs or not ok_ours:
        if not ok_ours:
            shutil.copyfile(theirs, ours)
        _report("db-side-dropped", name)
        return 0
    with tempfile.TemporaryDirectory(prefix="bot_manager-dbmerge-") as tmp:
        merged = Path(tmp) / "merged.db"
        src, dst = sqlite3.connect(f"{ours.resolve().as_uri()}?mode=ro", uri=True), sqlite3.connect(merged)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        merge_database(merged, theirs)
        db = sqlite3.connect(merged, isolation_level=None)
        try:
            finalize(db)
        finally:
            db.close()
        shutil.copyfile(merged, ours)
    return 0


def _aside(name: str, text: bytes, side: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = Path(f"{name}.corrupt-{side}-{stamp}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text)
    return str(target)


_FACTS_OPEN = b"<!-- profile-facts: "


def _union_profile_facts(local: bytes, other: bytes) -> tuple[bytes, bytes]:
    """Both sides with one facts block holding the union of their facts (so it never conflicts)."""
    if _FACTS_OPEN not in local or _FACTS_OPEN not in other:
        return local, other
    from ..memory.profiles import merge_facts, read_profile_facts, render_profile  # only for profile files

    try:
        mine, theirs = local.decode("utf-8"), other.decode("utf-8")
    except UnicodeDecodeError:
        return local, other
    facts = merge_facts(read_profile_facts(mine), read_profile_facts(theirs))
    if not facts:
        return local, other
    return (
        render_profile(mine, facts, user_name="unknown").encode("utf-8"),
        render_profile(theirs, facts, user_name="unknown").encode("utf-8"),
    )


def merge_text_file(base: bytes, local: bytes, other: bytes, name: str) -> bytes:
    from .textmerge import merge_text

    local, other = _union_profile_facts(local, other)
    result = merge_text(local, base, other, os.environ.get("BOT_MANAGER_HOST") or socket.gethostname())
    if result.conflicts:
        _report("kept-both", name)
    return result.text


def merge_followups_file(base: bytes, local: bytes, other: bytes, name: str) -> bytes:
    from .followups import merge_followups

    def decode(data: bytes) -> str:
        return data.decode("utf-8", "replace")

    merged = merge_followups(decode(local), decode(base), decode(other))
    if merged.text is None:
        return merge_text_file(base, local, other, name)
    if merged.corrupt_side:
        side = "this-machine" if merged.corrupt_side == "local" else "other-machine"
        aside = _aside(name, local if merged.corrupt_side == "local" else other, side)
        _report("corrupt-aside", name, aside=aside)
    return merged.text.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5 or args[0] not in _KINDS:
        print(f"usage: python -m framework.sync.drivers {{{'|'.join(_KINDS)}}} %O %A %B %P", file=sys.stderr)
        return 2
    kind, base_path, ours_path, theirs_path, name = args
    ours, theirs = Path(ours_path), Path(theirs_path)
    if kind == "sqlite":
        return merge_sqlite(ours, theirs, name)
    base, a, b = Path(base_path).read_bytes(), ours.read_bytes(), theirs.read_bytes()
    local, other = (b, a) if _in_rebase() else (a, b)
    if kind == "keep-local":
        result = local
    elif kind == "followups":
        result = merge_followups_file(base, local, other, name)
    else:
        result = merge_text_file(base, local, other, name)
    ours.write_bytes(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
