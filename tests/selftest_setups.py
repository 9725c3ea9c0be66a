"""Hand-written loop_setup modules for the self-test tests: portable to CPython 3.8-3.15.

Each is the source text, because the chroot interpreters (3.14, 3.15) cannot see host files.
"""

from __future__ import annotations

# The standard loop, run the way each version wants (Runner on 3.11, loop_factory on 3.12+).
STANDARD = """
import asyncio
import sys


def new_event_loop():
    return FACTORY()


FACTORY = asyncio.new_event_loop


def run(coro):
    if sys.version_info >= (3, 12):
        return asyncio.run(coro, loop_factory=new_event_loop)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(coro)
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            if sys.version_info >= (3, 9):
                loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
"""

UVLOOP = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop", "import uvloop\n\nFACTORY = uvloop.new_event_loop"
)

# select() regardless of the default: breaks above descriptor 1024.
SELECT = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop",
    "import selectors\n\n\ndef FACTORY():\n"
    "    return asyncio.SelectorEventLoop(selectors.SelectSelector())",
)

# Raises the soft descriptor limit to the hard one, as a generated module does when planned.
RAISING = STANDARD.replace(
    "def run(coro):\n",
    "def run(coro):\n"
    "    import resource\n"
    "    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n",
)

FACTORY_ONLY = """
import asyncio


def new_event_loop():
    return asyncio.new_event_loop()
"""

NEITHER = "LOOP = 'none'\n"

RAISES_AT_IMPORT = """import asyncio

LIMIT = 4096
raise RuntimeError("the application's setup is broken")
"""

RUN_RAISES = """
def run(coro):
    coro.close()
    raise OSError("cannot configure the loop")
"""

# Keeps its loops open and referenced: a descriptor leak per run.
LEAKY = """
import asyncio

LOOPS = []


def run(coro):
    loop = asyncio.new_event_loop()
    LOOPS.append(loop)
    return loop.run_until_complete(coro)
"""

# Drops its loops unclosed: the collector closes them, with a ResourceWarning.
UNCLOSED = """
import asyncio


def run(coro):
    loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)
"""

# Emits a DeprecationWarning, like an old idiom would.
DEPRECATED = STANDARD.replace(
    "def run(coro):\n",
    "def run(coro):\n"
    "    import warnings\n"
    "    warnings.warn('set_event_loop_policy is deprecated', DeprecationWarning)\n",
)

# Blocks in run(): the worker's own watchdog must answer.
HANGS = """
import time


def run(coro):
    coro.close()
    time.sleep(1000)
"""


def stops(pid_file: str) -> str:
    """A setup that starts a child, records its pid, then stops itself (SIGSTOP): no watchdog
    can answer, so only the caller's deadline and process-group kill end it."""
    return f"""
import os
import signal
import subprocess
import sys


def run(coro):
    coro.close()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
    with open({pid_file!r}, "w") as fh:
        fh.write(str(child.pid))
    os.kill(os.getpid(), signal.SIGSTOP)
"""
