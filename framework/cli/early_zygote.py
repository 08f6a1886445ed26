"""``spawn`` and ``restart`` launch the project's zygote before anything else.

A bot forked from the zygote starts in well under a second, but the first bot of a
project folder waits for the zygote's imports (about 2 s). Launched by the keeper, those
imports began only after the CLI had imported Typer, validated the configs and started
the keeper; launched here, first thing, they run on another core meanwhile, and the
keeper, finding the start lock held by the starting zygote, waits for it and connects.

Only for a bot that is forked (``supervisor.preload``, read from the config facts, and
no ``BOT_PRELOAD=0``). Anything unexpected is left to the keeper, which starts the zygote
itself or falls back to exec: this is a head start, never a requirement.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.facts import ConfigFacts

__all__ = ["start_zygote_early"]


def start_zygote_early(root_args: Sequence[str], verb_args: Sequence[str]) -> bool:
    """Launch the zygote when a target bot of this ``spawn``/``restart`` is forked; True if launched."""
    from ..supervisor.zygote_protocol import preload_switched_off

    if preload_switched_off(os.environ):
        return False
    try:
        home = _home(root_args)
        if not any(facts.preload and facts.valid for facts in _target_facts(home, verb_args)):
            return False
        from ..supervisor.zygote_launch import keeper_environ, start_zygote

        return start_zygote(home, keeper_environ(home, os.environ))
    except OSError:  # an unwritable run/ folder, say: the keeper will say so properly
        return False


def _home(root_args: Sequence[str]) -> Path:
    from ..paths import project_home

    home: str | None = None
    for i, word in enumerate(root_args):  # split_at_verb has checked their shape
        if word == "--home":
            home = root_args[i + 1]
        elif word.startswith("--home="):
            home = word.partition("=")[2]
    return Path(home).resolve() if home is not None else project_home()  # the last one wins, as in Click


def _target_facts(home: Path, verb_args: Sequence[str]) -> list[ConfigFacts]:
    from ..config.facts import config_facts
    from ..paths import list_bot_ids

    # Only the two plain forms, as ``resolve_targets`` takes them: one configured bot, or
    # ``--all``. Help, a usage error or an unknown bot starts nothing.
    configured = list_bot_ids(home)
    if list(verb_args) == ["--all"]:
        targets = configured
    elif len(verb_args) == 1 and verb_args[0] in configured:
        targets = [verb_args[0]]
    else:
        targets = []
    return list(config_facts(home, targets).values())
