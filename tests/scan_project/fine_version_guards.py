import asyncio
import sys

PY312 = sys.version_info >= (3, 12)

if sys.version_info < (3, 10):
    import asyncore  # noqa: F401  (no warning before 3.10)
if sys.version_info[:2] < (3, 8):  # noqa: UP036

    @asyncio.coroutine
    def old():
        yield


if hasattr(asyncio, "get_child_watcher") and not PY312:
    asyncio.get_child_watcher()
watcher = getattr(asyncio, "SafeChildWatcher", None)
if sys.version_info >= (3, 12):
    asyncio.get_event_loop_policy  # noqa: B018  (a reference, not a call)
