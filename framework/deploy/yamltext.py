"""Plain data to YAML text, in the order given (manifests read top-down)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

__all__ = ["dump", "dump_all"]


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # keep apiVersion, kind, metadata first
    yaml.width = 120
    # A dict used twice (the labels, in the selector and the pod template) is written out
    # twice, not as an anchor and an alias: readers of a manifest should not have to resolve them.
    yaml.representer.ignore_aliases = lambda data: True
    return yaml


def dump(document: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue()


def dump_all(documents: list[Any]) -> str:
    buffer = io.StringIO()
    _yaml().dump_all(documents, buffer)
    return buffer.getvalue()
