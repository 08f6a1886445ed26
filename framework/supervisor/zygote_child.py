"""What a bot process forked from the zygote does before it becomes the bot.

The child starts as a copy of the zygote: the preloaded libraries (shared with every other
bot, copy-on-write), and also the zygote's sockets and settings, which it must drop. It
then looks exactly like ``python -u -m framework.runtime BOT`` started by the keeper: its
own session and process group, stdout and stderr on the keeper's pipe, the request's
environment and working directory, fresh random state. It never returns into the
zygote's code: whatever happens it leaves through ``os._exit``.
"""

from __future__ import annotations

import gc
import os
import random
import runpy
import signal
import sys
import traceback
from typing import Any, NoReturn

__all__ = ["become_bot", "EXIT_CHILD_SETUP"]

# EX_SOFTWARE: the fork worked but the child could not be set up or run (an internal error).
EXIT_CHILD_SETUP = 70


def become_bot(request: dict[str, Any], command: tuple[str, str, list[str]], output_fd: int, inherited: list[int]) -> NoReturn:
    """Run in the forked child: set up like a fresh process, run ``command``, exit."""
    code = EXIT_CHILD_SETUP
    try:
        _detach(output_fd, inherited)
        _adopt(request)
        code = _run(command)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # the child's own failure: say why on its output, then exit
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed pipe must not keep us from exiting
                pass
        os._exit(code)


def _detach(output_fd: int, inherited: list[int]) -> None:
    for fd in inherited:  # the zygote's listening socket, its keepers' connections, pidfds
        try:
            os.close(fd)
        except OSError:
            pass
    # Own session and group: a signal to the zygote's group never reaches a bot, and
    # stopping a bot can reach everything it started (SIGKILL to its group).
    os.setsid()
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _adopt(request: dict[str, Any]) -> None:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # ``-u``: the runtime's output goes straight to the keeper, line by line.
    sys.stdout.reconfigure(write_through=True, line_buffering=True)
    sys.stderr.reconfigure(write_through=True, line_buffering=True)
    # The stdlib reseeds ``random``'s global instance at fork; seeding from os.urandom
    # here as well keeps that true whatever the zygote did, so two bots never share a
    # sequence (an RNG built by a preloaded module would be the same in every child).
    random.seed()
    gc.enable()  # the zygote imports with the collector off; a bot needs it


def _run(command: tuple[str, str, list[str]]) -> int:
    kind, target, args = command
    if kind == "module":
        sys.argv = [target, *args]
        sys.path[0:1] = [os.getcwd()]  # what ``python -m`` puts first
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *args]
        sys.path[0:1] = [os.path.dirname(os.path.abspath(target))]
        runpy.run_path(target, run_name="__main__")
    return 0


def _exit_code(code: object) -> int:
    """``sys.exit``'s argument as an exit status, as the interpreter maps it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
