"""The zygote's module record: the same module, from the same file, with the same code as
a search and the bytecode cache would give, and never from a record the disk no longer
matches. Real imports, files, bytecode caches and interpreters."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import textwrap
import time
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path

import pytest

from framework.supervisor import module_index

REPO = Path(__file__).resolve().parent.parent
LATER = time.time() + 3600  # as if the imports began an hour from now: every folder settled


def test_each_recorded_module_resolves_and_holds_the_code_the_search_gives(tmp_path: Path) -> None:
    """For every module this test process loaded from a file (pytest, pydantic, the
    framework, extension modules), the record gives the spec the path search gives and,
    for source modules, the code the standard loader gives."""
    collected = module_index.collect(LATER)
    assert collected is not None
    module_index.record(tmp_path / "modules", collected)
    finder = module_index.load(tmp_path / "modules")
    assert finder is not None
    compared = 0
    try:
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
            assert isinstance(indexed.loader, type(searched.loader)), name
            assert (indexed.origin, indexed.submodule_search_locations, indexed.cached, indexed.parent,
                    indexed.has_location) == (searched.origin, searched.submodule_search_locations, searched.cached,
                                              searched.parent, searched.has_location), name
            if isinstance(searched.loader, SourceFileLoader):
                assert indexed.loader.get_code(name) == searched.loader.get_code(name), name
            compared += 1
        assert compared > 200 and finder.from_record > 200
        assert finder.find_spec("not_a_module_anybody_imported") is None
        assert finder.find_spec("os", target=sys.modules["os"]) is None  # a reload searches as usual
    finally:
        finder.close()


PACKAGE = {"pkg/__init__.py": "VALUE = 'package'\n", "pkg/mod.py": "from . import VALUE\nVALUE = VALUE + '.mod'\n"}
IMPORT_AND_RECORD = """
import sys
from pathlib import Path
from framework.supervisor import module_index
import pkg.mod
collected = module_index.collect(1e12)
if collected is not None:
    module_index.record(Path(sys.argv[1]), collected)
print(collected is not None)
"""
INSTALL_AND_IMPORT = """
import sys
from pathlib import Path
from framework.supervisor import module_index
finder = module_index.install(Path(sys.argv[1]))
import pkg.mod
module_index.uninstall(finder)
print(finder is not None and finder.answered, finder is not None and finder.from_record, pkg.mod.VALUE,
      pkg.mod.__file__, pkg.__path__, sys.meta_path.count(finder))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in PACKAGE.items():
        (tmp_path / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "lib" / name).write_text(text)
    (tmp_path / "early").mkdir()
    (tmp_path / "run").mkdir()  # the record's folder, as in a project: not on the path
    an_hour_ago = time.time() - 3600
    for folder in (tmp_path / "lib" / "pkg", tmp_path / "lib", tmp_path / "early", tmp_path):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    return tmp_path


def python(project: Path, code: str, *, bytecode_caches: bool = False) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "early"), str(project / "lib"), str(REPO)])}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode_caches:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(project / "run" / "modules")], env=env,
                         cwd=project, capture_output=True, text=True, check=True).stdout.strip()
    return out.split(" ")


@pytest.mark.parametrize("bytecode_caches", [True, False], ids=["from the bytecode caches", "compiled"])
def test_a_fresh_interpreter_imports_the_recorded_modules_with_their_recorded_code(
    project: Path, bytecode_caches: bool
) -> None:
    assert python(project, IMPORT_AND_RECORD, bytecode_caches=bytecode_caches) == ["True"]
    pkg = project / "lib" / "pkg"
    assert (pkg / "__pycache__").exists() == bytecode_caches
    answered, from_record, value, file, path, left = python(project, INSTALL_AND_IMPORT)
    assert int(answered) >= 2 and int(from_record) >= 2  # pkg and pkg.mod, and the framework's own
    assert (value, file, path) == ("package.mod", str(pkg / "mod.py"), repr([str(pkg)]))
    assert left == "0"  # off sys.meta_path: later imports search as usual


