"""An emulation of Anthropic's prompt cache, for the model stand-in and the benchmarks.

The API caches the request prefix up to each ``cache_control`` breakpoint, in the order
tools -> system -> messages; a later request that repeats a cached prefix byte for byte
reads it at a tenth of the price. A breakpoint also finds an entry written at an earlier
block boundary, up to about 20 blocks before it, so one breakpoint moving with the end of
a growing conversation reads the prefix the previous request wrote. This emulator applies
the same rule to a request body
so a benchmark can measure, offline, whether the framework really keeps its prefix
identical. Tokens are estimated as characters / 4 (the stand-in has no tokenizer); the
minimum cacheable prefix is 1,024 tokens, as the API documents for Sonnet-class models.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["PromptCacheEmulator", "estimate_tokens"]

MIN_CACHEABLE_TOKENS = 1024
LOOKBACK_BLOCKS = 20  # block boundaries before a breakpoint that are checked for an earlier entry


def estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


def _blocks(body: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """The request as (block without cache_control, is a breakpoint), in cache order."""
    out: list[tuple[dict[str, Any], bool]] = []

    def add(block: Any) -> None:
        if isinstance(block, dict):
            marked = "cache_control" in block
            out.append(({k: v for k, v in block.items() if k != "cache_control"}, marked))
        else:
            out.append(({"text": str(block)}, False))

    for tool in body.get("tools") or []:
        add(tool)
    system = body.get("system")
    if isinstance(system, str):
        add({"type": "text", "text": system})
    elif isinstance(system, list):
        for block in system:
            add(block)
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            add({"role": message.get("role"), "text": content})
        else:
            for block in content or []:
                add({"role": message.get("role"), **block} if isinstance(block, dict) else block)
    return out


class PromptCacheEmulator:
    """Remembers cached prefixes; :meth:`usage` splits a request's input like the API would."""

    def __init__(self) -> None:
        self._cached: set[str] = set()

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        """``input_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``."""
        digest = hashlib.sha256()
        running = 0
        prefixes: list[tuple[str, int]] = []  # (hash of the prefix through block i, tokens through i)
        marks: list[int] = []  # the blocks carrying a breakpoint
        for block, marked in _blocks(body):
            digest.update(json.dumps(block, sort_keys=True, ensure_ascii=False).encode())
            running += estimate_tokens(block)
            prefixes.append((digest.hexdigest(), running))
            if marked:
                marks.append(len(prefixes) - 1)
        total = running
        eligible = [prefixes[i] for i in marks if prefixes[i][1] >= MIN_CACHEABLE_TOKENS]
        looked_at = {j for i in marks for j in range(max(0, i - LOOKBACK_BLOCKS), i + 1)}
        read = max(
            (prefixes[j][1] for j in looked_at if prefixes[j][1] >= MIN_CACHEABLE_TOKENS and prefixes[j][0] in self._cached),
            default=0,
        )
        last = max((n for _, n in eligible), default=0)
        write = max(0, last - read)
        self._cached.update(h for h, _ in eligible)
        return {
            "input_tokens": total - read - write,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        }
