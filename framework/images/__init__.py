"""The image pipeline: attachments people post, downloaded safely and shrunk to fit the
model's image limits. No discord.py here: it works on :class:`~framework.domain.Attachment`."""

from __future__ import annotations

from .hosts import DISCORD_HOSTS, allowed_hosts, url_allowed
from .download import DownloadRefused, download
from .ladder import ImageRefused, ProcessedImage, process
from .pipeline import ImagePipeline, is_image

__all__ = [
    "DISCORD_HOSTS",
    "DownloadRefused",
    "ImagePipeline",
    "ImageRefused",
    "ProcessedImage",
    "allowed_hosts",
    "download",
    "is_image",
    "process",
    "url_allowed",
]
