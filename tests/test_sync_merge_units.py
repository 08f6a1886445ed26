"""Sync's pieces on their own: the secret scanner, the markdown and follow-ups merges, the drivers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from framework.redact import find_secret_shapes
from framework.sync import drivers
from framework.sync.followups import merge_followups
from framework.sync.scan import known_secrets, read_env_file, scan_bytes
from framework.sync.textmerge import END_KEPT, OTHER_VERSION, kept_both_marker, merge_text

DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx.GaBcDe.abcdefghijklmnopqrstuvwxyz012345"


# -- the scanner ------------------------------------------------------------------------------


def test_shapes_are_found_with_kind_and_line() -> None:
    text = f"intro\nkey sk-ant-api03-abcdefghijklmnop\n\nhere {DISCORD_TOKEN} too\ngsk_ABCDEFGHIJKLMNOPQRSTUV\n"
    assert find_secret_shapes(text) == [
        ("an Anthropic API key", 2),
        ("a Discord bot token", 4),
        ("a Groq API key", 5),
    ]


def test_ordinary_text_and_redacted_headers_are_not_secrets() -> None:
    text = "Dana likes sk-ant jokes. Version 1.2.3. Authorization: Bearer [REDACTED]\nM.x.y"
    assert find_secret_shapes(text) == []


def test_scan_names_the_file_reason_and_line_never_the_secret() -> None:
    finding = scan_bytes("memories/alpha/users/2.md", f"# Dana\n\nher bot: {DISCORD_TOKEN}\n".encode(), {})
    assert finding is not None
    assert finding.line() == (
        "memories/alpha/users/2.md: contains what looks like a Discord bot token (line 3); remove it, then sync again"
    )
    assert DISCORD_TOKEN not in finding.line()
    assert scan_bytes("memories/alpha/users/3.md", b"# Bob\nlikes chess\n", {}) is None


def test_known_secret_values_are_found_even_without_a_shape(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nexport ALPHA_BOT_TOKEN="plain-looking-token-value"\nSHORT_TOKEN=abc\nLOG_LEVEL=DEBUG\n')
    assert read_env_file(env_file) == {
        "ALPHA_BOT_TOKEN": "plain-looking-token-value", "SHORT_TOKEN": "abc", "LOG_LEVEL": "DEBUG",
    }
    secrets = known_secrets({"HOME": "/root"}, env_file)
    assert secrets == {"plain-looking-token-value": "ALPHA_BOT_TOKEN"}  # short values would flag words
    finding = scan_bytes("logs/synced/a/alpha.log", b"line\nsaw plain-looking-token-value here\n", secrets)
    assert finding is not None and finding.reason == "contains the value of ALPHA_BOT_TOKEN (line 2)"


# -- markdown --------------------------------------------------------------------------------

BASE = b"# Dana\n\nlikes chess\nworks at TechCorp\nhas a cat\n"


def test_edits_of_different_lines_merge_like_git() -> None:
    local = BASE.replace(b"likes chess", b"likes chess and go")
    other = BASE + b"moved to Berlin\n"
    result = merge_text(local, BASE, other, "laptop")
    assert result.conflicts == 0
    assert result.text == b"# Dana\n\nlikes chess and go\nworks at TechCorp\nhas a cat\nmoved to Berlin\n"


def test_a_clash_keeps_both_versions_under_plain_markers() -> None:
    local = BASE.replace(b"works at TechCorp", b"works at Initech")
    other = BASE.replace(b"works at TechCorp", b"works at Globex")
    result = merge_text(local, BASE, other, "laptop")
    assert result.conflicts == 1
    assert result.text.decode() == (
        "# Dana\n\nlikes chess\n"
        f"{kept_both_marker('laptop')}\nworks at Initech\n{OTHER_VERSION}\nworks at Globex\n{END_KEPT}\n"
        "has a cat\n"
    )
    assert kept_both_marker("laptop") == "<!-- sync: kept both versions; laptop's first -->"
    assert b"<<<<<<<" not in result.text and b"=======" not in result.text


def test_a_heading_underline_is_not_taken_for_a_marker() -> None:
    base = b"Dana\n=======\n\nlikes chess\n"
    local, other = base.replace(b"chess", b"go"), base.replace(b"chess", b"poker")
    result = merge_text(local, base, other, "laptop")
    assert result.text.startswith(b"Dana\n=======\n\n<!-- sync: kept both")
    assert result.text.count(b"=======") == 1


def test_a_32_wide_underline_in_a_clean_merge_survives() -> None:
    base = b"Dana\n" + b"=" * 32 + b"\n\nlikes chess\n\nworks at TechCorp\n\nhas a cat\n"
    local, other = base.replace(b"chess", b"go"), base.replace(b"cat", b"dog")
    result = merge_text(local, base, other, "laptop")
    assert result.conflicts == 0
    assert result.text == b"Dana\n" + b"=" * 32 + b"\n\nlikes go\n\nworks at TechCorp\n\nhas a dog\n"


@pytest.mark.parametrize("style", ["diff3", "zdiff3"])
def test_a_users_diff3_conflict_style_leaves_no_base_section(style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "merge.conflictStyle")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", style)
    local = BASE.replace(b"works at TechCorp", b"works at Initech")
    other = BASE.replace(b"works at TechCorp", b"works at Globex")
    result = merge_text(local, BASE, other, "laptop")
    assert b"|||||||" not in result.text and b"<<<<<<<" not in result.text
    assert result.text.count(b"works at") == 2


def test_a_host_name_cannot_break_the_comment() -> None:
    assert kept_both_marker("evil-->host") == "<!-- sync: kept both versions; evil-host's first -->"


# -- follow-ups -------------------------------------------------------------------------------


def item(fid: str, **extra: object) -> dict[str, object]:
    return {"id": fid, "user_id": "1", "event": f"event {fid}", **extra}


def doc(pending: list[dict[str, object]], completed: list[dict[str, object]] | None = None) -> str:
    return json.dumps({"pending": pending, "completed": completed or []})


def test_followups_union_by_id_completed_wins() -> None:
    base = doc([item("f1"), item("f2")])
    local = doc([item("f1"), item("f2"), item("f3")])  # f3 new here
    other = doc([item("f2"), item("f4")], [item("f1", outcome="got the job")])  # f1 completed there
    merged = json.loads(merge_followups(local, base, other).text or "")
    assert [i["id"] for i in merged["pending"]] == ["f2", "f3", "f4"]
    assert merged["completed"] == [item("f1", outcome="got the job")]


def test_followups_removed_on_one_side_stays_removed_unless_changed_on_the_other() -> None:
    base = doc([item("f1"), item("f2")], [item("f0")])
    local = doc([item("f1"), item("f2", woven=True)], [item("f0")])  # f2 changed here
    other = doc([])  # the other machine expired f1 and f2, archived f0
    merged = json.loads(merge_followups(local, base, other).text or "")
    assert [i["id"] for i in merged["pending"]] == ["f2"]  # changed here: kept
    assert merged["completed"] == []


def test_followups_without_a_common_ancestor_and_items_without_ids() -> None:
    local = doc([item("a")], [{"event": "old, no id"}])
    other = doc([item("b")], [{"event": "old, no id"}, {"event": "another"}])
    merged = json.loads(merge_followups(local, "", other).text or "")
    assert [i["id"] for i in merged["pending"]] == ["a", "b"]
    assert merged["completed"] == [{"event": "old, no id"}, {"event": "another"}]


def test_followups_one_id_for_two_different_follow_ups_keeps_both() -> None:
    base = doc([item("followup_001")])
    local = doc([item("followup_001"), {"id": "followup_002", "user_id": "2", "event": "job interview"}])
    other = doc([item("followup_001"), {"id": "followup_002", "user_id": "3", "event": "wedding"}])
    merged = json.loads(merge_followups(local, base, other).text or "")
    assert [(i["id"], i["event"]) for i in merged["pending"]] == [
        ("followup_001", "event followup_001"),
        ("followup_002", "job interview"),
        ("followup_002-2", "wedding"),
    ]
    # the same follow-up created on both sides (case and spacing aside) stays one item
    same = doc([{"id": "f9", "user_id": "2", "event": "Job  interview"}])
    merged = json.loads(merge_followups(doc([{"id": "f9", "user_id": "2", "event": "job interview"}]), "", same).text or "")
    assert [i["id"] for i in merged["pending"]] == ["f9"]
    # an edit of the base's item on one side is not a clash
    edited = doc([{**item("followup_001"), "event": "exam moved"}])
    merged = json.loads(merge_followups(edited, base, base).text or "")
    assert [(i["id"], i["event"]) for i in merged["pending"]] == [("followup_001", "exam moved")]


def test_corrupt_followups_lose_to_the_valid_side() -> None:
    good = doc([item("a")])
    assert merge_followups("{not json", "", good).text == good
    assert merge_followups("{not json", "", good).corrupt_side == "local"
    assert merge_followups(good, "", "garbage").corrupt_side == "other"
    assert merge_followups("{x", "", "{y").text is None


# -- the driver entry point ------------------------------------------------------------------


def run_driver(tmp_path: Path, kind: str, base: bytes, ours: bytes, theirs: bytes, name: str,
               monkeypatch: pytest.MonkeyPatch, rebase: bool = False) -> tuple[bytes, list[dict[str, str]]]:
    files = {}
    for label, data in (("base", base), ("ours", ours), ("theirs", theirs)):
        files[label] = tmp_path / f".merge_file_{label}"
        files[label].write_bytes(data)
    report = tmp_path / "report.jsonl"
    monkeypatch.chdir(tmp_path)  # git runs drivers from the top of the work tree
    monkeypatch.setenv(drivers.REPORT_ENV, str(report))
    monkeypatch.setenv(drivers.REBASE_ENV, "1" if rebase else "0")
    monkeypatch.setenv("BOT_MANAGER_HOST", "laptop")
    code = drivers.main([kind, str(files["base"]), str(files["ours"]), str(files["theirs"]), name])
    assert code == 0
    lines = report.read_text().splitlines() if report.exists() else []
    return files["ours"].read_bytes(), [json.loads(line) for line in lines]


def test_text_driver_in_a_rebase_puts_this_machines_side_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = BASE.replace(b"has a cat", b"has a dog")
    mine = BASE.replace(b"has a cat", b"has two cats")
    # in a rebase %A is the upstream, %B this machine's commit
    result, report = run_driver(tmp_path, "text", BASE, upstream, mine, "memories/a/u.md", monkeypatch, rebase=True)
    assert b"laptop's first -->\nhas two cats\n<!-- sync: the other machine's version -->\nhas a dog\n" in result
    assert report == [{"kind": "kept-both", "path": "memories/a/u.md"}]


def test_keep_local_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run_driver(tmp_path, "keep-local", b"{}", b'{"a": 1}', b'{"b": 2}', "persistence/a/x.json", monkeypatch)
    assert result == b'{"a": 1}'
    result, _ = run_driver(tmp_path, "keep-local", b"{}", b'{"a": 1}', b'{"b": 2}', "persistence/a/x.json",
                           monkeypatch, rebase=True)
    assert result == b'{"b": 2}'


def test_followups_driver_sets_the_corrupt_side_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = doc([item("a")]).encode()
    name = "memories/alpha/servers/1/followups.json"
    result, report = run_driver(tmp_path, "followups", b"", good, b"{oops", name, monkeypatch)
    assert result == good
    assert report[0]["kind"] == "corrupt-aside" and report[0]["path"] == name
    aside = Path(report[0]["aside"])
    assert aside.parent == Path("memories/alpha/servers/1") and aside.name.startswith("followups.json.corrupt-other")
    assert (tmp_path / aside).read_bytes() == b"{oops"


def test_followups_driver_falls_back_to_text_when_neither_side_is_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, report = run_driver(tmp_path, "followups", b"", b"{mine\n", b"{theirs\n", "memories/f/followups.json", monkeypatch)
    assert b"{mine\n<!-- sync: the other machine's version -->\n{theirs\n" in result
    assert report == [{"kind": "kept-both", "path": "memories/f/followups.json"}]


def test_profile_facts_from_both_machines_end_in_one_block(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from framework.memory.profiles import read_profile_facts, render_profile

    monkeypatch.setenv(drivers.REPORT_ENV, str(tmp_path / "report.jsonl"))
    base = render_profile("# User: dana\n\nlikes chess\n", {"age": 27}, user_name="dana")
    local = render_profile(base, {"age": 27, "interests": ["minecraft"]}, user_name="dana") + "plays go\n"
    other = render_profile(base, {"age": 27, "location": "Berlin"}, user_name="dana")
    merged = drivers.merge_text_file(base.encode(), local.encode(), other.encode(), "users/2.md").decode()
    assert merged.count("<!-- profile-facts: ") == 1 and "<!-- sync:" not in merged
    assert read_profile_facts(merged) == {"age": 27, "interests": ["minecraft"], "location": "Berlin"}
    assert merged.endswith("plays go\n") and "likes chess" in merged


def test_driver_usage_error() -> None:
    assert drivers.main(["nope", "a", "b", "c", "d"]) == 2
    assert os.environ.get(drivers.REPORT_ENV) is None
