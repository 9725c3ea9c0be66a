"""Libraries that constrain the event loop, for the versions a source says so.

`needs` is strict (the library fails without it), `prefers` means it copes at a cost (a
selector thread), `warns` is for what no primary source pins down or what only some
applications do: a warning, never a conflict. add_reader needs matter on Windows only, where
ProactorEventLoop lacks it; every loop elsewhere has it.
"""

from __future__ import annotations

from iodetect.catalog.records import LibraryRule, LibReq, Range
from iodetect.model import Family

WINDOWS: tuple[Family, ...] = ("win32",)

SRC_AIODNS_README = (
    "aio-libs/aiodns README v4.0.0, 'Note for Windows users': a SelectorEventLoop or winloop is "
    "needed only with a c-ares built without thread safety; PyPI pycares wheels from 4.7.0 "
    "are thread-safe"
)
SRC_AIODNS_33 = (
    "aio-libs/aiodns ChangeLog 3.3.0: 'Used c-ares event thread when available (#145)'; "
    "earlier releases hand c-ares sockets to loop.add_reader (aiodns#86, #78)"
)

RULES: tuple[LibraryRule, ...] = (
    LibraryRule(
        "psycopg",
        Range(),
        "needs",
        "add_reader",
        "psycopg 3 async waits on its socket with add_reader; on ProactorEventLoop it raises "
        "InterfaceError ('Psycopg cannot use the ProactorEventLoop')",
        "psycopg.org/psycopg3/docs/advanced/async.html#async; psycopg/connection_async.py "
        "connect() raises InterfaceError 'Psycopg cannot use the ProactorEventLoop'",
        WINDOWS,
    ),
    LibraryRule(
        "aiopg",
        Range(),
        "needs",
        "add_reader",
        "aiopg drives psycopg2's async connection with loop.add_reader/add_writer",
        "aio-libs/aiopg aiopg/connection.py (Connection.__init__: self._loop.add_reader); "
        "aiopg#678",
        WINDOWS,
    ),
    LibraryRule(
        "aiodns",
        Range(high=(3, 3, 0)),
        "needs",
        "add_reader",
        "aiodns before 3.3.0 hands c-ares' sockets to the loop with add_reader",
        SRC_AIODNS_33,
        WINDOWS,
    ),
    LibraryRule(
        "aiodns",
        Range(low=(3, 3, 0)),
        "needs",
        "add_reader",
        "aiodns runs c-ares in its own thread only with a thread-safe c-ares (pycares 4.7.0+ "
        "wheels); with this pycares it falls back to add_reader",
        SRC_AIODNS_README,
        WINDOWS,
        unless=LibReq("pycares", Range(low=(4, 7, 0)), dependency=True),
    ),
    LibraryRule(
        "aiodns",
        Range(low=(3, 3, 0)),
        "none",
        None,
        "aiodns runs c-ares in its own thread (pycares 4.7.0+): no constraint on the loop",
        SRC_AIODNS_README,
        WINDOWS,
        when=LibReq("pycares", Range(low=(4, 7, 0)), dependency=True),
    ),
    LibraryRule(
        "pyzmq",
        Range(),
        "needs",
        "add_reader",
        "zmq.asyncio needs add_reader and, without tornado >= 6.1, raises RuntimeError on "
        "ProactorEventLoop",
        "zeromq/pyzmq zmq/asyncio.py (_get_selector_windows); pyzmq#1423, #1529",
        WINDOWS,
        unless=LibReq("tornado", Range(low=(6, 1, 0))),
    ),
    LibraryRule(
        "pyzmq",
        Range(),
        "prefers",
        "add_reader",
        "zmq.asyncio on ProactorEventLoop starts tornado's selector thread and emits a "
        "RuntimeWarning (an exception under -W error)",
        "zeromq/pyzmq zmq/asyncio.py (_get_selector_windows: warnings.warn(..., RuntimeWarning)); "
        "pyzmq#1830",
        WINDOWS,
        when=LibReq("tornado", Range(low=(6, 1, 0))),
    ),
    LibraryRule(
        "tornado",
        Range(high=(6, 1, 0)),
        "needs",
        "add_reader",
        "tornado before 6.1 calls add_reader, which ProactorEventLoop lacks",
        "tornadoweb/tornado#2608, #2737; 'What's new in Tornado 6.1.0'",
        WINDOWS,
    ),
    LibraryRule(
        "tornado",
        Range(low=(6, 1, 0)),
        "prefers",
        "add_reader",
        "tornado 6.1+ runs add_reader in a selector thread on ProactorEventLoop; 'explicitly "
        "configure a selector event loop ... may improve performance'",
        "tornadoweb.org 'What's new in Tornado 6.1.0' (Windows support)",
        WINDOWS,
    ),
    LibraryRule(
        "twisted",
        Range(),
        "prefers",
        "add_reader",
        "Twisted's asyncioreactor calls add_reader/add_writer (only if the application "
        "installs that reactor)",
        "twisted/twisted#9766 (asyncioreactor on ProactorEventLoop)",
        WINDOWS,
    ),
    LibraryRule(
        "curl-cffi",
        Range(high=(0, 5, 10)),
        "needs",
        "add_reader",
        "curl_cffi before 0.5.10 calls loop.add_reader directly",
        "lexiforest/curl_cffi#70 (NotImplementedError on ProactorEventLoop); PR #172; "
        "curl_cffi 0.5.9 wheel curl_cffi/aio.py",
        WINDOWS,
    ),
    LibraryRule(
        "curl-cffi",
        Range(low=(0, 5, 10)),
        "prefers",
        "add_reader",
        "curl_cffi 0.5.10+ starts a selector thread on ProactorEventLoop and warns",
        "curl_cffi 0.5.10 and 0.17.0 wheels, curl_cffi/aio.py (AddThreadSelectorEventLoop, "
        "'Proactor event loop does not implement add_reader family of methods required')",
        WINDOWS,
    ),
    LibraryRule(
        "aiomqtt",
        Range(),
        "needs",
        "add_reader",
        "aiomqtt (paho-mqtt) needs add_reader, which ProactorEventLoop lacks",
        "pypi.org/project/aiomqtt README, 'Note for Windows users'; empicano/aiomqtt#4",
        WINDOWS,
    ),
    LibraryRule(
        "aiomysql",
        Range(),
        "warns",
        None,
        "aiomysql failures on ProactorEventLoop were reported in 2016-2017, before it became "
        "the default; no current source says it still fails: prove it with iodetect check",
        "aio-libs/aiomysql#71, #149 (closed)",
        WINDOWS,
    ),
    LibraryRule(
        "playwright",
        Range(),
        "needs",
        "subprocess",
        "Playwright starts and talks to its driver as a subprocess",
        "microsoft/playwright-python playwright/_impl/_transport.py (asyncio."
        "create_subprocess_exec); playwright-python#2854 (NotImplementedError on a "
        "SelectorEventLoop)",
    ),
    LibraryRule(
        "gevent",
        Range(),
        "warns",
        None,
        "if the application monkey-patches, socket and selectors are gevent's and the loop "
        "and selector differ from this plan",
        "gevent src/gevent/monkey.py: patch_all(socket=True, select=True, ...) replaces "
        "socket and select",
    ),
    LibraryRule(
        "eventlet",
        Range(),
        "warns",
        None,
        "if the application monkey-patches, socket and selectors are eventlet's and the loop "
        "and selector differ from this plan",
        "eventlet docs, 'Monkeypatching the Standard Library': monkey_patch() replaces os, "
        "select, socket, thread, time",
    ),
    LibraryRule(
        "qasync",
        Range(),
        "warns",
        None,
        "qasync runs asyncio on Qt's event loop (its own QEventLoop): if the service uses it, "
        "that loop, not this plan's, is the one that runs",
        "pypi.org/project/qasync README ('an implementation of the PEP 3156 event loop' on Qt)",
    ),
)

# Distributions the probe looks for: every one a rule speaks of.
DISTRIBUTIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [r.dist for r in RULES]
        + [req.dist for r in RULES for req in (r.when, r.unless) if req is not None]
    )
)


def normalize(name: str) -> str:
    """A distribution name as the rules spell it: lowercase, '-' for '_' and '.'."""
    return name.lower().replace("_", "-").replace(".", "-")
