"""The dependency rule of ARCHITECTURE.md, enforced: engines and memory work on plain
types and ports, never on discord.py, an LLM SDK, aiosqlite or Pillow."""

from __future__ import annotations

import ast
from pathlib import Path

FRAMEWORK = Path(__file__).resolve().parent.parent / "framework"
FORBIDDEN = {"discord", "anthropic", "groq", "aiosqlite", "PIL", "httpx", "httpx2", "aiohttp"}
ENGINE_SIDE = ["engines", "memory"]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_engines_and_memory_import_no_adapter_library() -> None:
    offenders = {
        str(path.relative_to(FRAMEWORK)): sorted(imported_roots(path) & FORBIDDEN)
        for package in ENGINE_SIDE
        for path in (FRAMEWORK / package).rglob("*.py")
        if imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_the_rule_would_catch_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import discord\nfrom anthropic import types\n")
    assert imported_roots(bad) & FORBIDDEN == {"discord", "anthropic"}
