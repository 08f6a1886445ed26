#!/usr/bin/env python3
"""Entry point: ``python bot_manager.py ...`` from the repo root (also the ``bot_manager`` script)."""

from framework.cli import main

if __name__ == "__main__":
    main()
