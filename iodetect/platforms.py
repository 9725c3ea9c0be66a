"""Documented facts for platforms this project cannot probe: what CPython has there by default.

`iodetect snippet --platform win32` writes code for a host it cannot see, so the facts come from
the catalog's records of documented behaviour, marked origin "documented". Alternative loops
are left unknown (not installed as far as the facts can say): the recommender then picks the
standard loop unless one is asked for, and the generated module checks its import itself.
Descriptor limits are left unknown too: the generated code reads them at run time.
"""

from __future__ import annotations

from iodetect.catalog import apis, cpython, loops, mechanisms, support
from iodetect.catalog import platforms as records
from iodetect.model import (
    SELECTOR_NAMES,
    Asyncio,
    Facts,
    Host,
    Interpreter,
    Limits,
    Loop,
    LoopName,
    SelectCeiling,
    Selector,
)

PLATFORMS = records.NAMES


def documented_facts(platform: str, python: tuple[int, int] = (3, 13)) -> Facts:
    """Facts for `platform` (one of PLATFORMS) and CPython `python`, from documented defaults."""
    record = records.platform(platform)
    if record is None:
        raise ValueError(f"unknown platform {platform!r} (choose from {', '.join(PLATFORMS)})")
    version = (python[0], python[1], 0)
    have = record.selectors
    selectors = tuple(
        Selector(name, True)
        if name in have
        else Selector(name, False, f"select.{name} is absent on {platform} ({_home(name)})")
        for name in SELECTOR_NAMES
    )
    default = next(name for name in mechanisms.ORDER if name in have)
    windows = platform == "win32"
    aio = Asyncio(
        default_loop=record.default_loop,
        default_selector=None if windows else mechanisms.SELECTOR_CLASSES[default],
        policies_deprecated=apis.policies_deprecated(version),
        get_event_loop_without_loop=apis.get_event_loop_without_loop(version),
        has_runner=cpython.idiom(python).idiom != "manual",
        run_loop_factory=cpython.idiom(python).idiom == "run_loop_factory",
        has_eventloop_alias=python >= (3, 13),
    )
    ceiling = mechanisms.ceiling(platform)
    return Facts(
        host=Host(platform=record.sys_platform, os_name=record.os_name),
        interpreter=Interpreter(
            implementation="cpython",
            version=version,
            release=f"{python[0]}.{python[1]}",
            implementation_version=f"{python[0]}.{python[1]}",
        ),
        selectors=selectors,
        default_selector=default,
        asyncio=aio,
        loops=tuple(_loop(lp.name, platform, python) for lp in loops.LOOPS),
        select_ceiling=SelectCeiling(
            limit=ceiling.limit, verified=False, detail=f"documented: {ceiling.source}"
        ),
        limits=Limits(note="unknown: read at run time"),
        kernel=None,
        libraries=(),
        origin="documented",
        note=f"documented defaults for {platform}, not a probe",
    )


def _loop(name: LoopName, platform: str, python: tuple[int, int]) -> Loop:
    found = support.loop_support(name, None, platform, "cpython", (python,))
    note = "unknown: documented facts" if found.ok else found.why
    return Loop(name=name, installed=None, importable=None, supported=False, support_note=note)


def _home(name: str) -> str:
    record = mechanisms.selector(name)
    return record.home if record is not None else "unknown"
