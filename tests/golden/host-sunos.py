"""Event loop setup: SelectorEventLoop for CPython 3.12 on SunOS.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: the standard loop
- DevpollSelector: selectors.DefaultSelector's pick here
- new_event_loop() lifts the soft descriptor limit to the hard one, as Go does;
  it fails below 1064 (1000 connections and 64 more)
- run(): asyncio.run(main, loop_factory=...) on 3.12; no get_event_loop()
"""

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Raise the soft descriptor limit, then return a new SelectorEventLoop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Up to the hard limit, as the Go runtime does, but not past 1048576:
    # code that closes every descriptor below the limit would crawl.
    unlimited = resource.RLIM_INFINITY  # negative before 3.15 here
    target = 1048576 if hard == unlimited else min(hard, 1048576)
    if target < 1064:
        raise RuntimeError(
            "loop_setup: 1000 connections need 1064 descriptors, "
            f"the limits allow {target}: raise the hard limit",
        )
    if soft != unlimited and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return asyncio.SelectorEventLoop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    return asyncio.run(main, loop_factory=new_event_loop)
