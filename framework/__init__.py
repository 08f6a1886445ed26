"""A framework for running several Claude-powered Discord bots, managed by one CLI."""

__version__ = "0.1.0"
