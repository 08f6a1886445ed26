"""ImagePipeline: the images of the messages a request is about, as model image blocks.

It remembers the attachments of each message it is told about (so a reply to an image
posted earlier can show it), downloads at most ``max_per_message`` images of a message,
at most three at once, processes them off the event loop, and keeps each result for the
life of the process by attachment id: a reply chain or a later check does not download
the same image again. A failed image is skipped with one log line and remembered as
failed; the text is answered regardless.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import aiohttp

from ..domain import Attachment, ImageBlock, IncomingMessage
from .download import DEADLINE_SECONDS, MAX_BYTES, DownloadRefused, download
from .ladder import ImageRefused, ProcessedImage, process

__all__ = ["ImagePipeline", "is_image"]

_log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp")
REMEMBERED_MESSAGES = 2000  # messages whose attachments are kept for later replies
CACHED_IMAGES = 500  # processed images kept (about 3.6 MB at most each)
CONCURRENT = 3
MAX_PER_REQUEST = 20  # the API allows more, but shrinks every image of a request with over 20


def is_image(attachment: Attachment) -> bool:
    """An image by its name or declared type; SVG never (it is a script, not a picture)."""
    name = attachment.filename.lower().split("?", 1)[0]
    ctype = attachment.content_type.lower()
    if "svg" in ctype or name.endswith(".svg"):
        return False
    return name.endswith(IMAGE_EXTENSIONS) or ctype.startswith("image/")


@dataclass
class ImagePipeline:
    hosts: frozenset[str]
    max_per_message: int = 5
    compression_target: float = 0.73
    max_bytes: int = MAX_BYTES
    deadline: float = DEADLINE_SECONDS
    session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession
    downloads: int = 0  # how many downloads were started (tests and the ledger read it)
    _session: aiohttp.ClientSession | None = None
    _seen: OrderedDict[str, tuple[str, tuple[Attachment, ...]]] = field(default_factory=OrderedDict)
    _cache: OrderedDict[str, ProcessedImage | None] = field(default_factory=OrderedDict)
    _gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENT))

    def note(self, message: IncomingMessage) -> None:
        """Remember a message's image attachments, for replies to it later."""
        images = tuple(a for a in message.attachments if is_image(a))
        if not images:
            return
        self._seen[message.message_id] = (message.author_name, images)
        self._seen.move_to_end(message.message_id)
        while len(self._seen) > REMEMBERED_MESSAGES:
            self._seen.popitem(last=False)

    async def blocks(self, messages: Sequence[IncomingMessage], also: Sequence[str] = ()) -> list[ImageBlock]:
        """Image blocks of ``messages``, then of the remembered messages ``also`` (by id), in order."""
        for message in messages:
            self.note(message)
        wanted: list[tuple[str, str, Attachment]] = []
        for message_id in [m.message_id for m in messages] + [i for i in also if i]:
            author, images = self._seen.get(message_id, ("", ()))
            wanted += [(message_id, author, a) for a in images[: self.max_per_message]]
        unique = list({a.id: (mid, author, a) for mid, author, a in wanted}.values())[:MAX_PER_REQUEST]
        results = await asyncio.gather(*(self._processed(a) for _, _, a in unique))
        return [
            ImageBlock(mid, author, a.filename, len(done.data), _block(done))
            for (mid, author, a), done in zip(unique, results)
            if done is not None
        ]

    async def _processed(self, attachment: Attachment) -> ProcessedImage | None:
        if attachment.id in self._cache:
            return self._cache[attachment.id]
        async with self._gate:
            if attachment.id in self._cache:  # another request fetched it while this one waited
                return self._cache[attachment.id]
            result = await self._fetch_and_process(attachment)
        self._cache[attachment.id] = result
        while len(self._cache) > CACHED_IMAGES:
            self._cache.popitem(last=False)
        return result

    async def _fetch_and_process(self, attachment: Attachment) -> ProcessedImage | None:
        if self._session is None or self._session.closed:
            self._session = self.session_factory()
        self.downloads += 1
        try:
            data = await download(
                self._session, attachment.url, self.hosts, max_bytes=self.max_bytes, deadline=self.deadline
            )
            return await asyncio.to_thread(partial(process, data, target=self.compression_target))
        except (DownloadRefused, ImageRefused) as exc:
            _log.info("image %s (%s) skipped: %s", attachment.filename, attachment.id, exc)
            return None
        except Exception as exc:  # an image must never cost the reply its text
            _log.warning("image %s (%s) skipped: %s: %s", attachment.filename, attachment.id, type(exc).__name__, exc)
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _block(image: ProcessedImage) -> dict:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": image.media_type, "data": base64.b64encode(image.data).decode()},
    }
