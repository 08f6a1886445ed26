"""The compression ladder on generated images: each ends within the target with the
expected format and size; bombs, corrupt data and non-images are refused."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageDraw

from framework.images import ImageRefused, process
from framework.images.ladder import API_LIMIT_BYTES, MAX_SIDE

BUDGET = int(API_LIMIT_BYTES * 0.73)


def encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    return Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_large_png_screenshot_stays_png_scaled_to_the_recommended_side() -> None:
    shot = Image.new("RGB", (3840, 2160), (30, 30, 36))
    draw = ImageDraw.Draw(shot)
    for y in range(0, 2160, 24):  # lines of "text" on a flat background
        draw.rectangle((40, y, 40 + (y * 7) % 3000, y + 10), fill=(220, 220, 220))
    done = process(encode(shot, "PNG"))
    assert done.media_type == "image/png" and done.step == "original PNG"
    assert len(done.data) <= BUDGET and (done.width, done.height) == (MAX_SIDE, 882)
    assert opened(done.data).size == (MAX_SIDE, 882)


def test_a_24_megapixel_jpeg_photo_becomes_a_smaller_jpeg() -> None:
    data = encode(noise(6000, 4000), "JPEG", quality=95)
    assert len(data) > API_LIMIT_BYTES  # over the API's own limit before the ladder
    done = process(data)
    assert done.media_type == "image/jpeg" and len(done.data) <= BUDGET
    assert max(done.width, done.height) == MAX_SIDE


def test_a_noisy_png_too_big_as_png_walks_down_to_jpeg() -> None:
    done = process(encode(noise(1100, 1100, "RGBA"), "PNG", compress_level=1))  # ~4.8 MB of PNG
    assert done.step.startswith("JPEG") and done.media_type == "image/jpeg" and len(done.data) <= BUDGET
    assert opened(done.data).mode == "RGB"  # transparency flattened on white


def test_a_tight_limit_reaches_the_last_rungs() -> None:
    data = encode(noise(400, 300), "PNG")  # noise: no quality alone gets it under 7 KB
    done = process(data, limit=10_000)
    assert done.step == "0.7x JPEG q15" and len(done.data) <= 7_300 and (done.width, done.height) == (280, 210)
    with pytest.raises(ImageRefused, match="compression ladder"):
        process(data, limit=2_000)


def test_an_animated_gif_gives_its_first_frame_as_png() -> None:
    frames = [Image.new("RGB", (300, 200), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert opened(data).n_frames == 3
    done = process(data)
    assert done.media_type == "image/png" and (done.width, done.height) == (300, 200)
    assert opened(done.data).convert("RGB").getpixel((10, 10)) == (255, 0, 0)


def test_a_cmyk_jpeg_with_exif_rotation_is_turned_upright_in_rgb() -> None:
    image = Image.new("CMYK", (400, 200), (0, 255, 255, 0))  # red, wider than tall
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    done = process(encode(image, "JPEG", exif=exif.tobytes()))
    assert done.media_type == "image/jpeg" and (done.width, done.height) == (200, 400)
    upright = opened(done.data)
    assert upright.mode == "RGB" and upright.size == (200, 400)
    red, green, blue = upright.getpixel((100, 200))
    assert red > 200 and green < 60 and blue < 60


def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded() -> None:
    bomb = encode(Image.new("1", (10_000, 10_000)), "PNG")  # 100 MP in a few kilobytes
    assert len(bomb) < 100_000
    with pytest.raises(ImageRefused, match="decompression bomb"):
        process(bomb)


@pytest.mark.parametrize(
    "data",
    [
        encode(Image.new("RGB", (200, 200), (1, 2, 3)), "PNG")[:300],  # cut short
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,  # a PNG signature and nothing valid
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"just some text behind an image name",
        encode(Image.new("RGB", (20, 20)), "BMP"),  # an image, but not one the API takes
    ],
    ids=["truncated", "garbage-after-signature", "svg", "text", "bmp"],
)
def test_corrupt_or_non_image_data_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRefused):
        process(data)
