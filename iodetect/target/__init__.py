"""Target-side scripts: standard library only, CPython 3.8+, sent to an interpreter on stdin.

Each script prints its result as one JSON document on a line that starts with MARKER, so that
banners or stray prints from the target (an ssh motd, a sitecustomize) cannot corrupt it. A
program built here also carries a nonce of its own run in that marker: a line printed by
anything else in the target (a setup module that copies or forges a result line) lacks it and
is ignored.
"""

from __future__ import annotations

from typing import Any

from iodetect.record import frozen

MARKER = "@@iodetect@@ "


@frozen
class Program:
    """A complete program for `python -`, and the marker its result line starts with."""

    text: str
    marker: str = MARKER


def source(name: str) -> str:
    """The text of a target-side script shipped in this package (probe, selftest, bench)."""
    from importlib import resources  # only when a script is sent: keeps `report` start-up short

    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def program(name: str, params: Any = None, nonce: bool = True) -> Program:
    """The script, then a call of its main() with params, its result marked with a fresh nonce.

    Parameters travel as a JSON string literal, so no value in them can become code. Every
    script prints through its module-level MARKER, which the program rebinds before main() runs.
    """
    import json
    import secrets  # only when a program is sent: keeps `report` start-up short

    marker = f"{MARKER}{secrets.token_hex(16)} " if nonce else MARKER
    call = f"\nMARKER = {marker!r}\nmain(json.loads({json.dumps(json.dumps(params))}))\n"
    return Program(source(name) + call, marker)
