"""Shared CLI pieces: the context object, consoles, option types, error exit."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

from ..paths import list_bot_ids, project_home
from .plain import unknown_bot_message

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CliContext", "HomeOption", "LazyConsole", "escape", "fail", "out", "err"]


class LazyConsole:
    """A Rich ``Console`` made on first use: importing Rich takes longer than a whole
    ``status --json`` or ``logs`` run, and those never draw anything."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def escape(text: str) -> str:
    """Rich's markup escape, with Rich loaded only when something is printed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


out = LazyConsole(highlight=False, soft_wrap=True)
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def load_consoles() -> None:
    """Make both consoles now (importing Rich, ~50 ms): for a command that waits on other
    processes anyway, so its answer is printed the moment it has one."""
    for console in (out, err):
        console.console  # noqa: B018  (the property builds it)


HomeOption = Annotated[
    Optional[Path],
    typer.Option(
        "--home",
        envvar="BOT_HOME",
        help="Project folder holding bots/, memories/, persistence/, logs/, run/ (default: current directory).",
        show_default=False,
    ),
]


@dataclass
class CliContext:
    """What every command needs: the project folder and the environment."""

    home: Path
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def create(cls, home: Path | None) -> CliContext:
        resolved = home.resolve() if home else project_home()
        return cls(home=resolved)

    def bot_ids(self) -> list[str]:
        return list_bot_ids(self.home)

    def resolve_targets(self, bot: str | None, all_: bool) -> list[str]:
        """The bots a verb acts on: one named bot, or every configured bot with ``--all``."""
        if all_ and bot:
            fail("give a bot name or --all, not both", code=2)
        if all_:
            ids = self.bot_ids()
            if not ids:
                fail(f"no bots configured in {self.home / 'bots'}; add a <name>.yaml there", code=1)
            return ids
        if not bot:
            fail("name a bot (e.g. alpha) or pass --all", code=2)
        configured = self.bot_ids()
        if bot not in configured:
            fail(unknown_bot_message(self.home, bot, configured), code=1)
        return [bot]


def fail(message: str, code: int = 1, hint: str | None = None) -> NoReturn:
    """Print one red line (plus an optional fix) to stderr and exit with ``code``."""
    err.print(f"[red]error:[/red] {message}", markup=True)
    if hint:
        err.print(f"  {hint}")
    raise typer.Exit(code)