def test_a_source_edited_in_place_is_loaded_from_its_new_text(project: Path) -> None:
    """Writing a file in place leaves its folder's time alone: the record still says where
    the module is, but its code is the file's, not the recorded one."""
    assert python(project, IMPORT_AND_RECORD) == ["True"]
    pkg = project / "lib" / "pkg"
    folder_time = pkg.stat().st_mtime_ns
    (pkg / "mod.py").write_text("from . import VALUE\nVALUE = VALUE + '.edited'\n")
    assert pkg.stat().st_mtime_ns == folder_time
    answered, from_record, value, *_ = python(project, INSTALL_AND_IMPORT)
    assert value == "package.edited"
    assert int(from_record) == int(answered) - 1  # every module but the edited one from the record


def test_a_bytecode_cache_older_than_its_source_is_not_recorded(project: Path) -> None:
    """The record copies a module's bytecode cache only when the import system would use
    it; a stale one is passed over for the source, compiled."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(project / "lib")], check=True)
    pkg = project / "lib" / "pkg"
    folder_time = pkg.stat().st_mtime_ns
    (pkg / "mod.py").write_text("from . import VALUE\nVALUE = VALUE + '.newer'\n")
    os.utime(pkg, ns=(folder_time, folder_time))
    assert python(project, IMPORT_AND_RECORD) == ["True"]  # writes no bytecode cache
    answered, from_record, value, *_ = python(project, INSTALL_AND_IMPORT)
    assert value == "package.newer"
    assert int(from_record) == int(answered)


@pytest.mark.parametrize("change", [
    "a module added beside a recorded one",
    "a module that would shadow it, earlier on the path",
    "a module that became a package",
    "a truncated record",
    "a record others may write",
])
def test_a_record_the_disk_no_longer_matches_is_not_used(project: Path, change: str) -> None:
    assert python(project, IMPORT_AND_RECORD) == ["True"]
    pkg = project / "lib" / "pkg"
    expected = "package.mod"
    if change == "a module added beside a recorded one":
        (pkg / "other.py").write_text("")
    elif change == "a module that would shadow it, earlier on the path":
        (project / "early" / "pkg").mkdir()
        (project / "early" / "pkg" / "__init__.py").write_text("VALUE = 'shadow'\n")
        (project / "early" / "pkg" / "mod.py").write_text(PACKAGE["pkg/mod.py"])
        expected = "shadow.mod"
    elif change == "a module that became a package":
        (pkg / "mod.py").rename(project / "mod.py.bak")
        (pkg / "mod").mkdir()
        (pkg / "mod" / "__init__.py").write_text("from .. import VALUE\nVALUE = VALUE + '.package'\n")
        expected = "package.package"
    elif change == "a truncated record":
        record = project / "run" / "modules"
        record.write_bytes(record.read_bytes()[:100])
    else:
        (project / "run" / "modules").chmod(0o666)
    answered, from_record, value, *_ = python(project, INSTALL_AND_IMPORT)
    assert (answered, from_record, value) == ("False", "False", expected)  # searched for, as without a record


def test_damaged_code_in_the_record_is_loaded_from_the_source_instead(project: Path) -> None:
    assert python(project, IMPORT_AND_RECORD) == ["True"]
    record = project / "run" / "modules"
    data = bytearray(record.read_bytes())
    length = int.from_bytes(data[:8], "little")
    entry = marshal.loads(bytes(data[8:8 + length]))["modules"]["pkg.mod"]
    _mtime, _size, offset, size = entry[3]
    start = 8 + length + offset
    data[start:start + size] = b"\0" * size
    record.write_bytes(bytes(data))
    answered, from_record, value, *_ = python(project, INSTALL_AND_IMPORT)
    assert value == "package.mod"
    assert int(from_record) == int(answered) - 1


def test_the_record_is_kept_for_one_interpreter_and_search_path(project: Path, tmp_path: Path) -> None:
    collected = module_index.collect(LATER)
    assert collected is not None
    module_index.record(tmp_path / "modules", collected)
    finder = module_index.load(tmp_path / "modules")
    assert finder is not None
    finder.close()
    sys.path.append(str(project / "early"))
    try:
        assert module_index.load(tmp_path / "modules") is None
    finally:
        sys.path.remove(str(project / "early"))


def test_folders_changed_just_before_the_imports_began_are_not_recorded(project: Path) -> None:
    """Their next change could carry the same time stamp, and the record would miss it."""
    changed = time.time() + 7200  # later than any other folder's change
    os.utime(project / "early", (changed, changed))
    sys.path.append(str(project / "early"))
    try:
        assert module_index.collect(changed + 1) is None
        assert module_index.collect(changed + 3) is not None
    finally:
        sys.path.remove(str(project / "early"))
