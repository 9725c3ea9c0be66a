"""Documented facts for platforms this project cannot probe: what CPython has there by default.

`iodetect snippet --platform win32` writes code for a host it cannot see, so the facts come from
documented behaviour, marked origin "documented". Alternative loops are left unknown (not
installed as far as the facts can say): the recommender then picks the standard loop unless one
is asked for, and the generated module checks its import itself. Descriptor limits are left
unknown too: the generated code reads them at run time.
"""

from __future__ import annotations

from iodetect.model import (
    LOOP_NAMES,
    Asyncio,
    Facts,
    Host,
    Interpreter,
    Limits,
    Loop,
    SelectCeiling,
    Selector,
)
from iodetect.target.probe import SELECTOR_CLASSES, SELECTOR_HOMES, loop_support

PLATFORMS = ("linux", "darwin", "win32", "freebsd", "sunos")

_SYS_PLATFORM = {
    "linux": "linux",
    "darwin": "darwin",
    "win32": "win32",
    "freebsd": "freebsd14",
    "sunos": "sunos5",
}
_OS_NAME = {
    "linux": "Linux",
    "darwin": "Darwin",
    "win32": "Windows",
    "freebsd": "FreeBSD",
    "sunos": "SunOS",
}
# Which select-module mechanisms each platform provides, and selectors.DefaultSelector's pick
# (order kqueue, epoll, devpoll, poll, select).
_SELECTORS = {
    "linux": ("select", "poll", "epoll"),
    "darwin": ("select", "poll", "kqueue"),
    "win32": ("select",),
    "freebsd": ("select", "poll", "kqueue"),
    "sunos": ("select", "poll", "devpoll"),
}
_ORDER = ("kqueue", "epoll", "devpoll", "poll", "select")


def documented_facts(platform: str, python: tuple[int, int] = (3, 13)) -> Facts:
    """Facts for `platform` (one of PLATFORMS) and CPython `python`, from documented defaults."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r} (choose from {', '.join(PLATFORMS)})")
    windows = platform == "win32"
    have = _SELECTORS[platform]
    selectors = tuple(
        Selector(name, True)
        if name in have
        else Selector(
            name, False, f"select.{name} is absent on {platform} ({SELECTOR_HOMES[name]})"
        )
        for name in ("select", "poll", "epoll", "devpoll", "kqueue")
    )
    default = next(name for name in _ORDER if name in have)
    get_loop = "raises" if python >= (3, 14) else "warns" if python >= (3, 12) else "ok"
    aio = Asyncio(
        default_loop="ProactorEventLoop" if windows else "_UnixSelectorEventLoop",
        default_selector=None if windows else SELECTOR_CLASSES[default],
        policies_deprecated=python >= (3, 14),
        get_event_loop_without_loop=get_loop,
        has_runner=python >= (3, 11),
        run_loop_factory=python >= (3, 12),
        has_eventloop_alias=python >= (3, 13),
    )
    loops = []
    for name in LOOP_NAMES:
        ok, why = loop_support(name, None, _SYS_PLATFORM[platform], python)
        loops.append(
            Loop(
                name=name,
                installed=None,
                importable=None,
                supported=False,
                support_note="unknown: documented facts" if ok else why or "unsupported",
            )
        )
    ceiling = SelectCeiling(
        limit=512 if windows else 1024,
        verified=False,
        detail="FD_SETSIZE 512 in CPython's Windows build"
        if windows
        else "FD_SETSIZE 1024: select() refuses descriptors numbered 1024 and above",
    )
    return Facts(
        host=Host(platform=_SYS_PLATFORM[platform], os_name=_OS_NAME[platform]),
        interpreter=Interpreter(
            implementation="cpython",
            version=(python[0], python[1], 0),
            release=f"{python[0]}.{python[1]}",
        ),
        selectors=selectors,
        default_selector=default,
        asyncio=aio,
        loops=tuple(loops),
        select_ceiling=ceiling,
        limits=Limits(note="unknown: read at run time"),
        kernel=None,
        libraries=(),
        origin="documented",
        note=f"documented defaults for {platform}, not a probe",
    )
