"""Skills: discovered (global and the person's own), listed in the system prompt with the same
text until one changes, read with ``{baseDir}`` resolved, created with the file tools, and a
malformed ``SKILL.md`` reported to the model and the log without stopping anything."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framework.coding import CodingParts, build_coding
from framework.config.coding import CodingConfig
from framework.domain import ConversationScope

MASTER = "111111111111111111"
SCOPE = ConversationScope("cortana", None, "5", MASTER)

GOOD = """---
name: csv-report
description: Summarise a CSV file into a markdown table.
---
Run `python3 {baseDir}/report.py <file.csv>`.
"""


@pytest.fixture
def coding(tmp_path: Path) -> CodingParts:
    parts = build_coding(CodingConfig(files=True, skills=True), tmp_path / "ws", master_id=MASTER, owner=None)
    assert parts is not None
    return parts


def put(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def tool(parts: CodingParts, name: str):  # type: ignore[no-untyped-def]
    return next(t for t in parts.tools if t.name == name)


def test_global_and_personal_skills_are_listed(coding: CodingParts, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    put(ws, "skills/csv-report/SKILL.md", GOOD)
    put(ws, f"users/{MASTER}/skills/standup/SKILL.md", "---\nname: standup\ndescription: Draft my standup notes\n---\n")
    put(ws, "users/999999999999999999/skills/theirs/SKILL.md", "---\nname: theirs\ndescription: not mine\n---\n")
    prompt = coding.prompt.render()
    assert "- csv-report: Summarise a CSV file into a markdown table. (/workspace/skills/csv-report/SKILL.md)" in prompt
    assert f"- standup: Draft my standup notes (/workspace/users/{MASTER}/skills/standup/SKILL.md)" in prompt
    assert "theirs" not in prompt


def test_the_list_is_the_same_text_until_a_skill_changes(coding: CodingParts, tmp_path: Path) -> None:
    put(tmp_path / "ws", "skills/csv-report/SKILL.md", GOOD)
    first = coding.prompt.render()
    assert coding.prompt.render() is first  # nothing changed: the very same string (the cached prefix holds)
    put(tmp_path / "ws", "skills/csv-report/SKILL.md", GOOD.replace("Summarise", "Summarize"))
    changed = coding.prompt.render()
    assert changed is not first and "Summarize a CSV" in changed


async def test_reading_a_skill_resolves_base_dir(coding: CodingParts, tmp_path: Path) -> None:
    put(tmp_path / "ws", "skills/csv-report/SKILL.md", GOOD)
    text = await tool(coding, "read_file").run({"path": "skills/csv-report/SKILL.md"}, SCOPE)
    assert "python3 /workspace/skills/csv-report/report.py" in text and "{baseDir}" not in text


async def test_the_model_creates_a_skill_with_the_file_tools(coding: CodingParts) -> None:
    assert "No skills yet." in coding.prompt.render()
    await tool(coding, "write_file").run(
        {"path": "skills/weather/SKILL.md", "content": "---\nname: weather\ndescription: Check the forecast\n---\n"},
        SCOPE,
    )
    assert "- weather: Check the forecast (/workspace/skills/weather/SKILL.md)" in coding.prompt.render()


@pytest.mark.parametrize(("text", "problem"), [
    ("# no front matter\n", "does not start with a '---' line"),
    ("---\nname: x\ndescription: y\n", "no closing '---' line"),
    ("---\nname: [unclosed\n---\n", "not valid YAML"),
    ("---\n- a\n- b\n---\n", "must be key: value lines"),
    ("---\nname: x\n---\n", "no 'description'"),
    ("---\ndescription: y\n---\n", "no 'name'"),
])
def test_a_bad_skill_is_reported_not_fatal(
    coding: CodingParts, tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, problem: str
) -> None:
    put(tmp_path / "ws", "skills/good/SKILL.md", GOOD)
    put(tmp_path / "ws", "skills/bad/SKILL.md", text)
    with caplog.at_level(logging.WARNING, logger="framework.coding.skills"):
        prompt = coding.prompt.render()
    assert "- csv-report:" in prompt  # the good one is still there
    reported = [line for line in prompt.splitlines() if line.startswith("- /workspace/skills/bad/SKILL.md: ")]
    assert len(reported) == 1 and problem in reported[0], prompt
    assert any(problem in r.getMessage() for r in caplog.records)


def test_a_skill_folder_without_skill_md_is_reported(coding: CodingParts, tmp_path: Path) -> None:
    (tmp_path / "ws" / "skills" / "empty").mkdir(parents=True)
    assert "/workspace/skills/empty/SKILL.md: The path /workspace/skills/empty/SKILL.md does not exist" in (
        coding.prompt.render()
    )
