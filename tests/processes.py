"""Test helpers for processes: is a pid gone, and a fixture that kills what a test left behind.

A test that starts processes (a stopped worker, a daemon a setup starts) must not leave them
running when it fails: the `reaper` fixture kills, at teardown, every pid it was told about
(directly or through a pid file), whatever the outcome of the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def alive(pid: int) -> bool:
    """Is the process there? A zombie that awaits its reaper counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def gone(pid: int, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def wait_for(predicate: Callable[[], bool], within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def read_pid(path: Path, within: float = 20.0) -> int:
    """The pid a process wrote to `path`, once it is there."""
    assert wait_for(lambda: path.exists() and path.read_text().strip().isdigit(), within), (
        f"{path} was never written"
    )
    return int(path.read_text())


class Reaper:
    """What a test started, killed at its end whatever happened."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.pid_files: list[Path] = []
        self.procs: list[subprocess.Popen[str] | subprocess.Popen[bytes]] = []

    def pid(self, pid: int) -> int:
        self.pids.append(pid)
        return pid

    def pid_file(self, path: Path) -> Path:
        self.pid_files.append(path)
        return path

    def proc(
        self, proc: subprocess.Popen[str] | subprocess.Popen[bytes]
    ) -> subprocess.Popen[str] | subprocess.Popen[bytes]:
        self.procs.append(proc)
        return proc

    def reap(self) -> None:
        pids = list(self.pids)
        for path in self.pid_files:
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(path.read_text()))
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)  # a stopped process dies of SIGKILL too, but
                os.kill(pid, signal.SIGKILL)  # its group may wait on it
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.communicate(timeout=10)


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    r = Reaper()
    try:
        yield r
    finally:
        r.reap()
