"""The bench load generator's accounting and its placement, against real loopback servers:
every request counted is one verified echo, partial and wrong echoes are told apart, and pinning
falls back cleanly where the host cannot pin. No speed checks."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from iodetect.target import bench_load, bench_server

Handler = Callable[[socket.socket, list[int]], None]


def echo(conn: socket.socket, seen: list[int]) -> None:
    """Echo every 100-byte message whole, counting them."""
    buf = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while len(buf) >= 100:
            seen[0] += 1  # before the echo: the client may count it as soon as it is sent
            conn.sendall(buf[:100])
            buf = buf[100:]


def in_two_parts(conn: socket.socket, seen: list[int]) -> None:
    """Echo each message in two sends with a pause between: the client must join them."""
    buf = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while len(buf) >= 100:
            seen[0] += 1
            conn.sendall(buf[:30])
            time.sleep(0.001)
            conn.sendall(buf[30:100])
            buf = buf[100:]


def corrupt(conn: socket.socket, seen: list[int]) -> None:
    """Echo the first three messages, then one with a byte changed."""
    while True:
        data = conn.recv(100)
        if not data:
            return
        seen[0] += 1
        if seen[0] > 3:
            data = bytes([data[0] ^ 1]) + data[1:]
        conn.sendall(data)


def extra(conn: socket.socket, seen: list[int]) -> None:
    """Echo each message with one byte too many."""
    while True:
        data = conn.recv(100)
        if not data:
            return
        seen[0] += 1
        conn.sendall(data + b"x")


@contextlib.contextmanager
def server(handler: Handler) -> Iterator[tuple[int, list[int]]]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    lsock.settimeout(0.1)  # close() does not wake an accept() blocked in another thread
    seen = [0]
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            conns.append(conn)
            threading.Thread(target=run, args=(conn,), daemon=True).start()

    def run(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            handler(conn, seen)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield lsock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(timeout=10)
        lsock.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()


def drive(port: int, conns: int, seconds: float, stall: float = 5.0) -> bench_load.Driver:
    socks = [bench_load.connect("127.0.0.1", port, stall) for _ in range(conns)]
    messages = [os.urandom(100) for _ in range(4)]
    driver = bench_load.Driver(socks, messages, stall)
    try:
        driver.recording = True
        driver.run(time.perf_counter() + seconds)
    finally:
        driver.close()
        for s in socks:
            s.close()
    return driver


@pytest.mark.parametrize("conns", [1, 7])
def test_every_request_counted_is_one_echo_the_server_sent(conns: int) -> None:
    with server(echo) as (port, seen):
        driver = drive(port, conns, 0.3)
        # The server saw every request counted, plus at most one in flight per connection.
        assert driver.done > 0
        assert driver.done <= seen[0] <= driver.done + conns
        assert driver.bytes == 100 * driver.done
        assert len(driver.latencies) == driver.done
        assert all(0 < x < 5 for x in driver.latencies)


def test_an_echo_in_two_parts_is_joined_and_counted_once() -> None:
    with server(in_two_parts) as (port, seen):
        driver = drive(port, 3, 0.3)
        assert driver.done > 0
        assert driver.done <= seen[0] <= driver.done + 3


def test_nothing_is_counted_before_recording() -> None:
    with server(echo) as (port, seen):
        socks = [bench_load.connect("127.0.0.1", port, 5.0)]
        driver = bench_load.Driver(socks, [os.urandom(100)], 5.0)
        driver.run(time.perf_counter() + 0.1)
        assert seen[0] > 0 and driver.done == 0 and driver.latencies == []
        driver.close()
        socks[0].close()


@pytest.mark.parametrize("handler", [corrupt, extra])
def test_a_wrong_echo_fails_the_cell(handler: Handler) -> None:
    with server(handler) as (port, _), pytest.raises(bench_load.Failure, match="mismatch"):
        drive(port, 1, 5.0)


def test_a_silent_server_is_a_stall_not_a_hang() -> None:
    def silent(conn: socket.socket, seen: list[int]) -> None:
        conn.recv(100)
        time.sleep(5)

    started = time.monotonic()
    with server(silent) as (port, _), pytest.raises(bench_load.Failure, match="stopped answering"):
        drive(port, 1, 30.0, stall=0.5)
    assert time.monotonic() - started < 4.5  # the server answers nothing for 5 s


def test_the_fallback_poller_gives_the_same_accounting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where select has no epoll (macOS, BSD) or no poll (Windows), the driver runs on poll or
    on a selectors selector and counts the same way."""
    import select

    monkeypatch.delattr(select, "epoll", raising=False)
    with server(echo) as (port, seen):
        driver = drive(port, 3, 0.2)
        assert driver.done <= seen[0] <= driver.done + 3 and driver.done > 0
    monkeypatch.delattr(select, "poll", raising=False)
    with server(echo) as (port, seen):
        driver = drive(port, 3, 0.2)
        assert driver.done <= seen[0] <= driver.done + 3 and driver.done > 0


def test_a_window_without_the_speed_probe_has_no_probe_times() -> None:
    with server(echo) as (port, _):
        socks = [bench_load.connect("127.0.0.1", port, 5.0)]
        driver = bench_load.Driver(socks, [os.urandom(100)], 5.0)
        probe = bench_load.Probe()
        try:
            wall, probes, probe_cpu = bench_load.measure(driver, None, 0.1)
            assert wall >= 0.1 and probes == [] and probe_cpu == 0.0
            wall, probes, _ = bench_load.measure(driver, probe, 0.1)
            assert wall >= 0.1 and len(probes) >= 1 and all(p > 0 for p in probes)
        finally:
            probe.close()
            driver.close()
            socks[0].close()


@pytest.mark.parametrize("module", [bench_load, bench_server])
def test_pinning_falls_back_where_the_host_cannot_pin(
    module: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin = module.pin  # type: ignore[attr-defined]
    assert pin(None) is None  # "free": never pinned
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    assert pin("first") is None and pin("last") is None


@pytest.mark.parametrize("module", [bench_load, bench_server])
def test_one_allowed_cpu_puts_both_on_it(module: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one CPU allowed, "first" and "last" are that CPU: a split placement shares it,
    which the runner then records as shared (the load-bound rule for a shared CPU applies)."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("this platform cannot pin processes (no os.sched_setaffinity)")
    calls: list[set[int]] = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: calls.append(set(cpus)))
    pin = module.pin  # type: ignore[attr-defined]
    assert pin("first") == 3 and pin("last") == 3
    assert calls == [{3}, {3}]

    def refuse(pid: int, cpus: set[int]) -> None:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    assert pin("last") is None  # a refusal (a cgroup without that CPU) is no placement
