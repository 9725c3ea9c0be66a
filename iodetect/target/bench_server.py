"""Bench server worker: one echo server variant in this process, with a control channel.

Standard library only (plus the loop under test), CPython 3.8+. Prints one MARKER line when it is
listening: {"port", "control", "pid", "impl", "loop_version"} or {"error"} when the variant cannot
run here. The load generator talks to the control port: "mark" answers this process's CPU time
(getrusage: every thread, so the control thread is counted too, but it only wakes twice a cell).
A watchdog ends the process at its deadline whatever happens, so nothing outlives a lost parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple, Type, Union, cast

if TYPE_CHECKING:  # imported at run time only by the asyncio servers
    import asyncio

MARKER = "@@iodetect@@ "
BACKLOG = 1024
CHUNK = 262144


def say(doc: Dict[str, Any]) -> None:
    sys.stdout.write(MARKER + json.dumps(doc) + "\n")
    sys.stdout.flush()


def cpu_times() -> Tuple[float, float]:
    """User and system CPU seconds of this whole process (all threads)."""
    if sys.platform == "win32":
        return time.process_time(), 0.0
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


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


def raise_nofile(need: int) -> Optional[int]:
    """Raise the soft descriptor limit towards the hard one when `need` descriptors are wanted."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        if hard == resource.RLIM_INFINITY:
            target = need
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def make_selector(name: str, cls_name: Optional[str]) -> selectors.BaseSelector:
    """The selector `name`, built from the class iodetect names for it (selectors.<cls_name>)."""
    cls: Optional[Type[selectors.BaseSelector]] = getattr(selectors, cls_name or "", None)
    if cls is None:
        raise LookupError("selector %s is not available here" % name)
    return cls()


