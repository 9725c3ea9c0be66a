"""Bench load generator: drives one echo server cell and verifies every byte; or records context.

Standard library only, CPython 3.8+, no asyncio: a plain selectors loop keeps its own cost per
request low and visible. What the target has (selectors, loops, limits) comes from iodetect's
probe, not from here. It runs on the target next to the server (loopback only), so the same
`--python` command serves both. Its own CPU time is returned so that a cell where the load
generator, not the server, was the limit can be flagged.

Method per cell: one throwaway connection opened, echoed and closed (a fresh server is slower
until its first connection closes), then the idle connections, then warm-up, then the measured
windows, each between two "mark" calls on the server's control port.

A shared host's CPU does not run at one speed: another tenant on the same physical core slows
it by a third or more for a fraction of a second at a time, and a run's share of slow moments
differs from the next run's. So every PROBE_EVERY seconds of a window the load generator times a
fixed piece of work (the speed probe: loopback round trips and bytecode, on the same CPU as the
server when pinned); the host side finds the windows measured at the CPU's full speed from these
probe times. Given the speed reference seen so far, a server process measures windows until
enough ran at full speed, up to a cap.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

MARKER = "@@iodetect@@ "
IDLE_BATCH = 256
PROBE_EVERY = 0.01  # seconds of load between two speed probes
PROBE_LOOPS = 300  # iterations of the probe's loop
PROBE_TRIPS = 2  # loopback round trips per probe
PROBE_REPEAT = 3  # a probe is the fastest of this many timings: one interrupt cannot skew it


def say(doc: Dict[str, Any]) -> None:
    sys.stdout.write(MARKER + json.dumps(doc) + "\n")
    sys.stdout.flush()


class Failure(Exception):
    """The cell cannot go on: the server hung, closed a connection or echoed wrong bytes."""


def pin(cpu: Optional[str]) -> Optional[int]:
    """Run on one CPU when asked ("first" or "last" allowed CPU); the CPU, or None.

    Where client and server run changes what a request costs: on a VM, a wake-up across CPUs
    can cost more than the request itself, and it varies from one run to the next.
    """
    getaffinity = getattr(os, "sched_getaffinity", None)
    setaffinity = getattr(os, "sched_setaffinity", None)
    if cpu is None or getaffinity is None or setaffinity is None:
        return None
    try:
        allowed: List[int] = sorted(getaffinity(0))
        chosen = allowed[0] if cpu == "first" else allowed[-1]
        setaffinity(0, {chosen})
    except (OSError, ValueError, IndexError):
        return None
    return chosen


def raise_nofile(need: int) -> Optional[Tuple[int, int]]:
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(hard, need)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(target, soft), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def connect(host: str, port: int, timeout: float) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def echo_once(sock: socket.socket, payload: bytes, timeout: float) -> None:
    """Blocking round trip with a deadline; the echo must be exactly the payload."""
    sock.settimeout(timeout)
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        try:
            chunk = sock.recv(len(payload) - len(got))
        except socket.timeout:
            raise Failure("server stopped answering (no echo within %gs)" % timeout) from None
        if not chunk:
            raise Failure("server closed the connection")
        got += chunk
    if got != payload:
        raise Failure("echo mismatch: wrong bytes came back")


class Control:
    """The server's control port: "mark" gives the server's CPU time at that instant."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = connect(host, port, timeout)
        self.reader = self.sock.makefile("rb")
        self.timeout = timeout

    def mark(self) -> Dict[str, Any]:
        try:
            self.sock.sendall(b"mark\n")
            line = self.reader.readline()
        except socket.timeout:
            raise Failure("server stopped answering its control port") from None
        except OSError as exc:
            raise Failure("server control connection lost: %s" % exc) from None
        if not line:
            raise Failure("server closed its control connection (crashed?)")
        reply: Dict[str, Any] = json.loads(line.decode("ascii"))
        return reply

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class Poller:
    """The leanest readiness API the target has: epoll, else poll, else a selectors selector.

    `wait(seconds)` gives (fd, mask) pairs; IN and OUT are this poller's bits. A selectors
    selector costs several Python calls per event; the raw objects cost one call per wait.
    """

    def __init__(self) -> None:
        import select

        # Attributes, not names in strings: this script carries no table of mechanisms (the
        # catalog has them); the load generator only wants the cheapest wait it can get.
        self.sel: Optional[selectors.BaseSelector] = None
        try:
            ep: Any = select.epoll()  # type: ignore[attr-defined,unused-ignore]
        except AttributeError:  # no epoll here (macOS, BSD, Windows)
            ep = None
        try:
            p: Any = None if ep is not None else select.poll()  # type: ignore[attr-defined,unused-ignore]
        except AttributeError:  # no poll() (Windows)
            p = None
        if ep is not None:
            self.IN = select.EPOLLIN  # type: ignore[attr-defined,unused-ignore]
            self.OUT = select.EPOLLOUT  # type: ignore[attr-defined,unused-ignore]
            self.register, self.modify, self.close = ep.register, ep.modify, ep.close
            self.wait: Callable[[float], List[Tuple[int, int]]] = ep.poll
        elif p is not None:
            self.IN = select.POLLIN  # type: ignore[attr-defined,unused-ignore]
            self.OUT = select.POLLOUT  # type: ignore[attr-defined,unused-ignore]
            self.register, self.modify = p.register, p.modify
            self.close = lambda: None
            self.wait = lambda seconds: p.poll(seconds * 1000.0)
        else:
            sel = self.sel = selectors.DefaultSelector()
            self.IN, self.OUT = selectors.EVENT_READ, selectors.EVENT_WRITE
            self.register = lambda fd, mask: sel.register(fd, mask)
            self.modify = lambda fd, mask: sel.modify(fd, mask)
            self.close = sel.close
            self.wait = lambda seconds: [(k.fd, m) for k, m in sel.select(seconds)]


