"""``LLM_API_KEY``: the one-key form of a multi-provider assistant.

There, one variable holds the key of whichever provider the configured model names. Here
the primary model is always Claude, so the variable can only stand for an Anthropic key;
the router uses it when no ``ANTHROPIC_API_KEY[_N]`` is set, and ``validate`` counts it.
Kept apart from the key pool so the config checks can read it without loading the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LEGACY_KEY_VAR", "legacy_anthropic_key"]

LEGACY_KEY_VAR = "LLM_API_KEY"
_ANTHROPIC_KEY_PREFIX = "sk-ant-"


def legacy_anthropic_key(environ: Mapping[str, str]) -> str | None:
    """``LLM_API_KEY``'s value when it is an Anthropic key (``sk-ant-...``), else None.

    Only the prefix is looked at: another provider's key would earn nothing but 401s.
    """
    value = (environ.get(LEGACY_KEY_VAR) or "").strip()
    return value if value.startswith(_ANTHROPIC_KEY_PREFIX) else None
