"""Real server processes for the `inspect` tests, and a fixture that always stops them.

SERVER runs on any CPython 3.8+ (it travels with -c, or on stdin into the sid chroot): an asyncio
loop on a chosen selector or uvloop, a thread-per-connection server, a loop kept busy by CPU
work, one that leaks descriptors, one that runs five asyncio tasks. It prints `READY <pid> <port>`
once it serves, and holds three established connections to itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

SERVER = r"""
import asyncio, os, selectors, socket, sys, threading, time

kind = sys.argv[1]
extra = sys.argv[2:]
hold = []


def ready(port):
    print("READY %d %d" % (os.getpid(), port), flush=True)


def threaded():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", port))
        hold.append(c)

    def handle(conn):
        while conn.recv(1024):
            pass

    ready(port)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


async def main():
    srv = await asyncio.start_server(lambda r, w: hold.append(w), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    for _ in range(3):
        hold.append(await asyncio.open_connection("127.0.0.1", port))
    if "open" in extra:  # most of a small descriptor limit: open /dev/null up to N
        target = int(extra[extra.index("open") + 1])
        while len(os.listdir("/proc/self/fd")) < target:
            hold.append(open(os.devnull))
    if "evil" in extra:  # a file whose name holds a terminal escape
        name = "/tmp/iodetect-test-\x1b[31mred\x1b[0m-%d" % os.getpid()
        hold.append(open(name, "w"))
        os.unlink(name)
    ready(port)
    if kind == "busy":
        while True:  # CPU work on the loop thread; the loop itself runs between slices
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:
                pass
            await asyncio.sleep(0)
    if kind == "leak":
        while True:
            hold.append(open(os.devnull))
            await asyncio.sleep(0.05)
    if kind == "tasks":
        async def worker():
            await asyncio.sleep(3600)
        tasks = [asyncio.ensure_future(worker()) for _ in range(5)]
        await asyncio.gather(*tasks)
    await asyncio.sleep(3600)


if kind == "threads":
    threaded()
elif kind == "uvloop":
    import uvloop

    loop = uvloop.new_event_loop()
else:
    chosen = {"select": "SelectSelector", "poll": "PollSelector"}.get(kind, "EpollSelector")
    loop = asyncio.SelectorEventLoop(getattr(selectors, chosen)())
asyncio.set_event_loop(loop)
try:
    loop.run_until_complete(main())
finally:
    loop.close()
"""


@dataclass
class Server:
    proc: subprocess.Popen[str]
    pid: int  # the server's own PID (the Popen may be a launcher in front of it)
    port: int


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


class Spawner:
    """Starts servers in sessions of their own; kills every one of them at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self,
        kind: str,
        *extra: str,
        argv: Sequence[str] | None = None,
        stdin_program: bool = False,
        prefix: Sequence[str] = (),
        script: str | None = None,
        timeout: float = 60,
    ) -> Server:
        """Run SERVER with `argv` (default: this interpreter), wait for READY.

        stdin_program: the program travels on stdin; script: a file to write it to and run.
        """
        base = list(argv) if argv is not None else [sys.executable]
        if script is not None:
            with open(script, "w", encoding="utf-8") as f:
                f.write(SERVER)
            cmd = [*prefix, *base, script, kind, *extra]
        elif stdin_program:
            cmd = [*prefix, *base, "-", kind, *extra]
        else:
            cmd = [*prefix, *base, "-c", SERVER, kind, *extra]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin_program else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        if stdin_program:
            assert proc.stdin is not None
            proc.stdin.write(SERVER)
            proc.stdin.close()
        line = _read_line(proc, timeout)
        if not line.startswith("READY"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"server {kind} did not start: {line!r} {err[-2000:]}")
        _, pid, port = line.split()
        return Server(proc, int(pid), int(port))

    def stop_all(self) -> None:
        for proc in self.procs:
            _kill_group(proc)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return "(no READY line within the deadline)"
    return proc.stdout.readline().strip()


@contextlib.contextmanager
def spawning() -> Iterator[Spawner]:
    """A Spawner whose servers are all killed on the way out, also when a test fails."""
    spawner = Spawner()
    try:
        yield spawner
    finally:
        spawner.stop_all()


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    """Poll a zero-argument callable until it returns true or the deadline passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def gone(pid: int) -> bool:
    """The process does not exist any more (or is a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