class Driver:
    """Keeps one request outstanding on each active connection and verifies each echo.

    Every buffer is allocated before the first request: each connection receives into its own
    bytearray (recv_into, no new object per request), and the echo is compared with the message
    sent in place. On a CPU shared with the server, every Python operation here also costs the
    server cache, so the path per request is kept short: one wait, one recv_into, one compare,
    one send, and a clock read for the latency.
    """

    def __init__(self, socks: List[socket.socket], messages: List[bytes], stall: float) -> None:
        self.poller = Poller()
        self.socks = socks
        self.messages = messages
        self.stall = stall
        n = len(socks)
        size = max(len(m) for m in messages)
        self.bufs = [bytearray(size) for _ in range(n)]
        self.views = [memoryview(b) for b in self.bufs]
        self.fds = {s.fileno(): i for i, s in enumerate(socks)}
        self.index = [i % len(messages) for i in range(n)]
        self.got = [0] * n
        self.out: List[Optional[memoryview]] = [None] * n
        self.started = [0.0] * n
        self.done = 0
        self.bytes = 0
        self.recording = False
        self.latencies: List[float] = []
        self.quiet_since = 0.0  # requests sent before this straddled a probe: no latency
        for s in socks:
            s.setblocking(False)
            self.poller.register(s.fileno(), self.poller.IN)
        for i in range(n):
            self.send_next(i)

    def send_next(self, i: int) -> None:
        msg = self.messages[self.index[i]]
        self.started[i] = time.perf_counter()
        try:
            sent = self.socks[i].send(msg)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise Failure("send failed: %s" % exc) from None
        if sent < len(msg):
            self.out[i] = memoryview(msg)[sent:]
            self.poller.modify(self.socks[i].fileno(), self.poller.IN | self.poller.OUT)

    def flush(self, i: int) -> None:
        """Send the rest of a message that did not fit the socket buffer at once."""
        rest = self.out[i]
        if rest is None:
            return
        try:
            sent = self.socks[i].send(rest)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise Failure("send failed: %s" % exc) from None
        if sent < len(rest):
            self.out[i] = rest[sent:]
        else:
            self.out[i] = None
            self.poller.modify(self.socks[i].fileno(), self.poller.IN)

    def run(self, until: float) -> None:
        wait = self.poller.wait
        out_bit = self.poller.OUT
        perf = time.perf_counter
        socks, bufs, views, fds, got = self.socks, self.bufs, self.views, self.fds, self.got
        messages, index, started, out = self.messages, self.index, self.started, self.out
        count = len(messages)
        latencies = self.latencies
        last = perf()
        while True:
            now = perf()
            if now >= until:
                return
            events = wait(min(self.stall, until - now))
            if not events:
                if perf() - last >= self.stall:
                    raise Failure("server stopped answering (no echo within %gs)" % self.stall)
                continue
            last = now
            for fd, mask in events:
                i = fds[fd]
                if mask & out_bit:
                    self.flush(i)
                    if not mask & ~out_bit:
                        continue
                msg = messages[index[i]]
                want = len(msg)
                have = got[i]
                try:
                    n = socks[i].recv_into(views[i][have:want] if have else views[i], want - have)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    raise Failure("connection lost: %s" % exc) from None
                if not n:
                    raise Failure("server closed the connection")
                have += n
                if have < want:
                    got[i] = have
                    continue
                got[i] = 0
                buf = bufs[i]
                if not (buf == msg if len(buf) == want else views[i][:want] == msg):
                    raise Failure("echo mismatch: wrong bytes came back")
                if out[i] is not None:
                    raise Failure("echo mismatch: bytes came back before they were all sent")
                if self.recording:
                    self.done += 1
                    self.bytes += want
                    t = started[i]
                    if t >= self.quiet_since:
                        latencies.append(perf() - t)
                index[i] = (index[i] + 1) % count
                self.send_next(i)

    def close(self) -> None:
        self.poller.close()


