"""The package rules of docs/architecture.md, enforced on every import in framework/ (those
inside functions included):

* each adapter library is imported by the packages that adapt it and no other
  (discord.py only in ``discord/``, the LLM SDKs only in ``llm/``, SQLite only in
  ``storage/`` and ``sync/``, ...);
* the engines, the memory code, the assistant tools, the domain and the ports import no adapter package, no
  runtime and no CLI: they work on plain types and ports;
* the domain and the ports import nothing of the framework but each other and the errors;
* the Discord adapter translates and nothing more: it imports no engine, no runtime;
* nothing imports the CLI, and only the CLI and the supervisor's status reader import the
  runtime; no bot process imports the CLI's libraries (typer, click, rich).

Each rule is also shown catching a planted violation, so a rule that silently stopped
matching anything would fail here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

FRAMEWORK = Path(__file__).resolve().parent.parent / "framework"

# library -> the framework packages (first path component) that may import it
LIBRARY_HOMES: dict[str, set[str]] = {
    "discord": {"discord"},
    "yarl": {"discord"},
    "anthropic": {"llm"},
    "groq": {"llm"},
    "openai": {"llm"},
    "httpx": {"llm"},
    "httpx2": {"llm"},
    # fallback HTTP, the loopback servers, the joke fetcher, the connection errors discord.py lets through
    "aiohttp": {"llm", "sandbox", "runtime", "discord"},
    "aiosqlite": {"storage"},
    "sqlite3": {"storage", "sync"},
    "PIL": {"images"},
    "psutil": {"supervisor", "cli"},
    "typer": {"cli"},
    "click": {"cli"},
    # the terminal: the CLI and the sandbox's chat; never a bot process, and never the
    # supervisor (the status table is plain text, so `status` runs without Rich)
    "rich": {"cli", "sandbox"},
    # the per-bot /metrics registry, served by the runtime's health endpoint
    "prometheus_client": {"runtime"},
}
LIBRARY_HOMES["aiohttp"].add("images")  # the image pipeline downloads attachments

PLAIN = {"engines", "memory", "domain", "ports", "assistant"}  # work on plain types and ports only
ADAPTERS = {"discord", "llm", "storage", "sandbox", "sync"}
# package -> framework packages it must not import
FORBIDDEN_PACKAGES: dict[str, set[str]] = {
    **{plain: ADAPTERS | {"runtime", "cli", "supervisor"} for plain in PLAIN},
    "domain": ADAPTERS | {"runtime", "cli", "supervisor", "engines", "memory", "config", "ports"},
    "ports": ADAPTERS | {"runtime", "cli", "supervisor", "engines", "memory", "config"},
    "discord": {"engines", "runtime", "cli", "supervisor", "memory", "llm", "storage"},
    **{pkg: {"cli"} for pkg in ("config", "llm", "storage", "sandbox", "sync", "runtime", "supervisor")},
    # the coding agent runs processes (the jail) but talks to no adapter: plain types, ports, memory's path jail
    "coding": ADAPTERS | {"runtime", "cli", "supervisor", "engines"},
}
RUNTIME_IMPORTERS = {"runtime", "cli", "supervisor"}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the framework folder
    package: str  # first component of the importing file ("engines", or "ports" for ports.py)
    target: str  # absolute dotted name for framework modules, the root name for libraries
    internal: bool


def _package_of(rel: Path) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports_of(root: Path, path: Path) -> list[Import]:
    rel = path.relative_to(root)
    package = _package_of(rel)
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                internal = name.split(".")[0] == "framework"
                found.append(Import(str(rel), package, name if internal else name.split(".")[0], internal))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                internal = node.module.split(".")[0] == "framework"
                found.append(Import(str(rel), package, node.module if internal else node.module.split(".")[0], internal))
            elif node.level > 0:
                base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
                module = [part for part in (node.module or "").split(".") if part]
                targets = [base + module] if module else [base + [alias.name] for alias in node.names]
                for target in targets:
                    found.append(Import(str(rel), package, ".".join(["framework", *target]), True))
    return found


def violations(root: Path) -> list[str]:
    """Every import in ``root`` (a framework folder) that breaks a rule, as readable lines."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for imp in imports_of(root, path):
            if not imp.internal:
                homes = LIBRARY_HOMES.get(imp.target)
                if homes is not None and imp.package not in homes:
                    problems.append(f"{imp.file}: imports {imp.target} (only {', '.join(sorted(homes))} may)")
                continue
            parts = imp.target.split(".")
            target_package = parts[1] if len(parts) > 1 else "framework"
            if target_package == imp.package:
                continue
            if target_package in FORBIDDEN_PACKAGES.get(imp.package, set()):
                problems.append(f"{imp.file}: {imp.package} imports {imp.target}")
            elif target_package == "runtime" and imp.package not in RUNTIME_IMPORTERS:
                problems.append(f"{imp.file}: imports the runtime ({imp.target})")
    return problems


def test_the_framework_keeps_its_package_rules() -> None:
    assert violations(FRAMEWORK) == []


PLANTED = [
    ("engines/bad.py", "import discord\n", "imports discord"),
    ("memory/bad.py", "def f():\n    import anthropic\n", "imports anthropic"),
    ("engines/bad.py", "from ..storage import MessageStore\n", "engines imports framework.storage"),
    ("engines/bad.py", "from ..runtime.app import BotRuntime\n", "engines imports framework.runtime.app"),
    ("domain/bad.py", "from ..config.models import BotConfig\n", "domain imports framework.config.models"),
    ("ports.py", "from .llm.router import Router\n", "ports imports framework.llm.router"),
    ("discord/bad.py", "from ..engines.reactive import ReactiveEngine\n", "discord imports framework.engines.reactive"),
    ("llm/bad.py", "import aiosqlite\n", "imports aiosqlite"),
    ("storage/bad.py", "from ..cli import app\n", "storage imports framework.cli"),
    ("config/bad.py", "from framework.runtime import loops\n", "imports the runtime"),
    ("engines/bad.py", "from .. import sandbox\n", "engines imports framework.sandbox"),
    ("runtime/bad.py", "def f():\n    from rich.console import Console\n", "imports rich"),
]


@pytest.mark.parametrize(("file", "source", "expected"), PLANTED, ids=[p[0] + ":" + p[2] for p in PLANTED])
def test_each_rule_catches_a_planted_violation(tmp_path: Path, file: str, source: str, expected: str) -> None:
    planted = tmp_path / file
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(source)
    problems = violations(tmp_path)
    assert len(problems) == 1 and expected in problems[0], problems


def test_allowed_imports_are_not_flagged(tmp_path: Path) -> None:
    for file, source in [
        ("discord/ok.py", "import discord\nfrom ..domain import IncomingMessage\n"),
        ("engines/ok.py", "from ..domain import Decision\nfrom ..ports import ChatPort\nfrom ..config.models import BotConfig\n"),
        ("storage/ok.py", "import aiosqlite\nimport sqlite3\n"),
        ("runtime/ok.py", "from ..discord.adapter import BotClient\nfrom ..engines.reactive import ReactiveEngine\n"),
    ]:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(source)
    assert violations(tmp_path) == []
