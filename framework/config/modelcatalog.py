"""Which Claude model ids are deprecated: read from the anthropic SDK's own table.

The SDK warns at request time; ``validate`` warns before a bot ever starts. The import
is lazy so commands that never validate (``status``, ``list``) don't pay for the SDK.
"""

from __future__ import annotations

__all__ = ["SUGGESTED_MODEL", "deprecation_warning"]

SUGGESTED_MODEL = "claude-sonnet-4-6"


def deprecation_warning(model: str) -> str | None:
    """A one-line warning when ``model`` is deprecated, else None."""
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    end_of_life = DEPRECATED_MODELS.get(model)
    if end_of_life is None:
        return None
    return f"model {model!r} is deprecated (end of life {end_of_life}); use {SUGGESTED_MODEL!r}"