class Probe:
    """Times a fixed piece of work like a server's: a loopback TCP round trip and some bytecode.

    Its time says how fast this CPU runs now. A tenant on the same physical core slows pure
    computation, a tenant thrashing the shared cache slows the kernel's network path: the probe
    does both, in the load generator's own thread, so it never waits for the server.
    """

    def __init__(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            self.a = socket.create_connection(listener.getsockname(), timeout=5)
            self.b, _ = listener.accept()
        finally:
            listener.close()
        for s in (self.a, self.b):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(5)
        self.payload = os.urandom(100)

    def once(self) -> float:
        perf = time.perf_counter
        a, b, payload = self.a, self.b, self.payload
        t = perf()
        for _ in range(PROBE_TRIPS):
            a.sendall(payload)
            got = b.recv(4096)
            b.sendall(got)
            a.recv(4096)
        x = 0
        for i in range(PROBE_LOOPS):
            x += i * i
        return perf() - t

    def __call__(self) -> float:
        return min(self.once() for _ in range(PROBE_REPEAT))

    def close(self) -> None:
        self.a.close()
        self.b.close()


def host_ticks() -> Optional[Tuple[float, float, float]]:
    """(busy, steal, total) CPU seconds of the whole host so far, or None off Linux."""
    text = read("/proc/stat", 4096)
    if not text or not text.startswith("cpu "):
        return None
    try:
        f = [int(x) for x in text.split("\n", 1)[0].split()[1:9]]
    except ValueError:
        return None
    f += [0] * (8 - len(f))
    hz = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
    user, nice, system, idle, iowait, irq, softirq, steal = f
    busy = user + nice + system + irq + softirq
    return busy / hz, steal / hz, (busy + idle + iowait + steal) / hz


def percentile(sorted_values: List[float], q: float) -> Optional[float]:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def open_idle(host: str, port: int, count: int, timeout: float, keep: List[socket.socket]) -> None:
    """Open `count` idle connections, each proven accepted by a one-byte echo, in batches."""
    sel = selectors.DefaultSelector()
    try:
        while len(keep) < count:
            batch: List[socket.socket] = []
            for _ in range(min(IDLE_BATCH, count - len(keep))):
                s = connect(host, port, timeout)
                keep.append(s)
                batch.append(s)
            for s in batch:
                s.sendall(b"i")
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, s)
            waiting = len(batch)
            end = time.monotonic() + timeout
            while waiting:
                left = end - time.monotonic()
                if left <= 0:
                    raise Failure("server did not answer %d idle connections in time" % waiting)
                for key, _ in sel.select(left):
                    sock: socket.socket = key.data
                    data = sock.recv(16)
                    if data != b"i":
                        raise Failure("idle connection: bad or no echo")
                    sel.unregister(sock)
                    waiting -= 1
    finally:
        sel.close()


