"""Does a loop library (a version of it, or any) support a platform, implementation and Python?

The one place that answers it: the probe reports only what is installed and what imports, and
report, check and the recommender all ask here.
"""

from __future__ import annotations

from iodetect.catalog import loops
from iodetect.catalog.records import LoopRecord, Minor, Version, show_version, version_tuple
from iodetect.record import frozen


@frozen
class Support:
    ok: bool
    why: str  # the reason it is not supported, or a note when it is
    code: str  # stable: loop.ok, loop.platform, loop.implementation, loop.python, loop.version
    source: str
    minimum: Version | None = None  # the oldest release that supports every version asked
    warning: str | None = None  # supported, but only by older releases (pin one)


def minimum(name: str, pythons: tuple[Minor, ...], free_threaded: bool = False) -> Version | None:
    """The oldest release of `name` built for every minor in `pythons`; None when unknown."""
    found: Version | None = None
    for minor in pythons:
        release = loops.first_release(name, minor, free_threaded)
        if release is not None:
            found = release.first if found is None else max(found, release.first)
    return found


def loop_support(
    name: str,
    version: str | None,
    family: str,
    implementation: str,
    pythons: tuple[Minor, ...],
    free_threaded: bool = False,
) -> Support:
    """Can `name` (at `version`, or any version when None) run here for every minor asked?"""
    record = loops.loop(name)
    if record is None:
        return Support(False, f"{name} is not a loop iodetect knows", "loop.unknown", "")
    refused = _where(record, family, implementation) or _pythons(record, pythons, free_threaded)
    if refused is not None:
        return refused
    need = minimum(name, pythons, free_threaded)
    have = version_tuple(version)
    if need is not None and have is not None and have < need:
        return Support(
            False,
            f"{name} {version} predates Python {_span(pythons)} support: "
            f"{show_version(need)}+ needed",
            "loop.version",
            _release_sources(name, pythons),
            minimum=need,
        )
    warning = None
    low = min(pythons) if pythons else record.python_floor
    if low < record.current_floor:
        warning = (
            f"{name}'s current releases need Python {record.current_floor[0]}."
            f"{record.current_floor[1]}+; only older ones support {low[0]}.{low[1]}: pin one"
        )
    return Support(True, "", "loop.ok", record.source, minimum=need, warning=warning)


def _where(record: LoopRecord, family: str, implementation: str) -> Support | None:
    """Refused for its platform or implementation, or None."""
    name = record.name
    if record.os == "windows" and family != "win32":
        return Support(False, f"{name} supports Windows only", "loop.platform", record.source)
    if record.os == "unix" and family in ("win32", "cygwin"):
        return Support(False, f"{name} does not support Windows", "loop.platform", record.source)
    if implementation not in record.implementations:
        names = " and ".join(_shown(i) for i in record.implementations)
        why = f"{name} supports {names} only, not {_shown(implementation)}"
        return Support(False, why, "loop.implementation", record.source)
    return None


def _pythons(record: LoopRecord, pythons: tuple[Minor, ...], free_threaded: bool) -> Support | None:
    """Refused for a Python minor no release supports, or None."""
    name = record.name
    low = min(pythons) if pythons else record.python_floor
    if low < record.python_floor:
        floor = record.python_floor
        why = f"{name} has no release for Python {low[0]}.{low[1]} (needs {floor[0]}.{floor[1]}+)"
        return Support(False, why, "loop.python", record.source)
    missing = [m for m in pythons if loops.first_release(name, m, True) is None]
    if free_threaded and missing:
        m = missing[0]
        sources = [r.source for r in loops.LOOP_RELEASES if r.loop == name and r.free_threaded]
        return Support(
            False,
            f"no {name} release supports free-threaded {m[0]}.{m[1]} (no cp{m[0]}{m[1]}t wheels)",
            "loop.free_threaded",
            "; ".join(sources) or record.source,
        )
    return None


def _span(pythons: tuple[Minor, ...]) -> str:
    low, high = min(pythons), max(pythons)
    return f"{low[0]}.{low[1]}" if low == high else f"{low[0]}.{low[1]}-{high[0]}.{high[1]}"


def _release_sources(name: str, pythons: tuple[Minor, ...]) -> str:
    """The sources of the release records behind a decision for these minors."""
    found = [r.source for r in loops.LOOP_RELEASES if r.loop == name and r.python in pythons]
    return "; ".join(dict.fromkeys(found)) or loops.loop(name).source  # type: ignore[union-attr]


def _shown(implementation: str) -> str:
    """sys.implementation.name as people write it."""
    return {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalPy"}.get(
        implementation, implementation
    )
