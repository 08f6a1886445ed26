"""The context carries the images of the message answered and of the messages it replies
to, and says whose message each image is from; a check carries the new messages' images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from framework.domain import Attachment, ImageBlock, IncomingMessage
from framework.engines.context import ContextBuilder, ContextRequest
from framework.storage import MessageStore

from .test_context import m


class Images:
    """Blocks for messages that have attachments; records what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[str], list[str]]] = []
        self.posted: dict[str, IncomingMessage] = {}

    async def blocks(self, messages: Sequence[IncomingMessage], also: Sequence[str] = ()) -> list[ImageBlock]:
        self.asked.append(([x.message_id for x in messages], list(also)))
        for x in messages:
            self.posted.setdefault(x.message_id, x)
        found = []
        for mid in [x.message_id for x in messages] + list(also):
            posted = self.posted.get(mid)
            for a in posted.attachments if posted else ():
                found.append(ImageBlock(mid, posted.author_name, a.filename, 10, {"type": "image", "id": a.id}))
        return found


async def test_a_reply_to_an_image_carries_it_and_names_its_message(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    photo = m(1, "", author="u2", attachments=(Attachment("a1", "https://cdn.discordapp.com/x.png", "cat.png"),),
              has_attachments=True)
    ask = m(2, "<@900> what's in the picture above?", reference_id="1", mentions_self=True)
    await store.add_many([photo, ask])
    images = Images()
    images.posted["1"] = photo
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store, image_source=images)
    request = await builder.build(ContextRequest("c", "#general", [ask], ask, urgent=True))
    assert request.images == ({"type": "image", "id": "a1"},)
    assert images.asked == [(["2"], ["1"])]
    assert "Image 1: cat.png (0 KB), posted by sam (message id 1)" in request.turns[0].content
    check = await builder.build(ContextRequest("c", "#general", [photo, ask], ask, urgent=False))
    assert check.images == ({"type": "image", "id": "a1"},) and images.asked[-1] == (["1", "2"], [])
    await store.close()


async def test_without_images_nothing_changes(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    ask = m(1, "hi <@900>", mentions_self=True)
    await store.add(ask)
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store, image_source=Images())
    request = await builder.build(ContextRequest("c", "#general", [ask], ask, urgent=True))
    assert request.images == () and "Image" not in request.turns[0].content
    await store.close()
