"""Platform families: what CPython has on each by default, for facts written from documentation."""

from __future__ import annotations

from iodetect.catalog.records import PlatformRecord
from iodetect.model import Family

SRC_PLATFORMS = "docs.python.org/3/library/asyncio-platforms.html"
SRC_SELECT_DOCS = "docs.python.org/3/library/select.html (which mechanism exists where)"

PLATFORMS: tuple[PlatformRecord, ...] = (
    PlatformRecord(
        "linux",
        "linux",
        "Linux",
        ("select", "poll", "epoll"),
        "_UnixSelectorEventLoop",
        SRC_SELECT_DOCS,
    ),
    PlatformRecord(
        "darwin",
        "darwin",
        "Darwin",
        ("select", "poll", "kqueue"),
        "_UnixSelectorEventLoop",
        SRC_SELECT_DOCS,
    ),
    PlatformRecord(
        "win32",
        "win32",
        "Windows",
        ("select",),
        "ProactorEventLoop",
        f"{SRC_PLATFORMS} (ProactorEventLoop is the default on Windows since 3.8)",
    ),
    PlatformRecord(
        "freebsd",
        "freebsd14",
        "FreeBSD",
        ("select", "poll", "kqueue"),
        "_UnixSelectorEventLoop",
        SRC_SELECT_DOCS,
    ),
    PlatformRecord(
        "sunos",
        "sunos5",
        "SunOS",
        ("select", "poll", "devpoll"),
        "_UnixSelectorEventLoop",
        f"{SRC_SELECT_DOCS}; distribution builds without epoll (omniosorg/omnios-build "
        "build/python313/patches/disable_epoll.patch)",
    ),
)
NAMES = tuple(p.family for p in PLATFORMS)

# sys.platform prefixes and the family the rules speak of, in the order they are tried.
_PREFIXES: tuple[tuple[str, Family], ...] = (
    ("linux", "linux"),
    ("darwin", "darwin"),
    ("win32", "win32"),
    ("cygwin", "cygwin"),
    ("freebsd", "freebsd"),
    ("openbsd", "openbsd"),
    ("netbsd", "netbsd"),
    ("sunos", "sunos"),
    ("solaris", "sunos"),
    ("illumos", "sunos"),
    ("aix", "aix"),
)


def family(platform: str) -> Family:
    """sys.platform -> the family the rules speak of (freebsd14 -> freebsd, sunos5 -> sunos)."""
    for prefix, name in _PREFIXES:
        if platform.startswith(prefix):
            return name
    return "unix"


def platform(name: str) -> PlatformRecord | None:
    return next((p for p in PLATFORMS if p.family == name), None)
