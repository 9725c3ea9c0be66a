"""Self-test client: the many connections of the self-test, from a process of their own.

Standard library only, CPython 3.8+ and PyPy. The self-test worker starts it with its own
interpreter (`python -I -c CLIENT_BOOT`, see selftest.py) and sends this source and its
parameters as the first line of its stdin; the rest of stdin is the worker's control channel
("close", or end of file when the worker is gone). With the clients here, the worker, which
runs the application's loop, needs only the descriptors and memory the service itself would
need for the same connections.

The client is the test's harness, not what is tested, so it is lean: plain non-blocking
sockets and one selector, no event loop, a few Python operations per connection and per
message. Only the sockets in flight are registered with the selector (a batch while opening, a
window while exchanging), so it never watches more than WINDOW of them at once: cheap on
every selector, and under the 512 sockets a Windows select() takes. It opens every
connection, exchanges verified messages on all of them, measures round trips one at a time
while all are held, keeps them open, and reports on stdout, one JSON line per event:
{"event": "connected"}, then {"event": "done", "ok": ...}. It ends itself at its own deadline,
and at once when its stdin closes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import selectors
import socket
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

BATCH = 256  # connections opened at once: under the usual listen backlog (somaxconn 4096)
WINDOW = 256  # connections exchanging at once: bounds the memory of payloads in flight
SMALL = (1, 7, 100, 1000, 4096)
LARGE = (16385, 65537, 131072, 1024 * 1024)  # around buffer boundaries, up to 1 MiB
BLOCK = 2 * 1024 * 1024  # random bytes every payload is cut from, at offsets per connection
CONNECT_TIMEOUT = 5.0
# Linux: bind() only the source address and leave the port to connect(), which may share a
# port with connections to other destinations (also those in TIME_WAIT from an earlier run);
# a port picked by bind() is the process's alone, and the range runs out after a few runs.
NO_PORT_AT_BIND = (
    getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24) if sys.platform == "linux" else None
)
PINGS = 1000  # round trips measured one at a time while every connection is held
PING_SECONDS = 0.5  # ... or for this long at most
PING_SIZE = 100
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
    """One message per connection, its size cycling through SMALL; the first `large` also
    send one byte and every size around the buffer boundaries."""
    if i < large:
        return [1, SMALL[i % len(SMALL)], *LARGE]
    return [SMALL[i % len(SMALL)]]


class Failed(Exception):
    """The test failed for a known cause (a stable word the worker passes on)."""

    def __init__(self, cause: str, detail: str, code: Optional[int] = None) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.code = code


def _cause(code: Optional[int], connected: int, binding: bool) -> str:
    """Why connecting stopped: the kernel's ports, this process's limit, memory, or loopback."""
    if binding and code == errno.EADDRINUSE:
        return "ports"  # no free port left on this source address
    if code == errno.EADDRNOTAVAIL and connected > 0:
        return "ports"  # the ephemeral ports towards this listener are used up
    if code in (errno.EMFILE, errno.ENFILE):
        return "client_nofile"
    if code in (errno.ENOBUFS, errno.ENOMEM):
        return "memory"
    if code in (errno.EADDRNOTAVAIL, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ENETDOWN):
        return "loopback"
    if code in (errno.ETIMEDOUT, errno.EAGAIN, errno.EWOULDBLOCK):
        return "timeout"  # connect_ex gives EAGAIN (CPython) or ETIMEDOUT at its timeout
    return "connect"


class Exchange:
    """One connection's messages: the payload out, its echo back, compared byte for byte."""

    __slots__ = ("got", "k", "mask", "offset", "out", "payload", "sizes", "sock")

    def __init__(self, sock: socket.socket, sizes: List[int], offset: int) -> None:
        self.sock = sock
        self.sizes = sizes
        self.k = -1
        self.offset = offset
        self.payload = b""
        self.out = memoryview(b"")
        self.got = bytearray()
        self.mask = 0  # what the selector waits for on it; 0: not registered


