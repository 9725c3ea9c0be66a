"""Event loop setup: uvloop for CPython 3.12 on Linux.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- uvloop: asked for; a libuv loop, faster than the standard one for the same
  code
- needs uvloop>=0.18; 'uvloop>=0.23' is clear of known data-integrity defects
- new_event_loop() lifts the soft descriptor limit to the hard one, as Go does
- run(): asyncio.run(main, loop_factory=...) on 3.12; no get_event_loop()
"""

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Raise the soft descriptor limit, then return a new uvloop loop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Up to the hard limit, as the Go runtime does, but not past 1048576:
    # code that closes every descriptor below the limit would crawl.
    target = min(hard, 1048576)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    return asyncio.run(main, loop_factory=new_event_loop)
