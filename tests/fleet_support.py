"""Helpers for the fleet and diff tests: facts files that differ from a fixture host in one way."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from support import HOSTS


def host_data(host: str = "linux") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HOSTS / f"{host}.json").read_text(encoding="utf-8"))
    return data


def variant(host: str = "linux", **changes: Any) -> dict[str, Any]:
    """A fixture host's facts with changes: `limits__nofile_soft=256` sets limits.nofile_soft,
    `loops__uvloop__installed=None` the field of the loop named uvloop."""
    data = copy.deepcopy(host_data(host))
    for key, value in changes.items():
        path = key.split("__")
        node: Any = data
        for part in path[:-1]:
            if isinstance(node, list):
                node = next(item for item in node if item.get("name") == part)
            else:
                node = node[part]
        node[path[-1]] = value
    return data


def without_uvloop(host: str = "linux", **changes: Any) -> dict[str, Any]:
    return variant(
        host,
        loops__uvloop__installed=None,
        loops__uvloop__importable=None,
        loops__uvloop__support_note="not installed",
        **changes,
    )


def write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path
