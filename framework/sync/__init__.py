"""``bot_manager sync``: share the bots' memories and history between machines through git.

Modules, one job each:

    errors.py     SyncError (what failed, where, the fix, the exit code)
    gitcmd.py     running git: identity fallback, no prompts, literal pathspecs
    gitsetup.py   merge drivers in .git/config, managed .gitattributes / .gitignore blocks
    snapshot.py   live SQLite database -> redacted, compact ``snapshot.db`` (online backup API)
    dbmerge.py    ``merge_database(live, source)``: rows of a snapshot into a live database
    dbtables.py   table introspection and the per-table merge rules
    textmerge.py  markdown: git's text merge, both versions kept where a conflict remains
    followups.py  ``followups.json``: union by id, a completed item stays completed
    drivers.py    ``python -m framework.sync.drivers KIND %O %A %B %P``: the git merge drivers
    scan.py       secret-shaped strings and known secret values in files about to be staged
    stage.py      what to stage: candidates, refusals, size-capped log copies
    remote.py     upstream, fetch, rebase onto it (or abort cleanly), push
    engine.py     the whole command, in order: snapshot, stage, commit, pull, merge, push

Only ``dbmerge`` is meant for use outside sync (the bot runtime calls it at start-up).
"""
