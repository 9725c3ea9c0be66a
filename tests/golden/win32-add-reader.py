"""Event loop setup: SelectorEventLoop for CPython 3.8+ on Windows.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: add_reader needs it on Windows
- SelectSelector: the only selector on Windows, at most 512 sockets
- run(): asyncio.run(main, loop_factory=...) on 3.12+;
  asyncio.Runner(loop_factory=...) on 3.11; asyncio.run()'s steps with this
  loop on 3.8-3.10; no get_event_loop()
"""

from __future__ import annotations

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
