"""Downloads against a loopback server: the allow-list (other hosts, 127.0.0.1 unless it is
the server the bot runs against, a redirect elsewhere), the size cap whatever the headers
say, the deadline against a slow drip, and the pipeline's cache (a second use of an image
downloads nothing)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from framework.domain import Attachment, IncomingMessage
from framework.images import DownloadRefused, ImagePipeline, allowed_hosts, download, is_image, url_allowed


def png(color: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


@dataclass
class Loopback:
    base: str
    hits: dict[str, int] = field(default_factory=dict)


@pytest.fixture
async def server() -> AsyncIterator[Loopback]:
    loop = Loopback("")

    def counted(handler):  # type: ignore[no-untyped-def]
        async def wrapped(request: web.Request) -> web.StreamResponse:
            loop.hits[request.path] = loop.hits.get(request.path, 0) + 1
            return await handler(request)
        return wrapped

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(body=png(), content_type="image/png")

    async def text(request: web.Request) -> web.StreamResponse:
        return web.Response(text="not a picture at all", content_type="image/png")

    async def hop_in(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/ok.png")

    async def hop_out(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data")

    async def announced_huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(10**9)})
        await response.prepare(request)
        await response.write(b"x" * 100)
        return response

    async def unannounced_flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()  # no Content-Length: only the count of bytes read tells
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"x" * 1024)
        return response

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"x")
            await asyncio.sleep(0.05)  # the slow sender the deadline is for
        return response

    app = web.Application()
    for path, handler in {
        "/ok.png": ok, "/text.png": text, "/hop-in.png": hop_in, "/hop-out.png": hop_out,
        "/huge.png": announced_huge, "/flood.png": unannounced_flood, "/drip.png": drip,
    }.items():
        app.router.add_get(path, counted(handler))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    loop.base = f"http://127.0.0.1:{port}"
    yield loop
    await runner.cleanup()


def test_the_allow_list_takes_discord_over_https_and_nothing_else() -> None:
    hosts = allowed_hosts(None)
    assert url_allowed("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1", hosts)
    assert url_allowed("https://media.discordapp.net/attachments/1/2/a.png", hosts)
    assert not url_allowed("http://cdn.discordapp.com/attachments/1/2/a.png", hosts)  # not over plain http
    assert not url_allowed("https://cdn.discordapp.com.evil.example/a.png", hosts)
    assert not url_allowed("https://evil.example/a.png", hosts)
    assert not url_allowed("http://127.0.0.1:8080/a.png", hosts)
    assert not url_allowed("file:///etc/passwd", hosts)
    assert not url_allowed("https://cdn.discordapp.com:99999/a.png", hosts)  # a port that cannot be
    sandbox = allowed_hosts("http://127.0.0.1:8080/api/v10")
    assert url_allowed("http://127.0.0.1:8080/attachments/1/2/a.png", sandbox)
    assert not url_allowed("http://127.0.0.1:8081/a.png", sandbox)  # only the server's own port


def test_svg_and_non_images_are_not_candidates() -> None:
    assert is_image(Attachment("1", "u", "cat.PNG")) and is_image(Attachment("1", "u", "x", "image/webp"))
    assert not is_image(Attachment("1", "u", "logo.svg", "image/svg+xml"))
    assert not is_image(Attachment("1", "u", "notes.txt", "text/plain"))


async def test_downloads_follow_only_allowed_redirects_within_the_cap_and_deadline(server: Loopback) -> None:
    hosts = allowed_hosts(server.base)
    async with aiohttp.ClientSession() as session:
        assert await download(session, f"{server.base}/ok.png", hosts) == png()
        assert await download(session, f"{server.base}/hop-in.png", hosts) == png()
        with pytest.raises(DownloadRefused, match="allow-list"):  # the redirect target is checked too
            await download(session, f"{server.base}/hop-out.png", hosts)
        with pytest.raises(DownloadRefused, match="allow-list"):  # not in sandbox mode: loopback refused
            await download(session, f"{server.base}/ok.png", allowed_hosts(None))
        with pytest.raises(DownloadRefused, match="announced"):
            await download(session, f"{server.base}/huge.png", hosts)
        with pytest.raises(DownloadRefused, match="over the cap"):
            await download(session, f"{server.base}/flood.png", hosts, max_bytes=10_000)
        with pytest.raises(DownloadRefused, match="HTTP 404"):
            await download(session, f"{server.base}/missing.png", hosts)
        with pytest.raises(DownloadRefused, match="within 0.3 s"):
            await download(session, f"{server.base}/drip.png", hosts, deadline=0.3)
    assert "/text.png" not in server.hits


def message(mid: str, *attachments: Attachment, reference: str | None = None) -> IncomingMessage:
    return IncomingMessage(
        message_id=mid, channel_id="c", guild_id="g", author_id="u1", author_name="dana", content="look",
        timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc), has_attachments=bool(attachments),
        attachments=attachments, reference_id=reference,
    )


async def test_the_pipeline_caches_by_attachment_and_skips_what_fails(server: Loopback) -> None:
    pipeline = ImagePipeline(hosts=allowed_hosts(server.base), max_per_message=2)
    photo = Attachment("a1", f"{server.base}/ok.png", "cat.png", "image/png")
    broken = Attachment("a2", f"{server.base}/text.png", "fake.png", "image/png")
    extra = Attachment("a3", f"{server.base}/ok.png", "third.png", "image/png")  # over max_per_message
    posted = message("m1", photo, broken, extra)
    first = await pipeline.blocks([posted])
    assert [(b.message_id, b.filename, b.author_name) for b in first] == [("m1", "cat.png", "dana")]
    assert first[0].block["type"] == "image" and first[0].block["source"]["media_type"] == "image/png"
    assert server.hits == {"/ok.png": 1, "/text.png": 1}
    # A reply to the image, answered later: the image comes from the cache, the broken one is not retried.
    again = await pipeline.blocks([message("m2", reference="m1")], also=["m1"])
    assert [b.filename for b in again] == ["cat.png"] and again[0].block == first[0].block
    assert server.hits == {"/ok.png": 1, "/text.png": 1} and pipeline.downloads == 2
    await pipeline.close()


async def test_at_most_three_images_download_at_once() -> None:
    in_flight, peak, release = 0, 0, asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= 3:
            release.set()  # the third is in: let them all finish
        await release.wait()
        in_flight -= 1
        return web.Response(body=png(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    pipeline = ImagePipeline(hosts=allowed_hosts(base), max_per_message=5)
    posted = message("m1", *(Attachment(f"a{i}", f"{base}/{i}.png", f"{i}.png") for i in range(5)))
    try:
        found = await asyncio.wait_for(pipeline.blocks([posted]), 10)
    finally:
        await pipeline.close()
        await runner.cleanup()
    assert len(found) == 5 and peak == 3


async def test_an_unexpected_failure_skips_the_image_and_keeps_the_rest(server: Loopback) -> None:
    class Broken:
        closed = False

        def get(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("the session fell over")

        async def close(self) -> None:
            pass

    pipeline = ImagePipeline(hosts=allowed_hosts(server.base), session_factory=Broken)  # type: ignore[arg-type]
    assert await pipeline.blocks([message("m1", Attachment("b1", f"{server.base}/ok.png", "a.png"))]) == []
    await pipeline.close()
