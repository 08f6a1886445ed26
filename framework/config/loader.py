"""Load and check ``bots/<id>.yaml``: ruamel.yaml parse, pydantic validation, readable errors.

Every error names the file, the line where known, the dotted field path, the value found
and what was expected, in one line, e.g.::

    bots/alpha.yaml:37: reactive.cooldowns.per_user: got 'soon', expected a number
"""

from __future__ import annotations

import codecs
import difflib
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.scanner import RoundTripScanner

from ..errors import ConfigError
from ..redact import Redactor
from ..paths import BotPaths
from ..llm.legacy_key import LEGACY_KEY_VAR, legacy_anthropic_key
from .access import master_user_problem
from .prompt_files import prompt_files_problem
from .models import BotConfig
from .modelcatalog import model_warning
from .coding import coding_access_problem, coding_warnings

__all__ = ["load_bot_config", "check_bot", "CheckResult", "display_path", "read_yaml"]

_REDACT = Redactor()


def display_path(path: Path, home: Path | None = None) -> str:
    """``path`` relative to the project folder when it lies inside, else as given."""
    if home is not None:
        try:
            return str(path.resolve().relative_to(home.resolve()))
        except ValueError:
            pass
    return str(path)


# A bot config is a few kilobytes (Ana's, the largest shipped, is 13 KB and 750 values);
# these bounds are far above any real one and far below what it takes to stall the pure-
# Python parser (about 70 microseconds a value). A hostile file (pasted, synced from another
# machine) is refused with one line before it can cost seconds or gigabytes.
MAX_CONFIG_BYTES = 512 * 1024
MAX_DEPTH = 64
"""Nesting levels, counting every mapping, list and value on the way down."""
MAX_ALIASES = 200
"""Uses of ``*alias`` in one file."""
MAX_NODES = 5_000
"""Values in the document with every alias expanded: what validation would walk."""


class _Refused(MarkedYAMLError):
    """The document is too deep or expands too far; raised while reading, before any expansion."""


class _BoundedScanner(RoundTripScanner):
    """Refuses ``[`` and ``{`` nested past the depth bound as they are scanned.

    The scanner looks ahead for a possible ``key:`` at every open bracket, at a cost that
    grows with the bracket depth: 1,000 nested ``[`` on one line take seconds before the
    composer below ever sees the first of them.
    """

    def fetch_flow_sequence_start(self) -> None:
        self._check_flow_depth()
        super().fetch_flow_sequence_start()

    def fetch_flow_mapping_start(self) -> None:
        self._check_flow_depth()
        super().fetch_flow_mapping_start()

    def _check_flow_depth(self) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(None, None, f"values nested more than {MAX_DEPTH} levels deep", self.reader.get_mark())


