"""Event loop setup: SelectorEventLoop for CPython 3.12 on SunOS.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: the standard loop
- SelectSelector: asked for; select() takes descriptors below 65536
- new_event_loop() lifts the soft descriptor limit to 2064 (2000 connections
  and 64 more), no higher
- run(): asyncio.run(main, loop_factory=...) on 3.12; no get_event_loop()
"""

import asyncio
import resource
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Return a new SelectorEventLoop with SelectSelector.

    The soft descriptor limit goes up first: servers call only this.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Enough for the connections, below select()'s ceiling of 65536.
    unlimited = resource.RLIM_INFINITY  # negative before 3.15 here
    target = 2064 if hard == unlimited else min(hard, 2064)
    if target < 2064:
        raise RuntimeError(
            "loop_setup: 2000 connections need 2064 descriptors, "
            f"the limits allow {target}: raise the hard limit",
        )
    if soft != unlimited and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    return asyncio.run(main, loop_factory=new_event_loop)
