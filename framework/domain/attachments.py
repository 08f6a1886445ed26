"""A file posted with a message, as plain data (the Discord adapter fills it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Attachment", "ImageBlock"]


@dataclass(frozen=True)
class Attachment:
    """One attachment (or image embed) of a message; ``size`` as Discord reports it."""

    id: str
    url: str
    filename: str
    content_type: str = ""
    size: int = 0
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ImageBlock:
    """A processed image ready for the model: whose message it came from, and the block."""

    message_id: str
    author_name: str
    filename: str
    size: int  # bytes as sent to the model
    block: dict  # an Anthropic image block: {"type": "image", "source": {...base64...}}
