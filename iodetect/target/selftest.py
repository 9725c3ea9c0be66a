"""Self-test worker: proves a loop_setup module with live loopback sockets on the target.

Standard library only, CPython 3.8+ and PyPy. It receives the setup module's source with its
parameters (the target may not see the caller's files), runs everything through that module's
own `run()`, verifies every byte echoed, and reports what actually ran. The many connections
come from a separate client process (selftest_client.py, started with this interpreter), so
this process needs what the service would need for them, and a count it cannot hold fails.
Every phase has a deadline and a watchdog ends the process on its own, so the caller never
depends on killing it. The result goes out once, marked with the run's nonce, on a copy of the
original stdout that the setup module cannot redirect.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import types
import warnings
from typing import (
    IO,
    Any,
    Awaitable,
    Callable,
    Coroutine,
    Dict,
    List,
    Optional,
    Tuple,
    Union,
    cast,
)

MARKER = "@@iodetect@@ "  # the program rebinds it with this run's nonce before main()
MiB = 1024 * 1024
SIZES = (1, 7, 100, 1000, 4096, 16385, 65537, 131072)  # in-process tests: around buffer sizes
BIG = MiB
BATCH = 64  # connections opened at once: stays under any listen backlog
MARGIN = 48  # descriptors kept free for listeners, the loop itself and the interpreter
CLIENT_SHARE = 30000  # connections per client process at most: ephemeral ports per source
PORT_MARGIN = 1024  # ephemeral ports left to the host's other connections
BATCH_CLIENT = 256  # connections the clients open at once, at most the listen backlog
# The client's bootstrap: `python -I -S -c BOOT` (standard library only: no site, no .pth
# files to read), its source and parameters on the first stdin line.
CLIENT_BOOT = (
    "import json,sys\n"
    "d=json.loads(sys.stdin.readline())\n"
    "g={'__name__':'iodetect_selftest_client'}\n"
    "exec(compile(d['source'],'<iodetect selftest client>','exec'),g)\n"
    "g['main'](d['params'])\n"
)

# Evaluated at run time, so spelled with `typing` (CPython 3.8).
Pair = Tuple[asyncio.StreamReader, asyncio.StreamWriter]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Sizes = Callable[[int], List[int]]
# The setup module's loop factory: the loop may be any third-party class.
LoopFactory = Callable[[], Any]


class TestFailure(Exception):
    """A test failed for a known cause (a stable word the caller judges by, never the text)."""

    def __init__(self, cause: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.extra = extra


class Untestable(Exception):
    """This host cannot run the test (no writable folder for a socket path): a note."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail


