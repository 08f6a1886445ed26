"""The ``status`` table as plain text, like ``docker ps`` or ``kubectl get``.

A pure function of the rows, the width and whether to colour: no Rich, no terminal
queries, so the one-shot ``status`` draws it without loading a rendering library (its
start-up is part of the interface) and tests compare it as a string.

One line per bot process, columns aligned with two spaces between them, never wrapped.
In a narrow terminal columns are left out, least needed first: restarts and exit code,
then today's usage, then CPU and memory; bot, state, pid, uptime and the last
column (health URL, note, last error) always stay, and whatever still does not fit is
cut with "…" at the width.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .statusview import StatusRow

__all__ = ["format_bytes", "format_cost", "format_tokens", "format_uptime", "render_status_text"]

# SGR codes of each state; states not listed are printed plain.
_STATE_COLOUR = {
    "running": "32",  # green
    "starting": "33",  # yellow
    "backoff": "33",
    "stopping": "33",
    "stopped": "2",  # dim
    "crashed": "31",  # red
    "fatal": "1;31",  # bold red
}
_GAP = "  "
_ELLIPSIS = "…"
_DETAIL = "LAST ERROR"
_DETAIL_MIN_WIDTH = 16  # a layout is chosen only if the last column keeps at least this much
_LAYOUTS: tuple[tuple[str, ...], ...] = (
    ("BOT", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEM", "TODAY", "EXIT", _DETAIL),
    ("BOT", "STATE", "PID", "UPTIME", "CPU", "MEM", "TODAY", _DETAIL),
    ("BOT", "STATE", "PID", "UPTIME", "CPU", "MEM", _DETAIL),
    ("BOT", "STATE", "PID", "UPTIME", _DETAIL),
)
# Control characters (a newline in an error, an escape sequence) would break the one
# line per process or drive the terminal; each becomes a space.
_CONTROL = {code: " " for code in (*range(32), 127)}


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def format_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def format_tokens(n: int | None) -> str:
    """Compact token count: 950, 12.3k, 4.56M."""
    if n is None:
        return "-"
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def format_cost(usd: float | None) -> str:
    if usd is None:
        return "-"
    if 0 < usd < 0.01:
        return "<$0.01"  # spent something, but "$0.00" would read as nothing
    return f"${usd:,.2f}"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _detail(row: StatusRow) -> str:
    """The last column: the health URL, then a note (why a bot counts as crashed, a
    failing loop), then the last error."""
    parts = [f"health {row.health_url}" if row.health_url else None, row.note, row.last_error]
    return "; ".join(part for part in parts if part) or "-"


def _cells(row: StatusRow) -> dict[str, str]:
    tokens, cost = format_tokens(row.tokens_today), format_cost(row.cost_today_usd)
    cells = {
        "BOT": row.name,
        "STATE": row.state,
        "PID": _dash(row.pid),
        "UPTIME": format_uptime(row.uptime_s),
        "RESTARTS": str(row.restarts),
        "CPU": "-" if row.cpu_percent is None else f"{row.cpu_percent:.1f}%",
        "MEM": format_bytes(row.rss_bytes),
        "TODAY": "-" if tokens == cost == "-" else f"{tokens} {cost}",  # tokens, then estimated cost
        "EXIT": _dash(row.last_exit_code),
        _DETAIL: _detail(row),
    }
    return {column: text.translate(_CONTROL) for column, text in cells.items()}


def _widths(cells: list[dict[str, str]], columns: tuple[str, ...]) -> list[int]:
    return [max(len(column), *(len(c[column]) for c in cells)) for column in columns]


def _layout(cells: list[dict[str, str]], width: int) -> tuple[str, ...]:
    """The widest layout whose fixed columns leave the last one its minimum width."""
    for columns in _LAYOUTS:
        fixed = sum(w + len(_GAP) for w in _widths(cells, columns[:-1]))
        if fixed + _DETAIL_MIN_WIDTH <= width:
            return columns
    return _LAYOUTS[-1]


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: max(width - 1, 0)] + _ELLIPSIS


def _line(values: list[str], widths: list[int], width: int, state_at: int | None, state: str) -> str:
    plain = _cut(_GAP.join(v.ljust(w) for v, w in zip(values[:-1], widths)) + _GAP + values[-1], width).rstrip()
    code = _STATE_COLOUR.get(state)
    if state_at is None or code is None or len(plain) < state_at + len(state):
        return plain
    end = state_at + len(state)
    return f"{plain[:state_at]}\x1b[{code}m{plain[state_at:end]}\x1b[0m{plain[end:]}"


def render_status_text(rows: Iterable[StatusRow], width: int, *, colour: bool = False) -> str:
    """The table, one line per row under a header line, each at most ``width`` characters;
    with ``colour``, each state is wrapped in its ANSI colour (the width is unchanged)."""
    rows = list(rows)
    cells = [_cells(row) for row in rows]
    columns = _layout(cells, width)
    widths = _widths(cells, columns[:-1])
    state_at = sum(w + len(_GAP) for w in widths[: columns.index("STATE")]) if colour else None
    lines = [_line(list(columns), widths, width, None, "")]
    for row, cell in zip(rows, cells):
        lines.append(_line([cell[c] for c in columns], widths, width, state_at, row.state))
    return "\n".join(lines) + "\n"