def measure(
    driver: Driver, probe: Optional[Probe], duration: float
) -> Tuple[float, List[float], float]:
    """Drive the load for `duration` seconds with a speed probe every PROBE_EVERY seconds.

    Returns (wall seconds, probe times, CPU seconds the probes took). Latencies of requests
    that were in flight during a probe are not recorded: the probe, not the server, held them.
    """
    perf = time.perf_counter
    probes: List[float] = []
    probe_cpu = 0.0
    t0 = perf()
    end = t0 + duration
    while True:
        now = perf()
        if now >= end:
            break
        if probe is None:
            driver.run(end)
            break
        driver.run(min(end, now + PROBE_EVERY))
        c = time.process_time()
        probes.append(probe())
        probe_cpu += time.process_time() - c
        driver.quiet_since = perf()
    return perf() - t0, probes, probe_cpu


def load(params: Dict[str, Any]) -> Dict[str, Any]:
    host = params.get("host", "127.0.0.1")
    port = int(params["port"])
    conns = int(params.get("conns", 1))
    idle = int(params.get("idle", 0))
    sizes = [int(s) for s in params.get("sizes", [100])]
    warmup = float(params.get("warmup", 0.2))
    duration = float(params.get("duration", 0.5))
    # Measure until `count` windows ran at full speed (probe time within `full_speed` times the
    # reference the caller has seen so far) or `most` windows were measured in all. No
    # reference: exactly `count` windows.
    count = max(1, int(params.get("windows", 1)))
    most = max(count, int(params.get("most_windows", count)))
    reference: Optional[float] = params.get("reference")
    full_speed = float(params.get("full_speed", 1.05))
    stall = float(params.get("stall", 3.0))
    limits = raise_nofile(idle + conns + 64)
    cpu = pin(params.get("cpu"))
    if limits is not None and limits[0] != -1 and limits[0] < idle + conns + 32:
        return {"error": "descriptor limit %d is too low for %d connections" % (limits[0], idle)}
    messages: List[bytes] = []
    for size in sizes:
        for _ in range(4):
            messages.append(os.urandom(size))
    socks: List[socket.socket] = []
    ctl: Optional[Control] = None
    driver: Optional[Driver] = None
    probe: Optional[Probe] = None
    windows: List[Dict[str, Any]] = []
    phase = "connect"
    try:
        ctl = Control(host, int(params["control"]), stall)
        phase = "throwaway connection"
        first = connect(host, port, stall)
        try:
            echo_once(first, messages[0], stall)
        finally:
            first.close()
        time.sleep(0.02)
        phase = "idle connections"
        open_idle(host, port, idle, max(stall, 10.0), socks)
        phase = "warm-up"
        active = [connect(host, port, stall) for _ in range(conns)]
        socks.extend(active)
        driver = Driver(active, messages, stall)
        probe = Probe() if params.get("probe", True) else None
        driver.run(time.perf_counter() + warmup)
        phase = "measurement"
        driver.recording = True
        before = ctl.mark()
        full = 0
        while full < count and len(windows) < most:
            done, sent, driver.latencies = driver.done, driver.bytes, []
            h0 = host_ticks()
            c0 = time.process_time()
            wall, probes, probe_cpu = measure(driver, probe, duration)
            c1 = time.process_time()
            h1 = host_ticks()
            after = ctl.mark()
            windows.append(window_figures(before, after, h0, h1, c1 - c0 - probe_cpu, wall, probes))
            windows[-1].update(requests=driver.done - done, bytes=driver.bytes - sent)
            windows[-1].update(latency(driver.latencies))
            before = after
            speed = windows[-1]["probe"]
            if reference is None or speed is None or speed <= reference * full_speed:
                full += 1
    except Failure as exc:
        return {"error": str(exc), "phase": phase}
    except socket.timeout:
        return {"error": "server stopped answering (timed out)", "phase": phase}
    except OSError as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc.strerror or exc), "phase": phase}
    finally:
        if driver is not None:
            driver.close()
        if probe is not None:
            probe.close()
        for s in socks:
            s.close()
        if ctl is not None:
            ctl.close()
    return {"cpu": cpu, "windows": windows}


