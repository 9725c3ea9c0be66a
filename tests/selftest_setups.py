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
# A loop whose servers accept and never answer: the clients wait until a deadline fires.
MUTE = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop",
    "class FACTORY(asyncio.SelectorEventLoop):\n"
    "    async def create_server(self, protocol_factory, *args, **kwargs):\n"
    "        return await super().create_server(asyncio.Protocol, *args, **kwargs)",
)

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


# --- hostile and unlucky setups: each one a way the gate must not be fooled ---------------------
# Their loop classes are named as the standard one, so that only what they do differs.

# A loop whose socket transports flip one byte of every write over 100 bytes: an echo of the
# same length with different bytes. Only a comparison of every byte catches it.
CORRUPTING = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop",
    """
class _UnixSelectorEventLoop(asyncio.SelectorEventLoop):
    def _make_socket_transport(self, *args, **kwargs):
        transport = super()._make_socket_transport(*args, **kwargs)
        write = transport.write

        def corrupting(data):
            data = bytearray(data)
            if len(data) > 100:
                data[len(data) // 2] ^= 0xFF
            write(bytes(data))

        transport.write = corrupting
        return transport


FACTORY = _UnixSelectorEventLoop""",
)

# A loop that frees a low descriptor the moment the worker has filled every one up to the
# select() ceiling: the next socket takes it. Only a check of every descriptor catches it.
FREES_A_LOW_FD = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop",
    """
import os

PLANTED = []


class _UnixSelectorEventLoop(asyncio.SelectorEventLoop):
    async def create_connection(self, *args, **kwargs):
        if PLANTED and len(os.listdir("/proc/self/fd")) > 1000:
            os.close(PLANTED.pop())
        return await super().create_connection(*args, **kwargs)


def FACTORY():
    if not PLANTED:
        PLANTED.append(os.open(os.devnull, os.O_RDONLY))
    return _UnixSelectorEventLoop()""",
)

# The descriptor limits read as RLIM_INFINITY (unlimited), which Linux cannot really grant.
UNLIMITED = (
    """
import resource

_getrlimit = resource.getrlimit


def _unlimited(which):
    if which == resource.RLIMIT_NOFILE:
        return (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    return _getrlimit(which)


resource.getrlimit = _unlimited
"""
    + STANDARD
)

# A loop without Unix sockets (as rloop is): NotImplementedError.
NO_UNIX = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop",
    """
class _UnixSelectorEventLoop(asyncio.SelectorEventLoop):
    async def create_unix_server(self, *args, **kwargs):
        raise NotImplementedError("this loop has no Unix sockets (test)")

    async def create_unix_connection(self, *args, **kwargs):
        raise NotImplementedError("this loop has no Unix sockets (test)")


FACTORY = _UnixSelectorEventLoop""",
)

# A loop that refuses abstract Unix addresses however they come (by name, or as a socket).
NO_ABSTRACT = STANDARD.replace(
    "FACTORY = asyncio.new_event_loop",
    """
import errno


def _abstract(path, sock):
    name = path if path is not None else sock.getsockname()
    return isinstance(name, (str, bytes)) and name[:1] in ("\\0", b"\\0")


class NoAbstractLoop(asyncio.SelectorEventLoop):
    async def create_unix_server(self, factory, path=None, *, sock=None, **kwargs):
        if _abstract(path, sock):
            raise OSError(errno.EINVAL, "abstract addresses refused (test)")
        return await super().create_unix_server(factory, path, sock=sock, **kwargs)


FACTORY = NoAbstractLoop""",
)

# The same, whose Unix-socket connections then block the loop (time.sleep in it): only the
# worker's own watchdog can end that, with a temporary folder for the socket on disk.
NO_ABSTRACT_HANGS = NO_ABSTRACT.replace(
    "FACTORY = NoAbstractLoop",
    """
class HangingLoop(NoAbstractLoop):
    async def create_unix_connection(self, *args, **kwargs):
        import time

        time.sleep(1000)


FACTORY = HangingLoop""",
)

# Exits with status 3 after the worker has printed its report.
EXITS_3_AFTER_REPORT = "import atexit\nimport os\n\natexit.register(os._exit, 3)\n" + STANDARD

# Prints a result line of its own making, then ends the process before any socket test.
FORGED_RESULT = """
import os
import sys

FORGED = (
    '@@iodetect@@ {"kind": "iodetect.selftest", "schema_version": 1, "error": null, "tests": []}'
)


def run(coro):
    coro.close()
    sys.stdout.write("\\n" + FORGED + "\\n")
    sys.stdout.flush()
    os._exit(0)
"""

# Prints a forged result line at import, then behaves: the line is ignored, and said to be.
PRINTS_A_FORGERY = (
    'print(\'@@iodetect@@ {"kind": "iodetect.selftest", "schema_version": 1, "tests": []}\')\n'
    + STANDARD
)

# Floods stdout without end from run().
FLOODS = """
import sys


def run(coro):
    coro.close()
    line = "log " * 16384 + "\\n"
    while True:
        sys.stdout.write(line)
"""

# A UTF-8 byte order mark, then a module: valid Python.
WITH_BOM = "\ufeff" + STANDARD

# A PEP 263 coding line and a Latin-1 string: valid Python in that encoding.
LATIN1 = "# -*- coding: latin-1 -*-\nGREETING = 'caf\xe9'\n" + STANDARD


def holds_the_gil(pid_file: str) -> str:
    """A setup whose run() records the worker's pid and then computes in one C call: the GIL is
    never released, so the worker's watchdog thread cannot run."""
    return f"""
import os


def run(coro):
    coro.close()
    with open({pid_file!r}, "w") as fh:
        fh.write(str(os.getpid()))
    sum(range(10 ** 13))
"""


def starts_a_daemon(pid_file: str) -> str:
    """A setup that starts, at import, a detached process (its own session) that keeps the
    worker's stdout open long after the worker exits, and records its pid."""
    return (
        f"""
import subprocess
import sys

_daemon = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
)
with open({pid_file!r}, "w") as fh:
    fh.write(str(_daemon.pid))
_daemon.returncode = 0  # not ours to wait for: no ResourceWarning
"""
        + STANDARD
    )
