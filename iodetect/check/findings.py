"""Findings, the check's only output: a level, a stable code, a message and a remedy.

The Finding type is every command's (iodetect.findings); here are the check's steps and the
recorder that runs them.

Codes are stable names for scripts (`jq 'select(.code == "nofile.hard")'`); messages are for
people and may change. Every string that came from the target is cleaned before it is put in
a message. Each step runs isolated and within its share of the deadline, so that a crash in one
becomes a finding, never a traceback, and a slow one cannot take the time of the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from iodetect.errors import UsageError
from iodetect.findings import LEVELS, Finding
from iodetect.text import clean

STEPS = ("probe", "limits", "recommend", "setup", "selftest", "serve")

# Failed findings that mean the target could not be reached: the check exits 2, as every other
# command does for an unreachable target, not 1 (a host that was examined and found unfit).
UNREACHABLE = frozenset({"probe.target", "probe.deadline", "probe.flood"})

T = TypeVar("T")


class Deadline:
    """The check's whole time budget, shared by its steps."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def share(self, fraction: float, low: float, high: float) -> float:
        """A step's own deadline: a fraction of what is left, within [low, high]."""
        return round(max(low, min(high, self.remaining() * fraction)), 1)


class Recorder:
    """Collects findings; runs each step isolated."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.findings: list[Finding] = []

    def add(
        self, step: str, level: str, message: str, remedy: str | None = None, code: str = ""
    ) -> None:
        self.findings.append(
            Finding(step, level, clean(message), clean(remedy) if remedy else None, code or step)
        )

    def has(self, code: str, level: str | None = None) -> bool:
        return any(f.code == code and (level is None or f.level == level) for f in self.findings)

    def isolated(self, step: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except UsageError:
            raise
        except Exception as exc:  # a crash of one step is reported, never a traceback
            text = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__
            self.add(step, "fail", f"the {step} step crashed: {detail}", code=f"{step}.crash")
            return None


__all__ = ["LEVELS", "STEPS", "UNREACHABLE", "Deadline", "Finding", "Recorder"]