class _BoundedComposer(Composer):
    """ruamel's composer with nesting depth, alias uses and expanded size bounded.

    The round-trip loader keeps an alias as a shared reference, so a "billion laughs" file
    composes in microseconds and blows up later, when validation or dumping walks it. The
    size of each node with aliases expanded is summed bottom-up as nodes are composed, and
    a running total of the whole document grows by that size at every alias use, so the
    blow-up is seen without ever being performed. Bounding the depth here also keeps
    ruamel's recursive composer and constructor far from Python's recursion limit.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._level = 0
        self._aliases = 0
        self._total = 0  # values so far, aliases expanded
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded count, height)

    def _grow(self, count: int, mark: Any) -> None:
        self._total += count
        if self._total > MAX_NODES:
            raise _Refused(None, None, f"more than {MAX_NODES} values once aliases are expanded", mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(None, None, f"more than {MAX_ALIASES} uses of *aliases", event.start_mark)
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise _Refused(None, None, f"alias *{event.anchor} refers to a value that contains it", event.start_mark)
            if self._level + size[1] > MAX_DEPTH:
                raise _Refused(None, None, f"aliases nest values more than {MAX_DEPTH} levels deep", event.start_mark)
            self._grow(size[0], event.start_mark)
            return node
        mark = self.parser.peek_event().start_mark
        self._level += 1
        if self._level > MAX_DEPTH:
            raise _Refused(None, None, f"values nested more than {MAX_DEPTH} levels deep", mark)
        self._grow(1, mark)
        node = super().compose_node(parent, index)
        self._level -= 1
        if isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, SequenceNode):
            children = node.value
        else:
            children = []
        sizes = [self._sizes[id(child)] for child in children]
        count = 1 + sum(s[0] for s in sizes)
        self._sizes[id(node)] = (count, 1 + max((s[1] for s in sizes), default=0))
        return node


def _read_text(path: Path, shown: str) -> str:
    """The file as text, refused before parsing when it is too large or not UTF-8."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{shown}: not a regular file; a bot config is a YAML text file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{shown}: {info.st_size} bytes, over the {MAX_CONFIG_BYTES // 1024} KiB limit for a bot config; "
                "is this the right file?"
            )
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)  # the file may have grown since stat
    except FileNotFoundError:
        raise ConfigError(f"{shown}: file not found; create it (copy bots/alpha.yaml) or check the bot name") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{shown}: over the {MAX_CONFIG_BYTES // 1024} KiB limit for a bot config; is this the right file?")
    # UTF-32 first: its little-endian mark begins with UTF-16's.
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if raw.startswith(bom):
            raise ConfigError(f"{shown}: the file is {name} text; save it as UTF-8")
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise ConfigError(
            f"{shown}:{line}: NUL byte: a binary file, or UTF-16 text without a byte-order mark; save it as UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{shown}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None


def read_yaml(path: Path, shown: str) -> Any:
    """The parsed YAML of a config, within the bounds on hostile files; ConfigError when it does not parse."""
    text = _read_text(path, shown)
    yaml = YAML(typ="rt", pure=True)
    yaml.Scanner = _BoundedScanner
    yaml.Composer = _BoundedComposer
    try:
        return yaml.load(text)
    except _Refused as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{shown}{where}: refused: {exc.problem}; a bot config needs nothing like it") from None
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        first = exc.context_mark.line + 1 if exc.context_mark is not None else "?"
        key = re.search(r'found duplicate key "([^"]+)"', str(exc.problem))
        name = key.group(1) if key else "a key"
        raise ConfigError(f"{shown}{where}: duplicate key '{name}' (the mapping starting at line {first} has it already)") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ConfigError(f"{shown}{where}: YAML syntax error: {problem}") from None
    except YAMLError as exc:
        raise ConfigError(f"{shown}: YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # the depth bound should prevent it; never let it become a traceback
        raise ConfigError(f"{shown}: refused: values nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # e.g. an integer of 5,000 digits: Python refuses to convert it
        raise ConfigError(f"{shown}: cannot read a value: {str(exc).splitlines()[0][:120]}") from None


def _line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest key in ``loc`` that the YAML document has."""
    line = None
    node = data
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            pos = node.lc.key(part)
            line = pos[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            pos = node.lc.item(part)
            line = pos[0] + 1
            node = node[part]
        else:
            break
    return line


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model owning the last key of ``loc`` (for 'did you mean' hints)."""
    model: type[BaseModel] = BotConfig
    for part in loc[:-1]:
        if not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def _expected(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    simple = {
        "int_parsing": "a whole number",
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "finite_number": "a finite number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "text",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping of keys to values",
        "model_type": "a mapping of keys to values",
        "model_attributes_type": "a mapping of keys to values",
        "missing": "a value (this field is required)",
    }
    if kind in simple:
        return simple[kind]
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"a number {op} {bound}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern', '')}"
    if kind == "string_too_short":
        return "non-empty text"
    if kind == "too_long" or kind == "too_short":
        return err["msg"].lower()
    return err["msg"]


def _dotted(loc: tuple[int | str, ...]) -> str:
    # A key can be as long as the file: keep the error to one readable line.
    return ".".join(str(p) if len(str(p)) <= 60 else str(p)[:57] + "..." for p in loc) or "(top level)"


def _format_error(shown: str, data: Any, err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    dotted = _dotted(loc)
    line = _line_of(data, loc)
    where = f"{shown}:{line}" if line else shown
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc)
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(key, list(model.model_fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(model.model_fields)}"
        return f"{where}: {dotted}: unknown key{hint}"
    if err["type"] == "missing":
        return f"{where}: {dotted}: required field is missing"
    if loc == ("discord", "token_env_var"):
        # Never echo this value: people paste the token itself here.
        return (
            f"{where}: {dotted}: expected the NAME of the environment variable that holds the token "
            "(e.g. ALPHA_BOT_TOKEN), not the token itself; put the token in .env"
        )
    value = err.get("input")
    shown_value = _REDACT(repr(_plain(value)))  # a secret pasted into any field stays hidden
    if len(shown_value) > 60:
        shown_value = shown_value[:57] + "..."
    if err["type"] == "value_error":
        return f"{where}: {dotted}: {err['msg'].removeprefix('Value error, ')}"
    return f"{where}: {dotted}: got {shown_value}, expected {_expected(err)}"


def _plain(value: Any) -> Any:
    if isinstance(value, CommentedMap):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, CommentedSeq):
        return [_plain(v) for v in value]
    return value


def _yaml_float(value: float) -> str:
    return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")


def _non_finite(data: Any, loc: tuple[int | str, ...] = ()) -> tuple[tuple[int | str, ...], float] | None:
    """Where the first infinite or NaN number anywhere in ``data`` is, and its value.

    Checked on the whole document rather than per field: free-form settings such as a
    fallback model's ``extra_body`` would otherwise carry ``.inf`` or ``.nan`` into requests.
    """
    if isinstance(data, float) and not math.isfinite(data):
        return loc, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _non_finite(value, (*loc, key))
        if found:
            return found
    return None


def load_bot_config(path: Path, home: Path | None = None) -> BotConfig:
    """Parse and validate one bot config; raise ``ConfigError`` naming every problem."""
    shown = display_path(path, home)
    data = read_yaml(path, shown)
    if data is None:
        raise ConfigError(f"{shown}: the file is empty; copy bots/alpha.yaml as a starting point")
    if not isinstance(data, CommentedMap):
        kind = "a list" if isinstance(data, CommentedSeq) else f"a single value ({data!r:.40})"
        raise ConfigError(f"{shown}: expected settings (key: value lines) at the top level, got {kind}")
    bad = _non_finite(data)
    if bad is not None:
        loc, value = bad
        line = _line_of(data, loc)
        where = f"{shown}:{line}" if line else shown
        raise ConfigError(f"{where}: {_dotted(loc)}: got {_yaml_float(value)}, expected a finite number")
    try:
        config = BotConfig.model_validate(_plain(data))
    except ValidationError as exc:
        lines = [_format_error(shown, data, e) for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    if config.bot_id != path.stem:
        line = _line_of(data, ("bot_id",))
        raise ConfigError(
            f"{shown}:{line}: bot_id: got {config.bot_id!r}, expected {path.stem!r} (the file name without .yaml)"
        )
    return config


@dataclass
class CheckResult:
    """What ``validate`` found for one bot."""

    bot_id: str
    path: Path
    config: BotConfig | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _has_key(environ: Mapping[str, str], prefix: str) -> bool:
    pattern = re.compile(rf"^{re.escape(prefix)}_API_KEY(_\d+)?$")
    return any(pattern.match(name) and (value or "").strip() for name, value in environ.items())


def _provider_key_problems(config: BotConfig, environ: Mapping[str, str], warnings: list[str], shown: str) -> list[str]:
    """Errors when no model provider can be called; a warning when only fallbacks can."""
    fallback = config.api.fallback
    usable = []
    if fallback.groq.enabled and _has_key(environ, "GROQ"):
        usable.append("Groq")
    for provider in fallback.openai_compatible:
        if not provider.key_required or _has_key(environ, provider.name.upper()):
            usable.append(provider.name)
    if _has_key(environ, "ANTHROPIC") or legacy_anthropic_key(environ) is not None:
        return []
    if (environ.get(LEGACY_KEY_VAR) or "").strip():
        warnings.append(f"{shown}: {LEGACY_KEY_VAR} is set but is not an Anthropic key (sk-ant-...): it is not used")
    if usable:
        warnings.append(f"{shown}: ANTHROPIC_API_KEY is not set: the bot answers through {', '.join(usable)} only")
        return []
    return ["no model provider has a key: set ANTHROPIC_API_KEY (or GROQ_API_KEY for the fallback) in .env"]


def check_bot(
    path: Path,
    environ: Mapping[str, str],
    home: Path | None = None,
    *,
    check_model: bool = True,
    online: bool = False,
) -> CheckResult:
    """Validate a config and the environment it needs, without starting anything.

    ``environ`` is the merged environment (process env over ``.env``); only the *names*
    of variables ever reach the result, never their values. ``check_model=False`` skips
    the model-id warnings (``spawn`` leaves them to the bot's log); ``online=True`` also
    asks the Models API about the configured Claude models, which needs a key and the network.
    """
    shown = display_path(path, home)
    result = CheckResult(bot_id=path.stem, path=path)
    try:
        config = load_bot_config(path, home)
    except ConfigError as exc:
        result.errors.extend(str(exc).splitlines())
        return result
    result.config = config
    token_var = config.discord.token_env_var
    if not (environ.get(token_var) or "").strip():
        result.errors.append(
            f"{shown}: discord.token_env_var: environment variable {token_var} is not set; "
            f"add {token_var}=<bot token> to .env (see README, 'Real Discord setup')"
        )
    result.errors.extend(f"{shown}: {e}" for e in _provider_key_problems(config, environ, result.warnings, shown))
    access_problem = master_user_problem(config.access, environ)
    if access_problem is not None:
        result.errors.append(f"{shown}: {access_problem}")
    coding_problem = coding_access_problem(config.tools.coding, config.access.mode)
    if coding_problem is not None:
        result.errors.append(f"{shown}: {coding_problem}")
    result.warnings.extend(f"{shown}: {w}" for w in coding_warnings(config.tools.coding))
    # bots/<id>.yaml sits in the project folder's bots/: its memories are two levels up.
    memories = BotPaths(home if home is not None else path.resolve().parent.parent, config.bot_id).memories
    prompt_problem = prompt_files_problem(config.personality.prompt_files, memories, display_path(memories, home))
    if prompt_problem is not None:
        result.errors.append(f"{shown}: {prompt_problem}")
    if not check_model:
        return result
    claude_models = {"api.model": config.api.model}
    if config.api.cheap_model:
        claude_models["api.cheap_model"] = config.api.cheap_model
    for name, model in claude_models.items():
        warning = model_warning(model)
        if warning:
            result.warnings.append(f"{shown}: {name}: {warning}")
    if online:
        from ..llm.models_api import online_warnings  # the SDK only when asked to go online

        result.warnings.extend(f"{shown}: {w}" for w in online_warnings(claude_models.values(), environ))
    return result
