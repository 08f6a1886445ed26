"""Markdown memories: git's own text merge, and both versions kept where it cannot decide.

``git merge-file`` merges the two sides line by line against their common ancestor. Each
hunk it cannot resolve becomes::

    <!-- sync: kept both versions; laptop's first -->
    (the lines of the machine that merged, here "laptop")
    <!-- sync: the other machine's version -->
    (the other machine's lines)
    <!-- sync: end -->

HTML comments: invisible when the markdown is rendered, plain to the model and to a person,
and nothing git (or a tool looking for ``<<<<<<<``) takes for an unresolved conflict. The
markers git writes in between are made 32 characters wide, so a markdown heading underline
(``=======``) in the file is never mistaken for one.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TextMerge", "merge_text", "kept_both_marker", "OTHER_VERSION", "END_KEPT", "both_versions"]

OTHER_VERSION = "<!-- sync: the other machine's version -->"
END_KEPT = "<!-- sync: end -->"


def kept_both_marker(host: str) -> str:
    """The opening marker; ``host`` names the machine whose lines come first."""
    name = re.sub(r"-{2,}", "-", re.sub(r"[<>]", "", host))  # "--" or ">" could end the comment
    return f"<!-- sync: kept both versions; {name}'s first -->"

_SIZE = 32
_OPEN, _MIDDLE, _CLOSE = "<" * _SIZE + " this", "=" * _SIZE, ">" * _SIZE + " other"


@dataclass(frozen=True)
class TextMerge:
    text: bytes
    conflicts: int  # hunks where both versions were kept


def both_versions(local: bytes, other: bytes, host: str) -> bytes:
    """The whole of both files under the markers (when a line merge is impossible)."""
    def block(text: bytes) -> bytes:
        return text if text.endswith(b"\n") or not text else text + b"\n"

    return b"".join(
        (kept_both_marker(host).encode() + b"\n", block(local), OTHER_VERSION.encode() + b"\n", block(other), END_KEPT.encode() + b"\n")
    )


def _rewrite_markers(merged: bytes, host: str) -> bytes:
    """git's markers -> ours, only where they form an open, middle, close sequence.

    A line that merely looks like a marker (a heading underline of exactly 32 ``=`` in a
    clean merge) is left as it is.
    """
    lines = merged.splitlines(keepends=True)
    bare = [line.rstrip(b"\r\n").decode("utf-8", "surrogateescape") for line in lines]
    replace: dict[int, str] = {}
    opened: int | None = None
    middle: int | None = None
    for i, text in enumerate(bare):
        if opened is None:
            if text == _OPEN:
                opened = i
        elif middle is None:
            if text == _MIDDLE:
                middle = i
        elif text == _CLOSE:
            replace.update({opened: kept_both_marker(host), middle: OTHER_VERSION, i: END_KEPT})
            opened = middle = None
    return b"".join(replace[i].encode() + b"\n" if i in replace else line for i, line in enumerate(lines))


def merge_text(local: bytes, base: bytes, other: bytes, host: str = "this machine") -> TextMerge:
    """Three-way merge of ``local`` and ``other`` from ``base``; conflicts keep both versions.

    ``host`` names the machine ``local`` comes from, in the markers.
    """
    if b"\0" in local or b"\0" in other:  # not text: no line merge, keep both whole
        return TextMerge(both_versions(local, other, host), 1)
    with tempfile.TemporaryDirectory(prefix="bot_manager-merge-") as tmp:
        paths = []
        for name, data in (("this", local), ("base", base), ("other", other)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        result = subprocess.run(
            ["git", "-c", "merge.conflictStyle=merge", "merge-file", "-p", f"--marker-size={_SIZE}", "-L", "this", "-L", "base", "-L", "other", *paths],
            capture_output=True,
        )
    if result.returncode < 0 or result.returncode > 127:  # an error, not a conflict count
        return TextMerge(both_versions(local, other, host), 1)
    return TextMerge(_rewrite_markers(result.stdout, host), result.returncode)
