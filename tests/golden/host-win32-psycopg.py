"""Event loop setup: SelectorEventLoop for CPython 3.13 on Windows.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: add_reader needs it on Windows
- SelectSelector: the only selector on Windows, at most 512 sockets
- run(): asyncio.run(main, loop_factory=...) on 3.13; no get_event_loop()
"""

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

if sys.platform != "win32":
    raise RuntimeError("loop_setup: written for Windows")

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Return a new SelectorEventLoop."""
    return asyncio.SelectorEventLoop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    return asyncio.run(main, loop_factory=new_event_loop)
