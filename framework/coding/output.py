"""A command's output, capped while it streams: the head and the tail kept, the middle cut.

A command may print far more than the model should read (``yes``, a 100 MB log): the
collector never holds more than twice the byte cap, however much arrives. What the model
gets is the first and last lines within both caps, with one line in between saying how many
lines and bytes were left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CappedOutput"]


@dataclass
class CappedOutput:
    """Collects a byte stream, keeping at most ``max_bytes`` of head and ``max_bytes`` of tail."""

    max_bytes: int
    max_lines: int
    total_bytes: int = 0
    newlines: int = 0
    _last: bytes = b""
    _head: bytearray = field(default_factory=bytearray)
    _tail: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.total_bytes += len(chunk)
        self.newlines += chunk.count(b"\n")
        self._last = chunk[-1:]
        room = self.max_bytes - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self.max_bytes:
                del self._tail[: len(self._tail) - self.max_bytes]

    @property
    def total_lines(self) -> int:
        return self.newlines + (1 if self.total_bytes and self._last != b"\n" else 0)

    @property
    def truncated(self) -> bool:
        """The model gets less than the command printed."""
        return self.total_bytes > self.max_bytes or self.total_lines > self.max_lines

    def text(self) -> str:
        """The output for the model: whole if within both caps, else head, a cut line, tail."""
        if not self.truncated:
            return bytes(self._head + self._tail).decode("utf-8", errors="replace")
        if self.total_bytes <= len(self._head) + len(self._tail):  # all of it is here: split it as one text
            everything = _lines(bytes(self._head + self._tail))
            head = _take(everything, self.max_lines // 2, self.max_bytes // 2, from_end=False)
            tail = _take(everything[len(head) :], self.max_lines // 2, self.max_bytes // 2, from_end=True)
        else:  # the middle was dropped while streaming; the tail buffer's first line is a fragment
            head = _take(_lines(bytes(self._head)), self.max_lines // 2, self.max_bytes // 2, from_end=False)
            tail_lines = _lines(bytes(self._tail))
            tail = _take(tail_lines[1:] or tail_lines, self.max_lines // 2, self.max_bytes // 2, from_end=True)
        kept_bytes = sum(map(len, head)) + sum(map(len, tail))
        note = (
            f"[... output cut: {max(self.total_lines - len(head) - len(tail), 0)} lines "
            f"({max(self.total_bytes - kept_bytes, 0)} bytes) left out of {self.total_lines} lines, "
            f"{self.total_bytes} bytes; the first {len(head)} and the last {len(tail)} lines are shown ...]\n"
        )
        text = b"".join(head).decode("utf-8", errors="replace")
        if text and not text.endswith("\n"):
            text += "\n"
        return text + note + b"".join(tail).decode("utf-8", errors="replace")


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _take(lines: list[bytes], max_lines: int, max_bytes: int, *, from_end: bool) -> list[bytes]:
    """Whole lines from the start (or the end) within both caps; a single over-long line is clipped."""
    taken: list[bytes] = []
    size = 0
    ordered = reversed(lines) if from_end else iter(lines)
    for line in ordered:
        if len(taken) >= max_lines:
            break
        if size + len(line) > max_bytes:
            if not taken:  # one huge line: keep a clipped piece rather than nothing
                piece = line[-max_bytes:] if from_end else line[:max_bytes]
                taken.append(piece)
            break
        taken.append(line)
        size += len(line)
    return list(reversed(taken)) if from_end else taken
