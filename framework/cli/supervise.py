"""``spawn``, ``stop``, ``restart``, ``status``, ``logs``, ``list``: the process verbs.

Parse, call :mod:`framework.supervisor`, render. Each verb imports what it uses, so the
quick ones stay quick: ``status``, ``list``, ``logs`` and ``stop`` read a config only
through its cached facts (:mod:`framework.config.facts`, no pydantic), and Rich is loaded
only when something is drawn with it (``status`` is plain text, :mod:`.status_run`;
``logs`` never draws).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .. import exitcodes
from ..config.facts import ConfigFacts, config_facts
from ..paths import BotPaths
from ..supervisor.logtail import follow, last_log_lines
from ..supervisor.shares import process_names, started_process_names
from .common import CliContext, err, escape, fail, load_consoles, out

if TYPE_CHECKING:
    from pathlib import Path

    from ..config import BotConfig
    from ..supervisor.control import SpawnResult, StopResult, Supervisor

__all__ = ["register"]

BotArgument = Annotated[
    Optional[str], typer.Argument(help="Bot id: the name of `bots/<id>.yaml`.", show_default=False)
]
AllOption = Annotated[bool, typer.Option("--all", help="Act on every bot configured in bots/.")]


def _supervisor(cli: CliContext) -> Supervisor:
    from ..supervisor.control import Supervisor

    return Supervisor(cli.home, cli.environ)


def _validated(cli: CliContext, bot_ids: list[str]) -> tuple[dict[str, BotConfig], int]:
    """Configs that pass ``validate``; errors printed. Returns (configs, count of invalid)."""
    from ..config import check_bot, merged_environ

    environ = merged_environ(cli.home, cli.environ)
    configs: dict[str, BotConfig] = {}
    invalid = 0
    for bot_id in bot_ids:
        result = check_bot(BotPaths(cli.home, bot_id).config, environ, cli.home, check_model=False)
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
        if result.ok and result.config is not None:
            configs[bot_id] = result.config
            continue
        invalid += 1
        for line in result.errors:
            err.print(f"[red]error:[/red] {escape(line)}")
    return _without_conflicts(cli, configs, invalid)


def _without_conflicts(cli: CliContext, configs: dict[str, BotConfig], invalid: int) -> tuple[dict[str, BotConfig], int]:
    """Drop every bot that shares a token variable, log file or data folder with another bot."""
    from ..config.conflicts import conflicts_with_others

    for conflict in conflicts_with_others(cli.home, configs, cli.bot_ids()):
        err.print(f"[red]error:[/red] {escape(conflict.line())}")
        for bot_id in conflict.bots:
            if configs.pop(bot_id, None) is not None:
                invalid += 1
    return configs, invalid


def _log_paths(cli: CliContext, bot_id: str, facts: ConfigFacts) -> dict[str, Path]:
    """The log of each of the bot's processes by process name (one, unless split into shard processes)."""
    names = process_names(bot_id, facts.shard_processes)
    return {name: BotPaths.for_process(cli.home, name).log_file(facts.log_file) for name in names}


def _stop_targets(cli: CliContext, bot_id: str, facts: ConfigFacts) -> list[str]:
    """Every process of the bot: those the config names and any other one started earlier."""
    configured = process_names(bot_id, facts.shard_processes)
    started = started_process_names(BotPaths(cli.home, bot_id).run_dir, bot_id)
    return list(dict.fromkeys([*configured, *started]))


def _print_spawn(result: SpawnResult) -> None:
    for note in result.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")
    if result.ok:
        out.print(f"[green]{escape(result.message)}[/green]")
        return
    err.print(f"[red]error:[/red] {escape(result.message)}")
    if result.log_tail:
        err.print(f"last {len(result.log_tail)} lines of the log (`bot_manager logs {result.bot_id}` for more):")
        for line in result.log_tail:
            err.print(f"  {escape(line)}")


def _print_attempt(bot_id: str, line: str) -> None:
    err.print(f"[yellow]{escape(bot_id)}:[/yellow] {escape(line)}")


def _print_stop(result: StopResult) -> None:
    for note in result.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")
    out.print(escape(result.message))


