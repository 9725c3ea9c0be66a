"""Verdicts: what each target CPython version does with one use, from the catalog's API table.

The table (iodetect.catalog.apis) and the parser of `--target-python` (iodetect.catalog.cpython)
are the catalog's; this module only applies them to the uses the scanner found. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iodetect.catalog.apis import FD_SETSIZE, NEWEST, OLDEST
from iodetect.catalog.cpython import VersionError, parse_versions
from iodetect.catalog.records import SEVERITY, ApiChange, Behaviour, Verdict, Version

BREAKS = ("raises", "removed")
# A --target-python value, or a target interpreter, that cannot be judged. One line.
TargetError = VersionError

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


@dataclass(frozen=True)
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
    """'3.14', '3.11.7', '3.10-3.15', '3.12+' or a comma-separated list: each version to judge.

    The catalog's parser (shared with `snippet --target-python`); a range stops at NEWEST.
    """
    out: set[Target] = set()
    for span in parse_versions(text, newest=NEWEST):
        if span.patch is not None:
            out.add(Target(span.low[1], span.patch))
        else:
            last = (span.high or NEWEST)[1]
            out.update(Target(m) for m in range(span.low[1], last + 1))
    # a minor line sorts before its releases: 3.11, 3.11.7
    return tuple(sorted(out, key=lambda t: (t.minor, -1 if t.patch is None else t.patch)))


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
    whole: list[Interval] = [(lo, hi)]
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
        spans = [(s.since, s.until or TOP) for s in b.spans]
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
        return (
            f"fine while descriptors stay below {FD_SETSIZE} (the descriptor limit keeps them "
            "there)"
        )
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
