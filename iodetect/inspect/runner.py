"""Running the inspected process's own interpreter: for its facts, and for `asyncio ps`.

The interpreter is started the way the process sees it: inside its root and mount namespace
(`nsenter`) when it lives in a chroot or a container, as its own user (never as root for
another user's process: its site-packages run code at start-up), with -I so that neither
iodetect's environment nor the current directory shadows its modules.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from iodetect import transport
from iodetect.inspect.model import Snapshot, Tasks
from iodetect.text import clean

OUTPUT_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...] | None  # None: the interpreter cannot be run from here
    reason: str | None = None  # why not, or how it is reached


def _euid() -> int:
    if sys.platform == "win32":  # pragma: no cover - inspect runs on Linux only
        return 0
    return os.geteuid()


def interpreter_command(snap: Snapshot, python: str | Sequence[str] | None = None) -> Command:
    """argv that runs the process's interpreter (with its environment) reading stdin."""
    if python is not None:
        return Command(tuple(transport.split_command(python)), "given with --python")
    interp = snap.interpreter
    if interp.embedded or interp.run is None:
        return Command(
            None,
            f"Python runs embedded in {snap.name} ({interp.executable}), which is not an "
            "interpreter iodetect can start; pass --python with the matching interpreter",
        )
    root = _euid() == 0
    prefix: list[str] = []
    contained = not snap.own_root or not snap.own_mount_ns
    if contained:
        nsenter = shutil.which("nsenter")
        if not root or nsenter is None:
            return Command(
                None,
                "the process runs in another root or mount namespace (a chroot or a container)"
                + (": entering it needs root" if not root else ": nsenter is not installed")
                + "; pass --python, e.g. 'docker exec -i CONTAINER python3'",
            )
        prefix = [nsenter, f"--target={snap.pid}", "--root", "--wd"]
        if not snap.own_mount_ns:
            prefix.insert(2, "--mount")
        if snap.uid != 0:
            prefix += [f"--setuid={snap.uid}", f"--setgid={snap.gid}"]
        prefix.append("--")
        run = interp.run
    else:
        run = interp.run
        if root and snap.uid != 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                return Command(
                    None,
                    f"the process runs as uid {snap.uid}; iodetect runs its interpreter only as "
                    "that user, and setpriv (util-linux) is not installed",
                )
            prefix = [
                setpriv,
                f"--reuid={snap.uid}",
                f"--regid={snap.gid}",
                "--clear-groups",
                "--",
            ]
    return Command((*prefix, run, "-I"), "nsenter" if contained else None)


_ROW = re.compile(r"^\s*(\d+)\s+(0x[0-9a-fA-F]+)\s")


def tasks(snap: Snapshot, timeout: float) -> Tasks:
    """The task summary of `python -m asyncio ps PID`, run with the process's own interpreter."""
    interp = snap.interpreter
    if interp.implementation != "cpython":
        return Tasks(False, f"{interp.implementation} has no `python -m asyncio ps`")
    version = _version(interp.release or interp.version)
    if version is None:
        return Tasks(False, "the interpreter's version is unknown")
    if version < (3, 14):
        return Tasks(
            False,
            f"CPython {version[0]}.{version[1]}: `python -m asyncio ps` exists from 3.14",
        )
    cmd = interpreter_command(snap)
    if cmd.argv is None:
        return Tasks(False, cmd.reason)
    argv = list(cmd.argv)
    pid = snap.pid
    if not snap.own_pid_ns:
        if cmd.reason != "nsenter":  # pragma: no cover - contained processes go through nsenter
            return Tasks(False, "the process is in another PID namespace")
        argv.insert(1, "--pid")
        pid = snap.ns_pid
    try:
        done = transport.run_capture(
            [*argv, "-m", "asyncio", "ps", str(pid)], timeout, OUTPUT_LIMIT, "`asyncio ps`"
        )
    except transport.TargetError as exc:
        return Tasks(False, clean(str(exc), 240, controls="escape"))
    seconds = done.seconds
    if done.flood:
        return Tasks(False, f"`asyncio ps` printed more than {OUTPUT_LIMIT} bytes; killed")
    if done.returncode is None:
        return Tasks(False, f"`asyncio ps` gave no answer within {timeout:.1f} s; killed")
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not any(line.startswith("---") for line in lines):
        why = transport.last_line(done.stderr if done.stderr.strip() else done.stdout)
        return Tasks(
            False, clean(f"`asyncio ps` failed: {why}", 240, controls="escape"), seconds=seconds
        )
    return summarise(lines, seconds)


def summarise(lines: list[str], seconds: float | None = None) -> Tasks:
    """Count tasks and their most common coroutine stacks in `asyncio ps` table output.

    The table pads each column to a width but never cuts a value, so a column is read from
    the header's offsets only where the row's task name fits its column.
    """
    header = next((line for line in lines if line.startswith("tid")), "")
    start = header.find("coroutine stack")
    end = header.find("awaiter chain")
    seen_tasks: set[str] = set()
    threads: set[str] = set()
    stacks: Counter[str] = Counter()
    for line in lines:
        m = _ROW.match(line)
        if not m:
            continue
        threads.add(m.group(1))
        if m.group(2) in seen_tasks:
            continue  # one row per awaiter: count each task once
        seen_tasks.add(m.group(2))
        if 0 < start < end <= len(line) and line[start - 1] == " ":
            stack = line[start:end].strip()
            if stack:
                stacks[clean(stack, 100, controls="escape")] += 1
    return Tasks(
        True,
        None,
        count=len(seen_tasks),
        threads=len(threads),
        top=tuple(stacks.most_common(5)),
        seconds=seconds,
    )


def _version(text: str | None) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None
