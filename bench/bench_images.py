"""The image pipeline's cost: a 12 MP photo through the ladder, against a plain Pillow
open-resize-save of the same file, and the peak memory while five photos are processed
at once.

    .venv/bin/python bench/bench_images.py [--runs 5] [--json PATH]

* ladder: ``framework.images.process`` on a 4000x3000 JPEG photo (a smooth gradient with
  grain, quality 92): verify, pixel cap, EXIF orientation, reduced-scale JPEG decoding,
  1568 px Lanczos, the first rung that fits (JPEG quality 85); the median of ``--runs``.
* baseline: ``Image.open`` -> ``convert("RGB")`` -> Lanczos resize to 1568 px -> JPEG
  quality 85, the same output, the plainest way; the median of ``--runs``.
* ratio: ladder / baseline.
* peak RSS: a fresh child process serves five distinct photos from a loopback HTTP server
  and has one ImagePipeline (allow-listed to that server, at most 3 at once) download and
  process all five in one call; its peak RSS (``VmHWM``) is reported with the RSS it
  had before the pipeline started, and their difference.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from framework.images import process  # noqa: E402
from framework.images.ladder import MAX_SIDE  # noqa: E402


def photo(seed: int = 0, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A photo-like JPEG: a colour gradient with grain (pure noise would be no photo)."""
    width, height = size
    gradient = Image.linear_gradient("L").resize(size)
    red = gradient
    green = gradient.rotate(90 + seed * 7).resize(size)
    blue = Image.radial_gradient("L").resize(size)
    grain = Image.effect_noise(size, 24 + seed)
    image = Image.merge("RGB", (Image.blend(red, grain, 0.3), Image.blend(green, grain, 0.2), blue))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def baseline(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    ratio = MAX_SIDE / max(image.size)
    image = image.resize((round(image.width * ratio), round(image.height * ratio)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def timed(fn: Any, data: bytes, runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _rss_mb() -> float:
    """This process's peak RSS so far. VmHWM belongs to the process's own memory map, where
    ru_maxrss keeps the parent's peak across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


async def _child(folder: Path) -> dict[str, Any]:
    """In a fresh process: five photos served on loopback, one pipeline call for all five."""
    from aiohttp import web

    from framework.domain import Attachment, IncomingMessage
    from framework.images import ImagePipeline, allowed_hosts

    files = sorted(folder.glob("*.jpg"))
    app = web.Application()
    app.router.add_static("/attachments", folder)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    pipeline = ImagePipeline(hosts=allowed_hosts(base), max_per_message=5)
    message = IncomingMessage(
        message_id="1", channel_id="c", guild_id="g", author_id="u", author_name="dana", content="look",
        timestamp=__import__("datetime").datetime.now(__import__("datetime").timezone.utc),
        attachments=tuple(Attachment(str(i), f"{base}/attachments/{f.name}", f.name) for i, f in enumerate(files)),
    )
    before = _rss_mb()
    start = time.perf_counter()
    blocks = await pipeline.blocks([message])
    elapsed = time.perf_counter() - start
    peak = _rss_mb()
    await pipeline.close()
    await runner.cleanup()
    return {
        "images": len(blocks), "seconds": round(elapsed, 3),
        "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1), "peak_increase_mb": round(peak - before, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child))))
        return 0

    data = photo()
    ladder_s, done = timed(process, data, args.runs)
    plain_s, plain = timed(baseline, data, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(5):
            (Path(tmp) / f"photo{i}.jpg").write_bytes(photo(i))
        child = subprocess.run(
            [sys.executable, __file__, "--child", tmp], capture_output=True, text=True, check=True, timeout=300
        )
    five = json.loads(child.stdout)
    results = {
        "photo": {"size": "4000x3000", "bytes": len(data)},
        "ladder": {"median_s": round(ladder_s, 4), "step": done.step, "out": f"{done.width}x{done.height}",
                   "out_bytes": len(done.data)},
        "baseline_open_resize_save": {"median_s": round(plain_s, 4), "out_bytes": len(plain)},
        "ratio_ladder_to_baseline": round(ladder_s / plain_s, 2),
        "five_at_once": five,
        "runs": args.runs,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
