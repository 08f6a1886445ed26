"""Reproducible installs: every dependency is pinned in constraints.txt, and the environment
the suite runs in is the pinned one (a fresh clone once broke when an unpinned SDK release
changed a table the code read)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_canonical(name)] = version
    return pins


def _requirement_names() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + [s for extra in project["optional-dependencies"].values() for s in extra]
    return [_canonical(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]) for spec in specs]


def test_every_declared_dependency_is_pinned() -> None:
    pins = _pins()
    missing = [name for name in _requirement_names() if name not in pins]
    assert not missing, f"add to constraints.txt (run .ci/refresh-constraints): {missing}"


def test_the_suite_runs_on_the_pinned_versions() -> None:
    drift = {
        name: (version, metadata.version(name))
        for name, version in _pins().items()
        if metadata.version(name) != version
    }
    assert not drift, f"installed versions differ from constraints.txt (pinned, installed): {drift}"


def test_ci_and_the_readme_install_from_the_constraints() -> None:
    command = 'pip install -q -c constraints.txt -e ".[test]"'
    assert command in (ROOT / ".ci" / "run").read_text()
    assert command in (ROOT / "README.md").read_text()
