"""`iodetect scan`: the event-loop code that breaks on a target CPython, found by parsing.

The project's files are scanned in this process; `--deps` sends the scanner (engine.py, standard
library only, CPython 3.8+ and PyPy) to the target interpreter on stdin, where it lists the
installed distributions and parses their files with that interpreter's own parser, so a
container, a remote host or a chroot is scanned where it runs and only the uses travel back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from iodetect.scan import engine
from iodetect.scan.report import (
    FAIL_LEVELS,
    ReportError,
    ScanReport,
    build,
    descriptors_for,
    interpreter,
    rules,
)
from iodetect.scan.verdicts import Target, TargetError, parse_targets, target_of

__all__ = ["FAIL_LEVELS", "Options", "ReportError", "ScanError", "TargetError", "scan"]


class ScanError(RuntimeError):
    """The scan could not be run as asked (a missing path, an unreachable target). One line."""


@dataclass(frozen=True)
class Options:
    paths: tuple[str, ...] = ()
    deps: bool = False
    python: str | Sequence[str] | None = None  # the target interpreter's command line
    targets: str | None = None  # --target-python; None: the target interpreter's version
    fail_on: str = "raise"
    max_fds: int | None = None
    timeout: float = 60.0
    exclude: tuple[str, ...] = ()
    max_file_bytes: int = 4 << 20
    deps_tests: bool = False
    limits: dict[str, Any] = field(default_factory=dict)


def program(params: dict[str, Any]) -> str:
    """The scanner as a program for `python -`; parameters travel as a JSON string literal."""
    from importlib import resources

    source = resources.files(__name__).joinpath("engine.py").read_text(encoding="utf-8")
    return source + f"\nmain(json.loads({json.dumps(json.dumps(params))}))\n"


def _remote(params: dict[str, Any], python: str | Sequence[str], timeout: float) -> Any:
    from iodetect import transport

    try:
        # The scanner stops itself a little before the deadline and reports what it covered.
        return transport.run_program(program(params), python, timeout + 5.0, what="scan").result
    except transport.TargetError as exc:
        raise ScanError(str(exc)) from None


def scan(opts: Options) -> ScanReport:
    """Run the scan; raises ScanError, TargetError or ReportError with a one-line message."""
    import os

    if opts.fail_on not in FAIL_LEVELS:
        raise ScanError(f"--fail-on must be one of {', '.join(FAIL_LEVELS)}")
    for path in opts.paths:
        if not os.path.lexists(path):
            raise ScanError(f"no such file or folder: {path!r}")
    start = time.monotonic()
    table = rules()
    limits = {
        "max_file_bytes": opts.max_file_bytes,
        "timeout": opts.timeout,
        "skip_tests": not opts.deps_tests,
        **opts.limits,
    }
    answers: list[dict[str, Any]] = []
    python_info: dict[str, Any] | None = None
    if opts.deps:
        params = {"mode": "deps", "spec": table.spec, "limits": limits}
        answer = (
            engine.run(params)
            if opts.python is None
            else _remote(params, opts.python, opts.timeout)
        )
        if not isinstance(answer, dict):
            raise ReportError("the scanner's answer is not a scan result")
        answers.append(answer)
        python_info = answer.get("python")
    elif opts.python is not None:
        answer = _remote({"mode": "info", "spec": table.spec}, opts.python, opts.timeout)
        if not isinstance(answer, dict):
            raise ReportError("the scanner's answer is not a scan result")
        python_info = answer.get("python")
    if opts.paths:
        # The project is on this machine: parsed here, whatever the target interpreter is.
        params = {
            "mode": "paths",
            "paths": list(opts.paths),
            "exclude": list(opts.exclude),
            "spec": table.spec,
            "limits": {
                **limits,
                "timeout": max(0.0, float(limits["timeout"]) - (time.monotonic() - start)),
            },
        }
        answers.insert(0, engine.run(params))
    if python_info is None:
        python_info = engine.interpreter()
    python = interpreter(python_info)
    targets: tuple[Target, ...]
    if opts.targets is not None:
        targets = parse_targets(opts.targets)
    else:
        version = python_info.get("version") if isinstance(python_info, dict) else None
        if not isinstance(version, list) or len(version) < 2:
            raise ReportError("the target did not say its version")
        targets = (target_of(version),)
    descriptors = descriptors_for(python, opts.max_fds)
    return build(
        answers,
        targets,
        table,
        opts.fail_on,
        round(time.monotonic() - start, 3),
        python,
        descriptors,
    )