def _running_under_another_split(cli: CliContext, bot_id: str, names: list[str]) -> list[str]:
    """Processes of the bot still running from before its ``discord.shards.processes`` changed."""
    from ..supervisor.pidfile import check_pidfile
    from ..supervisor.process_ops import ProcessOps

    started = started_process_names(BotPaths(cli.home, bot_id).run_dir, bot_id)
    ops = ProcessOps()
    return [n for n in started if n not in names and check_pidfile(BotPaths.for_process(cli.home, n).pidfile, ops).alive]


def _without_other_splits(cli: CliContext, configs: dict[str, BotConfig]) -> tuple[dict[str, BotConfig], bool]:
    """Refuse a bot whose processes of an earlier split still run: the new ones would share
    their guilds (two processes answering one message)."""
    kept: dict[str, BotConfig] = {}
    for bot_id, cfg in configs.items():
        names = process_names(bot_id, cfg.discord.shards.processes)
        others = _running_under_another_split(cli, bot_id, names)
        if others:
            err.print(
                f"[red]error:[/red] {escape(bot_id)} still runs as {escape(', '.join(others))} (started before "
                f"discord.shards.processes changed); `bot_manager restart {escape(bot_id)}` stops them and starts "
                f"{escape(', '.join(names))}"
            )
            continue
        kept[bot_id] = cfg
    return kept, len(kept) == len(configs)


def _do_spawn(cli: CliContext, configs: dict[str, BotConfig]) -> bool:
    from ..supervisor.control import SpawnRequest

    configs, consistent = _without_other_splits(cli, configs)
    # One keeper per process: a bot split into shard processes starts them all together.
    requests = [
        SpawnRequest(name, cfg.supervisor.ready_timeout_seconds, BotPaths.for_process(cli.home, name).log_file(cfg.log_file))
        for bot_id, cfg in configs.items()
        for name in process_names(bot_id, cfg.discord.shards.processes)
    ]
    # Rich is loaded while the bots connect, not after: the answer is printed at once.
    results = _supervisor(cli).spawn(requests, on_progress=_print_attempt, while_waiting=load_consoles)
    for result in results:
        _print_spawn(result)
    return consistent and all(r.ok for r in results)


def _do_stop(cli: CliContext, bot_ids: list[str]) -> bool:
    # A bot started before its config broke is stopped anyway: its facts then hold the
    # default grace period.
    facts = config_facts(cli.home, bot_ids)
    requests = [
        (name, facts[bot_id].stopwaitsecs) for bot_id in bot_ids for name in _stop_targets(cli, bot_id, facts[bot_id])
    ]
    results = _supervisor(cli).stop(requests)
    for result in results:
        _print_stop(result)
    return all(r.ok for r in results)


def spawn(ctx: typer.Context, bot: BotArgument = None, all_: AllOption = False) -> None:
    """Start a bot in the background, supervised by a keeper process.

    Validates the config first (exit 78 when invalid), then waits until the bot reports
    it is connected. If it cannot start, prints why and the last lines of its log (exit
    1). The keeper restarts the bot after a crash, with backoff, and gives up after
    repeated fast crashes; while Discord cannot be reached it retries for as long as
    it takes, one line per attempt here; `bot_manager status` shows what it is doing.
    """
    cli: CliContext = ctx.obj
    bot_ids = cli.resolve_targets(bot, all_)
    configs, invalid = _validated(cli, bot_ids)
    ok = _do_spawn(cli, configs) if configs else True
    if invalid:
        raise typer.Exit(exitcodes.CONFIG)
    if not ok:
        raise typer.Exit(exitcodes.FAILURE)


def stop(ctx: typer.Context, bot: BotArgument = None, all_: AllOption = False) -> None:
    """Stop a bot: SIGTERM to its keeper, SIGKILL to its process group after the grace period.

    The grace period is the bot's supervisor.stopwaitsecs plus a few seconds. Stopping a
    bot that is not running is not an error. A stale pidfile (the process is gone, or
    its pid now belongs to another program) is reported and removed, never signalled.
    """
    cli: CliContext = ctx.obj
    if not _do_stop(cli, cli.resolve_targets(bot, all_)):
        raise typer.Exit(exitcodes.FAILURE)


