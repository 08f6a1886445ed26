"""Fetching one image: allow-listed hosts only, every redirect re-checked, a size cap and a
deadline for the whole transfer (a slow drip cannot hold a reply)."""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

import aiohttp

from .hosts import url_allowed

__all__ = ["DownloadRefused", "download", "MAX_BYTES", "DEADLINE_SECONDS"]

MAX_BYTES = 50 * 1024 * 1024
DEADLINE_SECONDS = 30.0
MAX_REDIRECTS = 3
CHUNK = 8192


class DownloadRefused(Exception):
    """Why an image was not downloaded, in one line."""


async def download(
    session: aiohttp.ClientSession,
    url: str,
    hosts: frozenset[str],
    *,
    max_bytes: int = MAX_BYTES,
    deadline: float = DEADLINE_SECONDS,
) -> bytes:
    try:
        async with asyncio.timeout(deadline):
            return await _fetch(session, url, hosts, max_bytes)
    except TimeoutError:
        raise DownloadRefused(f"no complete answer within {deadline:g} s") from None
    except aiohttp.ClientError as exc:
        raise DownloadRefused(f"download failed: {type(exc).__name__}: {exc}") from None


async def _fetch(session: aiohttp.ClientSession, url: str, hosts: frozenset[str], max_bytes: int) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        if not url_allowed(url, hosts):
            raise DownloadRefused(f"host not on the allow-list: {url.split('?', 1)[0]}")
        async with session.get(url, allow_redirects=False) as response:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise DownloadRefused(f"redirect without a Location (HTTP {response.status})")
                url = urljoin(url, location)  # checked against the allow-list on the next turn
                continue
            if response.status != 200:
                raise DownloadRefused(f"HTTP {response.status}")
            if response.content_length is not None and response.content_length > max_bytes:
                raise DownloadRefused(f"{response.content_length} bytes announced, over the {max_bytes}-byte cap")
            data = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                data += chunk
                if len(data) > max_bytes:  # the announced length may lie, or be absent
                    raise DownloadRefused(f"more than {max_bytes} bytes sent, over the cap")
            return bytes(data)
    raise DownloadRefused(f"more than {MAX_REDIRECTS} redirects")
