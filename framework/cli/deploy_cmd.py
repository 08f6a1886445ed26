"""``bot_manager deploy``: write systemd units, a compose file or Kubernetes manifests for bots."""

from __future__ import annotations

import pwd
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from .. import exitcodes
from ..paths import BotPaths
from .common import CliContext, err, fail, out

if TYPE_CHECKING:
    from ..deploy.target import DeployTarget

__all__ = ["register"]

BotArgument = Annotated[Optional[str], typer.Argument(help="Bot to deploy (the name of `bots/<bot>.yaml`).", show_default=False)]
AllOption = Annotated[bool, typer.Option("--all", help="Every bot configured in bots/.")]
OutOption = Annotated[
    Optional[Path],
    typer.Option("--out", help="Folder to write the files to (default: deploy/<kind>/ in the project folder).", show_default=False),
]
ImageOption = Annotated[
    Optional[str],
    typer.Option("--image", help="Image the containers run (default: discord-claude-bots:<version>).", show_default=False),
]

# The Dockerfile sits at the root of the framework's repository, next to the package.
_REPOSITORY = Path(__file__).resolve().parent.parent.parent


def _targets(cli: CliContext, bot: str | None, all_: bool) -> list[DeployTarget]:
    """The bots to deploy, each validated first: an invalid config exits 78 with its line."""
    from ..config import check_bot, merged_environ
    from ..deploy.target import target_for

    environ = merged_environ(cli.home, cli.environ)
    targets = []
    for bot_id in cli.resolve_targets(bot, all_):
        result = check_bot(BotPaths(cli.home, bot_id).config, environ, cli.home, check_model=False)
        if result.config is None:
            fail(result.errors[0] if result.errors else f"{bot_id}: invalid config", code=exitcodes.CONFIG)
        # The secrets may live only on the target host (a Secret, its own .env): a warning here.
        for line in result.errors:
            err.print(f"[yellow]warning:[/yellow] {escape(line)}")
        targets.append(target_for(result.config, cli.home))
    return targets


def _out_dir(cli: CliContext, out_opt: Path | None, kind: str) -> Path:
    folder = (out_opt or cli.home / "deploy" / kind).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out {folder}: cannot create the folder ({exc.strerror})", code=exitcodes.FAILURE)
    return folder


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror})", code=exitcodes.FAILURE)
    out.print(f"wrote {path}", markup=False)


def _image(image: str | None) -> str:
    if image:
        return image
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"discord-claude-bots:{version('discord-claude-framework')}"
    except PackageNotFoundError:
        return "discord-claude-bots:local"


def _executable() -> Path:
    # The bot_manager next to this interpreter: the virtualenv the units should run from.
    candidate = Path(sys.executable).parent / "bot_manager"
    if not candidate.exists():
        fail(f"{candidate} does not exist: run `deploy systemd` with the virtualenv's bot_manager", code=exitcodes.FAILURE)
    return candidate


def _warn_loopback(targets: list[DeployTarget], what: str) -> None:
    for target in targets:
        if target.health_port is not None and not target.reachable_from_outside:
            err.print(
                f"[yellow]warning:[/yellow] bots/{target.bot_id}.yaml: health.host is {escape(target.health_host)}: "
                f"{what} cannot reach it from outside the container; set health.host: 0.0.0.0"
            )


