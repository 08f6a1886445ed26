"""Loopback stand-ins for the model APIs, for tests and benchmarks only.

:mod:`tests.stubs.anthropic` scripts the sandbox's Anthropic stand-in
(:mod:`framework.sandbox.anthropic_standin`); :mod:`tests.stubs.groq` is a chat-completions
server for the Groq and OpenAI-compatible providers.
"""
