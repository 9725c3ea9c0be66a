"""Self-test client: the many connections of the self-test, from a process of their own.

Standard library only, CPython 3.8+ and PyPy. The self-test worker starts it with its own
interpreter (`python -I -S -c CLIENT_BOOT`, see selftest.py) and sends this source and its
parameters as the first line of its stdin; the rest of stdin is the worker's control channel
("close", or end of file when the worker is gone). With the clients here, the worker, which
runs the application's loop, needs only the descriptors and memory the service itself would
need for the same connections.

The client is the test's harness, not what is tested, so it is lean: plain non-blocking
sockets and one selector, no event loop, a few Python operations and system calls per
connection. Connections are opened and exchanged as one pipeline: at most a batch of them is
open and not yet proven (its echo not yet back), and only those are registered with the
selector, so it never watches more than BATCH sockets at once: cheap on every selector, and
under the 512 sockets a Windows select() takes. It opens every connection, exchanges verified
messages on all of them, measures round trips one at a time while all are held, keeps them
open, and reports on stdout, one JSON line per event: {"event": "connected"}, then
{"event": "done", "ok": ...}. It ends itself at its own deadline, and at once when its stdin
closes.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import queue
import select
import selectors
import socket
import struct
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

# Connections open and not yet echoed at most: under the usual listen backlog (somaxconn
# 4096), and a bound on the memory of the payloads in flight.
BATCH = 256
SMALL = (1, 7, 100, 1000, 4096)
LARGE = (16385, 65537, 131072, 1024 * 1024)  # around buffer boundaries, up to 1 MiB
BLOCK = 2 * 1024 * 1024  # random bytes every payload is cut from, at offsets per connection
STALL = 5.0  # seconds without any progress on the connections in flight
# One system call makes a non-blocking socket where the platform has the flag (Linux, BSD).
NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
# send() before the handshake has completed: wait until the socket is writable (macOS and
# Windows say "not connected"; Linux completes a loopback handshake within connect()).
NOT_YET = {errno.ENOTCONN, getattr(errno, "WSAENOTCONN", errno.ENOTCONN)}
# connect_ex() of a non-blocking socket: the handshake goes on (Windows: WSAEWOULDBLOCK).
IN_PROGRESS = {0, errno.EINPROGRESS, errno.EINTR, getattr(errno, "WSAEWOULDBLOCK", 0)}
# close() that resets: one packet instead of four, and no TIME_WAIT left on the clients' ports.
RESET = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
# Linux: bind() only the source address and leave the port to connect(), which may share a
# port with connections to other destinations (also those in TIME_WAIT from an earlier run);
# a port picked by bind() is the process's alone, and the range runs out after a few runs.
NO_PORT_AT_BIND = (
    getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24) if sys.platform == "linux" else None
)
PINGS = 500  # round trips measured one at a time while every connection is held
PING_SECONDS = 0.3  # ... or for this long at most
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


ONE = tuple((size,) for size in SMALL)


def sizes_for(i: int, large: int) -> Tuple[int, ...]:
    """One message per connection, its size cycling through SMALL; the first `large` also
    send one byte and every size around the buffer boundaries."""
    if i < large:
        return (1, SMALL[i % len(SMALL)], *LARGE)
    return ONE[i % len(SMALL)]


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

    __slots__ = ("connected", "fd", "got", "k", "offset", "out", "payload", "sizes", "sock")

    def __init__(
        self, sock: socket.socket, sizes: Tuple[int, ...], offset: int, connected: bool = True
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.connected = connected  # False until the handshake is known to be complete
        self.sizes = sizes
        self.k = -1
        self.offset = offset
        self.payload = b""
        self.out = EMPTY
        self.got: Any = b""  # a bytearray while a message comes back in pieces


EMPTY = memoryview(b"")
# epoll's flags (Linux only: read where the module has them); an error or a hang-up wakes
# both a reader and a writer, as in selectors.
EPOLLIN = getattr(select, "EPOLLIN", 1)
EPOLLOUT = getattr(select, "EPOLLOUT", 4)
EPOLLONESHOT = getattr(select, "EPOLLONESHOT", 1 << 30)
EPOLL_BROKEN = getattr(select, "EPOLLERR", 8) | getattr(select, "EPOLLHUP", 16)


class Poller:
    """The client's one selector: which connections in flight can read or write.

    epoll itself where the platform has it, with one-shot registrations: a socket that gave
    its event stays in the set, disarmed, so a connection costs one epoll_ctl() rather than a
    register and an unregister, and an event a few Python operations rather than selectors'
    keys; a held connection's socket waits there for its round trip. Elsewhere (or with
    `portable`) selectors.DefaultSelector, with only the sockets in flight registered, never
    more than a batch (a Windows select() takes 512 at most)."""

    def __init__(self, portable: bool = False) -> None:
        epoll = None if portable else getattr(select, "epoll", None)
        self.ep = epoll() if epoll is not None else None
        self.sel = selectors.DefaultSelector() if self.ep is None else None
        self.armed: Dict[int, Exchange] = {}  # waiting for an event
        self.added: Dict[int, int] = {}  # in the epoll set, or registered: its mask
        self.name = "epoll" if self.ep is not None else type(self.sel).__name__

    def want(self, ex: Exchange) -> None:
        """Wait for the connection's echo, and until its message is out, for room to send."""
        write = bool(len(ex.out)) or not ex.connected
        self.armed[ex.fd] = ex
        if self.ep is not None:
            mask = EPOLLIN | EPOLLONESHOT | (EPOLLOUT if write else 0)
            if ex.fd in self.added:
                self.ep.modify(ex.fd, mask)
            else:
                self.ep.register(ex.fd, mask)
                self.added[ex.fd] = mask
            return
        assert self.sel is not None
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0)
        old = self.added.get(ex.fd)
        if old is None:
            self.sel.register(ex.fd, mask)
        elif old != mask:
            self.sel.modify(ex.fd, mask)
        self.added[ex.fd] = mask

    def done(self, ex: Exchange) -> None:
        """No more events for this connection (a one-shot registration is disarmed already)."""
        self.armed.pop(ex.fd, None)
        if self.sel is not None and self.added.pop(ex.fd, None) is not None:
            self.sel.unregister(ex.fd)

    def wait(self, timeout: float) -> List[Tuple[Exchange, bool, bool]]:
        """(connection, readable, writable) for each one that can go on; [] at the timeout."""
        got: List[Tuple[Exchange, bool, bool]] = []
        armed = self.armed
        if self.ep is not None:
            for fd, ev in self.ep.poll(timeout):
                ex = armed.get(fd)
                if ex is not None:
                    got.append(
                        (
                            ex,
                            bool(ev & (EPOLLIN | EPOLL_BROKEN)),
                            bool(ev & (EPOLLOUT | EPOLL_BROKEN)),
                        )
                    )
            return got
        assert self.sel is not None
        for key, ev in self.sel.select(timeout):
            ex = armed.get(key.fd)
            if ex is not None:
                got.append((ex, bool(ev & selectors.EVENT_READ), bool(ev & selectors.EVENT_WRITE)))
        return got

    def close(self) -> None:
        if self.ep is not None:
            self.ep.close()
        if self.sel is not None:
            self.sel.close()


