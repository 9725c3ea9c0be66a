"""Findings: what a command concluded, one type for every command that judges a host.

`check`, `fleet` and `inspect` say what they found the same way, so a script reads them the same
way: a level (`ok`, `warn`, `fail`), a stable code for scripts (`nofile.hard` means the same
hard-limit problem wherever it appears), a message for people (it may change), and a remedy
(what to do; the same words for the same problem in every command). Every string that came
from a target is cleaned before it is put in a finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

LEVELS = ("ok", "warn", "fail")


@dataclass(frozen=True)
class Finding:
    """One outcome, in the style of doctor commands."""

    step: str  # the part of the work it came from: probe, limits, loop, descriptors, ...
    level: str  # one of LEVELS
    message: str
    remedy: str | None = None
    code: str = ""  # a stable name for scripts, e.g. "nofile.hard"


F = TypeVar("F", bound=Finding)


def failing(findings: Iterable[F], strict: bool) -> tuple[F, ...]:
    """The findings that fail: failures, and with --strict warnings too."""
    bad = ("warn", "fail") if strict else ("fail",)
    return tuple(f for f in findings if f.level in bad)
