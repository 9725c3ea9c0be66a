"""Reading /proc for another process: bounded in size, sanitised for display, errors as one line.

A process under inspection can exit at any moment, its PID can be reused, and everything it
controls (its command line, thread names, file names, the paths it maps) may be hostile: a
terminal escape in a file name, a line that never ends. So every read has a size cap, every
string shown passes through `clean()`, and an error names what happened in one line.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Iterator

PROC = "/proc"
TEXT_LIMIT = 64 * 1024  # status, limits, stat, fdinfo of an ordinary descriptor
MAPS_LIMIT = 8 * 1024 * 1024  # a large process maps a few thousand files
LINK_LIMIT = 4096


class InspectError(Exception):
    """Something that stops the inspection of one process; str() is one line for people."""


class ProcessGone(InspectError):
    """The process does not exist (any more), or its PID now belongs to another process."""


class AccessDenied(InspectError):
    """The kernel refuses to show this process's details to this user."""


class NotPython(InspectError):
    """The process runs no Python interpreter that iodetect can recognise."""


class Unsupported(InspectError):
    """Inspection needs Linux's /proc."""


class Deadline:
    """A point in time that every step checks, so the whole inspection meets its budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


def path(pid: int, *parts: str) -> str:
    return os.path.join(PROC, str(pid), *parts)


def read_bytes(name: str, limit: int = TEXT_LIMIT) -> tuple[bytes, bool]:
    """Up to `limit` bytes of a /proc file and whether it was longer. Raises OSError."""
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data[:limit], len(data) > limit


class Cut:
    """Set once a read_lines() pass stopped at its limit."""

    cut = False


def read_lines(name: str, limit: int, chunk: int = 65536) -> tuple[Iterator[bytes], Cut]:
    """The lines of a /proc file, read `chunk` bytes at a time up to `limit` bytes, never held
    whole; the Cut says, once the lines are consumed, whether the file went on. The file is
    opened now (OSError here) and read as the lines are consumed (OSError there too)."""
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    cut = Cut()

    def lines() -> Iterator[bytes]:
        try:
            rest = b""
            size = 0
            while True:
                data = os.read(fd, max(1, min(chunk, limit - size)) if size < limit else 1)
                if not data:
                    break
                if size >= limit:
                    cut.cut = True
                    break
                size += len(data)
                *complete, rest = (rest + data).split(b"\n")
                yield from complete
            if rest and not cut.cut:
                yield rest
        finally:
            os.close(fd)

    return lines(), cut


def read_text(name: str, limit: int = TEXT_LIMIT) -> str:
    """A /proc file as text (undecodable bytes replaced), cut at `limit` bytes."""
    return read_bytes(name, limit)[0].decode("utf-8", "replace")


def readlink(name: str) -> str:
    target = os.readlink(name)
    return target[:LINK_LIMIT]


def explain(pid: int, exc: OSError, what: str) -> InspectError:
    """The one-line error for an OSError met while reading `what` of process `pid`."""
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return ProcessGone(f"process {pid} exited while it was being inspected ({what})")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(
            f"permission denied reading {what} of process {pid}: run iodetect as the "
            "process's own user, or as root (CAP_SYS_PTRACE)"
        )
    return InspectError(f"cannot read {what} of process {pid}: {exc.strerror or exc}")


def start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot: with the PID, its identity."""
    try:
        stat = read_text(path(pid, "stat"))
    except OSError as exc:
        raise ProcessGone(f"no process with PID {pid}") from exc
    return int(stat_fields(stat)[19])


def stat_fields(stat: str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and ')')."""
    # Field 3 onwards, so index 0 here is the state (field 3 in proc_pid_stat(5)).
    return stat[stat.rfind(")") + 2 :].split()


def alive(pid: int, started: int) -> bool:
    """Whether `pid` still names the process that started at `started` (not a reused PID, not
    a zombie: a process that exited and waits for its parent to collect its status)."""
    try:
        fields = stat_fields(read_text(path(pid, "stat")))
        return int(fields[19]) == started and fields[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def clean(text: str, limit: int = 200) -> str:
    """Text from the target made safe to show: control and bidi characters escaped, shortened."""
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    shown = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(shown) > limit:
        shown = shown[: max(0, limit - 3)] + "..."
    return shown


_SECRET_OPTION = re.compile(r"(?i)(pass|secret|token|key|auth|credential)")


def redact_command(argv: list[str], limit: int = 400) -> str:
    """A command line to show: values of options that look secret are hidden, then cleaned.

    The limit is generous: a launch command is the evidence `inspect` is read for, and a
    virtualenv path alone can take a hundred characters."""
    shown: list[str] = []
    hide_next = False
    for arg in argv[:64]:
        if hide_next:
            shown.append("***")
            hide_next = False
            continue
        if arg.startswith("-") and _SECRET_OPTION.search(arg):
            if "=" in arg:
                shown.append(arg.split("=", 1)[0] + "=***")
            else:
                shown.append(arg)
                hide_next = True
            continue
        if "://" in arg and "@" in arg:  # credentials in a URL: scheme://user:pass@host
            scheme, rest = arg.split("://", 1)
            shown.append(scheme + "://***@" + rest.rsplit("@", 1)[-1])
            continue
        shown.append(arg)
    return clean(" ".join(shown), limit)
