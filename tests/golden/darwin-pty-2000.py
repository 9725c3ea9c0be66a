"""Event loop setup: SelectorEventLoop for CPython 3.8+ on macOS.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: the standard loop
- KqueueSelector: selectors.DefaultSelector's pick here
- the service needs pty
- new_event_loop() lifts the soft descriptor limit to the hard one, as Go does;
  it fails below 2064 (2000 connections and 64 more)
- run(): asyncio.run(main, loop_factory=...) on 3.12+;
  asyncio.Runner(loop_factory=...) on 3.11; asyncio.run()'s steps with this
  loop on 3.8-3.10; no get_event_loop()
"""

from __future__ import annotations

import asyncio
import resource
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Raise the soft descriptor limit, then return a new SelectorEventLoop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Up to the hard limit, as the Go runtime does, but not past 1048576:
    # code that closes every descriptor below the limit would crawl.
    target = min(hard, 1048576)
    if sys.platform == "darwin":
        target = min(target, _maxfilesperproc(target))
    if target < 2064:
        raise RuntimeError(
            "loop_setup: 2000 connections need 2064 descriptors, "
            f"the limits allow {target}: raise the hard limit",
        )
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return asyncio.SelectorEventLoop()


def _maxfilesperproc(default: int) -> int:
    """kern.maxfilesperproc: older macOS refuses a soft limit above it."""
    import ctypes

    value = ctypes.c_int(0)
    size = ctypes.c_size_t(ctypes.sizeof(value))
    args = (ctypes.byref(value), ctypes.byref(size), None, 0)
    if ctypes.CDLL(None).sysctlbyname(b"kern.maxfilesperproc", *args):
        return default
    return value.value


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, loop_factory=new_event_loop)
    if sys.version_info >= (3, 11):  # noqa: UP036 (runs on 3.8 too)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(main)
    # Before 3.11 asyncio.run() takes no loop factory: what it does.
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            if sys.version_info >= (3, 9):  # noqa: UP036 (runs on 3.8 too)
                loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what main() left running, as asyncio.run() does."""
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during run() shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
