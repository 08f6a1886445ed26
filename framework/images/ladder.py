"""Turning downloaded bytes into an image the model accepts.

Pillow verifies the file, refuses decompression bombs before decoding pixels, applies the
EXIF orientation, keeps the first frame of an animation, scales the long side down to the
recommended maximum, then walks the compression ladder until the encoded size is within
``target`` of the API's per-image limit:

1. the original format (PNG at compression level 9, JPEG or WEBP at quality 85);
2. JPEG on a white background, quality 85, 75, ... 15, then 10;
3. WEBP, quality 85 down to 15;
4. scaled to 0.7x (Lanczos), JPEG then WEBP at quality 15;
5. 512x512 at most, JPEG quality 10;
otherwise the image is refused. CPU-bound: callers run it in a thread.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageRefused", "ProcessedImage", "process", "API_LIMIT_BYTES", "MAX_SIDE", "MAX_PIXELS"]

API_LIMIT_BYTES = 5 * 1024 * 1024  # Claude's per-image limit (base64 is added on top by the SDK)
MAX_SIDE = 1568  # Claude's recommended long side: larger is scaled down by the API anyway
MAX_PIXELS = 64_000_000  # 8000 x 8000, the API's largest side squared: more is a bomb
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


class ImageRefused(Exception):
    """Why bytes were not turned into an image, in one line."""


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    media_type: str
    width: int
    height: int
    step: str  # which rung of the ladder fitted, e.g. "original PNG", "JPEG q45"


def _open(data: bytes, max_pixels: int, max_side: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in FORMATS:
                raise ImageRefused(f"not a supported image format ({probe.format or 'unknown'})")
            width, height = probe.size
            if width * height > max_pixels:
                raise ImageRefused(f"{width}x{height} is over the {max_pixels}-pixel cap (decompression bomb)")
            probe.verify()  # checks the structure; the image must be opened again to be used
            image = Image.open(io.BytesIO(data))
            image.seek(0)  # an animation: its first frame
            if image.format == "JPEG" and max(width, height) > max_side:
                # Decode at a reduced scale (1/2, 1/4, 1/8) whose long side is still at least max_side.
                ratio = max_side / max(width, height)
                image.draft(None, (max(1, round(width * ratio)), max(1, round(height * ratio))))
            image.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"over Pillow's {Image.MAX_IMAGE_PIXELS}-pixel limit (decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageRefused("not a readable image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRefused(f"corrupt image data ({type(exc).__name__}: {exc})") from None
    return image


def _normalised(image: Image.Image) -> Image.Image:
    fmt = image.format
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("P", "LA", "PA", "1", "L;16", "I", "I;16", "F"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("LA", "PA") else "RGB")
    elif image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB...
    image.format = fmt
    return image


def _scaled(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    ratio = max_side / max(image.size)
    size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def _encode(image: Image.Image, fmt: str, quality: int | None = None) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG", optimize=True, compress_level=9)
    elif fmt == "JPEG":
        _on_white(image).save(out, "JPEG", quality=quality or 85, optimize=True)
    else:
        image.save(out, "WEBP", quality=quality or 85, method=4)
    return out.getvalue()


def _rungs(image: Image.Image, original: str) -> Iterator[tuple[str, Image.Image, str, int | None]]:
    keep = "PNG" if original in ("PNG", "GIF") else original  # a GIF's first frame goes as PNG
    yield f"original {keep}", image, keep, None if keep == "PNG" else 85
    for quality in (85, 75, 65, 55, 45, 35, 25, 15, 10):
        yield f"JPEG q{quality}", image, "JPEG", quality
    for quality in (85, 75, 65, 55, 45, 35, 25, 15):
        yield f"WEBP q{quality}", image, "WEBP", quality
    smaller = image.resize((max(1, round(image.width * 0.7)), max(1, round(image.height * 0.7))), Image.Resampling.LANCZOS)
    yield "0.7x JPEG q15", smaller, "JPEG", 15
    yield "0.7x WEBP q15", smaller, "WEBP", 15
    tiny = image.copy()
    tiny.thumbnail((512, 512), Image.Resampling.LANCZOS)
    yield "512px JPEG q10", tiny, "JPEG", 10


def process(
    data: bytes,
    *,
    limit: int = API_LIMIT_BYTES,
    target: float = 0.73,
    max_side: int = MAX_SIDE,
    max_pixels: int = MAX_PIXELS,
) -> ProcessedImage:
    """The image in ``data`` encoded within ``target * limit`` bytes, or :class:`ImageRefused`."""
    image = _open(data, max_pixels, max_side)
    original = image.format or "PNG"
    image = _scaled(_normalised(image), max_side)
    budget = int(limit * target)
    for step, candidate, fmt, quality in _rungs(image, original):
        encoded = _encode(candidate, fmt, quality)
        if len(encoded) <= budget:
            return ProcessedImage(encoded, FORMATS[fmt], candidate.width, candidate.height, step)
    raise ImageRefused(f"still over {budget} bytes at the last step of the compression ladder")
