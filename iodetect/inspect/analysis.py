"""From threads and descriptors to the event loop a process runs: pure functions of the samples.

What shows from outside, and what it means:
- The loop thread sits in its event-wait call when idle: epoll_wait/epoll_pwait (epoll),
  poll/ppoll (poll), select/pselect6 (select), io_uring_enter. asyncio's selector loop waits in
  the call of its selector (EpollSelector, PollSelector, SelectSelector); libuv (uvloop) in
  epoll on Linux.
- uvloop is a native module: it shows in the memory map. A map alone says it was imported, not
  that it runs; libuv wakes its loop through an eventfd registered in its epoll instance
  (libuv src/unix/async.c, uv__async_start: eventfd() on Linux), while asyncio's loop wakes
  itself through a socket pair (CPython Lib/asyncio/selector_events.py, _make_self_pipe). So
  the Python loop's epoll instance with an eventfd in it, in a process that maps uvloop, is
  libuv's. rloop wakes through an eventfd as well: mio's Waker (rloop src/event_loop.rs).
- Which epoll instance is the Python loop's matters: other native runtimes in the same process
  wait in epoll instances of their own on their own threads, with an eventfd too (granian's
  tokio workers: mio's waker on Linux is an eventfd, mio src/sys/unix/waker/eventfd.rs), and
  they hold the connections. Servers
  run their Python loop on the main thread (uvicorn, gunicorn's workers, hypercorn, granian,
  aiohttp), so the main thread's wait is the loop's whenever it is seen waiting in one.
- A thread-per-connection server has no event loop: its threads block in accept and recv.
"""

from __future__ import annotations

import dataclasses

from iodetect.inspect import syscalls
from iodetect.inspect.model import Descriptors, Loop, Thread

LOOP_LIBRARIES = ("uvloop", "winloop", "rloop")
SELECTOR_OF = {"epoll": "EpollSelector", "poll": "PollSelector", "select": "SelectSelector"}
SOCKET_KINDS = ("tcp", "unix", "udp", "socket")
# How each alternative loop wakes itself on Linux: an eventfd in its epoll instance.
WAKEUPS = {
    "uvloop": "libuv's wake-up (uv_async)",  # libuv src/unix/async.c, uv__async_start
    "rloop": "rloop's wake-up (mio's Waker)",  # rloop src/event_loop.rs; mio waker/eventfd.rs
}


def registered(thread: Thread, desc: Descriptors) -> int | None:
    """How many descriptors the wait of `thread` covers, where that can be known."""
    if thread.kind == "epoll":
        for ep in desc.epolls:
            if ep.fd == thread.fd:
                return ep.registered
        return None
    if thread.kind == "poll":
        return thread.count
    return None


def waiting_threads(threads: tuple[Thread, ...]) -> list[Thread]:
    """The threads seen waiting in an event call (epoll, poll, select, io_uring)."""
    return [t for t in threads if t.kind in syscalls.EVENT_KINDS and t.waits > 0]


def loop_thread(pid: int, threads: tuple[Thread, ...], desc: Descriptors) -> Thread | None:
    """The thread that runs the event loop: the main thread when it waits in an event call
    (another runtime's thread may wait over more descriptors), else the one waiting over the
    most descriptors; None when no thread was seen waiting in one."""
    waiting = waiting_threads(threads)
    main = next((t for t in waiting if t.tid == pid), None)
    if main is not None or not waiting:
        return main
    return max(waiting, key=lambda t: (registered(t, desc) or 0, -t.tid))


def loop_of(
    pid: int,
    threads: tuple[Thread, ...],
    desc: Descriptors,
    libraries: dict[str, str],
    asyncio_imported: bool | None = None,
) -> Loop:
    """The loop the process runs. asyncio_imported: whether its memory map shows asyncio's C
    module (None when the map cannot tell); a selector wait in a process that never imported
    asyncio is another selector loop (gunicorn's gthread worker, a selectors server)."""
    loop = _loop_of(pid, threads, desc, libraries)
    if loop.running == "asyncio" and asyncio_imported is False:
        loop = dataclasses.replace(
            loop,
            running=None,
            selector=None,
            evidence=(
                *loop.evidence,
                "asyncio is not imported (its C module _asyncio, a shared module of this "
                "interpreter, is not mapped): a selector loop that is not asyncio's",
            ),
        )
    return dataclasses.replace(loop, asyncio_imported=asyncio_imported)