def listener(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(BACKLOG)
    return sock


def tune(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --- control channel ---------------------------------------------------------------------------


def control_thread(ctl: socket.socket, state: Dict[str, int], fault: Optional[str]) -> None:
    """Answer "mark" with this process's CPU time; faults are injected here for tests."""
    ctl.settimeout(None)
    while True:
        try:
            conn, _ = ctl.accept()
        except OSError:
            return
        reader = conn.makefile("rb")
        try:
            for line in reader:
                cmd = line.strip().decode("ascii", "replace")
                if cmd == "mark":
                    user, system = cpu_times()
                    reply = {"user": user, "system": system, "t": time.monotonic()}
                    reply["threads"] = threading.active_count()
                    conn.sendall((json.dumps(reply) + "\n").encode("ascii"))
                    state["marks"] += 1
                    if fault == "crash" and state["marks"] == 1:
                        os._exit(3)
                    if fault == "hang" and state["marks"] == 1:
                        import signal

                        os.kill(os.getpid(), getattr(signal, "SIGSTOP", 19))
                elif cmd == "quit":
                    conn.sendall(b"{}\n")
                    sys.stdout.flush()
                    os._exit(0)
        except OSError:
            pass
        finally:
            reader.close()
            conn.close()


def watchdog(seconds: float) -> None:
    time.sleep(seconds)
    os._exit(4)


# --- servers -----------------------------------------------------------------------------------


def serve_selectors(lsock: socket.socket, sel: selectors.BaseSelector) -> None:
    """An echo server on a plain selectors loop: the cost of the selector, without asyncio."""
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    pending: Dict[socket.socket, bytes] = {}  # bytes not yet sent
    while True:
        for key, mask in sel.select():
            sock: Optional[socket.socket] = key.data  # None: the listener
            if sock is None:
                for _ in range(BACKLOG):  # drain the queue: one select() for many accepts
                    try:
                        conn, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    conn.setblocking(False)
                    tune(conn)
                    sel.register(conn, selectors.EVENT_READ, conn)
                continue
            if mask & selectors.EVENT_READ:
                try:
                    data = sock.recv(CHUNK)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    pending.pop(sock, None)
                    sock.close()
                    continue
                try:
                    sent = sock.send(data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:
                    sel.unregister(sock)
                    sock.close()
                    continue
                if sent < len(data):
                    pending[sock] = data[sent:]
                    sel.modify(sock, selectors.EVENT_WRITE, sock)
            elif mask & selectors.EVENT_WRITE:
                data = pending.pop(sock, b"")
                try:
                    sent = sock.send(data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:
                    sel.unregister(sock)
                    sock.close()
                    continue
                if sent < len(data):
                    pending[sock] = data[sent:]
                else:
                    sel.modify(sock, selectors.EVENT_READ, sock)


def serve_threads(lsock: socket.socket) -> None:
    """Blocking sockets, one thread per connection: the baseline every loop is measured against."""

    def handle(conn: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    lsock.setblocking(True)
    threading.stack_size(256 * 1024)
    while True:
        conn, _ = lsock.accept()
        tune(conn)
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def new_loop(
    name: str, selector: Optional[str], selector_class: Optional[str] = None
) -> asyncio.AbstractEventLoop:
    """A fresh event loop of the named kind; ImportError when its package is missing."""
    if name == "asyncio":
        import asyncio

        if selector is None:
            return asyncio.new_event_loop()
        if selector == "proactor":  # IOCP: the standard loop's default on Windows
            proactor = getattr(asyncio, "ProactorEventLoop", None)
            if proactor is None:
                raise NotImplementedError("ProactorEventLoop (IOCP) is Windows only")
            loop: asyncio.AbstractEventLoop = proactor()
            return loop
        return asyncio.SelectorEventLoop(make_selector(selector, selector_class))
    import importlib

    # An alternative loop package: each has new_event_loop(), and its loops subclass
    # AbstractEventLoop (set_event_loop() takes nothing else).
    other: asyncio.AbstractEventLoop = importlib.import_module(name).new_event_loop()
    return other


def loop_version(name: str) -> Optional[str]:
    if name == "asyncio":
        return None
    try:
        from importlib import metadata

        return metadata.version(name)
    except Exception:
        return None


async def start_style(
    loop: asyncio.AbstractEventLoop, lsock: socket.socket, style: str
) -> Union[asyncio.AbstractServer, asyncio.Task[None]]:
    import asyncio

    if style == "streams":

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tune(writer.get_extra_info("socket"))
            try:
                while True:
                    data = await reader.read(CHUNK)
                    if not data:
                        break
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        return await asyncio.start_server(handle, sock=lsock, backlog=BACKLOG)

    if style == "protocol":

        class Echo(asyncio.Protocol):
            transport: Optional[asyncio.Transport]

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                # A stream server is always given a (read-write) Transport.
                self.transport = cast(asyncio.Transport, transport)
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    tune(sock)

            def data_received(self, data: bytes) -> None:
                # Never called after connection_lost(): no check on the measured path.
                self.transport.write(data)  # type: ignore[union-attr]

            def connection_lost(self, exc: Optional[Exception]) -> None:
                self.transport = None

        return await loop.create_server(Echo, sock=lsock, backlog=BACKLOG)

    if style == "sock":
        lsock.setblocking(False)

        async def handle_sock(conn: socket.socket) -> None:
            try:
                while True:
                    data = await loop.sock_recv(conn, CHUNK)
                    if not data:
                        break
                    await loop.sock_sendall(conn, data)
            except (ConnectionError, OSError):
                pass
            finally:
                conn.close()

        async def accept_forever() -> None:
            tasks: Set[asyncio.Task[None]] = set()
            while True:
                conn, _ = await loop.sock_accept(lsock)
                conn.setblocking(False)
                tune(conn)
                task = loop.create_task(handle_sock(conn))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        return loop.create_task(accept_forever())

    raise LookupError("unknown API style %s" % style)


def serve_asyncio(lsock: socket.socket, params: Dict[str, Any], ready: Callable[[], None]) -> None:
    import asyncio

    loop = new_loop(params["loop"], params.get("selector"), params.get("selector_class"))
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(start_style(loop, lsock, params["style"]))
    ready()
    try:
        loop.run_forever()
    finally:
        del server
        loop.close()


def describe(params: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    kind = params["kind"]
    if kind == "asyncio":
        return params["loop"], loop_version(params["loop"])
    return kind, None


def main(params: Dict[str, Any]) -> None:
    deadline = float(params.get("deadline", 120.0))
    threading.Thread(target=watchdog, args=(deadline,), daemon=True).start()
    raise_nofile(int(params.get("nofile", 0)))
    cpu = pin(params.get("cpu"))
    host = params.get("host", "127.0.0.1")
    kind = params["kind"]
    try:
        lsock = listener(host)
        ctl = listener(host)
        impl, version = describe(params)
        sel = (
            make_selector(params["selector"], params.get("selector_class"))
            if kind == "selectors"
            else None
        )
    except ImportError as exc:
        say({"error": "not installed: %s" % (exc.name or exc)})
        return
    except (LookupError, OSError, ValueError) as exc:
        say({"error": str(exc)})
        return
    state = {"marks": 0}
    threading.Thread(
        target=control_thread, args=(ctl, state, params.get("fault")), daemon=True
    ).start()
    info: Dict[str, Any] = {
        "port": lsock.getsockname()[1],
        "control": ctl.getsockname()[1],
        "pid": os.getpid(),
        "impl": impl,
        "loop_version": version,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "cpu": cpu,
    }
    if sel is not None:  # kind == "selectors"
        info["selector_class"] = type(sel).__name__
        say(info)
        serve_selectors(lsock, sel)
    elif kind == "threads":
        say(info)
        serve_threads(lsock)
    elif kind == "asyncio":

        def ready() -> None:
            say(info)

        try:
            serve_asyncio(lsock, params, ready)
        except ImportError as exc:
            say({"error": "not installed: %s" % (exc.name or exc)})
        except (NotImplementedError, LookupError, AttributeError) as exc:
            say({"error": "unsupported: %s" % (str(exc) or type(exc).__name__)})
    else:
        say({"error": "unknown server kind %s" % kind})
