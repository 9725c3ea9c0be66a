"""Self-test worker: proves a loop_setup module with live loopback sockets on the target.

Standard library only, CPython 3.8+. It receives the setup module's source with its parameters
(the target may not see the caller's files), runs everything through that module's own `run()`,
verifies every byte echoed, and reports what actually ran. Every phase has a deadline and a
watchdog ends the process on its own, so the caller never depends on killing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import os
import socket
import sys
import threading
import time
import traceback
import types
import warnings
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Tuple, Union, cast

MARKER = "@@iodetect@@ "
MiB = 1024 * 1024
# Message sizes: one byte, odd sizes around buffer boundaries, up to 1 MiB (flow control).
SIZES = (1, 7, 100, 1000, 4096, 16385, 65537, 131072)
BIG = MiB
BIG_CONNECTIONS = 4
BATCH = 64  # connections opened at once: stays under any listen backlog
MARGIN = 48  # descriptors kept free for listeners, the loop itself and the interpreter

# Evaluated at run time, so spelled with `typing` (CPython 3.8).
Pair = Tuple[asyncio.StreamReader, asyncio.StreamWriter]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Sizes = Callable[[int], List[int]]
# The setup module's loop factory: the loop may be any third-party class.
LoopFactory = Callable[[], Any]


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
    if sys.platform == "win32":
        return None, None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    return (-1 if soft == inf else soft), (-1 if hard == inf else hard)


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


# --- stream echo ---------------------------------------------------------------------------------


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
    if echoed != payload:
        bad = next(i for i in range(size) if echoed[i] != payload[i])
        raise AssertionError("echo of %d bytes differs at byte %d" % (size, bad))
    stats.round_trips += 1
    stats.bytes += size


async def _close_all(writers: List[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.close()
    for w in writers:
        with contextlib.suppress(ConnectionError, OSError):
            await w.wait_closed()


async def _open_many(connect: Callable[[], Awaitable[Pair]], count: int) -> List[Pair]:
    """Open `count` connections in batches; returns (readers, writers) even on partial failure."""
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
    """An echo server and `count` concurrent client connections exchanging verified messages."""
    server = await start_server(_echo_handler)
    pairs: List[Pair] = []
    detail: Dict[str, Any] = {}
    try:
        pairs = await _open_many(lambda: connect(server), count)
        stats.held = max(stats.held, len(pairs))
        detail["connections"] = len(pairs)
        if min_fd is not None:
            fds = [_fileno(w) for _, w in pairs]
            detail["lowest_fd"] = min(fds)
            detail["highest_fd"] = max(fds)
            if min(fds) <= min_fd:
                raise AssertionError("a client descriptor is %d, not above %d" % (min(fds), min_fd))

        async def exchange(
            i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            for size in sizes_for(i):
                await _round_trip(reader, writer, size, stats)

        await asyncio.gather(*[exchange(i, r, w) for i, (r, w) in enumerate(pairs)])
    finally:
        await _close_all([w for _, w in pairs])
        server.close()
        await server.wait_closed()
    return detail


def default_sizes(i: int) -> List[int]:
    sizes = [1, SIZES[i % len(SIZES)]]
    if i < BIG_CONNECTIONS:
        sizes.append(BIG)
    return sizes


def small_sizes(i: int) -> List[int]:
    return [1, 65537, BIG] if i == 0 else [1, SIZES[i % len(SIZES)]]


async def tcp_test(
    host: str,
    count: int,
    stats: Stats,
    sizes_for: Sizes = default_sizes,
    min_fd: Optional[int] = None,
) -> Dict[str, Any]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def start(handler: Handler) -> Awaitable[asyncio.Server]:
        # A backlog for every connection: uvloop accepts late; a full queue costs a 1 s SYN retry.
        return asyncio.start_server(handler, host, 0, family=family, backlog=count + BATCH)

    def connect(server: asyncio.Server) -> Awaitable[Pair]:
        port = server.sockets[0].getsockname()[1]
        return asyncio.open_connection(host, port, family=family)

    return await stream_test(start, connect, count, sizes_for, stats, min_fd)


async def unix_test(count: int, stats: Stats) -> Dict[str, Any]:
    """Unix stream sockets: an abstract address on Linux leaves nothing on disk, even when the
    worker is killed; loops that refuse it (uvloop) get a private temporary directory."""

    if sys.platform == "win32":
        raise NotImplementedError("asyncio has no Unix sockets on Windows")

    async def attempt(path: str) -> Dict[str, Any]:
        def start(handler: Handler) -> Awaitable[asyncio.Server]:
            return asyncio.start_unix_server(handler, path)

        def connect(server: asyncio.Server) -> Awaitable[Pair]:
            return asyncio.open_unix_connection(path)

        detail = await stream_test(start, connect, count, small_sizes, stats)
        detail["address"] = "abstract" if path.startswith("\0") else "path"
        return detail

    if sys.platform.startswith("linux"):
        try:
            return await attempt("\0iodetect-selftest-%d-%d" % (os.getpid(), time.time() * 1e6))
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="iodetect-")
    try:
        return await attempt(os.path.join(tmp, "s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    server, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=("127.0.0.1", 0))
    client: Optional[asyncio.DatagramTransport] = None
    try:
        addr = server.get_extra_info("sockname")
        client, proto = await loop.create_datagram_endpoint(_UdpClient, remote_addr=addr)
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
                    raise got
                if got != payload:
                    raise AssertionError("datagram of %d bytes came back altered" % size)
                stats.latencies.append(time.perf_counter() - start)
                stats.round_trips += 1
                stats.bytes += size
                break
            else:
                raise AssertionError("datagram of %d bytes lost 3 times" % size)
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


# --- the run -------------------------------------------------------------------------------------


class Worker:
    def __init__(self, params: Dict[str, Any]) -> None:
        self.params = params
        self.deadline = float(params.get("deadline", 20.0))
        self.started = time.monotonic()
        self.phase = "start"
        self.tests: List[Dict[str, Any]] = []
        self.result: Dict[str, Any] = {
            "kind": "iodetect.selftest",
            "schema_version": 1,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "implementation": sys.implementation.name,
            "platform": sys.platform,
            "error": None,
            "tests": self.tests,
        }

    def remaining(self) -> float:
        return max(0.1, self.deadline - (time.monotonic() - self.started))

    def record(self, name: str, status: str, detail: Optional[str] = None, **extra: Any) -> None:
        entry: Dict[str, Any] = {"name": name, "status": status, "detail": detail}
        entry.update(extra)
        self.tests.append(entry)

    async def phase_run(
        self, name: str, coro: Awaitable[Optional[Dict[str, Any]]], budget: float
    ) -> bool:
        """One test with its own deadline; any error becomes that test's failure."""
        self.phase = name
        start = time.perf_counter()
        try:
            detail = await asyncio.wait_for(coro, min(budget, self.remaining()))
        except asyncio.TimeoutError:
            self.record(name, "fail", "did not finish within %.1f s" % budget)
            return False
        except NotImplementedError as exc:  # a loop without this kind of socket (rloop: Unix)
            self.record(name, "unsupported", _oneline(exc))
            return False
        except Exception as exc:  # a test failure, reported, never raised
            self.record(name, "fail", _oneline(exc))
            return False
        self.record(
            name, "ok", None, seconds=round(time.perf_counter() - start, 4), **(detail or {})
        )
        return True

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
        fds = open_fds()
        open_now = len(fds) if fds is not None else 16
        stats = Stats()
        main_stats = Stats()

        # Connections asked for; both ends live in this process, so each takes two descriptors.
        wanted = int(p.get("connections", 300))
        room = (soft - open_now - MARGIN) // 2 if soft and soft > 0 else wanted
        count = max(0, min(wanted, room))
        res["connections_wanted"] = wanted
        if count < 1:
            self.record(
                "tcp4", "fail", "no descriptors free: %d open, soft limit %s" % (open_now, soft)
            )
        else:
            ok = await self.phase_run(
                "tcp4", tcp_test("127.0.0.1", count, main_stats), p.get("budget_tcp", 8.0)
            )
            if ok and count < wanted:
                self.tests[-1]["status"] = "warn"
                self.tests[-1]["detail"] = (
                    "held %d of %d connections: soft limit %s with both ends in one process"
                    % (count, wanted, soft)
                )

        if p.get("ipv6", True):
            reason = self.ipv6_absent()
            if reason:
                self.record("tcp6", "skip", reason)
            else:
                await self.phase_run("tcp6", tcp_test("::1", 8, stats, small_sizes), 4.0)
        if p.get("unix", True):
            if not hasattr(socket, "AF_UNIX"):
                self.record("unix", "skip", "no Unix sockets on this platform")
            else:
                await self.phase_run("unix", unix_test(8, stats), 4.0)
        if p.get("udp", True):
            await self.phase_run("udp", udp_test(stats), 4.0)

        ceiling = p.get("above_fd")
        if ceiling:
            await self.high_fds(int(ceiling), stats)

        res["figures"] = {
            "connections_held": main_stats.held,
            "round_trips": main_stats.round_trips + stats.round_trips,
            "bytes": main_stats.bytes + stats.bytes,
            "latency_ms": percentiles(main_stats.latencies),
            "elapsed": round(time.perf_counter() - began, 4),
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
        """Connections whose descriptors are numbered above `ceiling`, through the loop."""
        name = "fds_above_%d" % ceiling
        soft, _ = nofile()
        count = 32
        if soft is not None and 0 < soft < ceiling + 2 * count + MARGIN:
            self.record(
                name,
                "fail",
                "soft limit %d inside the loop leaves no room above descriptor %d"
                % (soft, ceiling),
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
                name, "fail", "cannot open descriptors up to %d: %s" % (ceiling, _oneline(exc))
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
        filename = p.get("setup_name") or "loop_setup.py"
        soft, hard = nofile()
        res["nofile_before"] = {"soft": soft, "hard": hard}

        self.phase = "import setup"
        module = types.ModuleType("loop_setup")
        module.__file__ = filename
        sys.modules["loop_setup"] = module
        try:
            exec(compile(src, filename, "exec"), module.__dict__)
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
                self.record(self.phase, "fail", "the loop failed: " + _oneline(exc))
            res["error"] = "%s failed to run the test: %s" % (filename, _oneline(exc))
            res["error_stage"] = "run"
            res["error_line"] = _where(exc, filename)
            return False
        return True


def _expire(worker: Worker) -> None:
    """The watchdog: report where the worker was stuck and end the process."""
    snapshot = {
        "kind": "iodetect.selftest",
        "schema_version": 1,
        "error": "the self-test worker passed its own deadline of %.1f s during %s"
        % (worker.deadline, worker.phase),
        "error_stage": "deadline",
        "tests": list(worker.tests),
    }
    try:
        os.write(1, ("\n" + MARKER + json.dumps(snapshot) + "\n").encode("utf-8"))
    finally:
        os._exit(0)


def main(params: Dict[str, Any]) -> None:
    worker = Worker(params)
    watchdog = threading.Timer(worker.deadline + 1.0, _expire, args=(worker,))
    watchdog.daemon = True
    watchdog.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            worker.run()
        except Exception as exc:  # a bug here must still produce a result, not a traceback
            worker.result["error"] = "self-test worker error during %s: %s" % (
                worker.phase,
                _oneline(exc),
            )
            worker.result["error_stage"] = "worker"
        gc.collect()
    seen: List[Dict[str, str]] = []
    for w in caught:
        item = {
            "category": w.category.__name__,
            "message": str(w.message).splitlines()[0][:300] if str(w.message) else "",
            "where": "%s:%s" % (os.path.basename(str(w.filename)), w.lineno),
        }
        if item not in seen:
            seen.append(item)
    worker.result["warnings"] = seen[:20]
    watchdog.cancel()
    sys.stdout.write("\n" + MARKER + json.dumps(worker.result) + "\n")
    sys.stdout.flush()