def window_figures(
    before: Dict[str, Any],
    after: Dict[str, Any],
    h0: Optional[Tuple[float, float, float]],
    h1: Optional[Tuple[float, float, float]],
    load_cpu: float,
    wall: float,
    probes: List[float],
) -> Dict[str, Any]:
    """One window's figures: the server's CPU, the load generator's, the host's, the probes."""
    user = after["user"] - before["user"]
    system = after["system"] - before["system"]
    other: Optional[float] = None
    steal: Optional[float] = None
    if h0 is not None and h1 is not None and h1[2] > h0[2]:
        # CPU the rest of the host used meanwhile: other work competing with this cell
        total = h1[2] - h0[2]
        other = max(0.0, (h1[0] - h0[0]) - (user + system) - load_cpu) / total
        steal = (h1[1] - h0[1]) / total
    ordered = sorted(probes)
    return {
        "other": other,
        "steal": steal,
        "wall": wall,
        "server_wall": after["t"] - before["t"],
        "server_user": user,
        "server_system": system,
        "server_threads": after.get("threads"),
        "load_cpu": max(0.0, load_cpu),
        "probe": percentile(ordered, 0.5),
        "probe_high": percentile(ordered, 0.9),
        "probes": len(ordered),
    }


def latency(values: List[float]) -> Dict[str, Optional[float]]:
    ordered = sorted(values)
    return {"p50": percentile(ordered, 0.50), "p99": percentile(ordered, 0.99)}


# --- environment ---------------------------------------------------------------------------------


def read(path: str, limit: int = 65536) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def cpu_model() -> Optional[str]:
    import platform

    for line in (read("/proc/cpuinfo", 1 << 20) or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def context() -> Dict[str, Any]:
    """What only a bench run records about the target, beside iodetect's probe: the CPU model,
    the load average now, and whether processes can be pinned to a CPU."""
    loadavg = getattr(os, "getloadavg", None)
    try:
        load = round(loadavg()[0], 2) if loadavg is not None else None
    except OSError:
        load = None
    return {
        "cpu_model": cpu_model(),
        "load": load,
        "can_pin": hasattr(os, "sched_setaffinity"),
    }


def watchdog(seconds: float) -> None:
    time.sleep(seconds)
    os._exit(4)


def main(params: Dict[str, Any]) -> None:
    import threading

    # A backstop: whatever happens, this process ends (its caller also kills it at a deadline).
    deadline = float(params.get("deadline", 600.0))
    threading.Thread(target=watchdog, args=(deadline,), daemon=True).start()
    try:
        if params.get("mode") == "context":
            say(context())
        else:
            say(load(params))
    except Exception as exc:  # the result must be one JSON line whatever went wrong
        say({"error": "%s: %s" % (type(exc).__name__, exc), "phase": "load generator"})
