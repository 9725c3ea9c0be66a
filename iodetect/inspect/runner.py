"""Running the inspected process's own interpreter: for its facts, and for `asyncio ps`.

The interpreter is started the way the process sees it: inside its root and mount namespace
(`nsenter`) when it lives in a chroot or a container, as its own user (never as root for
another user's process: its site-packages run code at start-up), with -I so that neither
iodetect's environment nor the current directory shadows its modules.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from iodetect.inspect import procfs
from iodetect.inspect.model import Snapshot, Tasks

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
        from iodetect import transport

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


def run_bounded(
    argv: Sequence[str], timeout: float, limit: int = OUTPUT_LIMIT
) -> tuple[int | None, str, str, bool]:
    """(exit status or None on timeout, stdout, stderr, output cut); the group is killed late."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    import selectors

    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    end = time.monotonic() + timeout
    cut = False
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            sel.register(proc.stderr, selectors.EVENT_READ)
            while sel.get_map():
                left = end - time.monotonic()
                if left <= 0:
                    _kill(proc)
                    return None, "", "", False
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    buf = buffers[key.fd]
                    buf += chunk
                    if len(buf) > limit:  # enough: a flood is cut, not buffered
                        cut = True
                        del buf[limit:]
                        sel.unregister(key.fileobj)
            proc.wait(max(0.1, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)
        return None, "", "", False
    except BaseException:
        _kill(proc)
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    return (
        proc.returncode,
        bytes(buffers[out_fd]).decode("utf-8", "replace"),
        bytes(buffers[err_fd]).decode("utf-8", "replace"),
        cut,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:  # pragma: no cover
        proc.kill()
    with contextlib.suppress(Exception):
        proc.communicate(timeout=5)


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
    start = time.monotonic()
    try:
        code, out, err, _cut = run_bounded([*argv, "-m", "asyncio", "ps", str(pid)], timeout)
    except OSError as exc:
        return Tasks(False, f"could not run the interpreter: {exc.strerror or exc}")
    seconds = time.monotonic() - start
    if code is None:
        return Tasks(False, f"`asyncio ps` gave no answer within {timeout:.1f} s; killed")
    lines = out.splitlines()
    if code != 0 or not any(line.startswith("---") for line in lines):
        from iodetect.transport import last_line

        why = last_line(err if err.strip() else out)
        return Tasks(False, procfs.clean(f"`asyncio ps` failed: {why}", 240), seconds=seconds)
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
                stacks[procfs.clean(stack, 100)] += 1
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
