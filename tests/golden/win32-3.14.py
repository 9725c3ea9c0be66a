"""Event loop setup: ProactorEventLoop for CPython 3.14 on Windows.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- ProactorEventLoop (IOCP): the Windows default
- run(): asyncio.run(main, loop_factory=...) on 3.14; no get_event_loop()
"""

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

if sys.platform != "win32":
    raise RuntimeError("loop_setup: written for Windows")

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Return a new ProactorEventLoop."""
    return asyncio.ProactorEventLoop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    return asyncio.run(main, loop_factory=new_event_loop)
