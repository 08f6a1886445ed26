"""Persistence: the SQLite message store."""

from .messages import MessageStore

__all__ = ["MessageStore"]
