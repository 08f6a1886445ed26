"""Skills: folders holding a ``SKILL.md`` whose YAML front matter names and describes them.

Global skills live in ``/workspace/skills/<skill>/``, a person's own in
``/workspace/users/<id>/skills/<skill>/``. The system prompt lists each one's name and
description (:class:`CodingPrompt`); the model reads the whole ``SKILL.md`` with
``read_file`` when it needs it (``{baseDir}`` there becomes the skill's folder) and may make
a new skill by writing one. The list is rebuilt only when a ``SKILL.md`` or a skills folder
changes (size, mtime, inode), and is the very same text otherwise, so the cached prompt
prefix stays byte-identical. A malformed ``SKILL.md`` is listed as a problem for the model
to fix and logged once; it never stops the bot.

The workspace is read through its path jail: a skill folder or ``SKILL.md`` that is a link
is reported, never followed.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..domain import ToolError
from ..memory import nofollow
from ..memory.paths import Parts
from .workspace import Workspace

__all__ = ["Skill", "SkillScan", "scan_skills", "resolve_base_dir", "CodingPrompt", "SKILL_FILE"]

_log = logging.getLogger(__name__)

SKILL_FILE = "SKILL.md"
BASE_DIR = "{baseDir}"
_MAX_SKILLS = 100
_MAX_DESCRIPTION = 300
_SKILL_BYTES = 256 * 1024


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    folder: str  # as the model sees it: /workspace/skills/<skill>


@dataclass(frozen=True)
class SkillScan:
    skills: tuple[Skill, ...]
    problems: tuple[str, ...]  # "/workspace/skills/x/SKILL.md: why", for the model and the log
    signature: tuple[object, ...]


def resolve_base_dir(text: str, parts: Parts, workspace: Workspace) -> str:
    """``{baseDir}`` in a ``SKILL.md`` becomes the skill's folder (as the model sees it)."""
    if not parts or parts[-1] != SKILL_FILE or BASE_DIR not in text:
        return text
    return text.replace(BASE_DIR, workspace.shown(parts[:-1]))


def _front_matter(text: str) -> dict[str, object]:
    """The YAML mapping between the opening ``---`` line and the next ``---`` line; ValueError when missing."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError("it does not start with a '---' line opening the YAML front matter")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        raise ValueError("the front matter has no closing '---' line") from None
    try:
        data = YAML(typ="safe", pure=True).load("\n".join(lines[1:end]))
    except YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or "invalid YAML")
        raise ValueError(f"the front matter is not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ValueError("the front matter must be key: value lines (name, description)")
    return data


def _skill_of(text: str, folder: str) -> Skill:
    data = _front_matter(text)
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("the front matter has no 'name' (text)")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("the front matter has no 'description' (text)")
    description = " ".join(description.split())
    if len(description) > _MAX_DESCRIPTION:
        description = description[: _MAX_DESCRIPTION - 3] + "..."
    return Skill(" ".join(name.split())[:80], description.replace(BASE_DIR, folder), folder)


def _skill_folders(workspace: Workspace, base: Parts) -> list[Parts]:
    """The items of the skills folder ``base`` (links and files too: they are reported, not followed)."""
    try:
        with workspace.jail.folder(base) as fd:
            return [base + (name,) for name, _ in nofollow.scan_at(fd) if not name.startswith(".")]
    except ToolError:
        return []  # no skills folder (yet), or one that is itself a link: nothing to list


def _candidates(workspace: Workspace, user_ids: Sequence[str]) -> list[Parts]:
    bases: list[Parts] = [("skills",)] + [("users", uid, "skills") for uid in user_ids]
    return [parts for base in bases for parts in _skill_folders(workspace, base)][:_MAX_SKILLS]


def _signature_of(workspace: Workspace, folders: Sequence[Parts]) -> tuple[object, ...]:
    signature: list[object] = []
    for parts in folders:
        info = workspace.jail.lstat(parts + (SKILL_FILE,)) if _is_dir(workspace, parts) else None
        signature.append((parts, None if info is None else (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino)))
    return tuple(signature)


def _is_dir(workspace: Workspace, parts: Parts) -> bool:
    try:
        info = workspace.jail.lstat(parts)
    except ToolError:
        return False
    return info is not None and stat.S_ISDIR(info.st_mode)


def scan_skills(workspace: Workspace, user_ids: Sequence[str] = ()) -> SkillScan:
    """Every skill of the workspace (global, then each user's), and what is wrong with the others."""
    folders = _candidates(workspace, user_ids)
    skills: list[Skill] = []
    problems: list[str] = []
    for parts in folders:
        shown = workspace.shown(parts + (SKILL_FILE,))
        if not _is_dir(workspace, parts):
            problems.append(f"{workspace.shown(parts)}: not a folder (a skill is a folder holding {SKILL_FILE})")
            continue
        try:
            data, _ = workspace.jail.read_bytes(parts + (SKILL_FILE,), _SKILL_BYTES)
            skills.append(_skill_of(data.decode("utf-8"), workspace.shown(parts)))
        except ToolError as refused:
            problems.append(f"{shown}: {refused}")
        except UnicodeDecodeError:
            problems.append(f"{shown}: not UTF-8 text")
        except ValueError as bad:
            problems.append(f"{shown}: {bad}")
    return SkillScan(tuple(skills), tuple(problems), _signature_of(workspace, folders))


_GUIDE = """# Your workspace and tools
You have a private workspace, /workspace, for files and small programs.{tools}
Keep work inside /workspace; everything else is read-only or invisible."""

_SKILLS_GUIDE = """## Skills
A skill is a folder with a SKILL.md whose front matter gives its name and description:
---
name: <short name>
description: <one line: what it does and when to use it>
---
followed by the instructions ({baseDir} stands for the skill's folder). Before using a skill,
read its SKILL.md with read_file. When you work out a procedure worth reusing, save it as a
new skill in /workspace/skills/<name>/SKILL.md (for this person only:
/workspace/users/<their id>/skills/<name>/SKILL.md)."""


class CodingPrompt:
    """The coding block of the system prompt: what the tools are, and the skills (``render``)."""

    def __init__(self, workspace: Workspace, *, bash: bool, files: bool, skills: bool,
                 user_ids: Sequence[str] = ()) -> None:
        self.workspace = workspace
        self.skills = skills
        self.user_ids = tuple(user_ids)
        tools = []
        if bash:
            tools.append("execute_bash runs one command there (a fresh sandboxed shell each call)")
        if files:
            tools.append("read_file, write_file and edit_file read and change its files")
        self._head = _GUIDE.format(tools=(" " + "; ".join(tools) + ".") if tools else "")
        self._signature: tuple[object, ...] | None = None
        self._text = self._head

    def render(self) -> str:
        if not self.skills:
            return self._head
        signature = _signature_of(self.workspace, _candidates(self.workspace, self.user_ids))
        if signature != self._signature:
            scan = scan_skills(self.workspace, self.user_ids)
            for problem in scan.problems:
                _log.warning("skill problem: %s", problem)
            self._text = self._head + "\n\n" + _render_skills(scan)
            self._signature = scan.signature  # what the text was made from, should a skill change meanwhile
        return self._text


def _render_skills(scan: SkillScan) -> str:
    lines = [_SKILLS_GUIDE, "", "Available skills:" if scan.skills else "No skills yet."]
    lines += [f"- {s.name}: {s.description} ({s.folder}/{SKILL_FILE})" for s in scan.skills]
    if scan.problems:
        lines += ["", "Skills that could not be read (fix them with the file tools):"]
        lines += [f"- {problem}" for problem in scan.problems]
    return "\n".join(lines)
