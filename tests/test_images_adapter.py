"""The Discord adapter's translation of attachments and image embeds into plain data."""

from __future__ import annotations

from types import SimpleNamespace

import discord

from framework.discord.adapter import attachments_of


def test_files_and_image_embeds_become_attachments() -> None:
    state = SimpleNamespace(http=None)
    file = discord.Attachment(data={
        "id": "5", "filename": "cat.png", "size": 123, "url": "https://cdn.discordapp.com/attachments/1/5/cat.png",
        "proxy_url": "https://media.discordapp.net/attachments/1/5/cat.png", "width": 10, "height": 20,
        "content_type": "image/png",
    }, state=state)  # type: ignore[arg-type]
    pasted = discord.Embed.from_dict({"type": "image", "url": "https://example.com/dog.jpg", "thumbnail": {
        "url": "https://example.com/dog.jpg", "width": 300, "height": 200,
        "proxy_url": "https://images-ext-1.discordapp.net/external/abc/https/example.com/dog.jpg",
    }})
    article = discord.Embed.from_dict({"type": "article", "url": "https://example.com/news", "thumbnail": {
        "url": "https://example.com/t.jpg", "proxy_url": "https://images-ext-1.discordapp.net/t.jpg"}})
    message = SimpleNamespace(id=77, attachments=[file], embeds=[pasted, article])
    found = attachments_of(message)  # type: ignore[arg-type]
    assert [(a.id, a.filename, a.content_type, a.size, a.width, a.height) for a in found] == [
        ("5", "cat.png", "image/png", 123, 10, 20), ("77-embed-0", "dog.jpg", "", 0, 300, 200),
    ]
    assert found[1].url.startswith("https://images-ext-1.discordapp.net/")  # Discord's proxy, on the allow-list
