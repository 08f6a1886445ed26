"""``validate --online``: ask Anthropic's Models API whether the configured model ids exist
and whether they are deprecated or retired (the offline catalogue in
``framework.config.modelcatalog`` only knows the ids of its own release)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..config.modelcatalog import SUGGESTED_MODEL

__all__ = ["online_warnings"]


def _api_key(environ: Mapping[str, str]) -> str | None:
    if (environ.get("ANTHROPIC_API_KEY") or "").strip():
        return environ["ANTHROPIC_API_KEY"].strip()
    pooled = sorted(
        (int(m[1]), value.strip())
        for name, value in environ.items()
        if (m := re.fullmatch(r"ANTHROPIC_API_KEY_(\d+)", name)) and (value or "").strip()
    )
    return pooled[0][1] if pooled else None


def online_warnings(models: Iterable[str], environ: Mapping[str, str], *, timeout: float = 10.0) -> list[str]:
    """Ask the Models API about each id; one warning line per problem, never an exception.

    Honours ``ANTHROPIC_BASE_URL`` from ``environ``. Anything that keeps the question from
    being answered (no network, a refused key) is itself a warning: the offline checks stand.
    """
    key = _api_key(environ)
    if key is None:
        return ["--online skipped: ANTHROPIC_API_KEY is not set"]
    try:
        import anthropic  # the SDK takes about a second to import: only when asked

        base_url = (environ.get("ANTHROPIC_BASE_URL") or "").strip() or None
        client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - a broken SDK setup must not crash validate
        return [f"--online skipped: cannot create the Anthropic client ({type(exc).__name__})"]
    warnings: list[str] = []
    try:
        for model in dict.fromkeys(models):
            warning = _ask(client, model)
            if warning:
                warnings.append(warning)
    finally:
        client.close()
    return warnings


def _ask(client: Any, model: str) -> str | None:
    import anthropic

    try:
        info = client.models.retrieve(model)
    except anthropic.NotFoundError:
        return f"the Models API does not know model {model!r}: requests naming it will fail"
    except anthropic.APIStatusError as exc:
        # Never the body: it may echo request details; the status code says enough.
        return f"could not check model {model!r} online: the Models API answered HTTP {exc.status_code}"
    except Exception as exc:  # noqa: BLE001 - offline, DNS, TLS, timeouts: a warning, not a crash
        return f"could not check model {model!r} online ({type(exc).__name__}); checked offline only"
    lifecycle = getattr(info, "lifecycle", "active")
    retires = getattr(info, "retires_at", None)
    when = f", retires {retires:%Y-%m-%d}" if retires is not None else ""
    if lifecycle == "retired":
        return f"the Models API says model {model!r} is retired: requests naming it fail; use {SUGGESTED_MODEL!r}"
    if lifecycle == "deprecated":
        return f"the Models API says model {model!r} is deprecated{when}; use {SUGGESTED_MODEL!r}"
    return None
