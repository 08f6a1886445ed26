"""Process lifecycle: states, pidfile with create time, the keeper, spawn/stop/status, log tail.

Modules (the CLI uses ``control``, ``statusview`` and ``logtail``)::

    states.py       BotState and the run/<bot>.state.json record
    pidfile.py      run/<bot>.pid (pid + create_time), staleness, the keeper's lock
    process_ops.py  every OS call (spawn, kill, killpg, wait, create_time) behind ProcessOps
    machine.py      Keeper: the state machine (backoff, startretries, stop) over ProcessOps
    keeper.py       `python -m framework.supervisor.keeper BOT`: wires the real OS to Keeper
    zygote.py       `python -m framework.supervisor.zygote`: the preloaded fork server (one per project)
    zygote_child.py what a forked child does before it runs the bot
    zygote_launch.py launching a zygote (spawn first thing, or a keeper), the start lock's hand-over
    zygote_client.py ForkingOps: the keeper's side of the zygote (connect, start on demand, fork)
    forked_child.py ForkedChild: a forked bot as the keeper's ChildHandle
    keeper_config.py the keeper's config values, read in a short-lived fork (no pydantic in the keeper)
    zygote_protocol.py the socket's messages and paths
    module_index.py where the preload's modules live and their bytecode, recorded for the next zygote
    control.py      Supervisor: spawn and stop keepers from the CLI
    statusview.py   status rows (psutil, state files, ledgers)
    status_table.py the status table as plain text (no Rich)
    logtail.py      last lines, tail(path, offset, limit), follow across rotation

Nothing is imported here: ``python -m framework.supervisor.keeper`` must not find its
own module already imported, and ``status`` should load only what it uses.
"""
