"""Verdicts: what each target CPython version does with one use, from the API records (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from iodetect.scan.apis import NEWEST, OLDEST, ApiChange, Behaviour, Verdict, Version

SEVERITY: dict[str, int] = {"fine": 0, "warns": 1, "raises": 2, "removed": 3}
BREAKS = ("raises", "removed")

# Which `except` clauses catch the error a behaviour raises ("*" is a bare except).
CATCHERS: dict[str, frozenset[str]] = {
    "RuntimeError": frozenset({"RuntimeError"}),
    "AttributeError": frozenset({"AttributeError"}),
    "ImportError": frozenset({"ImportError"}),
    "ModuleNotFoundError": frozenset({"ModuleNotFoundError", "ImportError"}),
    "TypeError": frozenset({"TypeError"}),
    "ValueError": frozenset({"ValueError"}),
}
ANY_CATCHER = frozenset({"*", "Exception", "BaseException"})


class TargetError(ValueError):
    """A --target-python value that cannot be used. One line."""


@dataclass(frozen=True, order=True)
class Target:
    """A CPython version to judge against: a minor line (every 3.12.x) or one release."""

    minor: int
    patch: int | None = None

    def __str__(self) -> str:
        return f"3.{self.minor}" if self.patch is None else f"3.{self.minor}.{self.patch}"

    @property
    def span(self) -> tuple[Version, Version]:
        """The releases it stands for: [low, high)."""
        if self.patch is None:
            return (3, self.minor, 0), (3, self.minor + 1, 0)
        return (3, self.minor, self.patch), (3, self.minor, self.patch + 1)


def parse_targets(text: str) -> tuple[Target, ...]:
    """'3.14', '3.11.7', '3.10-3.15', '3.12+' or a comma-separated list of those."""
    out: list[Target] = []
    low, high = OLDEST[1], NEWEST[1]
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"3\.(\d{1,2})(?:\.(\d{1,3}))?(\+|-3\.(\d{1,2}))?", part)
        if m is None:
            raise TargetError(
                f"--target-python must look like 3.14, 3.11.7, 3.10-3.15 or 3.12+, not {part!r}"
            )
        first = int(m.group(1))
        patch = int(m.group(2)) if m.group(2) is not None else None
        if m.group(3) is None:
            last = first
        elif m.group(3) == "+":
            last = high
        else:
            last = int(m.group(4))
        if patch is not None and last != first:
            raise TargetError(f"--target-python: a range takes minor versions, not {part!r}")
        if not low <= first <= last <= high:
            raise TargetError(
                f"--target-python {part!r}: the records cover CPython 3.{low} to 3.{high}"
            )
        out += (
            [Target(first, patch)]
            if patch is not None
            else [Target(m_) for m_ in range(first, last + 1)]
        )
    return tuple(sorted(set(out)))


def target_of(version: Sequence[int]) -> Target:
    """The exact release of an interpreter, clamped into what the records cover."""
    minor = int(version[1]) if len(version) > 1 else 0
    patch = int(version[2]) if len(version) > 2 else None
    if not OLDEST[1] <= minor <= NEWEST[1]:
        raise TargetError(
            f"the target interpreter is CPython 3.{minor}; the records cover 3.{OLDEST[1]} to "
            f"3.{NEWEST[1]} (choose versions with --target-python)"
        )
    return Target(minor, patch)


def _v3(v: Version) -> tuple[int, int, int]:
    return (v[0], v[1] if len(v) > 1 else 0, v[2] if len(v) > 2 else 0)


Interval = tuple[tuple[int, int, int], tuple[int, int, int]]
TOP = (99, 0, 0)


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def _covers(parts: list[Interval], whole: list[Interval]) -> bool:
    """Do the parts cover every release in whole? (releases counted up to patch 39)"""
    for lo, hi in whole:
        point = lo
        for plo, phi in sorted(parts):
            if plo <= point < phi:
                point = phi
        if point < hi:
            return False
    return True


def describe(parts: list[Interval]) -> str:
    """'3.10.0-3.10.9, 3.11.0-3.11.1' for patch ranges."""
    out = []
    for lo, hi in parts:
        last = (hi[0], hi[1], hi[2] - 1) if hi[2] > 0 else None
        first = f"{lo[0]}.{lo[1]}.{lo[2]}"
        if last is None or last[1] != lo[1]:
            out.append(f"{first}+" if hi >= TOP else f"{first} up to {hi[0]}.{hi[1]}")
        elif last == lo:
            out.append(first)
        else:
            out.append(f"{first}-{last[0]}.{last[1]}.{last[2]}")
    return ", ".join(out)


@dataclass(frozen=True)
class Situation:
    """What the scanner knows of the place of one use (see iodetect.scan.engine)."""

    use: str = "call"
    how: str = ""  # "from-import", "name" (through a from-imported name), "getattr"
    versions: tuple[Interval, ...] | None = None  # versions on which the line can run
    catches: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    quiet: bool = False


@dataclass(frozen=True)
class VersionVerdict:
    target: str
    verdict: Verdict
    effect: str = ""  # what the code sees
    source: str = ""  # who says so
    note: str = ""  # which releases, or why a break does not apply here


def _error_for(behaviour: Behaviour, how: str) -> str | None:
    if behaviour.error == "AttributeError" and how == "from-import":
        return "ImportError"  # `from asyncio import gone` raises ImportError, not AttributeError
    return behaviour.error


def _caught(error: str, catches: frozenset[str]) -> str | None:
    for name in sorted(catches):
        if name in ANY_CATCHER or name in CATCHERS.get(error, frozenset({error})):
            return "bare except" if name == "*" else f"except {name}"
    return None


def judge(
    record: ApiChange,
    where: Situation,
    target: Target,
    fd_exceeds: bool | None = True,
) -> VersionVerdict:
    """The verdict of one use on one target version, with the effect and its source."""
    lo, hi = target.span
    whole: list[Interval] = [(_v3(lo), _v3(hi))]
    if where.versions is not None:
        whole = _intersect(whole, list(where.versions))
        if not whole:
            return VersionVerdict(
                str(target), "fine", note="does not run there (a version test guards it)"
            )
    best: VersionVerdict | None = None
    excuse: VersionVerdict | None = None
    for b in record.behaviours:
        if b.uses is not None and where.use not in b.uses:
            continue
        if b.uses is None and where.how == "name":
            continue  # an access-time behaviour happened at the `from ... import`
        spans = [(_v3(s.since), _v3(s.until) if s.until else TOP) for s in b.spans]
        parts = _intersect(spans, whole)
        if not parts:
            continue
        why = _excused(record, b, where, fd_exceeds)
        note = "" if _covers(parts, whole) else describe(parts) + " only"
        if why:
            if excuse is None:
                excuse = VersionVerdict(str(target), "fine", b.effect, b.source, why)
            continue
        candidate = VersionVerdict(str(target), b.verdict, b.effect, b.source, note)
        if best is None or SEVERITY[candidate.verdict] > SEVERITY[best.verdict]:
            best = candidate
    if best is not None:
        return best
    if excuse is not None:
        return excuse
    return VersionVerdict(str(target), "fine")


def _excused(record: ApiChange, b: Behaviour, where: Situation, fd_exceeds: bool | None) -> str:
    """Why a behaviour does not hurt at this place ('' when it does)."""
    if record.fd_ceiling and fd_exceeds is False:
        return "fine while descriptors stay below 1024 (the descriptor limit keeps them there)"
    if b.verdict == "warns" and where.quiet:
        return "the warning is silenced here (warnings.catch_warnings, pytest.warns)"
    error = _error_for(b, where.how)
    if b.verdict in BREAKS and error:
        caught = _caught(error, where.catches)
        if caught:
            return f"{error} is handled here by {caught}"
    if b.verdict == "removed" and (
        record.api in where.requires or any(name in where.requires for name in record.pattern.names)
    ):
        return "guarded by hasattr()/getattr() with a default"
    return ""


def worst(verdicts: Sequence[VersionVerdict]) -> Verdict:
    best: Verdict = "fine"
    for v in verdicts:
        if SEVERITY[v.verdict] > SEVERITY[best]:
            best = v.verdict
    return best