def _loop_of(
    pid: int, threads: tuple[Thread, ...], desc: Descriptors, libraries: dict[str, str]
) -> Loop:
    library = next((name for name in LOOP_LIBRARIES if name in libraries), None)
    evidence: list[str] = []
    if library:
        evidence.append(f"maps {'/'.join(libraries[library].split('/')[-2:])}")
    thread = loop_thread(pid, threads, desc)
    blocking = _blocking(threads, thread, library, evidence)
    if blocking is not None:
        return blocking
    if thread is None:
        return _unseen(desc, library, evidence)
    running = _running(thread, desc, library, evidence)
    count = registered(thread, desc)
    where = f"thread {thread.tid}" + (" (the main thread)" if thread.tid == pid else "")
    evidence.append(
        f"{where} waits in {thread.call}"
        + (f" over {count} descriptor(s)" if count is not None else "")
        + f" ({thread.waits} of {thread.samples} samples)"
    )
    others = [t for t in waiting_threads(threads) if t.tid != thread.tid]
    if others:
        shown = ", ".join(
            f"{t.tid} ({t.name}) in {t.call}"
            + (f" over {n}" if (n := registered(t, desc)) is not None else "")
            for t in others[:4]
        )
        more = f" and {len(others) - 4} more" if len(others) > 4 else ""
        evidence.append(
            f"other threads wait in event calls too: {shown}{more} (another runtime's loop, "
            "or a second loop)"
        )
    return Loop(
        model="event loop",
        library=library,
        running=running,
        mechanism=thread.kind,
        call=thread.call,
        selector=SELECTOR_OF.get(thread.kind or "") if running == "asyncio" else None,
        thread=thread.tid,
        registered=count,
        evidence=tuple(evidence),
    )


def _blocking(
    threads: tuple[Thread, ...], thread: Thread | None, library: str | None, evidence: list[str]
) -> Loop | None:
    """A thread-per-connection server: threads block in accept and recv on sockets, and no
    loop waits (or only socketserver's poll over its one listener)."""
    blockers = [
        t
        for t in threads
        if t.kind in ("accept", "recv", "read") and (t.fd_kind or "") in SOCKET_KINDS
    ]
    small_poll = (
        thread is not None
        and thread.kind in ("poll", "select")
        and ((thread.count or 0) <= (1 if thread.kind == "poll" else 0) or thread.count is None)
    )
    if not blockers or not (thread is None or (small_poll and library is None)):
        return None
    accepting = sum(1 for t in blockers if t.kind == "accept")
    evidence.append(
        f"{len(blockers)} thread(s) block on sockets ({accepting} in accept, "
        f"{len(blockers) - accepting} in recv/read)"
    )
    if thread is not None:
        evidence.append(f"thread {thread.tid} polls {thread.count} descriptor(s) (accept)")
    return Loop(
        "thread per connection", library, None, None, None, None, None, None, tuple(evidence)
    )


def _unseen(desc: Descriptors, library: str | None, evidence: list[str]) -> Loop:
    """No thread was seen waiting in an event call: busy, or not a loop. An epoll instance
    still tells the mechanism, and which loop it is when it is the only one; several say
    nothing about which is the Python loop's."""
    if len(desc.epolls) > 1:
        evidence.append(
            f"no thread was seen waiting in an event call, and the process has "
            f"{len(desc.epolls)} epoll instances: which is the Python loop's cannot be told"
        )
        return Loop("event loop", library, None, "epoll", None, None, None, None, tuple(evidence))
    if not desc.epolls:
        evidence.append("no thread was seen waiting in epoll, poll, select or io_uring")
        return Loop("none seen", library, None, None, None, None, None, None, tuple(evidence))
    epoll = desc.epolls[0]
    guess = library if library and "eventfd" in epoll.kinds else "asyncio"
    evidence.append(
        f"no thread was seen waiting in an event call; epoll fd {epoll.fd} has "
        f"{epoll.registered} registered (a busy loop, or one between waits)"
    )
    return Loop(
        model="event loop",
        library=library,
        running=guess,
        mechanism="epoll",
        call=None,
        selector=SELECTOR_OF["epoll"] if guess == "asyncio" else None,
        thread=None,
        registered=epoll.registered,
        evidence=tuple(evidence),
    )


def _running(
    thread: Thread, desc: Descriptors, library: str | None, evidence: list[str]
) -> str | None:
    """Which loop waits in `thread`'s call: the alternative loop mapped when its wake-up is in
    the epoll instance, else the standard loop; None for a call no loop waits in, or an epoll
    instance that was not read."""
    if thread.kind == "epoll":
        ep = next((e for e in desc.epolls if e.fd == thread.fd), None)
        if ep is None:
            evidence.append(f"its epoll instance (fd {thread.fd}) was not read")
            return None
        if library and "eventfd" in ep.kinds:
            evidence.append(
                f"its epoll instance (fd {thread.fd}) has an eventfd registered: "
                + WAKEUPS.get(library, library + "'s wake-up")
            )
            return library
        if library:
            evidence.append(
                f"{library} is loaded, but the loop's epoll instance (fd {thread.fd}) has no "
                "eventfd: the standard loop's (which wakes itself through a socket pair)"
            )
        return "asyncio"
    if thread.kind in ("poll", "select", "poll/select"):
        if library:  # libuv and mio never wait in poll or select on Linux
            evidence.append(f"{library} is loaded, but its loop waits in epoll, not {thread.kind}")
        return "asyncio"
    evidence.append(f"waits in {thread.call}: not a loop iodetect recognises")
    return None
