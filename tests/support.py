"""Test helpers: the facts files of documented hosts, and running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOSTS = Path(__file__).parent / "hosts"
HOST_NAMES = ("linux", "darwin", "win32", "freebsd", "sunos", "pypy")


def run_cli(
    *args: str, input: str | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m iodetect ARGS` in a child process, as a user runs it (env: extra variables)."""
    return subprocess.run(
        [sys.executable, "-m", "iodetect", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        # os.environ, not the C environment: pytest imports readline, which puts COLUMNS=80 and
        # LINES=24 in the latter, and the CLI would wrap its text to a width nobody asked for.
        env={**os.environ, **(env or {})},
    )
