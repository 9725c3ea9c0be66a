"""What the check is asked to prove, and what the self-test must observe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iodetect.recommend import HEADROOM as NOFILE_HEADROOM  # one headroom, the recommender's

DEFAULT_CONNECTIONS = 300
DEFAULT_TIMEOUT = 30.0
SELECT_CEILING = 1024  # FD_SETSIZE on Linux and macOS, when the facts cannot say

__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_TIMEOUT",
    "NOFILE_HEADROOM",
    "SELECT_CEILING",
    "Expectation",
    "Options",
    "needed_nofile",
]


@dataclass(frozen=True)
class Options:
    """What the check is asked to prove."""

    python: str | Sequence[str] | None = None  # None: the interpreter running iodetect
    connections: int = DEFAULT_CONNECTIONS
    min_nofile: int | None = None
    require_loop: str | None = None  # uvloop, asyncio, ...: what must actually run
    needs: frozenset[str] = frozenset()
    loop: str = "auto"
    selector: str | None = None
    setup_source: str | None = None  # the application's loop_setup.py, else the generated one
    setup_name: str = "loop_setup.py"
    timeout: float = DEFAULT_TIMEOUT
    strict: bool = False  # --fail-on warn: warnings fail too
    ignore: frozenset[str] = frozenset()  # --ignore: finding codes whose warnings are accepted
    serve: str | None = None  # the launch command the serve step starts and inspects


@dataclass(frozen=True)
class Expectation:
    """What the self-test must observe, from the plan."""

    loop: str | None  # the loop's name: asyncio, uvloop, winloop, rloop
    loop_class: str | None  # class name (last dotted part) of the running loop
    selector_class: str | None  # selector class name, None for loops without one
    above_fd: int | None  # prove descriptors numbered above this (the select() ceiling)
    unix: bool = True  # the platform has Unix sockets: the test must be in the report


def needed_nofile(options: Options) -> int:
    """Descriptors the service must be able to open: its connections plus headroom."""
    return max(options.min_nofile or 0, options.connections + NOFILE_HEADROOM)