def restart(ctx: typer.Context, bot: BotArgument = None, all_: AllOption = False) -> None:
    """Stop a bot, then spawn it again (the config is validated before anything stops)."""
    cli: CliContext = ctx.obj
    bot_ids = cli.resolve_targets(bot, all_)
    configs, invalid = _validated(cli, bot_ids)
    if invalid:
        err.print("nothing was stopped; fix the config and run restart again")
        raise typer.Exit(exitcodes.CONFIG)
    stopped = _do_stop(cli, bot_ids)
    if not (stopped and _do_spawn(cli, configs)):
        raise typer.Exit(exitcodes.FAILURE)


def status(
    ctx: typer.Context,
    bot: BotArgument = None,
    as_json: Annotated[
        bool, typer.Option(
            "--json",
            help="Print a JSON list, one object per bot (name, state, pid, uptime_s, ..., tokens_today, cost_today_usd).",
        )
    ] = False,
    sample: Annotated[
        float,
        typer.Option(
            "--sample",
            min=0,
            help="Measure current CPU over this many seconds (one window shared by all bots); "
            "0 shows the average since each bot started.",
        ),
    ] = 0.0,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw the table in place until Ctrl-C.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, help="With --watch: seconds between redraws.")
    ] = 2.0,
) -> None:
    """Show each bot's state, pid, uptime, restarts, CPU, memory, usage today and last error.

    States: starting, running, backoff (waiting to restart after a crash), stopping,
    stopped, crashed (its keeper is gone without a clean stop), fatal (gave up; the last
    error says why). Without BOT, every configured bot is shown.

    Tokens and cost today (UTC day) come from the bot's usage ledger in
    `persistence/<bot>/messages.db`; the cost is estimated from the prices in its config
    when each call was made, and "-" means no ledger yet (or no priced call).

    The table is plain text, one line per bot process, never wrapped. In a narrow
    terminal restarts and exit code are left out first, then usage, then CPU and
    memory; bot, state, pid, uptime and the last error stay, and what still does not
    fit is cut with "…".
    """
    from .status_run import run_status

    cli: CliContext = ctx.obj
    if as_json or not watch or not cli.bot_ids():
        code = run_status(cli.home, bot, as_json=as_json, sample=sample)
        if code != exitcodes.OK:
            raise typer.Exit(code)
        return
    bot_ids = cli.resolve_targets(bot, False) if bot else cli.bot_ids()
    _watch(cli, bot_ids, sample, interval)


def _watch(cli: CliContext, bot_ids: list[str], sample: float, interval: float) -> None:
    """Redraw the plain-text table with Rich Live (only an interactive watch needs Rich)."""
    from rich.text import Text

    from ..supervisor.status_table import render_status_text
    from ..supervisor.statusview import collect_status
    from .status_watch import watch_status

    def frame() -> Text:
        # The colours become Rich styles, which Rich leaves out where it would not colour.
        rows = collect_status(cli.home, bot_ids, cpu_sample=sample)
        return Text.from_ansi(render_status_text(rows, out.width, colour=True).rstrip("\n"))

    watch_status(out.console, frame, interval)


_SINCE_LINES = 100_000  # with --since, how far back a log is read at most


