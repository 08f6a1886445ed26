"""``bot_manager new BOT``: a new bot config made from a shipped one, with its own names."""

from __future__ import annotations

import re
import shutil
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import exitcodes
from ..paths import BOT_ID_PATTERN, BotPaths
from .common import CliContext, fail, out

__all__ = ["register", "render_config"]

# The shipped configs (bots/) and Cortana's prompt files (memories/) next to the framework package.
SHIPPED = Path(__file__).resolve().parents[2]


class Template(str, Enum):
    alpha = "alpha"
    ana = "ana"
    cortana = "cortana"


def _display_name(bot_id: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-_]+", bot_id) if part) or bot_id


def _persona(name: str, source: str) -> str:
    return (
        f"  # The persona: who {name} is and how they talk. Edit it; the settings below are {source}'s.\n"
        "  base_prompt: |\n"
        f"    You're {name}, a regular member of this Discord server.\n"
        "    You're friendly and direct, and you keep replies short: a sentence or two.\n"
        "    You answer when someone talks to you and stay quiet when you have nothing to add.\n"
    )


def _replace_block(text: str, key: str, replacement: str) -> str:
    """Swap the ``  key: |`` block scalar (and its indented body) for ``replacement``."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(f"  {key}: |"):
            end = i + 1
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            # Blank lines that end the block belong to what follows.
            while end > i + 1 and not lines[end - 1].strip():
                end -= 1
            return "".join(lines[:i]) + replacement + "".join(lines[end:])
    return text


def render_config(source_text: str, source: str, bot_id: str, token_var: str) -> str:
    """The new bot's YAML: the source's settings and comments, with every value that names a bot replaced."""
    name = _display_name(bot_id)
    body = source_text.split("\nbot_id:", 1)[1] if "\nbot_id:" in source_text else source_text
    text = (
        f"# {name}: made with `bot_manager new {bot_id} --from {source}`; every key is documented in README.md.\n"
        "# Unknown keys are rejected. Edit the persona (personality) first.\n\n"
        "bot_id:" + body
    )
    text = re.sub(r"(?m)^bot_id:.*$", f"bot_id: {bot_id}                      # must match the file name", text)
    text = re.sub(r"(?m)^name:.*$", f'name: "{name}"', text)
    text = re.sub(r"(?m)^description:.*$", f'description: "A bot made from {source}; describe {name} here"', text)
    text = re.sub(r'(?m)^(\s+token_env_var:\s*)"?[A-Za-z0-9_]+"?', lambda m: f'{m.group(1)}"{token_var}"', text)
    text = re.sub(r'(?m)^(\s+file:\s*)"?logs/[^"\s]+"?', lambda m: f'{m.group(1)}"logs/{bot_id}.log"', text)
    text = text.replace(f"memories/{source}/", f"memories/{bot_id}/")
    return _replace_block(text, "base_prompt", _persona(name, source))


def _append_line(path: Path, line: str, variable: str, comment: str) -> bool:
    """Append ``line`` (with a comment above it) unless ``variable`` is already named there."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if re.search(rf"(?m)^#?\s*{re.escape(variable)}=", existing):
        return False
    sep = "" if not existing or existing.endswith("\n") else "\n"
    path.write_text(f"{existing}{sep}\n# {comment}\n{line}\n", encoding="utf-8")
    return True


def new(
    ctx: typer.Context,
    bot: Annotated[str, typer.Argument(help="The new bot's id: lowercase letters, digits, - and _ (e.g. gamma).", show_default=False)],
    source: Annotated[
        Template, typer.Option("--from", help="The shipped config to start from: alpha (chat member), ana (persona), cortana (DM assistant).")
    ] = Template.alpha,
) -> None:
    """Create `bots/<BOT>.yaml` from a shipped config, with its own token variable and log file.

    The token variable is `<BOT>_BOT_TOKEN` (upper-cased; other characters become _). It
    is added to .env.example, and commented out to .env for you to fill in. The persona
    prompt is a placeholder to edit. With `--from cortana` the prompt files
    (memories/cortana/prompt/) are copied to the new bot's memory folder.
    """
    from ..config.conflicts import conflicts_with_others
    from ..config.loader import load_bot_config
    from ..config.models import default_token_var
    from ..errors import ConfigError

    cli: CliContext = ctx.obj
    if not BOT_ID_PATTERN.match(bot):
        fail(f"{bot!r} is not a valid bot id: use lowercase letters, digits, - and _ (at most 64, e.g. gamma)", code=exitcodes.USAGE)
    paths = BotPaths(cli.home, bot)
    if paths.config.exists():
        fail(f"bot {bot!r} already exists: {paths.config}; pick another name or edit that file", code=exitcodes.USAGE)
    token_var = default_token_var(bot)
    source_path = SHIPPED / "bots" / f"{source.value}.yaml"
    text = render_config(source_path.read_text(encoding="utf-8"), source.value, bot, token_var)
    paths.config.parent.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(text, encoding="utf-8")
    try:
        config = load_bot_config(paths.config, cli.home)
        clash = conflicts_with_others(cli.home, {bot: config}, cli.bot_ids())
    except ConfigError as exc:  # the shipped template no longer loads: say so, keep nothing
        paths.config.unlink()
        fail(f"the {source.value} template did not load: {str(exc).splitlines()[0]}")
    if clash:
        paths.config.unlink()
        fail(clash[0].line(), code=exitcodes.USAGE)
    copied = _copy_prompt_files(source.value, paths.memories)
    _append_line(cli.home / ".env.example", f"{token_var}=", token_var, f"{bot}'s Discord bot token (bots/{bot}.yaml)")
    _append_line(cli.home / ".env", f"# {token_var}=", token_var, f"{bot}'s Discord bot token: paste it after the = and remove the #")
    out.print(f"[green]created[/green] bots/{bot}.yaml from {source.value}: token variable {token_var}, log {escape(config.log_file)}")
    if copied:
        out.print(f"copied {copied} prompt files to memories/{bot}/prompt/ (edit IDENTITY.md and SOUL.md)")
    steps = [
        (f"bot_manager sandbox {bot}", "try it offline, no token needed"),
        (f"bot_manager validate {bot}", f"after setting {token_var}=<token> in .env"),
        (f"bot_manager spawn {bot}", "run it on Discord"),
    ]
    width = max(len(command) for command, _ in steps) + 2
    out.print("next:")
    for command, why in steps:
        out.print(f"  {command:<{width}}# {why}")


def _copy_prompt_files(source: str, memories: Path) -> int:
    prompt = SHIPPED / "memories" / source / "prompt"
    if not prompt.is_dir():
        return 0
    target = memories / "prompt"
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for file in sorted(prompt.iterdir()):
        if file.is_file() and not (target / file.name).exists():
            shutil.copy2(file, target / file.name)
            count += 1
    return count


def register(app: typer.Typer) -> None:
    app.command()(new)
