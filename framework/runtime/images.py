"""The image pipeline as the bot uses it: built from ``images`` in the config, told about
every incoming message (so a later reply can show an earlier image), closed at shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from ..config import BotConfig, Settings
from ..domain import IncomingMessage

if TYPE_CHECKING:  # Pillow is loaded only by a bot that handles images
    from ..images import ImagePipeline

__all__ = ["build_images", "noting"]


def build_images(config: BotConfig, settings: Settings, resources: AsyncExitStack) -> ImagePipeline | None:
    """None when images are off; the sandbox's own host is allowed when the bot runs against it."""
    if not config.images.enabled or config.images.max_per_message == 0:
        return None
    from ..images import ImagePipeline, allowed_hosts

    pipeline = ImagePipeline(
        hosts=allowed_hosts(settings.discord_api_base),
        max_per_message=config.images.max_per_message,
        compression_target=config.images.compression_target,
    )
    resources.push_async_callback(pipeline.close)
    return pipeline


def noting(
    pipeline: ImagePipeline | None, handler: Callable[[IncomingMessage], Awaitable[Any]]
) -> Callable[[IncomingMessage], Awaitable[Any]]:
    """``handler``, after the pipeline noted the message's images."""
    if pipeline is None:
        return handler

    async def on_incoming(message: IncomingMessage) -> Any:
        pipeline.note(message)
        return await handler(message)

    return on_incoming