def logs(
    ctx: typer.Context,
    bot: Annotated[
        Optional[str],
        typer.Argument(help="Bot id: the name of `bots/<id>.yaml`; without it, every bot's log, interleaved by time.", show_default=False),
    ] = None,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines as they are written, across log rotation (Ctrl-C to stop).")
    ] = False,
    lines: Annotated[
        Optional[int],
        typer.Option("--lines", "-n", min=0, help="How many of the last lines to print first (default 50; with --since, all since then).", show_default=False),
    ] = None,
    since: Annotated[
        Optional[str],
        typer.Option("--since", help="Only lines from this time on: a duration back (10m, 1h, 2d) or a date/time (2026-01-31T09:00).", show_default=False),
    ] = None,
) -> None:
    """Print the last lines of a bot's log (its output plus the keeper's events).

    Without BOT, every configured bot's log is printed as one stream in time order, each
    line prefixed with its bot's name (coloured on a terminal), like `pm2 logs`.
    """
    from datetime import datetime

    from ..supervisor.logmux import BotPrefix, LogLine, follow_many, interleave, parse_since

    cli: CliContext = ctx.obj
    bot_ids = cli.resolve_targets(bot, False) if bot else cli.bot_ids()
    if not bot_ids:
        fail(f"no bots configured in {cli.home / 'bots'}; add a <name>.yaml there")
    try:
        start = parse_since(since, datetime.now()) if since else None
    except ValueError as exc:
        fail(str(exc), code=exitcodes.USAGE)
    # Keyed by process: a bot split into shard processes has one log per process, shown
    # interleaved like several bots' logs.
    facts = config_facts(cli.home, bot_ids)
    paths = {name: path for bot_id in bot_ids for name, path in _log_paths(cli, bot_id, facts[bot_id]).items()}
    single = bot is not None and len(paths) == 1
    ends = {name: _size(path) for name, path in paths.items()}
    if bot and all(end is None for end in ends.values()) and not follow_:
        shown_paths = ", ".join(str(p) for p in paths.values())
        fail(f"{bot} has no log yet ({shown_paths})", hint=f"start it with `bot_manager spawn {bot}`")
    if not bot and all(end is None for end in ends.values()) and not follow_:
        fail(f"no bot has a log yet ({cli.home / 'logs'})", hint="start one with `bot_manager spawn BOT`")
    count = lines if lines is not None else (_SINCE_LINES if start else 50)
    read = {b: last_log_lines(p, _SINCE_LINES if start else count, ends[b] or 0) for b, p in paths.items() if ends[b]}
    shown = interleave(read, start)[-count:] if count else []
    render = BotPrefix(list(paths), colour=sys.stdout.isatty()) if not single else (lambda line: line.text + "\n")

    def _write_text(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _write(line: LogLine) -> None:
        _write_text(render(line))

    try:
        for line in shown:
            _write(line)
        if follow_ and single:
            (name, path), = paths.items()
            follow(path, _write_text, offset=ends[name] or 0)
        elif follow_:
            follow_many({b: (p, ends[b] or 0) for b, p in paths.items()}, _write)
    except KeyboardInterrupt:
        # Ctrl-C is how one leaves `logs -f`: a normal exit, not an error.
        raise typer.Exit(exitcodes.OK) from None
    except BrokenPipeError:
        # `bot_manager logs alpha | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(exitcodes.OK) from None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def list_bots(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON list, one object per bot (bot, name, state, description, valid, error)."),
    ] = False,
) -> None:
    """List the configured bots (bots/*.yaml) with their state and description.

    A config that does not load is listed as invalid with its first error; run
    `bot_manager validate BOT` for all of them.
    """
    from ..supervisor.statusview import collect_status

    cli: CliContext = ctx.obj
    bot_ids = cli.bot_ids()
    if not bot_ids and not as_json:
        out.print(f"no bots configured in {escape(str(cli.home / 'bots'))}; add a <name>.yaml there")
        return
    states: dict[str, str] = {}
    for row in collect_status(cli.home, bot_ids):
        # A bot split into shard processes: its processes' states, once each ("running, backoff").
        bot_id = row.bot or row.name
        known = states.get(bot_id)
        states[bot_id] = row.state if known is None or row.state in known.split(", ") else f"{known}, {row.state}"
    facts = config_facts(cli.home, bot_ids)
    if as_json:
        entries = [_list_entry(bot_id, facts[bot_id], states.get(bot_id, "stopped")) for bot_id in bot_ids]
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("bot", no_wrap=True)
    table.add_column("name")
    table.add_column("state", no_wrap=True)
    table.add_column("description", overflow="fold")
    for bot_id in bot_ids:
        fact = facts[bot_id]
        if fact.error is not None:
            first = fact.error.splitlines()[0]
            table.add_row(bot_id, "-", "[red]invalid[/red]", f"[red]{escape(first)}[/red]")
            continue
        table.add_row(bot_id, escape(fact.name or ""), states.get(bot_id, "stopped"), escape(fact.description or "-"))
    out.print(table)


def _list_entry(bot_id: str, facts: ConfigFacts, state: str) -> dict[str, object]:
    entry: dict[str, object] = {"bot": bot_id, "name": None, "state": state, "description": None}
    if facts.error is not None:
        return {**entry, "valid": False, "error": facts.error.splitlines()[0]}
    return {**entry, "name": facts.name, "description": facts.description, "valid": True, "error": None}


def register(app: typer.Typer) -> None:
    app.command()(spawn)
    app.command()(stop)
    app.command()(restart)
    app.command()(status)
    app.command()(logs)
    app.command("list")(list_bots)
