"""Running a target-side program on an interpreter named by a command line, with a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iodetect.target import MARKER

DEFAULT_TIMEOUT = 30.0


class TargetError(RuntimeError):
    """The target interpreter could not be run, or did not answer as expected. One line."""


@dataclass(frozen=True)
class Outcome:
    result: Any  # the JSON document the program printed after MARKER
    stderr: str
    seconds: float


def split_command(command: str | Sequence[str] | None) -> list[str]:
    """The argv for a --python command line; None means this interpreter."""
    if command is None:
        return [sys.executable]
    if not isinstance(command, str):
        return list(command)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TargetError(f"cannot parse --python command {command!r}: {exc}") from None
    if not argv:
        raise TargetError("the --python command is empty")
    return argv


def run_program(
    program: str,
    command: str | Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    what: str = "target",
) -> Outcome:
    """Send `program` to the interpreter on stdin and return the JSON it printed after MARKER.

    The child runs in its own session, so a hang is ended by killing its whole process
    group at the deadline, and Ctrl-C here takes the children with it.
    """
    import time

    argv = split_command(command)
    shown = shlex.join(argv)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
    except FileNotFoundError:
        raise TargetError(f"{what}: command not found: {argv[0]}") from None
    except OSError as exc:
        raise TargetError(f"{what}: cannot run {shown}: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(program.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise TargetError(f"{what}: {shown} gave no answer within {timeout:g} s; killed") from None
    except BaseException:
        kill_group(proc)
        raise
    seconds = time.monotonic() - start
    stderr = err.decode("utf-8", "replace")
    text = out.decode("utf-8", "replace")
    result = None
    for line in text.splitlines():
        if line.startswith(MARKER):
            result = line[len(MARKER) :]
    if proc.returncode != 0:
        raise TargetError(
            f"{what}: {shown} exited with status {proc.returncode}: {last_line(stderr)}"
        )
    if result is None:
        raise TargetError(f"{what}: {shown} did not print an iodetect result: {last_line(text)}")
    try:
        return Outcome(json.loads(result), stderr, seconds)
    except json.JSONDecodeError as exc:
        raise TargetError(f"{what}: {shown} printed a malformed result: {exc}") from None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started, then reap it."""
    if sys.platform == "win32":  # no process groups: the child alone
        proc.kill()
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
            os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def last_line(text: str) -> str:
    """The last non-empty line of some output, shortened: the usual one-line reason."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    line = lines[-1]
    return line if len(line) <= 200 else line[:197] + "..."
