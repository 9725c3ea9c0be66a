"""From threads and descriptors to the event loop a process runs: pure functions of the samples.

What shows from outside, and what it means:
- The loop thread sits in its event-wait call when idle: epoll_wait/epoll_pwait (epoll),
  poll/ppoll (poll), select/pselect6 (select), io_uring_enter. asyncio's selector loop waits in
  the call of its selector (EpollSelector, PollSelector, SelectSelector); libuv (uvloop) in
  epoll on Linux.
- uvloop is a native module: it shows in the memory map. A map alone says it was imported, not
  that it runs; libuv wakes its loop through an eventfd registered in its epoll instance
  (uv_async on Linux), while asyncio's loop wakes itself through a socket pair. So an epoll
  instance with an eventfd in it, in a process that maps uvloop, is libuv's.
- A thread-per-connection server has no event loop: its threads block in accept and recv.
"""

from __future__ import annotations

from iodetect.inspect import syscalls
from iodetect.inspect.model import Descriptors, Loop, Thread

LOOP_LIBRARIES = ("uvloop", "winloop", "rloop")
SELECTOR_OF = {"epoll": "EpollSelector", "poll": "PollSelector", "select": "SelectSelector"}
SOCKET_KINDS = ("tcp", "unix", "udp", "socket")


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


def loop_thread(pid: int, threads: tuple[Thread, ...], desc: Descriptors) -> Thread | None:
    """The thread that runs the event loop: the one waiting in an event call over the most
    descriptors, the main thread on a tie; None when no thread was seen waiting in one."""
    waiting = [t for t in threads if t.kind in syscalls.EVENT_KINDS and t.waits > 0]
    if not waiting:
        return None
    return max(waiting, key=lambda t: (registered(t, desc) or 0, t.tid == pid, -t.tid))


def loop_of(
    pid: int, threads: tuple[Thread, ...], desc: Descriptors, libraries: dict[str, str]
) -> Loop:
    library = next((name for name in LOOP_LIBRARIES if name in libraries), None)
    evidence: list[str] = []
    if library:
        evidence.append(f"maps {libraries[library].rsplit('/', 1)[-1]}")
    blockers = [
        t
        for t in threads
        if t.kind in ("accept", "recv", "read") and (t.fd_kind or "") in SOCKET_KINDS
    ]
    thread = loop_thread(pid, threads, desc)
    small_poll = (
        thread is not None
        and thread.kind in ("poll", "select")
        and ((thread.count or 0) <= (1 if thread.kind == "poll" else 0) or thread.count is None)
    )
    if blockers and (thread is None or (small_poll and library is None)):
        accepting = sum(1 for t in blockers if t.kind == "accept")
        evidence.append(
            f"{len(blockers)} thread(s) block on sockets ({accepting} in accept, "
            f"{len(blockers) - accepting} in recv/read)"
        )
        if thread is not None:
            evidence.append(f"thread {thread.tid} polls {thread.count} descriptor(s) (accept)")
        return Loop(
            model="thread per connection",
            library=library,
            running=None,
            mechanism=None,
            call=None,
            selector=None,
            thread=None,
            registered=None,
            evidence=tuple(evidence),
        )
    if thread is None:
        # Busy, or not a loop: an epoll instance still tells the mechanism it would wait in.
        epoll = max(desc.epolls, key=lambda e: e.registered, default=None)
        if epoll is not None:
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
        evidence.append("no thread was seen waiting in epoll, poll, select or io_uring")
        return Loop("none seen", library, None, None, None, None, None, None, tuple(evidence))
    mechanism = thread.kind
    running: str | None = None
    if mechanism == "epoll":
        ep = next((e for e in desc.epolls if e.fd == thread.fd), None)
        wakeup = ep is not None and "eventfd" in ep.kinds
        if library and wakeup:
            running = library
            evidence.append(
                f"its epoll instance (fd {thread.fd}) has an eventfd registered: libuv's wake-up"
            )
        elif library:
            running = "asyncio"
            evidence.append(
                f"{library} is loaded, but the loop's epoll instance (fd {thread.fd}) has no "
                "eventfd: the standard loop's (which wakes itself through a socket pair)"
            )
        else:
            running = "asyncio"
    elif mechanism in ("poll", "select", "poll/select"):
        running = "asyncio"  # libuv never waits in poll or select on Linux
        if library:
            evidence.append(f"{library} is loaded, but its loop waits in epoll, not {mechanism}")
    else:
        running = None
        evidence.append(f"waits in {thread.call}: not a loop iodetect recognises")
    count = registered(thread, desc)
    where = f"thread {thread.tid}" + (" (the main thread)" if thread.tid == pid else "")
    evidence.append(
        f"{where} waits in {thread.call}"
        + (f" over {count} descriptor(s)" if count is not None else "")
        + f" ({thread.waits} of {thread.samples} samples)"
    )
    return Loop(
        model="event loop",
        library=library,
        running=running,
        mechanism=mechanism,
        call=thread.call,
        selector=SELECTOR_OF.get(mechanism or "") if running == "asyncio" else None,
        thread=thread.tid,
        registered=count,
        evidence=tuple(evidence),
    )
