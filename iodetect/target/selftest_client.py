"""Self-test client: the many connections of the self-test, from a process of their own.

Standard library only, CPython 3.8+ and PyPy. The self-test worker starts it with its own
interpreter (`python -I -c CLIENT_BOOT`, see selftest.py) and sends this source and its
parameters as the first line of its stdin; the rest of stdin is the worker's control channel
("close", or end of file when the worker is gone). With the clients here, the worker, which
runs the application's loop, needs only the descriptors and memory the service itself would
need for the same connections.

It opens every connection, then exchanges verified messages on all of them (a few windows at
a time, so its memory stays small), keeps them open, and reports on stdout, one JSON line per
event: {"event": "connected"}, then {"event": "done", "ok": ...}. It ends itself at its own
deadline, and at once when its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple, cast

BATCH = 256  # connections opened at once: under the usual listen backlog (somaxconn 4096)
WINDOW = 512  # connections exchanging at once: bounds the memory of payloads in flight
SMALL = (1, 7, 100, 1000, 4096)
LARGE = (16385, 65537, 131072, 1024 * 1024)  # around buffer boundaries, up to 1 MiB
EXITED_DEADLINE = 3
EXITED_ORPHAN = 4

_out_lock = threading.Lock()


def say(event: Dict[str, Any]) -> None:
    line = (json.dumps(event) + "\n").encode("utf-8")
    with _out_lock:
        os.write(1, line)


def _oneline(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else ""
    return type(exc).__name__ + (": " + msg if msg else "")


def rss_kib() -> Optional[int]:
    """This process's resident memory now (Linux), else its peak so far, in KiB."""
    if sys.platform == "win32":
        return None
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return int(pages * os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError, AttributeError):
        return peak_kib()


def peak_kib() -> Optional[int]:
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024 if sys.platform == "darwin" else peak)  # macOS counts bytes


def raise_nofile(need: int) -> None:
    """The client is the test's harness, not the service: it takes what the hard limit allows."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def sizes_for(i: int, large: int) -> List[int]:
    sizes = [1, SMALL[i % len(SMALL)]]
    if i < large:
        sizes.extend(LARGE)
    return sizes


class Mismatch(Exception):
    pass


class Conn(asyncio.Protocol):
    """One client connection: sends a payload and waits for exactly its echo."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.buf = bytearray()
        self.want = 0
        self.waiter: Optional[asyncio.Future[None]] = None
        self.lost: Optional[BaseException] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        w = self.waiter
        if w is not None and not w.done() and len(self.buf) >= self.want:
            w.set_result(None)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = exc or ConnectionResetError("the server closed the connection")
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(self.lost)

    async def echo(self, payload: bytes) -> None:
        if self.lost is not None:
            raise self.lost
        assert self.transport is not None
        self.buf = bytearray()
        self.want = len(payload)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        await self.waiter
        self.waiter = None
        got = bytes(self.buf)
        self.buf = bytearray()
        if got != payload:  # every byte, not only the count
            if len(got) != len(payload):
                raise Mismatch("echo of %d bytes came back as %d" % (len(payload), len(got)))
            bad = next(k for k in range(len(payload)) if got[k] != payload[k])
            raise Mismatch("echo of %d bytes differs at byte %d" % (len(payload), bad))


def _cause(exc: BaseException, connected: int) -> str:
    """Why connecting stopped: the kernel's ports, this process's limit, or loopback itself."""
    code = getattr(exc, "errno", None)
    if code == errno.EADDRNOTAVAIL and connected > 0:
        return "ports"  # the ephemeral ports towards this listener are used up
    if code in (errno.EMFILE, errno.ENFILE):
        return "client_nofile"
    if code in (errno.EADDRNOTAVAIL, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ENETDOWN):
        return "loopback"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    return "connect"


