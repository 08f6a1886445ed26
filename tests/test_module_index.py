"""The zygote's module index: the same module, from the same file, as a search would find,
and never from a record the disk no longer matches. Real imports, files and interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from importlib.machinery import PathFinder
from pathlib import Path

import pytest

from framework.supervisor import module_index

REPO = Path(__file__).resolve().parent.parent
AN_HOUR_AGO = time.time() - 3600


def settle(*folders: Path) -> None:
    """Date folders an hour back, as if nobody had touched them lately."""
    for folder in folders:
        os.utime(folder, (AN_HOUR_AGO, AN_HOUR_AGO))


def later() -> float:
    return time.time() + 3600


def test_each_recorded_module_resolves_as_the_search_finds_it(tmp_path: Path) -> None:
    """For every module this test process has loaded from a file (pytest, pydantic, the
    framework, extension modules), the index gives the spec the path search gives."""
    index = tmp_path / "modules"
    assert module_index.record(index, clock=later)
    finder = module_index.load(index)
    assert finder is not None
    compared = 0
    for name, module in list(sys.modules.items()):
        if module_index._entry(name, module) is None:
            continue
        parent = name.rpartition(".")[0]
        path = getattr(sys.modules[parent], "__path__", None) if parent else None
        searched = PathFinder.find_spec(name, path)
        if searched is None:  # found by another finder (this framework's editable install)
            continue
        indexed = finder.find_spec(name)
        assert indexed is not None, name
        assert (indexed.origin, type(indexed.loader), indexed.submodule_search_locations, indexed.cached,
                indexed.parent, indexed.has_location) == (
            searched.origin, type(searched.loader), searched.submodule_search_locations, searched.cached,
            searched.parent, searched.has_location), name
        compared += 1
    assert compared > 300
    assert finder.find_spec("not_a_module_anybody_imported") is None
    assert finder.find_spec("os", target=sys.modules["os"]) is None  # a reload searches as usual


PACKAGE = {"pkg/__init__.py": "VALUE = 'package'\n", "pkg/mod.py": "from . import VALUE\nVALUE = VALUE + '.mod'\n"}
IMPORT_AND_RECORD = """
import sys
from pathlib import Path
from framework.supervisor import module_index
import pkg.mod
print(module_index.record(Path(sys.argv[1]), clock=lambda: 1e12))
"""
INSTALL_AND_IMPORT = """
import sys
from pathlib import Path
from framework.supervisor import module_index
finder = module_index.install(Path(sys.argv[1]))
import pkg.mod
module_index.uninstall(finder)
print(finder is not None and finder.answered, pkg.mod.VALUE, pkg.mod.__file__, pkg.__path__, sys.meta_path.count(finder))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in PACKAGE.items():
        (tmp_path / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "lib" / name).write_text(text)
    (tmp_path / "early").mkdir()
    (tmp_path / "run").mkdir()  # the index's folder, as in a project: not on the path
    settle(tmp_path / "lib" / "pkg", tmp_path / "lib", tmp_path / "early", tmp_path)
    return tmp_path


def python(project: Path, code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "early"), str(project / "lib"), str(REPO)])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(project / "run" / "modules")], env=env,
                          cwd=project, capture_output=True, text=True, check=True).stdout.strip()


def test_a_fresh_interpreter_imports_the_recorded_modules_from_their_files(project: Path) -> None:
    assert python(project, IMPORT_AND_RECORD) == "True"
    pkg = project / "lib" / "pkg"
    answered, value, file, path, left = python(project, INSTALL_AND_IMPORT).split(" ", 4)[:5]
    assert int(answered) >= 2  # pkg and pkg.mod at least, and the framework's own modules
    assert (value, file, path) == ("package.mod", str(pkg / "mod.py"), repr([str(pkg)]))
    assert left == "0"  # off sys.meta_path: later imports search as usual


@pytest.mark.parametrize("change", [
    "a module added beside a recorded one",
    "a module that would shadow it, earlier on the path",
    "a recorded module removed",
    "a damaged record",
])
def test_an_index_the_disk_no_longer_matches_is_not_used(project: Path, change: str) -> None:
    assert python(project, IMPORT_AND_RECORD) == "True"
    pkg = project / "lib" / "pkg"
    if change == "a module added beside a recorded one":
        (pkg / "other.py").write_text("")
    elif change == "a module that would shadow it, earlier on the path":
        (project / "early" / "pkg").mkdir()
        (project / "early" / "pkg" / "__init__.py").write_text("VALUE = 'shadow'\n")
        (project / "early" / "pkg" / "mod.py").write_text(PACKAGE["pkg/mod.py"])
    elif change == "a recorded module removed":
        (pkg / "mod.py").rename(project / "mod.py.bak")
        (pkg / "mod").mkdir()
        (pkg / "mod" / "__init__.py").write_text("from .. import VALUE\nVALUE = VALUE + '.mod package'\n")
    else:
        index = project / "run" / "modules"
        index.write_bytes(index.read_bytes()[:100])
    out = python(project, INSTALL_AND_IMPORT).split(" ")
    assert out[0] == "False"  # searched for, as without an index
    expected = {"a module that would shadow it, earlier on the path": "shadow.mod",
                "a recorded module removed": "package.mod package"}.get(change, "package.mod")
    assert out[1:1 + len(expected.split(" "))] == expected.split(" ")


def test_the_index_is_kept_for_one_interpreter_and_search_path(project: Path, tmp_path: Path) -> None:
    index = tmp_path / "modules"
    assert module_index.record(index, clock=later)
    assert module_index.load(index) is not None
    sys.path.append(str(project / "early"))
    try:
        assert module_index.load(index) is None
    finally:
        sys.path.remove(str(project / "early"))


def test_a_folder_changed_moments_ago_is_not_recorded(project: Path, tmp_path: Path) -> None:
    """Its next change could carry the same time stamp, and the record would miss it."""
    changed = time.time() + 7200  # later than any other folder's change
    os.utime(project / "early", (changed, changed))
    sys.path.append(str(project / "early"))
    try:
        assert not module_index.record(tmp_path / "modules", clock=lambda: changed + 1)
        assert not (tmp_path / "modules").exists()
        assert module_index.record(tmp_path / "modules", clock=lambda: changed + 3)
    finally:
        sys.path.remove(str(project / "early"))