class Client:
    def __init__(self, params: Dict[str, Any], block: bytes) -> None:
        self.addr = (str(params["host"]), int(params["port"]))
        self.count = int(params["count"])
        self.large = int(params.get("large", 4))
        self.batch = max(1, min(BATCH, int(params.get("batch") or BATCH)))
        source = params.get("source")
        self.source: Optional[Tuple[str, int]] = (str(source), 0) if source else None
        self.index = int(params.get("index", 0))
        self.socks: List[socket.socket] = []
        self.block = block  # random bytes every payload is cut from
        self.poller = Poller(bool(params.get("portable")))
        self.connected = 0  # connections whose handshake is known to be complete
        self.round_trips = 0
        self.bytes = 0
        self.connect_seconds = 0.0
        self.commands: queue.Queue[str] = queue.Queue()

    # --- opening and exchanging ------------------------------------------------------------

    def open_all(self) -> None:
        """Open every connection and exchange its messages as one pipeline: a connection is
        opened as soon as an earlier one's echo is back, so at most `batch` are open and not
        yet proven. An echo proves the server accepted its connection, so no more than a batch
        ever waits in the listen queue (a full queue drops connections, and the kernel retries
        a second later), and the server accepts and echoes while the next ones connect."""
        poller = self.poller
        started = time.perf_counter()
        pending = 0  # open and not yet through their messages
        try:
            while pending or len(self.socks) < self.count:
                while pending < self.batch and len(self.socks) < self.count:
                    self._open()
                    pending += 1
                events = poller.wait(STALL)
                if not events:
                    raise self._stalled(pending)
                for ex, readable, writable in events:
                    try:
                        if writable and (len(ex.out) or not ex.connected):
                            self._writable(ex)
                        if readable and self._receive(ex) and not self._next(ex):
                            poller.done(ex)
                            pending -= 1
                        else:
                            poller.want(ex)
                    except OSError as exc:
                        raise self._broken(ex, exc) from None
        finally:
            self.connect_seconds = time.perf_counter() - started

    def _fail_connect(self, code: Optional[int], err: str, binding: bool) -> Failed:
        return Failed(
            _cause(code, len(self.socks), binding),
            "connection %d of %d: %s" % (len(self.socks) + 1, self.count, err),
            code,
        )

    def _open(self) -> None:
        """Open the next connection and send its first message. On loopback the handshake
        has completed when a non-blocking connect() returns (Linux); elsewhere the message
        waits until the socket is writable."""
        i = len(self.socks)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | NONBLOCK)
        except OSError as exc:
            raise self._fail_connect(exc.errno, _oneline(exc), False) from None
        if not NONBLOCK:
            s.setblocking(False)
        if self.source is not None:
            try:
                if NO_PORT_AT_BIND is not None:
                    s.setsockopt(socket.IPPROTO_IP, NO_PORT_AT_BIND, 1)
                s.bind(self.source)
            except OSError as exc:
                s.close()
                raise self._fail_connect(exc.errno, _oneline(exc), True) from None
        code = s.connect_ex(self.addr)
        if code not in IN_PROGRESS:
            s.close()
            raise self._fail_connect(code, "[Errno %d] %s" % (code, os.strerror(code)), False)
        self.socks.append(s)
        ex = Exchange(s, sizes_for(i, self.large), (i * 65521) % BLOCK, False)
        try:
            self._next(ex)
        except OSError as exc:
            raise self._broken(ex, exc) from None
        self.poller.want(ex)

    def _writable(self, ex: Exchange) -> None:
        if not ex.connected:
            code = ex.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
        self._send(ex)

    def _stalled(self, pending: int) -> Failed:
        """Nothing moved for STALL seconds: connections the server never accepted, or echoes
        that never came."""
        waiting = sum(1 for ex in self.poller.armed.values() if not ex.connected)
        if waiting:
            return Failed(
                "timeout",
                "%d connection(s) not accepted within %g s, %d of %d open: the listen queue "
                "is full or the server stopped accepting"
                % (waiting, STALL, len(self.socks), self.count),
            )
        return Failed("timeout", "no echo for %g s on %d connections" % (STALL, pending))

    def _broken(self, ex: Exchange, exc: OSError) -> Failed:
        """An error on a connection: a connect that failed, or one the server broke."""
        if not ex.connected:
            index = next((k for k, s in enumerate(self.socks) if s is ex.sock), len(self.socks))
            return Failed(
                _cause(exc.errno, index, False),
                "connection %d of %d: %s" % (index + 1, self.count, _oneline(exc)),
                exc.errno,
            )
        return Failed("reset", _oneline(exc))

    def _next(self, ex: Exchange) -> bool:
        """Send the connection's next message; False when it has sent them all."""
        ex.k += 1
        if ex.k >= len(ex.sizes):
            return False
        size = ex.sizes[ex.k]
        start = (ex.offset + ex.k * 4099) % (BLOCK - size)
        ex.payload = self.block[start : start + size]
        ex.out = memoryview(ex.payload)
        ex.got = b""
        self._send(ex)
        return True

    def _send(self, ex: Exchange) -> None:
        try:
            n = ex.sock.send(ex.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if ex.connected or exc.errno not in NOT_YET:
                raise
            return
        if not ex.connected:
            ex.connected = True
            self.connected += 1
        ex.out = ex.out[n:] if n < len(ex.out) else EMPTY

    def _receive(self, ex: Exchange) -> bool:
        """Read what the echo has sent; True when the message is complete and verified."""
        want = len(ex.payload) - len(ex.got)
        try:
            data = ex.sock.recv(min(want, 262144))
        except (BlockingIOError, InterruptedError):
            return False
        if not data:
            raise Failed("reset", "ConnectionResetError: the server closed the connection")
        if not ex.connected:
            ex.connected = True
            self.connected += 1
        got: Any = data  # most messages come back in one piece
        if ex.got:
            ex.got += data
            got = ex.got
        if len(got) < len(ex.payload):
            if not ex.got:
                ex.got = bytearray(data)
            return False
        ex.got = b""
        if got != ex.payload:  # every byte, not only the count
            bad = next(k for k in range(len(ex.payload)) if got[k] != ex.payload[k])
            raise Failed("mismatch", "echo of %d bytes differs at byte %d" % (len(ex.payload), bad))
        self.round_trips += 1
        self.bytes += len(ex.payload)
        return True

    def ping(self) -> List[float]:
        """Round trips one at a time, spread over the held connections: the latency the loop
        gives one request while it holds all the others."""
        times: List[float] = []
        n = len(self.socks)
        if not n:
            return times
        step = max(1, n // PINGS) | 1
        end = time.perf_counter() + PING_SECONDS
        poller = self.poller
        for k in range(min(PINGS, max(n, 200))):
            if time.perf_counter() > end and len(times) >= 20:
                break
            ex = Exchange(self.socks[(k * step) % n], (PING_SIZE,), (k * 7919) % BLOCK)
            begin = time.perf_counter()
            try:
                self._next(ex)
                while True:
                    poller.want(ex)
                    events = poller.wait(STALL)
                    if not events:
                        raise Failed(
                            "timeout", "no echo for %g s while holding every connection" % STALL
                        )
                    _, readable, writable = events[0]
                    if writable and len(ex.out):
                        self._send(ex)
                    if readable and self._receive(ex):
                        break
            except OSError as exc:
                raise Failed("reset", _oneline(exc)) from None
            finally:
                poller.done(ex)
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
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
            s.close()
        self.poller.close()

    def failure(self, cause: str, detail: str, code: Optional[int] = None) -> Dict[str, Any]:
        return {
            "event": "done",
            "ok": False,
            "cause": cause,
            "detail": detail,
            "errno": code,
            "connected": self.connected,
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
    raise_nofile(int(params["count"]) + 64)
    # Nothing here makes reference cycles: the collector would only walk the sockets again
    # and again as they accumulate.
    gc.disable()
    block = os.urandom(BLOCK)
    if "port" not in params:
        # Started before the server listens: its address comes next on stdin; anything else
        # (the test did not start, the worker is gone) ends this process. The deadline
        # counts from then: a setup slow to import does not eat into the test's time.
        try:
            where = json.loads(sys.stdin.readline() or "null")
        except (OSError, ValueError):
            where = None
        if not isinstance(where, dict) or "port" not in where:
            os._exit(EXITED_ORPHAN)
        params = dict(params, host=where.get("host", "127.0.0.1"), port=where["port"])
    deadline = float(params.get("deadline", 20.0))
    watchdog = threading.Timer(deadline, _expire, args=(int(params.get("index", 0)),))
    watchdog.daemon = True
    watchdog.start()
    client = Client(params, block)
    threading.Thread(target=_control, args=(client,), daemon=True).start()
    client.run()
    watchdog.cancel()
