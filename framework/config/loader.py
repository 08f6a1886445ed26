"""Load and check ``bots/<id>.yaml``: ruamel.yaml parse, pydantic validation, readable errors.

Every error names the file, the line where known, the dotted field path, the value found
and what was expected, in one line, e.g.::

    bots/alpha.yaml:37: reactive.cooldowns.per_user: got 'soon', expected a number
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import ConfigError
from ..redact import Redactor
from .models import BotConfig
from .modelcatalog import deprecation_warning

__all__ = ["load_bot_config", "check_bot", "CheckResult", "display_path"]

_REDACT = Redactor()


def display_path(path: Path, home: Path | None = None) -> str:
    """``path`` relative to the project folder when it lies inside, else as given."""
    if home is not None:
        try:
            return str(path.resolve().relative_to(home.resolve()))
        except ValueError:
            pass
    return str(path)


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: file not found; create it (copy bots/alpha.yaml) or check the bot name") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read ({exc.strerror})") from None
    try:
        return YAML(typ="rt", pure=True).load(text)
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


def _format_error(shown: str, data: Any, err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc) or "(top level)"
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


def load_bot_config(path: Path, home: Path | None = None) -> BotConfig:
    """Parse and validate one bot config; raise ``ConfigError`` naming every problem."""
    shown = display_path(path, home)
    data = _read_yaml(path, shown)
    if data is None:
        raise ConfigError(f"{shown}: the file is empty; copy bots/alpha.yaml as a starting point")
    if not isinstance(data, CommentedMap):
        kind = "a list" if isinstance(data, CommentedSeq) else f"a single value ({data!r:.40})"
        raise ConfigError(f"{shown}: expected settings (key: value lines) at the top level, got {kind}")
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
    if _has_key(environ, "ANTHROPIC"):
        return []
    if usable:
        warnings.append(f"{shown}: ANTHROPIC_API_KEY is not set: the bot answers through {', '.join(usable)} only")
        return []
    return ["no model provider has a key: set ANTHROPIC_API_KEY (or GROQ_API_KEY for the fallback) in .env"]


def check_bot(
    path: Path, environ: Mapping[str, str], home: Path | None = None, *, check_model: bool = True
) -> CheckResult:
    """Validate a config and the environment it needs, without starting anything.

    ``environ`` is the merged environment (process env over ``.env``); only the *names*
    of variables ever reach the result, never their values. ``check_model=False`` skips
    the deprecated-model check, which imports the anthropic SDK (about 1.7 s): ``spawn``
    skips it and the bot process logs the same warning when it starts.
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
    warning = deprecation_warning(config.api.model) if check_model else None
    if warning:
        result.warnings.append(f"{shown}: api.model: {warning}")
    return result
