"""Alternative event loops: where each runs, which release supports which CPython, what it lacks.

Sources are the projects' own files at a tag (release workflows list the wheels each release
builds), their PyPI file lists where a release has no tag in the repository, and their READMEs.
The generated code calls only `<loop>.new_event_loop()`, which every release of each has, so
the oldest usable release for a CPython minor is the first one built for it.
"""

from __future__ import annotations

from iodetect.catalog.records import LoopGap, LoopRecord, LoopRelease, LoopTrace

UVLOOP = "MagicStack/uvloop"

LOOPS: tuple[LoopRecord, ...] = (
    LoopRecord(
        name="uvloop",
        package="uvloop",
        factory="uvloop.new_event_loop",
        loop_class="Loop",
        os="unix",
        implementations=("cpython",),
        python_floor=(3, 8),
        current_floor=(3, 8),
        auto=True,
        maturity="a libuv loop, faster than the standard one for the same code",
        maturity_source=f"{UVLOOP} README v0.22.1: 'a fast, drop-in replacement of the built-in "
        "asyncio event loop ... uses libuv'",
        source=f"{UVLOOP} v0.22.1: setup.py raises 'uvloop does not support Windows', "
        "pyproject classifier 'Implementation :: CPython' only; uvloop#82 (PyPy not supported)",
    ),
    LoopRecord(
        name="winloop",
        package="winloop",
        factory="winloop.new_event_loop",
        loop_class="Loop",
        os="windows",
        implementations=("cpython",),
        python_floor=(3, 8),
        current_floor=(3, 9),
        auto=False,
        maturity="a 0.x port of uvloop to Windows by one author",
        maturity_source="Vizonex/Winloop README ('I went ahead and downloaded the source code for "
        "uvloop and started modifying'); PyPI: latest release 0.8.2",
        source="Vizonex/Winloop README ('downloaded the source code for uvloop and started "
        "modifying'); PyPI winloop 0.8.2: Windows wheels only, cp39 and later (0.6.3 has cp38)",
    ),
    LoopRecord(
        name="rloop",
        package="rloop",
        factory="rloop.new_event_loop",
        loop_class="RLoop",
        os="unix",
        implementations=("cpython", "pypy"),
        python_floor=(3, 9),
        current_floor=(3, 10),
        auto=False,
        maturity="self-declared work in progress, 'not suited for production usage'",
        maturity_source="gi0baro/rloop README ('work in progress and definitely not suited for "
        "production usage'); pyproject: Development Status 3 - Alpha",
        source="gi0baro/rloop README ('available on Unix systems only', 'not suited for "
        "production usage'); pyproject: Development Status 3 - Alpha, requires-python >=3.10 "
        "from v0.3.0 ('Drop Python 3.9'), >=3.9 before",
    ),
)

_RELEASE_YML = f"{UVLOOP} .github/workflows/release.yml"

LOOP_RELEASES: tuple[LoopRelease, ...] = (
    LoopRelease("uvloop", (3, 8), (0, 14, 0), f"{UVLOOP} v0.14.0 .travis.yml builds 3.8 wheels"),
    LoopRelease("uvloop", (3, 9), (0, 15, 0), f"{_RELEASE_YML} at v0.15.0: 3.7, 3.8, 3.9"),
    LoopRelease("uvloop", (3, 10), (0, 16, 0), f"{_RELEASE_YML} at v0.16.0: cp37-cp310"),
    LoopRelease("uvloop", (3, 11), (0, 17, 0), f"{_RELEASE_YML} at v0.17.0: cp37-cp311"),
    LoopRelease(
        "uvloop",
        (3, 12),
        (0, 18, 0),
        f"{_RELEASE_YML} at v0.18.0: cp37-cp312 (v0.17.0 has no cp312; uvloop#547)",
    ),
    LoopRelease(
        "uvloop",
        (3, 13),
        (0, 21, 0),
        f"{_RELEASE_YML} at v0.21.0 adds cp313 (v0.20.0 stops at cp312)",
    ),
    LoopRelease(
        "uvloop",
        (3, 14),
        (0, 22, 0),
        f"{UVLOOP} v0.22.0 'Fixes for Python 3.14 (#638)'; tag v0.22.1: 'identical to 0.22.0, "
        "re-ran with CI fixes' (0.22.1 is the first on PyPI; its release.yml builds cp314)",
    ),
    LoopRelease(
        "uvloop",
        (3, 15),
        (0, 23, 0),
        "PyPI uvloop 0.23.0 has cp315 wheels; 0.22.1 has none",
    ),
    LoopRelease(
        "uvloop",
        (3, 14),
        (0, 22, 0),
        f"{UVLOOP} 'add free-threading support (#693)' in v0.22.0; {_RELEASE_YML} at v0.22.1 "
        "builds cp314t and no cp313t",
        free_threaded=True,
    ),
    LoopRelease(
        "uvloop",
        (3, 15),
        (0, 23, 0),
        "PyPI uvloop 0.23.0 has cp315t wheels (and still no cp313t)",
        free_threaded=True,
    ),
)

LOOP_GAPS: tuple[LoopGap, ...] = (
    LoopGap(
        "rloop",
        "Unix domain sockets",
        "unix_sockets",
        "gi0baro/rloop README: 'doesn't support ... Unix Domain Sockets, SSL, debugging'",
    ),
    LoopGap("rloop", "SSL/TLS", None, "gi0baro/rloop README: 'doesn't support ... SSL'"),
    LoopGap(
        "rloop",
        "loop.sendfile, sock_sendfile, sock_recvfrom, sock_sendto, connect_accepted_socket",
        None,
        "gi0baro/rloop README: 'RLoop also doesn't implement the following methods'",
    ),
)

# What `inspect` looks for in a process: each loop's native module in the memory map (mapped
# means imported, not running), and the wake-up it registers in its own epoll instance, where
# asyncio's loop wakes itself through a socket pair instead (cpython
# Lib/asyncio/selector_events.py, _make_self_pipe).
LOOP_TRACES: tuple[LoopTrace, ...] = (
    LoopTrace(
        "uvloop",
        r"/uvloop/loop\.[^/]*\.so$",
        "libuv's wake-up (uv_async)",
        "libuv src/unix/async.c, uv__async_start: eventfd() on Linux; "
        f"{UVLOOP} setup.py builds the extension uvloop.loop",
    ),
    LoopTrace(
        "winloop",
        r"/winloop/loop\.[^/]*\.(so|pyd)$",
        "",
        "Vizonex/Winloop README: a port of uvloop; its extension is winloop.loop",
    ),
    LoopTrace(
        "rloop",
        r"/rloop/_rloop\.[^/]*\.so$",
        "rloop's wake-up (mio's Waker)",
        "gi0baro/rloop src/event_loop.rs (mio's Waker); mio src/sys/unix/waker/eventfd.rs: an "
        "eventfd on Linux; the extension is rloop._rloop",
    ),
)


def loop(name: str) -> LoopRecord | None:
    return next((lp for lp in LOOPS if lp.name == name), None)


def first_release(
    name: str, python: tuple[int, int], free_threaded: bool = False
) -> LoopRelease | None:
    """The first release of `name` built for this CPython minor, or None when none is known."""
    return next(
        (
            r
            for r in LOOP_RELEASES
            if r.loop == name and r.python == python and r.free_threaded == free_threaded
        ),
        None,
    )
