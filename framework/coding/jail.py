"""The command line that runs one shell command in the coding jail, and the start-up probe.

``bwrap`` (Debian package ``bubblewrap``) builds a fresh root for each command:

* only the system folders, read-only: ``/usr`` (and the ``/bin``, ``/lib``... links or
  folders into it) and ``/etc`` with ``/etc/shadow`` and ``/etc/gshadow`` hidden behind
  ``/dev/null``. The project folder is not there at all, so neither its ``.env``, nor the
  memories, the history or the configs; neither are ``/root``, ``/home``, ``/run`` or ``/var``;
* the workspace at ``/workspace``, the only writable place, and a private ``/tmp``;
* new user, PID, IPC, UTS, cgroup and network namespaces (``--unshare-all``): the network is
  only the jail's own loopback unless ``network`` (``--share-net``);
* ``--die-with-parent`` (the jail dies with the bot), ``--new-session`` (no terminal
  injection), ``--clearenv`` with a plain ``PATH`` and ``HOME``: no token, no API key;
* limits through ``prlimit``: processes, address space, CPU seconds.

Run as root, capabilities dropped are not enough: uid 0 still owns every file (``/etc/shadow``
stays readable) and the process limit does not apply to uid 0. So a root bot's command runs
as ``nobody`` (65534): ``bwrap`` builds the jail as root without a user namespace (so it can
bind a workspace below a folder only root may enter, such as ``/root``), then ``setpriv``
inside the jail drops to nobody with every capability set, the bounding set included,
emptied (``bwrap`` has already set no-new-privileges, so no setuid program can climb back).
The workspace then belongs to nobody (see ``Workspace``). A bot that is not root runs
``bwrap`` with its own user namespace (``--unshare-all``) and stays its own user.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["JAIL_HOME", "NOBODY", "JailLimits", "jail_argv", "unjailed_argv", "probe_jail", "jail_owner"]

JAIL_HOME = "/workspace"
NOBODY = (65534, 65534)
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
_SYSTEM_DIRS = ("usr", "etc")
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
_PACKAGE_HINT = "install the Debian package bubblewrap (apt-get install bubblewrap)"


@dataclass(frozen=True)
class JailLimits:
    processes: int
    memory_bytes: int
    cpu_seconds: int


def jail_owner() -> tuple[int, int] | None:
    """Who the jailed shell runs as, when it is not the bot's own user: nobody, for a root bot."""
    return NOBODY if os.geteuid() == 0 else None


def _limits(limits: JailLimits) -> list[str]:
    return [
        "/usr/bin/prlimit", f"--nproc={limits.processes}", f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_seconds}", "--",
    ]


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in _SYSTEM_DIRS:
        args += ["--ro-bind", f"/{name}", f"/{name}"]
    for name in _SYSTEM_LINKS:
        host = Path("/") / name
        if host.is_symlink():  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    for hidden in _HIDDEN_FILES:
        if os.path.lexists(hidden):
            args += ["--ro-bind", "/dev/null", hidden]
    return args


def _namespaces(network: bool, as_root: bool) -> list[str]:
    if not as_root:
        return ["--unshare-all", *(["--share-net"] if network else [])]
    # Root needs no user namespace to build the jail, and one would map nobody back to root.
    spaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    return spaces if network else [*spaces, "--unshare-net"]


def _shell(command: str, owner: tuple[int, int] | None) -> list[str]:
    bash = ["/bin/bash", "--noprofile", "--norc", "-c", command]
    if owner is None:
        return ["--cap-drop", "ALL", *bash]
    drop = ["/usr/bin/setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]
    return [*drop, *bash]


def jail_argv(
    bwrap: str, workspace: Path, command: str, *, network: bool, limits: JailLimits, owner: tuple[int, int] | None
) -> list[str]:
    """``prlimit ... bwrap ... [setpriv ...] bash -c command``: one command, jailed.

    ``owner`` is the user a root bot's command runs as (nobody); None keeps the bot's own user.
    """
    argv = [*_limits(limits), bwrap, *_namespaces(network, owner is not None)]
    argv += ["--die-with-parent", "--new-session", "--clearenv"]
    argv += _system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", str(workspace), JAIL_HOME]
    argv += ["--setenv", "PATH", PATH, "--setenv", "HOME", JAIL_HOME, "--setenv", "LANG", "C.UTF-8"]
    argv += ["--chdir", JAIL_HOME, *_shell(command, owner)]
    return argv


def unjailed_argv(command: str, *, limits: JailLimits) -> list[str]:
    """``jail: none``: the same limits and a bare environment (given by the caller), nothing else."""
    return [*_limits(limits), "/bin/bash", "--noprofile", "--norc", "-c", command]


def probe_jail(
    bwrap: str | None, workspace: Path, *, network: bool, owner: tuple[int, int] | None, timeout: float = 10.0
) -> None:
    """Run ``true`` in the jail once; a :class:`ConfigError` naming the package when it cannot run.

    There is no fallback to an unjailed shell: a bot whose jail does not work does not start.
    """
    if bwrap is None or not os.access(bwrap, os.X_OK):
        raise ConfigError(f"tools.coding.bash: bwrap (bubblewrap) is not installed: {_PACKAGE_HINT}")
    for tool in ("/usr/bin/prlimit", "/usr/bin/setpriv") if owner is not None else ("/usr/bin/prlimit",):
        if not os.access(tool, os.X_OK):
            raise ConfigError(f"tools.coding.bash: {tool} is missing: install the Debian package util-linux")
    limits = JailLimits(processes=64, memory_bytes=1 << 30, cpu_seconds=10)
    argv = jail_argv(bwrap, workspace, "true", network=network, limits=limits, owner=owner)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, env={"PATH": PATH}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"tools.coding.bash: the bubblewrap jail did not start ({exc}); {_PACKAGE_HINT}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit code {done.returncode}"
        raise ConfigError(
            f"tools.coding.bash: the bubblewrap jail cannot run here ({why}); {_PACKAGE_HINT} and allow "
            "namespaces (a container may forbid them); there is no unjailed fallback"
        )