def _oneline(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else ""
    name = type(exc).__name__
    return (name + ": " + msg) if msg else name


def _where(exc: BaseException, filename: str) -> Optional[int]:
    """The last line of `filename` in the traceback: where the setup module failed."""
    line: Optional[int] = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def _net_cause(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if code in (errno.EADDRNOTAVAIL, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ENETDOWN):
        return "loopback"
    return "error"


def open_fds() -> Optional[List[int]]:
    """Descriptors open now, or None where the platform cannot list them."""
    for path in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(path)
        except OSError:
            continue
        fds: List[int] = []
        for name in names:
            if name.isdigit():
                try:
                    os.fstat(int(name))
                except OSError:
                    continue  # the descriptor listdir itself used
                fds.append(int(name))
        return sorted(fds)
    return None


def describe_fd(fd: int) -> str:
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return "?"


def nofile() -> Tuple[Optional[int], Optional[int]]:
    """The descriptor limits; -1 stands for RLIM_INFINITY (unlimited)."""
    if sys.platform == "win32":
        return None, None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    return (-1 if soft == inf else soft), (-1 if hard == inf else hard)


def rss_kib() -> Optional[int]:
    """Resident memory now (Linux), else the peak so far, in KiB; None on Windows."""
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


def class_name(obj: object) -> str:
    cls = type(obj)
    return cls.__module__ + "." + cls.__qualname__


class Stats:
    def __init__(self) -> None:
        self.round_trips = 0
        self.bytes = 0
        self.latencies: List[float] = []
        self.held = 0


def percentiles(values: List[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    vals = sorted(values)

    def at(q: float) -> float:
        return round(vals[min(len(vals) - 1, int(q * len(vals)))] * 1000.0, 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(vals[-1] * 1000.0, 3)}


# --- the many connections: a Protocol echo server here, the clients in their own process -------


class Hub:
    """What the echo server saw: connections open now, at most at once, and accepted."""

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0
        self.accepted = 0
        self.first_accept = 0.0
        self.last_accept = 0.0


class EchoProtocol(asyncio.Protocol):
    """Echo with flow control: a full write buffer pauses reading until it drains."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        hub = self.hub
        hub.open += 1
        hub.accepted += 1
        hub.peak = max(hub.peak, hub.open)
        hub.last_accept = time.perf_counter()
        if hub.accepted == 1:
            hub.first_accept = hub.last_accept

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.hub.open -= 1


class ClientProcess:
    """One test client process: started with this interpreter, driven over its stdin."""

    def __init__(self, source: str, params: Dict[str, Any]) -> None:
        self.source = source
        self.params = params
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.events: Optional[asyncio.Queue[Dict[str, Any]]] = None
        self.err_tail = b""
        self.threads: List[threading.Thread] = []

    def spawn(self) -> None:
        """Start the process; without a port in its parameters it waits for go()."""
        if not sys.executable:
            raise TestFailure("client", "sys.executable is unknown: cannot start the test client")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", CLIENT_BOOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise TestFailure("client", "cannot start the test client: " + _oneline(exc)) from None
        assert self.proc.stdin is not None
        try:
            first = {"source": self.source, "params": self.params}
            self.proc.stdin.write((json.dumps(first) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except OSError:
            pass  # it died at once: its end of output says why

    def go(self, host: str, port: int) -> None:
        """The address to connect to, for a client spawned before the server listened."""
        self.params.update(host=host, port=port)
        self.send(json.dumps({"host": host, "port": port}))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read its events into this loop (spawning it first if it is not running yet)."""
        if self.proc is None:
            self.spawn()
        events: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        self.events = events
        for target in (self._read_out, self._read_err):
            t = threading.Thread(target=target, args=(loop, events), daemon=True)
            t.start()
            self.threads.append(t)

    def _read_out(self, loop: asyncio.AbstractEventLoop, events: Any) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            try:
                line = self.proc.stdout.readline(MiB)
            except (OSError, ValueError):
                line = b""
            if not line:
                event: Dict[str, Any] = {"event": "eof"}
            else:
                try:
                    event = json.loads(line.decode("utf-8", "replace"))
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(events.put_nowait, event)
            if not line:
                return

    def _read_err(self, loop: asyncio.AbstractEventLoop, events: Any) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            try:
                chunk = self.proc.stderr.read1(65536)  # type: ignore[attr-defined]
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self.err_tail = (self.err_tail + chunk)[-4096:]

    async def next_event(self, timeout: float) -> Dict[str, Any]:
        assert self.events is not None
        return await asyncio.wait_for(self.events.get(), max(0.01, timeout))

    def reason(self) -> str:
        """Why the client ended without its report: its status and last line of stderr."""
        status = self.proc.poll() if self.proc is not None else None
        lines = [ln for ln in self.err_tail.decode("utf-8", "replace").splitlines() if ln.strip()]
        last = lines[-1].strip()[:200] if lines else "(no output)"
        return "the test client exited (status %s): %s" % (status, last)

    def cause(self) -> str:
        """Why the client ended without its report: killed by SIGKILL is, on a host without a
        deadline of its own, the kernel's out-of-memory killer."""
        status = self.proc.poll() if self.proc is not None else None
        return "memory" if status == -9 else "client"

    def send(self, command: str) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(command.encode("ascii") + b"\n")
            self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(b"close\n")
            self.proc.stdin.flush()
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()

    def reap(self, timeout: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2.0)
        for t in self.threads:
            t.join(timeout=1.0)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()


def _sysctl(path: str) -> Optional[List[int]]:
    """A numeric kernel setting (Linux /proc/sys), None where it cannot be read."""
    try:
        with open(path) as fh:
            return [int(x) for x in fh.read(200).split()]
    except (OSError, ValueError):
        return None


def client_plan(count: int, params: Dict[str, Any]) -> List[Dict[str, Any]]:
    """How the connections are shared among client processes, each from its own address.

    One source address towards one listener can use each ephemeral port once, so a client
    takes at most half of what `net.ipv4.ip_local_port_range` gives (less a margin for the
    host's other connections); on Linux every address of 127.0.0.0/8 is loopback, so each further
    client connects from 127.0.0.2, .3, ... as a service's clients come from many addresses.
    Elsewhere the connections come from 127.0.0.1 and the port range is the limit it is.
    The listen backlog (`net.core.somaxconn` caps it) bounds the connections opened at once.
    """
    share = int(params.get("client_share") or CLIENT_SHARE)
    linux = sys.platform.startswith("linux")
    ports = _sysctl("/proc/sys/net/ipv4/ip_local_port_range") if linux else None
    if "client_share" not in params and ports and len(ports) == 2:
        # Linux gives connect() the odd ports of the range first and bind() the even ones:
        # past half the range every new connection scans the whole half for a free port.
        share = min(share, max(1024, (ports[1] - ports[0] + 1) // 2 - PORT_MARGIN))
    share = max(1, share)
    parts = max(1, -(-count // share))
    somax = _sysctl("/proc/sys/net/core/somaxconn") if linux else None
    batch = max(1, min(BATCH_CLIENT, (somax[0] if somax else BATCH_CLIENT) // parts))
    sources = [s for s in params.get("sources") or [] if isinstance(s, str)]
    if not sources and linux and parts > 1:
        sources = ["127.0.0.%d" % (2 + k) for k in range(min(parts, 250))]
    plan = []
    for k in range(parts):
        plan.append(
            {
                "count": count // parts + (1 if k < count % parts else 0),
                "large": 4 if k == 0 else 0,
                "index": k,
                "source": sources[k % len(sources)] if sources else None,
                "batch": batch,
            }
        )
    return plan


async def held_test(worker: Worker, count: int, budget: float) -> Dict[str, Any]:
    """`count` connections from client processes, held at once by an echo server in this loop,
    every one exchanging verified messages (four of them up to 1 MiB), then round trips one at
    a time while all are held."""
    p = worker.params
    loop = asyncio.get_running_loop()
    soft, _ = nofile()
    fds = open_fds()
    open_now = len(fds) if fds is not None else 16
    # The pipes to clients started early are the test's, not the service's; the margin
    # covers them.
    open_now -= 3 * len(worker.early)
    if soft is not None and soft > 0 and soft < count + open_now + MARGIN:
        raise TestFailure(
            "nofile",
            "the soft limit %d inside the loop leaves room for about %d connections, not %d"
            % (soft, max(0, soft - open_now - MARGIN), count),
            soft=soft,
        )
    source = p.get("client_source")
    if not isinstance(source, str):
        raise TestFailure("client", "no test client given")
    hub = Hub()
    try:
        server = await loop.create_server(
            lambda: EchoProtocol(hub), "127.0.0.1", 0, backlog=min(count + BATCH, 65535)
        )
    except OSError as exc:
        raise TestFailure(_net_cause(exc), "cannot listen on 127.0.0.1: " + _oneline(exc)) from None
    port = server.sockets[0].getsockname()[1]
    gc.collect()
    before = rss_kib()
    end = time.monotonic() + budget
    clients = worker.early_clients(count)
    if clients:
        for c in clients:
            c.go("127.0.0.1", port)
    else:
        for part in client_plan(count, p):
            part.update(host="127.0.0.1", port=port, deadline=max(1.0, budget + 1.0))
            clients.append(ClientProcess(source, part))
        worker.clients.extend(clients)

    async def next_event(c: ClientProcess, connected: int) -> Dict[str, Any]:
        try:
            event = await c.next_event(end - time.monotonic())
        except asyncio.TimeoutError:
            raise TestFailure(
                "timeout",
                "did not finish within %.1f s (the clients had reported %d of %d connections "
                "open; the server held %d)" % (budget, connected, count, hub.open),
                connections=connected,
                held=hub.peak,
            ) from None
        if event.get("event") == "eof":
            raise TestFailure(c.cause(), c.reason(), connections=connected, held=hub.peak)
        return event

    finished = False
    try:
        # What lives now (the interpreter's modules, this worker) is not the service's heap:
        # the collections the connections cause need not walk it again and again (3.7+).
        freeze = getattr(gc, "freeze", None)
        if freeze is not None:
            freeze()
        for c in clients:
            c.start(loop)
        reports: List[Dict[str, Any]] = []
        connected = 0
        for c in clients:
            while True:
                event = await next_event(c, connected)
                kind = event.get("event")
                if kind == "connected":
                    connected += int(event.get("connections") or 0)
                elif kind == "done":
                    reports.append(event)
                    break
        held = hub.open  # every client still holds its connections: this is "at once"
        for r in reports:
            if not r.get("ok"):
                raise TestFailure(
                    str(r.get("cause") or "error"),
                    str(r.get("detail") or "the test client failed"),
                    connections=sum(
                        int(x.get("connected") or x.get("connections") or 0) for x in reports
                    ),
                    held=hub.peak,
                    errno=r.get("errno"),
                )
        if held < count:
            raise TestFailure(
                "held",
                "the server held %d of the %d connections at once" % (held, count),
                connections=count,
                held=held,
            )
        # No collection first: it would not make the resident memory smaller (freed objects
        # stay in the allocator's arenas), and with every connection held it walks them all.
        rss_held = rss_kib()
        # The round trips one at a time, from one client, once every connection is held and
        # nothing else moves: the latency one request sees beside all the others.
        clients[0].send("ping")
        pinged: Dict[str, Any] = {}
        while pinged.get("event") != "pinged":
            pinged = await next_event(clients[0], connected)
        if pinged.get("ok") is False:
            raise TestFailure(
                str(pinged.get("cause") or "error"),
                "while every connection was held: " + str(pinged.get("detail") or "failed"),
                connections=count,
                held=hub.peak,
            )
        span = hub.last_accept - hub.first_accept
        figures: Dict[str, Any] = {
            "connections": count,
            "held": held,
            "accepted": hub.accepted,
            "clients": len(clients),
            "round_trips": sum(int(r.get("round_trips") or 0) for r in reports),
            "bytes": sum(int(r.get("bytes") or 0) for r in reports),
            "latency_ms": pinged.get("latencies"),
            "pings": pinged.get("pings"),
            "accept_rate": round((hub.accepted - 1) / span, 1) if span > 0 else None,
            "memory_kib": {
                "worker_before": before,
                "worker_held": rss_held,
                "worker_peak": peak_kib(),
                "client_start": sum(int(r.get("rss_start_kib") or 0) for r in reports) or None,
                "client_held": sum(int(r.get("rss_held_kib") or 0) for r in reports) or None,
                "client_peak": sum(int(r.get("peak_kib") or 0) for r in reports) or None,
            },
        }
        finished = True
        return figures
    finally:
        # A test that failed or was cut by its deadline ends its clients at once: a graceful
        # close would spend the time the worker has left for its report (its watchdog fires
        # one second after the deadline).
        for c in clients:
            if not finished:
                c.kill()
            c.close()
        server.close()
        try:
            stop = time.monotonic() + (3.0 if finished else 0.5)
            while hub.open > 0 and time.monotonic() < stop:
                await asyncio.sleep(0.01)
            with contextlib.suppress(asyncio.TimeoutError, OSError):
                await asyncio.wait_for(server.wait_closed(), 1.0 if finished else 0.2)
        finally:
            # Also when the test's deadline cancels the waiting above: the clients' processes
            # and pipes must not outlive the test.
            for c in clients:
                c.reap(2.0 if finished else 0.2)
                worker.clients.remove(c)
            unfreeze = getattr(gc, "unfreeze", None)
            if unfreeze is not None:
                unfreeze()


def _per_connection(held: Dict[str, Any]) -> Optional[float]:
    """What the service's side holds per connection: the worker's resident memory with every
    connection held, less before they opened."""
    mem = held.get("memory_kib") or {}
    count = int(held.get("held") or 0)
    if count < 1 or mem.get("worker_held") is None or mem.get("worker_before") is None:
        return None
    grown = max(0, int(mem["worker_held"]) - int(mem["worker_before"]))
    return round(grown / count, 2)


# --- stream echo, both ends in this loop (the smaller tests) -----------------------------------


async def _echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int, stats: Stats
) -> None:
    """Send `size` random bytes and read them back concurrently (no flow-control deadlock)."""
    payload = os.urandom(size)
    start = time.perf_counter()

    async def send() -> None:
        writer.write(payload)
        await writer.drain()

    _sent, echoed = await asyncio.gather(send(), reader.readexactly(size))
    stats.latencies.append(time.perf_counter() - start)
    if echoed != payload:  # every byte, not only the count
        bad = next(i for i in range(size) if echoed[i] != payload[i])
        raise TestFailure("mismatch", "echo of %d bytes differs at byte %d" % (size, bad))
    stats.round_trips += 1
    stats.bytes += size


async def _close_all(writers: List[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.close()
    for w in writers:
        with contextlib.suppress(ConnectionError, OSError):
            await w.wait_closed()


async def _open_many(connect: Callable[[], Awaitable[Pair]], count: int) -> List[Pair]:
    """Open `count` connections in batches; closes those it opened when one fails."""
    pairs: List[Pair] = []
    try:
        while len(pairs) < count:
            n = min(BATCH, count - len(pairs))
            got = await asyncio.gather(*[connect() for _ in range(n)], return_exceptions=True)
            error: Optional[BaseException] = None
            for item in got:
                if isinstance(item, BaseException):
                    error = error or item
                else:
                    pairs.append(item)
            if error is not None:
                raise error
    except BaseException:
        await _close_all([w for _, w in pairs])
        raise
    return pairs


def _fileno(writer: asyncio.StreamWriter) -> int:
    sock = writer.get_extra_info("socket")
    fd: int = sock.fileno() if sock is not None else -1
    return fd


async def stream_test(
    start_server: Callable[[Handler], Awaitable[asyncio.Server]],
    connect: Callable[[asyncio.Server], Awaitable[Pair]],
    count: int,
    sizes_for: Sizes,
    stats: Stats,
    min_fd: Optional[int] = None,
) -> Dict[str, Any]:
    """An echo server and `count` concurrent client connections exchanging verified messages.

    With `min_fd`, every descriptor of the test, each client's and each accepted one, must be
    numbered above it.
    """
    accepted: List[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(_fileno(writer))
        await _echo_handler(reader, writer)

    server = await start_server(handler)
    pairs: List[Pair] = []
    detail: Dict[str, Any] = {}
    try:
        pairs = await _open_many(lambda: connect(server), count)
        stats.held = max(stats.held, len(pairs))
        detail["connections"] = len(pairs)

        async def exchange(
            i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            for size in sizes_for(i):
                await _round_trip(reader, writer, size, stats)

        await asyncio.gather(*[exchange(i, r, w) for i, (r, w) in enumerate(pairs)])
        if min_fd is not None:
            fds = [_fileno(w) for _, w in pairs] + accepted
            detail["lowest_fd"] = min(fds)
            detail["highest_fd"] = max(fds)
            low = sorted(fd for fd in fds if fd <= min_fd)
            if low:
                raise TestFailure(
                    "low_fd",
                    "%d of the %d descriptors of the test are not above %d (%s)"
                    % (len(low), len(fds), min_fd, ", ".join(map(str, low[:5]))),
                    **detail,
                )
    finally:
        await _close_all([w for _, w in pairs])
        server.close()
        await server.wait_closed()
    return detail


def small_sizes(i: int) -> List[int]:
    return [1, 65537, BIG] if i == 0 else [1, SIZES[i % len(SIZES)]]


async def tcp_test(
    host: str,
    count: int,
    stats: Stats,
    sizes_for: Sizes = small_sizes,
    min_fd: Optional[int] = None,
) -> Dict[str, Any]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def start(handler: Handler) -> Awaitable[asyncio.Server]:
        return asyncio.start_server(handler, host, 0, family=family, backlog=count + BATCH)

    def connect(server: asyncio.Server) -> Awaitable[Pair]:
        port = server.sockets[0].getsockname()[1]
        return asyncio.open_connection(host, port, family=family)

    return await stream_test(start, connect, count, sizes_for, stats, min_fd)


async def unix_test(worker: Worker, count: int, stats: Stats) -> Dict[str, Any]:
    """Unix stream sockets. On Linux an abstract address leaves nothing on disk, even when the
    worker is killed: by name where the loop takes one, else with sockets made here and handed
    to the loop (uvloop refuses to connect to an abstract name). Elsewhere, or when the loop
    takes neither, a private temporary folder, removed on every path the worker controls; a
    host without a writable one (a read-only root file system) cannot run this test."""

    if sys.platform == "win32":
        raise NotImplementedError("asyncio has no Unix sockets on Windows")

    async def attempt(path: str, handed: bool = False) -> Dict[str, Any]:
        async def start(handler: Handler) -> asyncio.Server:
            if not handed:
                return await asyncio.start_unix_server(handler, path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
                return await asyncio.start_unix_server(handler, sock=sock)
            except BaseException:
                sock.close()  # a loop that refuses it does not close it
                raise

        async def connect(server: asyncio.Server) -> Pair:
            if not handed:
                return await asyncio.open_unix_connection(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                sock.setblocking(False)
                return await asyncio.open_unix_connection(sock=sock)
            except BaseException:
                sock.close()
                raise

        detail = await stream_test(start, connect, count, small_sizes, stats)
        if path.startswith("\0"):
            detail["address"] = "abstract, sockets made by the self-test" if handed else "abstract"
        else:
            detail["address"] = "path"
        return detail

    if sys.platform.startswith("linux"):
        name = "\0iodetect-selftest-%d-%d" % (os.getpid(), int(time.time() * 1e6))
        for handed in (False, True):
            try:
                return await attempt(name + ("-h" if handed else ""), handed)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
    import tempfile

    try:
        tmp = tempfile.mkdtemp(prefix="iodetect-")
    except OSError as exc:
        raise Untestable(
            "no_tmp",
            "no writable temporary folder for a socket path (%s)" % _oneline(exc)
            + (", and the loop refuses abstract addresses" if sys.platform == "linux" else ""),
        ) from None
    worker.temporary.append(tmp)
    try:
        return await attempt(os.path.join(tmp, "s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        worker.temporary.remove(tmp)


# --- datagrams -----------------------------------------------------------------------------------


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint is always given a DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Tuple[Any, ...]) -> None:
        self.transport.sendto(data, addr)


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Union[bytes, Exception]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Tuple[Any, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def udp_test(stats: Stats, count: int = 32) -> Dict[str, Any]:
    loop = asyncio.get_running_loop()
    try:
        server, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=("127.0.0.1", 0))
    except OSError as exc:
        raise TestFailure(_net_cause(exc), _oneline(exc)) from None
    client: Optional[asyncio.DatagramTransport] = None
    try:
        addr = server.get_extra_info("sockname")
        try:
            client, proto = await loop.create_datagram_endpoint(_UdpClient, remote_addr=addr)
        except OSError as exc:
            raise TestFailure(_net_cause(exc), _oneline(exc)) from None
        lost = 0
        for i in range(count):
            size = (1, 100, 1400, 8192, 65000)[i % 5]
            payload = os.urandom(size)
            for _attempt in range(3):  # loopback may drop a datagram under load: retry it
                start = time.perf_counter()
                client.sendto(payload)
                try:
                    got = await asyncio.wait_for(proto.queue.get(), 0.5)
                except asyncio.TimeoutError:
                    lost += 1
                    continue
                if isinstance(got, BaseException):
                    raise TestFailure(_net_cause(got), _oneline(got))
                if got != payload:
                    raise TestFailure("mismatch", "datagram of %d bytes came back altered" % size)
                stats.latencies.append(time.perf_counter() - start)
                stats.round_trips += 1
                stats.bytes += size
                break
            else:
                raise TestFailure("lost", "datagram of %d bytes lost 3 times" % size)
        return {"datagrams": count, "retried": lost}
    finally:
        if client is not None:
            client.close()
        server.close()


# --- descriptors above the select() ceiling ------------------------------------------------------


def _fill_to(ceiling: int, fillers: List[int]) -> None:
    """Occupy every free descriptor up to `ceiling`, so the next ones are numbered above it."""
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        fillers.append(fd)
        if fd >= ceiling:
            return


# --- the setup module ----------------------------------------------------------------------------


class SetupLoader:
    """The loader of the application's module: a real __spec__ and __loader__, so that it imports
    as a file would (tracebacks and linecache show its lines; no warning about a module without
    a loader on CPython 3.15 in dev mode)."""

    def __init__(self, source: str, filename: str) -> None:
        self.source = source
        self.filename = filename

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        # dont_inherit: not this worker's `from __future__` flags; the module's own only.
        code = compile(self.source, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, fullname: str) -> str:
        return self.source

    def is_package(self, fullname: str) -> bool:
        return False


def load_setup(source: str, filename: str) -> types.ModuleType:
    import importlib.machinery
    import importlib.util

    loader = SetupLoader(source, filename)
    # A loader by protocol (create_module, exec_module), not by class.
    spec = importlib.machinery.ModuleSpec("loop_setup", cast(Any, loader), origin=filename)
    spec.has_location = True
    module = importlib.util.module_from_spec(spec)
    sys.modules["loop_setup"] = module
    loader.exec_module(module)
    return module


# --- the run -------------------------------------------------------------------------------------


class Worker:
    def __init__(self, params: Dict[str, Any], marker: str) -> None:
        self.params = params
        self.marker = marker
        self.deadline = float(params.get("deadline", 20.0))
        self.started = time.monotonic()
        self.phase = "start"
        self.setup_name = str(params.get("setup_name") or "loop_setup.py")
        self.tests: List[Dict[str, Any]] = []
        self.warnings: List[Dict[str, Any]] = []
        self.temporary: List[str] = []  # folders to remove on every path
        self.clients: List[ClientProcess] = []
        self.early: List[ClientProcess] = []  # spawned before the test that uses them
        self.emitted = False
        self.emit_lock = threading.Lock()
        # The original stdout, before the setup module can redirect or close it.
        self.out = os.dup(1)
        self.result: Dict[str, Any] = {
            "kind": "iodetect.selftest",
            "schema_version": 1,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "implementation": sys.implementation.name,
            "platform": sys.platform,
            "error": None,
            "tests": self.tests,
        }

    def spawn_clients(self) -> None:
        """Start the many-connection test's clients now, so that their interpreters start
        while this one imports the setup and runs its first loop; they connect once the
        test's server listens (ClientProcess.go). Any failure here is the test's to report:
        it then starts them itself."""
        p = self.params
        source = p.get("client_source")
        count = int(p.get("connections", 300))
        if not isinstance(source, str) or count < 1:
            return
        # The clients' own deadline counts from go(), when the test starts.
        deadline = max(1.0, float(p.get("budget_tcp", 8.0)) + 1.0)
        early: List[ClientProcess] = []
        try:
            for part in client_plan(count, p):
                part["deadline"] = deadline
                early.append(ClientProcess(source, part))
                early[-1].spawn()
        except (TestFailure, OSError, ValueError):
            for c in early:
                c.kill()
            return
        self.early = early
        self.clients.extend(early)

    def early_clients(self, count: int) -> List[ClientProcess]:
        """The clients spawned for `count` connections, or [] (none, or for another count:
        those are ended)."""
        early, self.early = self.early, []
        if sum(int(c.params.get("count") or 0) for c in early) == count:
            return early
        for c in early:
            c.kill()
            c.reap(0.5)
            self.clients.remove(c)
        return []

    def remaining(self) -> float:
        return max(0.1, self.deadline - (time.monotonic() - self.started))

    def test(self, name: str) -> Optional[Dict[str, Any]]:
        return next((t for t in self.tests if t["name"] == name), None)

    def record(self, name: str, status: str, detail: Optional[str] = None, **extra: Any) -> None:
        entry: Dict[str, Any] = {"name": name, "status": status, "detail": detail}
        entry.update(extra)
        self.tests.append(entry)

    def emit(self, doc: Dict[str, Any]) -> bool:
        """Write the one result line of this run; False when it was written already."""
        with self.emit_lock:
            if self.emitted:
                return False
            self.emitted = True
        data = memoryview(("\n" + self.marker + json.dumps(doc) + "\n").encode("utf-8"))
        while data:
            n = os.write(self.out, data)
            data = data[n:]
        return True

    def cleanup(self) -> None:
        """Remove what the tests left: client processes, temporary folders (any thread)."""
        for c in list(self.clients):
            c.kill()
        for path in list(self.temporary):
            shutil.rmtree(path, ignore_errors=True)

    def showwarning(
        self,
        message: Union[Warning, str],
        category: type,
        filename: str,
        lineno: int,
        file: Optional[IO[str]] = None,
        line: Optional[str] = None,
    ) -> None:
        """Each warning with where it came from and in which phase, so the caller can tell the
        setup's from the loop's and from the consequences of a test that failed."""
        if filename == self.setup_name:
            origin = "setup"
        elif filename.startswith("<") and filename != "<frozen linecache>":
            origin = "worker"
        else:
            origin = "library"
        text = str(message)
        item = {
            "category": category.__name__,
            "message": text.splitlines()[0][:300] if text else "",
            "where": "%s:%s" % (os.path.basename(str(filename)), lineno),
            "origin": origin,
            "phase": self.phase,
        }
        key = (item["category"], item["message"], item["where"])
        seen = [(w["category"], w["message"], w["where"]) for w in self.warnings]
        if key not in seen and len(self.warnings) < 20:
            self.warnings.append(item)

    async def phase_run(
        self, name: str, coro: Awaitable[Optional[Dict[str, Any]]], budget: float
    ) -> Optional[Dict[str, Any]]:
        """One test with its own deadline; any error becomes that test's failure (None)."""
        self.phase = name
        start = time.perf_counter()
        limit = min(budget, self.remaining())
        try:
            detail = await asyncio.wait_for(coro, limit)
        except asyncio.TimeoutError:
            if limit < budget:  # the run's deadline came first: say so, not the test's budget
                why = "stopped after %.1f s, when the self-test's whole deadline ran out" % limit
            else:
                why = "did not finish within %.1f s" % budget
            self.record(name, "fail", why, cause="timeout")
            gc.collect()  # what the test left is collected in its own phase
            return None
        except NotImplementedError as exc:  # a loop without this kind of socket (rloop: Unix)
            self.record(name, "unsupported", _oneline(exc), cause="unsupported")
            return None
        except Untestable as exc:
            self.record(name, "skip", exc.detail, cause=exc.cause)
            return None
        except TestFailure as exc:
            self.record(name, "fail", exc.detail, cause=exc.cause, **exc.extra)
            gc.collect()
            return None
        except Exception as exc:  # a test failure, reported, never raised
            self.record(name, "fail", _oneline(exc), cause=_net_cause(exc))
            gc.collect()
            return None
        detail = detail or {}
        self.record(name, "ok", None, seconds=round(time.perf_counter() - start, 4), **detail)
        return detail

    async def body(self) -> None:
        began = time.perf_counter()
        p = self.params
        res = self.result
        loop = asyncio.get_running_loop()
        res["loop"] = class_name(loop)
        selector = getattr(loop, "_selector", None)
        res["selector"] = type(selector).__name__ if selector is not None else None
        soft, hard = nofile()
        res["nofile_in_loop"] = {"soft": soft, "hard": hard}
        stats = Stats()

        wanted = int(p.get("connections", 300))
        res["connections_wanted"] = wanted
        budget = float(p.get("budget_tcp", 8.0))
        held = await self.phase_run("tcp4", held_test(self, wanted, budget), budget + 2.0) or {}

        if p.get("ipv6", True):
            reason = self.ipv6_absent()
            if reason:
                self.record("tcp6", "skip", reason, cause="no_ipv6")
            else:
                await self.phase_run("tcp6", tcp_test("::1", 8, stats), 4.0)
        if p.get("unix", True):
            if not hasattr(socket, "AF_UNIX"):
                self.record("unix", "skip", "no Unix sockets on this platform", cause="absent")
            else:
                await self.phase_run("unix", unix_test(self, 8, stats), 4.0)
        if p.get("udp", True):
            await self.phase_run("udp", udp_test(stats), 4.0)

        ceiling = p.get("above_fd")
        if ceiling:
            await self.high_fds(int(ceiling), stats)

        lat = held.get("latency_ms") or percentiles(stats.latencies)
        res["figures"] = {
            "connections_held": int(held.get("held") or 0),
            "round_trips": int(held.get("round_trips") or 0) + stats.round_trips,
            "bytes": int(held.get("bytes") or 0) + stats.bytes,
            "latency_ms": lat,
            "elapsed": round(time.perf_counter() - began, 4),
            "memory_kib": held.get("memory_kib"),
            "accept_rate": held.get("accept_rate"),
            "memory_per_connection_kib": _per_connection(held),
            "tcp_seconds": (self.test("tcp4") or {}).get("seconds"),
        }

    def ipv6_absent(self) -> Optional[str]:
        if not socket.has_ipv6:
            return "this Python was built without IPv6"
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
        except OSError as exc:
            return "no IPv6 loopback here (%s)" % _oneline(exc)
        return None

    async def high_fds(self, ceiling: int, stats: Stats) -> None:
        """Connections whose every descriptor is numbered above `ceiling`, through the loop."""
        name = "fds_above_%d" % ceiling
        soft, _ = nofile()
        count = 32
        if soft is not None and 0 < soft < ceiling + 2 * count + MARGIN:
            self.record(
                name,
                "fail",
                "soft limit %d inside the loop leaves no room above descriptor %d"
                % (soft, ceiling),
                cause="nofile",
                soft=soft,
            )
            return
        self.phase = name
        fillers: List[int] = []
        try:
            _fill_to(ceiling, fillers)
            # Transports closed by earlier tests release their descriptors a few callbacks later.
            await asyncio.sleep(0.01)
            _fill_to(ceiling, fillers)
        except OSError as exc:
            for fd in fillers:
                os.close(fd)
            self.record(
                name,
                "fail",
                "cannot open descriptors up to %d: %s" % (ceiling, _oneline(exc)),
                cause="nofile",
            )
            return
        try:
            await self.phase_run(
                name,
                tcp_test("127.0.0.1", count, stats, lambda i: [1, 65537], min_fd=ceiling),
                4.0,
            )
        finally:
            for fd in fillers:
                os.close(fd)

    def run(self) -> None:
        p = self.params
        res = self.result
        src = p.get("setup_source")
        if not isinstance(src, str):
            res["error"] = "no setup module given"
            return
        filename = self.setup_name
        soft, hard = nofile()
        res["nofile_before"] = {"soft": soft, "hard": hard}

        self.spawn_clients()
        self.phase = "import setup"
        try:
            module = load_setup(src, filename)
        except BaseException as exc:  # SystemExit from a setup module is a failure too
            res["error"] = "importing %s failed: %s" % (filename, _oneline(exc))
            res["error_stage"] = "import"
            res["error_line"] = _where(exc, filename)
            return
        run: object = getattr(module, "run", None)
        factory: object = getattr(module, "new_event_loop", None)
        res["exposes"] = [
            n for n in ("run", "new_event_loop") if callable(getattr(module, n, None))
        ]
        if not callable(run) and not callable(factory):
            res["error"] = "%s defines neither run(coro) nor new_event_loop()" % filename
            res["error_stage"] = "import"
            return

        res["ran_with"] = "run" if callable(run) else "new_event_loop"
        # A first, empty run lets a loop library open its once-per-process descriptors (uvloop
        # keeps a pipe), so that what stays open after the real run is a leak of that run.
        start = time.perf_counter()
        self.phase = "warm-up run"
        early = open_fds()
        if not self.run_with(run, factory, asyncio.sleep(0), filename):
            return
        gc.collect()
        before = open_fds()
        if early is not None and before is not None:
            res["warmup_opened"] = len(before) - len(early)
        self.phase = "run"
        self.run_with(run, factory, self.body(), filename)
        res["elapsed"] = round(time.perf_counter() - start, 4)

        if callable(factory) and callable(run) and "loop" in res:
            # The loop uvicorn/granian would be handed must be the one run() used.
            self.phase = "new_event_loop"
            try:
                other = factory()
                res["factory_loop"] = class_name(other)
                other.close()
            except Exception as exc:
                res["factory_error"] = _oneline(exc)

        self.phase = "descriptors"
        gc.collect()
        after = open_fds()
        soft, hard = nofile()
        res["nofile_after"] = {"soft": soft, "hard": hard}
        if before is not None and after is not None:
            leaked = sorted(set(after) - set(before))
            res["fds"] = {
                "before": len(before),
                "after": len(after),
                "leaked": [{"fd": fd, "target": describe_fd(fd)} for fd in leaked[:20]],
            }
        else:
            res["fds"] = None

    def run_with(
        self, run: object, factory: object, coro: Coroutine[Any, Any, None], filename: str
    ) -> bool:
        res = self.result
        try:
            if callable(run):
                run(coro)
            else:
                # run() has checked that one of the two is callable.
                loop = cast(LoopFactory, factory)()
                try:
                    loop.run_until_complete(coro)
                finally:
                    loop.close()
        except BaseException as exc:  # KeyboardInterrupt/SystemExit raised by a setup: reported
            coro.close()
            if self.phase not in ("run", "warm-up run") and not any(
                t["name"] == self.phase for t in self.tests
            ):
                # The loop itself broke (select() refusing a descriptor): that test failed.
                self.record(self.phase, "fail", "the loop failed: " + _oneline(exc), cause="loop")
            res["error"] = "%s failed to run the test: %s" % (filename, _oneline(exc))
            res["error_stage"] = "run"
            res["error_line"] = _where(exc, filename)
            return False
        return True


def _expire(worker: Worker) -> None:
    """The watchdog: report where the worker was stuck, clean up, and end the process."""
    snapshot = {
        "kind": "iodetect.selftest",
        "schema_version": 1,
        "error": "the self-test worker passed its own deadline of %.1f s during %s"
        % (worker.deadline, worker.phase),
        "error_stage": "deadline",
        "tests": list(worker.tests),
        "warnings": list(worker.warnings),
    }
    try:
        worker.cleanup()
        worker.emit(snapshot)
    finally:
        os._exit(0)


def main(params: Dict[str, Any]) -> None:
    global MARKER
    marker, MARKER = MARKER, "@@iodetect@@ "  # the nonce stays out of the setup's easy reach
    worker = Worker(params, marker)
    watchdog = threading.Timer(worker.deadline + 1.0, _expire, args=(worker,))
    watchdog.daemon = True
    watchdog.start()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = worker.showwarning
        try:
            worker.run()
        except Exception as exc:  # a bug here must still produce a result, not a traceback
            worker.result["error"] = "self-test worker error during %s: %s" % (
                worker.phase,
                _oneline(exc),
            )
            worker.result["error_stage"] = "worker"
        worker.phase = "report"
        gc.collect()
    worker.cleanup()
    worker.result["warnings"] = worker.warnings
    watchdog.cancel()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    worker.emit(worker.result)
