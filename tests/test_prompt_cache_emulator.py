"""The prompt-cache emulator used by the stub and the benchmarks follows the API's rule."""

from __future__ import annotations

from framework.sandbox.prompt_cache import PromptCacheEmulator

BIG = "persona " * 1200  # ~2,400 tokens: above the minimum cacheable prefix


def body(user: str, system: str = BIG, mark: bool = True) -> dict:
    block = {"type": "text", "text": system}
    if mark:
        block["cache_control"] = {"type": "ephemeral"}
    return {"system": [block], "messages": [{"role": "user", "content": [{"type": "text", "text": user}]}]}


def test_same_prefix_is_read_from_cache_on_the_second_call() -> None:
    cache = PromptCacheEmulator()
    first = cache.usage(body("hello"))
    second = cache.usage(body("something else entirely"))
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 2000
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0


def test_a_changed_byte_misses_and_unmarked_or_small_prefixes_never_cache() -> None:
    cache = PromptCacheEmulator()
    cache.usage(body("x"))
    changed = cache.usage(body("x", system=BIG + "!"))
    assert changed["cache_read_input_tokens"] == 0
    assert cache.usage(body("x", mark=False))["cache_creation_input_tokens"] == 0
    small = PromptCacheEmulator()
    small.usage(body("x", system="tiny"))
    assert small.usage(body("x", system="tiny"))["cache_read_input_tokens"] == 0



def test_a_moving_breakpoint_reads_the_previous_requests_prefix() -> None:
    """One breakpoint on the newest user turn of a growing conversation: the API finds the
    entry the previous request wrote at an earlier block boundary (within 20 blocks)."""
    cache = PromptCacheEmulator()

    def conversation(n: int) -> dict:
        messages = []
        for i in range(n):
            if i:
                messages.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {i} " * 300}]})
            messages.append({"role": "user", "content": [{"type": "text", "text": f"question {i} " * 300}]})
        messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        return {"messages": messages}

    first = cache.usage(conversation(2))
    second = cache.usage(conversation(3))
    assert first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] > 0  # the new turns are written for the next request
    far = PromptCacheEmulator()  # an entry more than 20 blocks back is not found
    far.usage(conversation(2))
    assert far.usage(conversation(14))["cache_read_input_tokens"] == 0
