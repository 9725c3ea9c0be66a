"""Finding the processes to inspect: by PID, by the TCP port they listen on, by command line.

A scan of /proc is bounded (a host may run a hundred thousand processes) and skips what it
may not read: another user's descriptors are invisible without privileges, and say so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from iodetect.inspect import procfs, sockets
from iodetect.text import clean

PROCESS_LIMIT = 100_000
FD_LIMIT = 65_536  # descriptors read per process while looking for a socket


@dataclass(frozen=True)
class Found:
    pids: tuple[int, ...]
    notes: tuple[str, ...] = ()


def all_pids() -> list[int]:
    pids = []
    for name in os.listdir(procfs.PROC):
        if name.isdigit():
            pids.append(int(name))
            if len(pids) >= PROCESS_LIMIT:
                break
    return sorted(pids)


def parents() -> dict[int, int]:
    """Every process's parent PID."""
    out: dict[int, int] = {}
    for pid in all_pids():
        try:
            fields = procfs.stat_fields(procfs.read_text(procfs.path(pid, "stat")))
            out[pid] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def ancestors(pid: int, tree: dict[int, int]) -> set[int]:
    seen: set[int] = set()
    while pid in tree and pid not in seen and pid > 1:
        seen.add(pid)
        pid = tree[pid]
    return seen


def descendants(root: int, tree: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in tree.items():
        children.setdefault(ppid, []).append(pid)
    out: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def holders(inodes: set[int], pids: list[int] | None = None) -> tuple[dict[int, set[int]], int]:
    """Which processes hold descriptors for these socket inodes; and how many could not be read."""
    found: dict[int, set[int]] = {}
    denied = 0
    for pid in pids if pids is not None else all_pids():
        fd_dir = procfs.path(pid, "fd")
        try:
            names = os.listdir(fd_dir)
        except PermissionError:
            denied += 1
            continue
        except OSError:
            continue
        for name in names[:FD_LIMIT]:
            try:
                inode = sockets.socket_inode(os.readlink(f"{fd_dir}/{name}"))
            except OSError:
                continue
            if inode is not None and inode in inodes:
                found.setdefault(pid, set()).add(inode)
    return found, denied


def by_port(port: int) -> Found:
    """The processes holding a TCP socket that listens on `port` (in iodetect's namespace)."""
    listening = sockets.listening_inodes(os.getpid(), port)
    if not listening:
        return Found(
            (),
            (
                f"nothing listens on TCP port {port} in this network namespace (a process in a "
                "container listens in its own: find its PID with `docker top` and inspect it)",
            ),
        )
    found, denied = holders(set(listening))
    notes = []
    if denied:
        notes.append(f"{denied} process(es) could not be searched (permission denied)")
    if not found:
        notes.append(
            f"something listens on TCP port {port} but no process that iodetect may read holds "
            "it: run as root, or as the service's user"
        )
    return Found(tuple(sorted(found)), tuple(notes))


def by_match(text: str) -> Found:
    """Processes whose command line contains `text`, except iodetect itself and its parents."""
    mine = ancestors(os.getpid(), parents()) | {os.getpid()}
    pids = []
    for pid in all_pids():
        if pid in mine:
            continue
        try:
            raw = procfs.read_bytes(procfs.path(pid, "cmdline"), 16384)[0]
        except OSError:
            continue
        if text in raw.replace(b"\0", b" ").decode("utf-8", "replace"):
            pids.append(pid)
    shown = clean(text, 80, controls="escape")
    notes = () if pids else (f"no process's command line contains {shown!r}",)
    return Found(tuple(pids), notes)
