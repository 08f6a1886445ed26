"""The bot process: ``python -m framework.runtime BOT``."""