def systemd(
    ctx: typer.Context,
    bot: BotArgument = None,
    all_: AllOption = False,
    out_opt: OutOption = None,
    user: Annotated[
        Optional[str], typer.Option("--user", help="Account the bots run as (default: the owner of the project folder).")
    ] = None,
) -> None:
    """Write one systemd unit per bot (`bot-BOT.service`) and print how to install them.

    A bot split into shard processes (discord.shards.processes) gets one unit per process,
    `bot-BOT@K.service` running `bot_manager run BOT@K`, each on health port + K.
    """
    from ..deploy.systemd import systemd_unit, unit_name, writable_paths

    cli: CliContext = ctx.obj
    targets = _targets(cli, bot, all_)
    folder = _out_dir(cli, out_opt, "systemd")
    account = user or pwd.getpwuid(cli.home.stat().st_uid).pw_name
    executable = _executable()
    for target in targets:
        for path in writable_paths(target):  # ProtectSystem=strict needs them to exist at start
            path.mkdir(parents=True, exist_ok=True)
        for k in target.shard_indexes:  # a bot split into shard processes: one unit per process
            _write(folder / unit_name(target, k), systemd_unit(target, executable, account, k))
    units = " ".join(unit_name(t, k) for t in targets for k in t.shard_indexes)
    out.print("install:", markup=False)
    out.print(f"  sudo cp {folder}/bot-*.service /etc/systemd/system/ && sudo systemctl daemon-reload", markup=False)
    out.print(f"  sudo systemctl enable --now {units}", markup=False)
    first = unit_name(targets[0], targets[0].shard_indexes[0])
    out.print(f"  journalctl -u {first} -f      # the bot's log also goes to logs/", markup=False)


def compose(
    ctx: typer.Context,
    bot: BotArgument = None,
    all_: AllOption = False,
    out_opt: OutOption = None,
    image: ImageOption = None,
) -> None:
    """Write a compose file with one service per bot, built from the repository's Dockerfile.

    A bot split into shard processes gets one service per process (`bot-BOT-K`, running BOT@K).
    """
    from ..deploy.compose import compose_file

    cli: CliContext = ctx.obj
    targets = _targets(cli, bot, all_)
    folder = _out_dir(cli, out_opt, "compose")
    context = _REPOSITORY if (_REPOSITORY / "Dockerfile").exists() else cli.home
    _write(folder / "compose.yaml", compose_file(targets, folder, context, _image(image)))
    out.print("start:", markup=False)
    out.print(f"  cd {folder} && BOT_UID=$(id -u) BOT_GID=$(id -g) docker compose up -d --build", markup=False)
    _warn_loopback(targets, "its published health port")


def k8s(
    ctx: typer.Context,
    bot: BotArgument = None,
    all_: AllOption = False,
    out_opt: OutOption = None,
    image: ImageOption = None,
    storage: Annotated[str, typer.Option("--storage", help="Size of each bot's volume.")] = "1Gi",
) -> None:
    """Write per bot a StatefulSet, its Service and a Secret template (empty values) for `kubectl apply`.

    A bot split into shard processes gets one replica per process; pod K runs share K
    (its ordinal reaches the bot through the pod-index label; Kubernetes 1.28 or later).
    """
    from ..deploy.kubernetes import k8s_manifests, k8s_secret_template, secret_name

    cli: CliContext = ctx.obj
    targets = _targets(cli, bot, all_)
    folder = _out_dir(cli, out_opt, "k8s")
    chosen = _image(image)
    for target in targets:
        _write(folder / f"{target.name}.yaml", k8s_manifests(target, chosen, storage))
        _write(folder / f"{target.name}-secret.template.yaml", k8s_secret_template(target))
    out.print("install:", markup=False)
    out.print(f"  docker build -t {chosen} {_REPOSITORY} && push it where the cluster can pull it", markup=False)
    for target in targets:
        out.print(
            f"  kubectl create secret generic {secret_name(target)} --from-literal={target.token_var}=<token> "
            "--from-literal=ANTHROPIC_API_KEY=<key>",
            markup=False,
        )
    out.print(f"  kubectl apply -f {folder}/bot-<name>.yaml   (not the .template.yaml files)", markup=False)
    _warn_loopback(targets, "the liveness and readiness probes")


def register(app: typer.Typer) -> None:
    deploy = typer.Typer(
        name="deploy",
        help="Write deployment files for bots: systemd units, a compose file, Kubernetes manifests.",
        no_args_is_help=True,
    )
    deploy.command("systemd")(systemd)
    deploy.command("compose")(compose)
    deploy.command("k8s")(k8s)
    app.add_typer(deploy, name="deploy")
