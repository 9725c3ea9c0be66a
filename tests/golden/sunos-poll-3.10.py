"""Event loop setup: SelectorEventLoop for CPython 3.10 on SunOS.

Made by this command (regenerate it, don't edit it):
    iodetect snippet > loop_setup.py
Use run(main()), or hand new_event_loop to a server that takes a loop factory
(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect
report` gives the full reasoning):
- SelectorEventLoop: the standard loop
- PollSelector: asked for
- new_event_loop() lifts the soft descriptor limit to the hard one, as Go does
- run(): asyncio.run()'s steps with this loop on 3.10; no get_event_loop()
"""

import asyncio
import resource
import selectors
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

if sys.version_info < (3, 10):  # noqa: UP036 (refuses older Pythons)
    raise RuntimeError("loop_setup: written for Python 3.10 and later")

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Return a new SelectorEventLoop with PollSelector.

    The soft descriptor limit goes up first: servers call only this.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Up to the hard limit, as the Go runtime does, but not past 1048576:
    # code that closes every descriptor below the limit would crawl.
    unlimited = resource.RLIM_INFINITY  # negative before 3.15 here
    target = 1048576 if hard == unlimited else min(hard, 1048576)
    if soft != unlimited and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return asyncio.SelectorEventLoop(selectors.PollSelector())


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run main on a new loop from new_event_loop() and return its result."""
    # Before 3.11 asyncio.run() takes no loop factory: what it does.
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
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