class Client:
    def __init__(self, params: Dict[str, Any]) -> None:
        self.host = str(params["host"])
        self.port = int(params["port"])
        self.count = int(params["count"])
        self.large = int(params.get("large", 4))
        self.source: Optional[str] = params.get("source")
        self.index = int(params.get("index", 0))
        self.conns: List[Conn] = []
        self.latencies: List[float] = []
        self.round_trips = 0
        self.bytes = 0
        self.closing: Optional[asyncio.Event] = None

    async def connect_all(self) -> Optional[Dict[str, Any]]:
        loop = asyncio.get_running_loop()
        local: Optional[Tuple[str, int]] = (self.source, 0) if self.source else None
        while len(self.conns) < self.count:
            n = min(BATCH, self.count - len(self.conns))
            got = await asyncio.gather(
                *[
                    loop.create_connection(Conn, self.host, self.port, local_addr=local)
                    for _ in range(n)
                ],
                return_exceptions=True,
            )
            error: Optional[BaseException] = None
            for item in got:
                if isinstance(item, BaseException):
                    error = error or item
                else:
                    self.conns.append(item[1])
            if error is not None:
                return {
                    "event": "done",
                    "ok": False,
                    "cause": _cause(error, len(self.conns)),
                    "connected": len(self.conns),
                    "errno": getattr(error, "errno", None),
                    "detail": "connection %d of %d: %s"
                    % (len(self.conns) + 1, self.count, _oneline(error)),
                }
        return None

    async def exchange(self) -> Optional[Dict[str, Any]]:
        gate = asyncio.Semaphore(WINDOW)
        failure: List[Dict[str, Any]] = []

        async def one(i: int, conn: Conn) -> None:
            async with gate:
                if failure:
                    return
                for size in sizes_for(i, self.large):
                    payload = os.urandom(size)
                    start = time.perf_counter()
                    try:
                        await conn.echo(payload)
                    except Mismatch as exc:
                        failure.append({"cause": "mismatch", "detail": str(exc)})
                        return
                    except (OSError, ConnectionError) as exc:
                        failure.append({"cause": "reset", "detail": _oneline(exc)})
                        return
                    self.latencies.append(time.perf_counter() - start)
                    self.round_trips += 1
                    self.bytes += size

        await asyncio.gather(*[one(i, c) for i, c in enumerate(self.conns)])
        if failure:
            return {"event": "done", "ok": False, "connected": len(self.conns), **failure[0]}
        return None

    async def run(self) -> None:
        self.closing = asyncio.Event()
        start_rss = rss_kib()
        try:
            report = await self.connect_all()
            if report is None:
                say({"event": "connected", "connections": len(self.conns), "index": self.index})
                report = await self.exchange()
            if report is None:
                report = {
                    "event": "done",
                    "ok": True,
                    "connections": len(self.conns),
                    "round_trips": self.round_trips,
                    "bytes": self.bytes,
                    "latencies": percentiles(self.latencies),
                }
            report["index"] = self.index
            report["rss_start_kib"] = start_rss
            report["peak_kib"] = peak_kib()
            say(report)
            await self.closing.wait()  # held open until the worker has counted them
        finally:
            for c in self.conns:
                if c.transport is not None:
                    c.transport.close()
            await asyncio.sleep(0)


def percentiles(values: List[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    vals = sorted(values)

    def at(q: float) -> float:
        return round(vals[min(len(vals) - 1, int(q * len(vals)))] * 1000.0, 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(vals[-1] * 1000.0, 3)}


def _control(loop: asyncio.AbstractEventLoop, client: Client) -> None:
    """The worker's commands on stdin; its end (a closed pipe) ends this process too."""
    while True:
        try:
            line = sys.stdin.readline()
        except (OSError, ValueError):
            line = ""
        if not line:
            os._exit(EXITED_ORPHAN)
        if line.strip() == "close" and client.closing is not None:
            loop.call_soon_threadsafe(client.closing.set)
            return  # its end of file follows; the watchdog still bounds the closing


def _expire(index: int) -> None:
    say(
        {
            "event": "done",
            "ok": False,
            "cause": "deadline",
            "index": index,
            "detail": "the test client passed its own deadline",
        }
    )
    os._exit(EXITED_DEADLINE)


def main(params: Dict[str, Any]) -> None:
    deadline = float(params.get("deadline", 20.0))
    watchdog = threading.Timer(deadline, _expire, args=(int(params.get("index", 0)),))
    watchdog.daemon = True
    watchdog.start()
    raise_nofile(int(params["count"]) + 64)
    client = Client(params)
    loop = asyncio.new_event_loop()
    threading.Thread(target=_control, args=(loop, client), daemon=True).start()
    try:
        loop.run_until_complete(client.run())
    finally:
        loop.close()
    watchdog.cancel()
