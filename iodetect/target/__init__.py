"""Target-side scripts: standard library only, CPython 3.8+, sent to an interpreter on stdin.

Each script prints its result as one JSON document on a line that starts with MARKER, so that
banners or stray prints from the target (an ssh motd, a sitecustomize) cannot corrupt it.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "@@iodetect@@ "


def source(name: str) -> str:
    """The text of a target-side script shipped in this package (probe, selftest, bench)."""
    from importlib import resources  # only when a script is sent: keeps `report` start-up short

    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def program(name: str, params: Any = None) -> str:
    """A complete program for `python -`: the script, then a call of its main() with params.

    Parameters travel as a JSON string literal, so no value in them can become code.
    """
    call = f"\nmain(json.loads({json.dumps(json.dumps(params))}))\n"
    return source(name) + call
