"""LLM adapters behind :class:`framework.ports.LLMPort`."""
