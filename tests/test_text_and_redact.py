"""Message splitting at Discord's limit, and secret redaction."""

from __future__ import annotations

import logging

from framework.engines.text import split_message
from framework.redact import RedactingFormatter, Redactor, secret_values


def test_short_text_is_one_chunk() -> None:
    assert split_message("  hello  ") == ["hello"]


def test_split_prefers_paragraphs_then_sentences() -> None:
    para = "word " * 300  # 1500 chars
    text = para.strip() + "\n\n" + para.strip()
    chunks = split_message(text)
    assert len(chunks) == 2 and all(len(c) <= 2000 for c in chunks)
    assert chunks[0] == para.strip()
    sentences = " ".join(f"Sentence number {i} ends here." for i in range(120))
    chunks = split_message(sentences)
    assert all(len(c) <= 2000 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == sentences


def test_split_cuts_an_endless_word_hard() -> None:
    chunks = split_message("x" * 4500)
    assert [len(c) for c in chunks] == [2000, 2000, 500]


def test_redactor_hides_known_values_and_shapes() -> None:
    env = {
        "ALPHA_BOT_TOKEN": "MTAxMjM0NTY3ODkwMTIzNDU2.Gabcde.abcdefghijklmnopqrstuvwxyz0123",
        "ANTHROPIC_API_KEY": "sk-ant-api03-secretsecret",
        "HOME": "/root",
        "SHORT_TOKEN": "abc",
    }
    redact = Redactor(secret_values(env))
    line = f"login with {env['ALPHA_BOT_TOKEN']} and key {env['ANTHROPIC_API_KEY']} in /root"
    out = redact(line)
    assert "MTAx" not in out and "secretsecret" not in out
    assert "[REDACTED:ALPHA_BOT_TOKEN]" in out and "[REDACTED:ANTHROPIC_API_KEY]" in out
    assert "/root" in out  # ordinary values stay
    assert redact("Authorization: Bot abc.def.ghi") == "Authorization: Bot [REDACTED]"
    assert redact("an unknown key sk-ant-zzzzzzzzzzzz leaked") == "an unknown key [REDACTED] leaked"


def test_formatter_redacts_tracebacks() -> None:
    formatter = RedactingFormatter(Redactor({"hunter2-secret": "PASSWORD"}))
    try:
        raise RuntimeError("bad password hunter2-secret")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info=__import__("sys").exc_info())
    text = formatter.format(record)
    assert "hunter2" not in text and "[REDACTED:PASSWORD]" in text
