"""Event loop setup: SelectorEventLoop for CPython 3.11 on FreeBSD.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: the standard loop
- KqueueSelector: selectors.DefaultSelector's pick here
- the service needs signals, subprocess
- new_event_loop() lifts the soft descriptor limit to the hard one, as Go does
- run(): asyncio.Runner(loop_factory=...) on 3.11; no get_event_loop()
"""

import asyncio
import resource
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

if sys.version_info < (3, 11):  # noqa: UP036 (refuses older Pythons)
    raise RuntimeError("loop_setup: written for Python 3.11 and later")

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Raise the soft descriptor limit, then return a new SelectorEventLoop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Up to the hard limit, as the Go runtime does, but not past 1048576:
    # code that closes every descriptor below the limit would crawl.
    target = min(hard, 1048576)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return asyncio.SelectorEventLoop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
