"""Is a file safe to commit? Secret shapes (``framework.redact``) and known secret values.

Known values are those of the secret-named variables (``*_TOKEN``, ``*_API_KEY``...) in the
environment and in the project's ``.env``: a file holding one is refused even when the
value has no recognisable shape. The finding names the file, the kind and the line, never
the secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..redact import find_secret_shapes, secret_values

__all__ = ["Finding", "scan_bytes", "scan_file", "known_secrets", "read_env_file"]

_MIN_VALUE_LEN = 12  # shorter values would flag ordinary words in memories


@dataclass(frozen=True)
class Finding:
    path: str
    reason: str
    fix: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}; {self.fix}"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a dotenv file (``export``, quotes and comments allowed)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def known_secrets(environ: Mapping[str, str], env_file: Path) -> dict[str, str]:
    """``{value: NAME}`` of the secret values this machine knows about."""
    merged = {**read_env_file(env_file), **environ}
    return {v: n for v, n in secret_values(merged).items() if len(v) >= _MIN_VALUE_LEN}


def scan_bytes(rel: str, data: bytes, secrets: Mapping[str, str]) -> Finding | None:
    binary = b"\0" in data[:8192]
    text = data.decode("latin-1") if binary else data.decode("utf-8", "replace")
    where = (lambda line: " in a stored value") if binary else (lambda line: f" (line {line})")
    for value, name in secrets.items():
        at = text.find(value)
        if at >= 0:
            line = text.count("\n", 0, at) + 1
            return Finding(rel, f"contains the value of {name}{where(line)}", "remove it, then sync again")
    shapes = find_secret_shapes(text)
    if shapes:
        kind, line = shapes[0]
        more = f" and {len(shapes) - 1} more" if len(shapes) > 1 else ""
        return Finding(rel, f"contains what looks like {kind}{where(line)}{more}", "remove it, then sync again")
    return None


def scan_file(path: Path, rel: str, secrets: Mapping[str, str]) -> Finding | None:
    """A finding when ``path`` holds a secret, else None."""
    return scan_bytes(rel, path.read_bytes(), secrets)
