"""Code-shape figures for the tree this script stands in (issue 11's before/after figures).

    .venv/bin/python bench/code_figures.py [--via auto|wiring|runtime|tests] [--json PATH]

1. Modules in framework/ over 300 lines (count and list).
2. Functions and methods in framework/ over 60 lines (``end_lineno - lineno + 1`` from
   ``ast``; nested functions count on their own).
3. The mention -> reply path, measured by running it in this process: the bot's parts
   are built from a default config in a temp home (real MessageStore, context builder,
   gates, plan executor, reactive engine, conversation log, agentic engine), with a fake
   clock and fakes at the two outer ports: a chat that records sends and a scripted model
   that answers with a one-message plan. One warm-up mention is answered unrecorded (lazy
   imports, first-use caches); then one mention (``mentions_self=True``) is delivered as
   the runtime delivers every message (the intake: ``store.add``, ``engine.on_message``,
   the profile updater's look; the mention is short, so no profile extraction starts
   beside the reply) while ``sys.setprofile`` records every Python call whose code lives
   under framework/, until the reply is sent and the tasks it started have finished.
   Reported: the framework files touched (count, and the list in first-touch order) and
   the package crossings: distinct caller -> callee function edges whose packages differ
   (framework/<pkg>/x.py is in <pkg>, a top-level module framework/x.py is its own
   package x). The caller is the nearest frame on the stack outside the standard library
   and site-packages, so a call through contextlib or functools counts; a call made by
   this script's fakes has no framework caller, nor has a task started with create_task
   (the event loop runs it), so that hand-off is not an edge.
   How the parts are built is the one thing to adapt when the composition moves
   (``build_rig``); it takes the first that exists and builds in this tree:
   ``wiring``  framework/runtime/wiring.py's build_bot, then the model and Discord chat
               ports swapped for the fakes wherever the built parts hold them;
   ``runtime`` BotRuntime's own _build_context/_build_engine/_build_agentic, joined as
               BotRuntime.run joined them (the trees before wiring.py); run's
               on_incoming closure is replayed here and counts as app.py's;
   ``tests``   tests.test_reactive.make_world: the engine with only what it needs.
   The output names the one used; compare before and after figures built the same way
   (``--via``), and ``--via tests`` in both for the engine alone.
4. ``duplicates --repo framework --most 200``: the pair count from its first line (null
   when the command is not on PATH).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FRAMEWORK = REPO / "framework"
sys.path.insert(0, str(REPO))

BOT_USER_ID = "900"
BOT_YAML = (
    "bot_id: alpha\nname: Alpha\ndescription: figures\ndiscord: {token_env_var: ALPHA_BOT_TOKEN}\n"
    "personality: {base_prompt: You are Alpha.}\n"
)


# --- 1 and 2: sizes ------------------------------------------------------------------------


def framework_sources() -> list[Path]:
    return sorted(p for p in FRAMEWORK.rglob("*.py") if "__pycache__" not in p.parts)


def rel(path: Path | str) -> str:
    return Path(path).resolve().relative_to(REPO).as_posix()


def long_modules(limit: int) -> list[dict[str, Any]]:
    rows = []
    for path in framework_sources():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            rows.append({"path": rel(path), "lines": lines})
    return sorted(rows, key=lambda r: (-r["lines"], r["path"]))


def long_functions(limit: int) -> list[dict[str, Any]]:
    rows = []

    def visit(node: ast.AST, prefix: str, path: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                lines = child.end_lineno - child.lineno + 1  # type: ignore[operator]
                if lines > limit:
                    rows.append({"path": path, "function": name, "line": child.lineno, "lines": lines})
                visit(child, f"{name}.<locals>.", path)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.", path)
            else:
                visit(child, prefix, path)

    for source in framework_sources():
        visit(ast.parse(source.read_text(encoding="utf-8"), str(source)), "", rel(source))
    return sorted(rows, key=lambda r: (-r["lines"], r["path"], r["line"]))


# --- 3: the mention -> reply path ----------------------------------------------------------------


def _first(name: str, *modules: str) -> Any:
    """``name`` from the first of ``modules`` that has it (types move between packages)."""
    import importlib

    for module in modules:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    raise ImportError(f"{name} not found in any of {', '.join(modules)}")


class FigureClock:
    """A clock that moves only when told to; sleeping advances it at once."""

    def __init__(self) -> None:
        self._now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


class FigureChat:
    """The chat port: records sends; typing is a no-op context."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._next_id = 5000

    @asynccontextmanager
    async def typing(self, channel_id: str, *args: Any, **kwargs: Any) -> AsyncIterator[None]:
        yield

    async def send(self, channel_id: str, content: str, *args: Any, **kwargs: Any) -> str:
        self._next_id += 1
        self.sent.append(content)
        return str(self._next_id)

    async def react(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class FigureModel:
    """The model port: every request is answered with a one-message plan."""

    requests: list[Any] = field(default_factory=list)

    async def complete(self, request: Any) -> Any:
        self.requests.append(request)
        planned = _first("PlannedMessage", "framework.domain", "framework.llm.plan")
        plan_type = _first("ResponsePlan", "framework.domain", "framework.llm.plan")
        reply_type = _first("LLMReply", "framework.domain", "framework.llm.types")
        plan = plan_type(should_respond=True, responses=[planned(message="sure", delay=1)])
        return reply_type(text="sure", model="scripted", plan=plan)


@dataclass
class Rig:
    composition: str
    engine: Any
    store: Any
    chat: Any
    clock: Any
    deliver: Callable[[Any], Awaitable[Any]] | None = None  # what the runtime does with an incoming message
    closers: list[Callable[[], Any]] = field(default_factory=list)
    stand_ins: dict[Any, tuple[str, int, str]] = field(default_factory=dict)  # see CallRecorder
    replied: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        stop = getattr(self.engine, "stop", None)
        if callable(stop):
            await stop()
        await _close_all(self.closers)


class Unavailable(Exception):
    """This way of building the engine does not exist in this tree (or does not fit)."""


async def _close_all(closers: list[Callable[[], Any]]) -> None:
    for closer in reversed(closers):
        result = closer()
        if inspect.isawaitable(result):
            await result


async def _call(fn: Callable[..., Any], kit: dict[str, Any]) -> Any:
    """Call ``fn`` with the parts of ``kit`` its parameters name; awaits a coroutine result."""
    kwargs = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in kit:
            kwargs[name] = kit[name]
        elif param.default is param.empty:
            raise Unavailable(f"{getattr(fn, '__qualname__', fn)} needs {name!r}")
    result = fn(**kwargs)
    return await result if inspect.isawaitable(result) else result


def _find_engine(built: Any) -> Any:
    """The object with ``on_message`` in what a builder returned (itself, a tuple, or an attribute)."""
    if callable(getattr(built, "on_message", None)):
        return built
    if callable(getattr(getattr(built, "engine", None), "on_message", None)):
        return built.engine
    parts = list(built) if isinstance(built, (tuple, list)) else list(getattr(built, "__dict__", {}).values())
    for part in parts:
        if callable(getattr(part, "on_message", None)):
            return part
    raise Unavailable(f"no engine with on_message in {type(built).__name__}")


def _swap_ports(root: Any, swap: Callable[[Any], Any]) -> int:
    """Replace, in every framework object reachable from ``root`` through attributes, each
    attribute value for which ``swap`` returns a stand-in; returns how many were replaced."""
    seen: set[int] = set()
    todo, swapped = [root], 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for name, value in list(getattr(obj, "__dict__", {}).items()):
            stand_in = swap(value)
            if stand_in is not None:
                object.__setattr__(obj, name, stand_in)  # frozen dataclasses too
                swapped += 1
            elif type(value).__module__.startswith("framework."):
                todo.append(value)
    return swapped


def _bot_kit(home: Path, clock: FigureClock) -> dict[str, Any]:
    """A bot config in a fresh home, its paths and settings, the fakes: named as the builders name them."""
    from framework.config import load_bot_config, load_settings
    from framework.paths import BotPaths

    (home / "bots").mkdir(parents=True)
    (home / "bots" / "alpha.yaml").write_text(BOT_YAML)
    environ = {"ALPHA_BOT_TOKEN": "figures.token", "ANTHROPIC_API_KEY": "figures-key",
               "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}  # never called: the model is swapped for the fake
    model = FigureModel()
    return dict(config=load_bot_config(home / "bots" / "alpha.yaml", home), paths=BotPaths(home, "alpha"), home=home,
                environ=environ, env=environ, settings=load_settings(home, environ), clock=clock, llm=model,
                model=model, chat=FigureChat(), rng=random.Random(7), redact=str)


async def _via_wiring(home: Path) -> Rig:
    """The runtime's composition root (wiring.build_bot), with the model and Discord chat swapped for the fakes."""
    try:
        import framework.runtime.wiring as wiring  # type: ignore[import-not-found]
    except ImportError as exc:
        raise Unavailable("framework/runtime/wiring.py is absent") from exc
    builders = [f for n, f in vars(wiring).items()
                if inspect.isfunction(f) and f.__module__ == wiring.__name__ and n.startswith("build")]
    builders.sort(key=lambda f: f.__name__ != "build_bot")
    if not builders:
        raise Unavailable("wiring.py has no build* function")
    clock = FigureClock()
    kit = _bot_kit(home, clock)
    resources = AsyncExitStack()
    await resources.__aenter__()
    kit["resources"] = resources
    closers: list[Callable[[], Any]] = [resources.aclose]
    try:
        built = await _call(builders[0], kit)
        engine = _find_engine(built)
        from framework.discord.adapter import DiscordChat

        real_llms = [p for p in (getattr(built, "llm", None), getattr(built, "router", None)) if p is not None]
        if not real_llms:
            raise Unavailable(f"{builders[0].__name__} returns no llm to swap for the scripted model")
        models = _swap_ports(built, lambda v: kit["model"] if any(v is p for p in real_llms) else None)
        chats = _swap_ports(built, lambda v: kit["chat"] if isinstance(v, DiscordChat) else None)
        if not (models and chats):
            raise Unavailable(f"found {models} model and {chats} chat ports to swap in {type(built).__name__}")
        for part in (engine, getattr(built, "context", None)):
            if part is not None and hasattr(part, "self_user_id"):
                part.self_user_id = BOT_USER_ID
        intake = getattr(built, "intake", None)
        deliver = intake.on_incoming if callable(getattr(intake, "on_incoming", None)) else None
        return Rig(f"framework.runtime.wiring.{builders[0].__name__} (model and chat ports swapped for fakes)",
                   engine, built.store, kit["chat"], clock, deliver, closers)
    except BaseException:
        await _close_all(closers)
        raise


async def _via_runtime(home: Path) -> Rig:
    """BotRuntime's builders (before wiring.py), joined as BotRuntime.run joins them."""
    try:
        from framework.runtime.app import BotRuntime
    except ImportError as exc:
        raise Unavailable("framework.runtime.app.BotRuntime is absent") from exc
    if not (hasattr(BotRuntime, "_build_context") and hasattr(BotRuntime, "_build_engine")):
        raise Unavailable("BotRuntime has no _build_context/_build_engine")
    from framework.memory.locks import PathLocks
    from framework.runtime.conversation_log import ConversationLog
    from framework.storage import MessageStore

    clock = FigureClock()
    kit = _bot_kit(home, clock)
    config, paths = kit["config"], kit["paths"]
    resources = AsyncExitStack()
    await resources.__aenter__()
    closers: list[Callable[[], Any]] = [resources.aclose]
    try:
        store = await MessageStore.open(paths.database)
        resources.push_async_callback(store.close)
        decisions = ConversationLog(paths.conversation_log, config.bot_id, config.logging.max_size_mb,
                                    config.logging.backup_count)
        resources.callback(decisions.close)
        runtime = BotRuntime(config, paths, {}, clock=clock)
        runtime._memory_locks = PathLocks()  # set by _build_brain, which builds the real model chain
        kit.update(store=store, decisions=decisions, resources=resources)
        context = kit["context"] = await _call(runtime._build_context, kit)
        built = await _call(runtime._build_engine, kit)
        engine = _find_engine(built)
        engine.self_user_id = BOT_USER_ID
        executor = built[0] if isinstance(built, tuple) else None
        if config.agentic.enabled and executor is not None and hasattr(runtime, "_build_agentic"):
            agentic = await _call(runtime._build_agentic, dict(kit, executor=executor))
            context.hints = agentic.weave_hint
            engine.set_on_replied(agentic.on_replied)
        profiles = None
        if config.memory.enabled and config.memory.profiles.enabled:
            from framework.memory.profiles import ProfileUpdater

            profiles = ProfileUpdater(llm=kit["model"], root=paths.memories, locks=runtime._memory_locks, clock=clock,
                                      config=config.memory.profiles, bot_id=config.bot_id,
                                      max_file_bytes=config.memory.max_file_bytes)
            resources.push_async_callback(profiles.stop)

        async def on_incoming(message: Any) -> None:  # BotRuntime.run's on_incoming, as it was
            await store.add(message)
            await engine.on_message(message)
            if profiles is not None:
                profiles.consider(message)

        run = BotRuntime.run.__code__
        stands_for = (run.co_filename, run.co_firstlineno, f"{run.co_qualname}.<locals>.on_incoming")
        return Rig("framework.runtime.app.BotRuntime._build_context/_build_engine/_build_agentic (as run() joins them)",
                   engine, store, kit["chat"], clock, on_incoming, closers, {on_incoming.__code__: stands_for})
    except BaseException:
        await _close_all(closers)
        raise


async def _via_tests(home: Path) -> Rig:
    """The reactive test suite's world (tests.test_reactive.make_world): the engine with only what it needs."""
    try:
        from tests.test_reactive import close, make_world
    except ImportError as exc:
        raise Unavailable("tests.test_reactive.make_world is absent") from exc
    world = await make_world(home)
    return Rig("tests.test_reactive.make_world", world.engine, world.store, world.chat, world.clock,
               None, [lambda: close(world)])


WAYS: dict[str, Callable[[Path], Awaitable[Rig]]] = {
    "wiring": _via_wiring, "runtime": _via_runtime, "tests": _via_tests,
}


async def build_rig(home: Path, via: str) -> Rig:
    """The reactive engine with its real store, context and executor, a fake chat and a scripted model.

    The one place to adapt when the composition moves. ``via="auto"`` takes the first of
    wiring, runtime, tests that exists in this tree and builds without an error.
    """
    order = list(WAYS) if via == "auto" else [via]
    reasons = []
    for name in order:
        try:
            rig = await WAYS[name](home / name)
        except Unavailable as exc:
            reasons.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # a way that exists but fails (mid-refactor): say so, try the next
            if via != "auto":
                raise
            reasons.append(f"{name}: {type(exc).__name__}: {exc}")
            print(f"building via {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if hasattr(rig.engine, "self_user_id"):
            rig.engine.self_user_id = BOT_USER_ID
        send = rig.chat.send

        async def signalling_send(*args: Any, **kwargs: Any) -> Any:
            result = await send(*args, **kwargs)
            rig.replied.set()
            return result

        rig.chat.send = signalling_send
        return rig
    raise SystemExit("cannot build the reactive engine: " + " | ".join(reasons))


def package_of(filename: str) -> str:
    parts = Path(filename).relative_to(FRAMEWORK).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


Where = tuple[str, int, str]  # file, first line, qualified name of a function


class CallRecorder:
    """A profile function: framework files in first-touch order and framework->framework call edges.

    ``stand_ins`` maps the code of a function in this script that replays framework code
    which cannot be called on its own (BotRuntime.run's on_incoming closure) to the place it
    stands for: its calls count as made from there.
    """

    def __init__(self) -> None:
        self.stand_ins: dict[Any, Where] = {}
        self.root = str(FRAMEWORK) + os.sep
        self.recording = False
        self.files: dict[str, None] = {}
        self.edges: set[tuple[tuple[str, int, str], tuple[str, int, str]]] = set()
        self.calls = 0
        self._repo = str(REPO) + os.sep
        self._venv = str(REPO / ".venv") + os.sep

    def _plumbing(self, filename: str) -> bool:
        """Library frames (stdlib, site-packages) between two framework frames; this script and
        tests/ are not plumbing: a call their fakes make has no framework caller."""
        if filename.startswith(self.root):
            return False
        return not filename.startswith(self._repo) or filename.startswith(self._venv)

    def _where(self, code: Any) -> Where | None:
        if code in self.stand_ins:
            return self.stand_ins[code]
        if code.co_filename.startswith(self.root):
            return code.co_filename, code.co_firstlineno, code.co_qualname
        return None

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or not self.recording:
            return
        callee = self._where(frame.f_code)
        if callee is None:
            return
        self.calls += 1
        self.files.setdefault(callee[0], None)
        caller = frame.f_back
        while caller is not None and self._plumbing(caller.f_code.co_filename):
            caller = caller.f_back
        where = self._where(caller.f_code) if caller is not None else None
        if where is not None:
            self.edges.add((where, callee))


def _mention(clock: Any, channel: str, author: str, n: int) -> Any:
    incoming = _first("IncomingMessage", "framework.domain")
    return incoming(
        message_id=str(20_000 + n), channel_id=channel, guild_id="g", author_id=author, author_name=f"user{author}",
        content=f"<@{BOT_USER_ID}> hi", timestamp=clock.now(), channel_name="general",
        mentions_self=True, mentions=(BOT_USER_ID,),
    )


async def _deliver(rig: Rig, message: Any, timeout: float) -> list[str]:
    """What the runtime does with an incoming message, then wait for the reply and for the
    tasks it started; returns the names of tasks still running after ``timeout``."""
    rig.replied.clear()
    if rig.deliver is not None:
        await rig.deliver(message)
    else:
        await rig.store.add(message)
        await rig.engine.on_message(message)
    await asyncio.wait_for(rig.replied.wait(), timeout)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        _, pending = await asyncio.wait(others, timeout=timeout)
        return sorted(t.get_name() for t in pending)
    return []


def _sent(chat: Any) -> list[str]:
    if hasattr(chat, "sent"):
        return list(chat.sent)
    return [e[1] for e in getattr(chat, "events", []) if e[0] == "send"]  # tests.fakes.FakeChat


async def measure_path(via: str, timeout: float = 30.0, drain: float = 5.0) -> dict[str, Any]:
    recorder = CallRecorder()
    threading.setprofile(recorder)  # threads started from here on (aiosqlite's, to_thread's)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rig = await build_rig(Path(tmp), via)
            recorder.stand_ins.update(rig.stand_ins)
            try:
                advance = getattr(rig.clock, "advance", None)
                await _deliver(rig, _mention(rig.clock, "c0", "u0", 0), timeout)  # warm-up: lazy imports, caches
                if advance:
                    advance(120)
                before = len(_sent(rig.chat))
                sys.setprofile(recorder)
                recorder.recording = True
                try:
                    still_running = await _deliver(rig, _mention(rig.clock, "c1", "u1", 1), drain)
                finally:
                    recorder.recording = False
                    sys.setprofile(None)
                sent = _sent(rig.chat)[before:]
            finally:
                await rig.close()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    crossings = sorted(
        (f"{rel(a[0])}:{a[2]}", f"{rel(b[0])}:{b[2]}", package_of(a[0]), package_of(b[0]))
        for a, b in recorder.edges if package_of(a[0]) != package_of(b[0])
    )
    pairs = Counter(f"{c[2]} -> {c[3]}" for c in crossings)
    files = [rel(f) for f in recorder.files]
    return {
        "composition": rig.composition,
        "files": len(files),
        "packages": sorted({package_of(f) for f in recorder.files}),
        "package_crossings": len(crossings),
        "call_edges": len(recorder.edges),
        "framework_calls": recorder.calls,
        "replies_sent": sent,
        "tasks_still_running": still_running,
        "files_in_order": files,
        "package_pairs": dict(sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))),
        "crossing_edges": [{"caller": c[0], "callee": c[1]} for c in crossings],
    }


# --- 4: duplicates ---------------------------------------------------------------------------------


def duplicate_pairs(seconds: int) -> dict[str, Any]:
    exe = shutil.which("duplicates")
    if exe is None:
        return {"pairs": None, "first_line": None, "note": "duplicates is not on PATH"}
    out = subprocess.run([exe, "--repo", "framework", "--most", "200", "--seconds", str(seconds)],
                         cwd=REPO, capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    first = lines[0] if lines else ""
    match = re.match(r"\s*(\d+) pairs?\b", first)
    pairs = int(match.group(1)) if match else (0 if first.startswith("no duplicates") else None)
    incomplete = [line for line in lines if line.startswith("incomplete:")]
    return {"pairs": pairs, "first_line": first, "incomplete": incomplete}


# --- report ------------------------------------------------------------------------------------------


def tree_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"path": str(REPO), "commit": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted_changes": bool(git("status", "--porcelain", "--", "framework"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--via", choices=["auto", *WAYS], default="auto",
                        help="how to build the bot's parts (default: the first that works)")
    parser.add_argument("--module-lines", type=int, default=300)
    parser.add_argument("--function-lines", type=int, default=60)
    parser.add_argument("--duplicates-seconds", type=int, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    modules = long_modules(args.module_lines)
    functions = long_functions(args.function_lines)
    try:
        path = asyncio.run(measure_path(args.via))
    except (Exception, SystemExit) as exc:
        # A way that failed half-built may leave a store's aiosqlite thread (not a daemon)
        # behind, which would keep the interpreter from exiting: leave at once.
        print(f"mention -> reply not measured: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
    dups = duplicate_pairs(args.duplicates_seconds)
    tree = tree_state()
    results = {
        "tree": tree,
        "modules_over_lines": {"threshold": args.module_lines, "count": len(modules), "modules": modules},
        "functions_over_lines": {"threshold": args.function_lines, "count": len(functions), "functions": functions},
        "mention_to_reply": path,
        "duplicates": dups,
    }

    state = "with uncommitted changes in framework/" if tree["uncommitted_changes"] else "clean"
    print(f"code figures for {tree['path']} at {tree['commit']} ({state})")
    print(f"\nmodules in framework/ over {args.module_lines} lines: {len(modules)}")
    for m in modules:
        print(f"  {m['lines']:5d}  {m['path']}")
    print(f"\nfunctions in framework/ over {args.function_lines} lines: {len(functions)}")
    for f in functions:
        print(f"  {f['lines']:5d}  {f['path']}:{f['line']}  {f['function']}")
    print(f"\nmention -> reply (built by {path['composition']}; reply sent: {path['replies_sent']!r})")
    print(f"  files touched, in first-touch order: {path['files']}")
    for i, name in enumerate(path["files_in_order"], 1):
        print(f"  {i:3d}. {name}")
    print(f"  package crossings (distinct caller -> callee edges between packages): {path['package_crossings']}")
    for pair, n in path["package_pairs"].items():
        print(f"  {n:5d}  {pair}")
    print(f"\nduplicates --repo framework --most 200: {dups['first_line'] or dups.get('note')}")
    for line in dups.get("incomplete") or []:
        print(f"  {line}")

    rows = [
        (f"modules in framework/ over {args.module_lines} lines", len(modules)),
        (f"functions in framework/ over {args.function_lines} lines", len(functions)),
        ("mention -> reply: framework files touched", path["files"]),
        ("mention -> reply: package crossings", path["package_crossings"]),
        ("duplicates pairs in framework/", "null" if dups["pairs"] is None else dups["pairs"]),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  value")
    for label, value in rows:
        print(f"{label:<{width}}  {value:>5}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