class Client:
    def __init__(self, params: Dict[str, Any]) -> None:
        self.addr = (str(params["host"]), int(params["port"]))
        self.count = int(params["count"])
        self.large = int(params.get("large", 4))
        self.batch = max(1, min(BATCH, int(params.get("batch") or BATCH)))
        source = params.get("source")
        self.source: Optional[Tuple[str, int]] = (str(source), 0) if source else None
        self.index = int(params.get("index", 0))
        self.socks: List[socket.socket] = []
        self.block = os.urandom(BLOCK)
        self.sel = selectors.DefaultSelector()
        self.round_trips = 0
        self.bytes = 0
        self.connect_seconds = 0.0
        self.commands: queue.Queue[str] = queue.Queue()

    # --- opening and exchanging ------------------------------------------------------------

    def open_all(self) -> None:
        """Open the connections a batch at a time, each batch exchanging its messages before
        the next opens: the echoes prove the server accepted them, so no more than a batch
        ever waits in the listen queue (a full queue drops connections, the kernel retries a
        second later)."""
        while len(self.socks) < self.count:
            first = len(self.socks)
            started = time.perf_counter()
            try:
                self._connect_batch(min(self.batch, self.count - first))
            finally:
                self.connect_seconds += time.perf_counter() - started
            self.exchange(first)

    def _fail_connect(self, code: Optional[int], err: str, binding: bool) -> Failed:
        return Failed(
            _cause(code, len(self.socks), binding),
            "connection %d of %d: %s" % (len(self.socks) + 1, self.count, err),
            code,
        )

    def _connect_batch(self, n: int) -> None:
        """Connects one at a time: on loopback the handshake completes within the call, so
        no selector round trip is needed; the timeout bounds a listen queue that is full
        because the server stopped accepting."""
        for _ in range(n):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as exc:
                raise self._fail_connect(exc.errno, _oneline(exc), False) from None
            if self.source is not None:
                try:
                    if NO_PORT_AT_BIND is not None:
                        s.setsockopt(socket.IPPROTO_IP, NO_PORT_AT_BIND, 1)
                    s.bind(self.source)
                except OSError as exc:
                    s.close()
                    raise self._fail_connect(exc.errno, _oneline(exc), True) from None
            s.settimeout(CONNECT_TIMEOUT)
            code = s.connect_ex(self.addr)
            if code:
                s.close()
                raise self._fail_connect(code, "[Errno %d] %s" % (code, os.strerror(code)), False)
            s.setblocking(False)
            self.socks.append(s)

    def _next(self, ex: Exchange) -> bool:
        """Send the connection's next message; False when it has sent them all."""
        ex.k += 1
        if ex.k >= len(ex.sizes):
            return False
        size = ex.sizes[ex.k]
        start = (ex.offset + ex.k * 4099) % (BLOCK - size)
        ex.payload = self.block[start : start + size]
        ex.out = memoryview(ex.payload)
        ex.got = bytearray()
        self._send(ex)
        return True

    def _send(self, ex: Exchange) -> None:
        try:
            n = ex.sock.send(ex.out)
        except (BlockingIOError, InterruptedError):
            n = 0
        ex.out = ex.out[n:]
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if len(ex.out) else 0)
        if mask != ex.mask:  # a system call only when what it waits for changes
            if ex.mask:
                self.sel.modify(ex.sock, mask, ex)
            else:
                self.sel.register(ex.sock, mask, ex)
            ex.mask = mask

    def _receive(self, ex: Exchange) -> bool:
        """Read what the echo has sent; True when the message is complete and verified."""
        want = len(ex.payload) - len(ex.got)
        try:
            data = ex.sock.recv(min(want, 262144))
        except (BlockingIOError, InterruptedError):
            return False
        if not data:
            raise Failed("reset", "ConnectionResetError: the server closed the connection")
        ex.got += data
        if len(ex.got) < len(ex.payload):
            return False
        if ex.got != ex.payload:  # every byte, not only the count
            bad = next(k for k in range(len(ex.payload)) if ex.got[k] != ex.payload[k])
            raise Failed("mismatch", "echo of %d bytes differs at byte %d" % (len(ex.payload), bad))
        self.round_trips += 1
        self.bytes += len(ex.payload)
        return True

    def exchange(self, first: int = 0) -> None:
        """Every connection from `first` on sends its messages and checks their echoes, at
        most WINDOW at once."""
        sel = self.sel
        todo = iter(range(first, len(self.socks)))
        active = 0

        def start() -> bool:
            for i in todo:
                s = self.socks[i]
                ex = Exchange(s, sizes_for(i, self.large), (i * 65521) % BLOCK)
                if self._next(ex):
                    return True
            return False

        while active < WINDOW and start():
            active += 1
        while active:
            events = sel.select(5.0)
            if not events:
                raise Failed("timeout", "no echo for 5 s on %d connections" % active)
            for key, mask in events:
                ex = key.data
                try:
                    if mask & selectors.EVENT_WRITE and len(ex.out):
                        self._send(ex)
                    if mask & selectors.EVENT_READ and self._receive(ex) and not self._next(ex):
                        sel.unregister(ex.sock)
                        active -= 1
                        if start():
                            active += 1
                except OSError as exc:
                    raise Failed("reset", _oneline(exc)) from None

    def ping(self) -> List[float]:
        """Round trips one at a time, spread over the held connections: the latency the loop
        gives one request while it holds all the others."""
        times: List[float] = []
        n = len(self.socks)
        if not n:
            return times
        step = max(1, n // PINGS) | 1
        end = time.perf_counter() + PING_SECONDS
        sel = self.sel
        for k in range(min(PINGS, max(n, 200))):
            if time.perf_counter() > end and len(times) >= 20:
                break
            s = self.socks[(k * step) % n]
            ex = Exchange(s, [PING_SIZE], (k * 7919) % BLOCK)
            begin = time.perf_counter()
            try:
                self._next(ex)
                done = False
                while not done:
                    events = sel.select(5.0)
                    if not events:
                        raise Failed("timeout", "no echo for 5 s while holding every connection")
                    for _key, mask in events:
                        if mask & selectors.EVENT_WRITE and len(ex.out):
                            self._send(ex)
                        if mask & selectors.EVENT_READ and self._receive(ex):
                            done = True
            except OSError as exc:
                raise Failed("reset", _oneline(exc)) from None
            finally:
                if ex.mask:
                    sel.unregister(s)
            times.append(time.perf_counter() - begin)
        return times

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        start_rss = rss_kib()
        report: Dict[str, Any]
        try:
            self.open_all()
            say({"event": "connected", "connections": len(self.socks), "index": self.index})
            report = {
                "event": "done",
                "ok": True,
                "connections": len(self.socks),
                "round_trips": self.round_trips,
                "bytes": self.bytes,
            }
        except Failed as exc:
            report = self.failure(exc.cause, exc.detail, exc.code)
        except MemoryError:
            report = self.failure("memory", "MemoryError after %d connections" % len(self.socks))
        report["index"] = self.index
        report["connect_seconds"] = round(self.connect_seconds, 6)
        report["rss_start_kib"] = start_rss
        report["rss_held_kib"] = rss_kib()
        report["peak_kib"] = peak_kib()
        say(report)
        # Held open until the worker has counted them; it may first ask for the round trips
        # one at a time, once every client holds its connections.
        while self.commands.get() == "ping" and report.get("ok"):
            try:
                latencies = self.ping()
                say(
                    {
                        "event": "pinged",
                        "latencies": percentiles(latencies),
                        "pings": len(latencies),
                    }
                )
            except Failed as exc:
                say({"event": "pinged", "ok": False, "cause": exc.cause, "detail": exc.detail})
        for s in self.socks:
            s.close()
        self.sel.close()

    def failure(self, cause: str, detail: str, code: Optional[int] = None) -> Dict[str, Any]:
        return {
            "event": "done",
            "ok": False,
            "cause": cause,
            "detail": detail,
            "errno": code,
            "connected": len(self.socks),
        }


def percentiles(values: List[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    vals = sorted(values)

    def at(q: float) -> float:
        return round(vals[min(len(vals) - 1, int(q * len(vals)))] * 1000.0, 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(vals[-1] * 1000.0, 3)}


def _control(client: Client) -> None:
    """The worker's commands on stdin ("ping", "close"); its end (a closed pipe) ends this
    process too."""
    while True:
        try:
            line = sys.stdin.readline()
        except (OSError, ValueError):
            line = ""
        if not line:
            os._exit(EXITED_ORPHAN)
        command = line.strip()
        if command in ("ping", "close"):
            client.commands.put(command)
        if command == "close":
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
    threading.Thread(target=_control, args=(client,), daemon=True).start()
    client.run()
    watchdog.cancel()
