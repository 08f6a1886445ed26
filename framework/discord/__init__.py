"""Discord adapter (the only package that imports discord.py)."""
