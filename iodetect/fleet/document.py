"""The fleet document: many targets, each with its facts (or error), plan and verdict; versioned.

One shape whatever the facts came from: collected files (`iodetect fleet DIR`), or targets
reached live through `--python` commands. What reaching a target gave is an Observation; the
builder (iodetect.fleet.builder) turns observations into a Fleet, which this module writes as
JSON (`kind` iodetect.fleet, JSON Schema in iodetect/schemas/fleet.schema.json) and reads back.
Reading back yields observations again: plans and rules verdicts are derived from the facts,
so they are recomputed with the reader's options, never trusted from the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iodetect import model
from iodetect.fleet.text import clean

if TYPE_CHECKING:
    from iodetect.check import Finding
    from iodetect.model import Facts
    from iodetect.recommend import Plan

FLEET_KIND = "iodetect.fleet"
SCHEMA_VERSION = 1
SOURCE_KINDS = ("file", "command", "local")
CHECK_MODES = ("rules", "live")
VERDICTS = ("pass", "warn", "fail", "error")
LEVELS = ("ok", "warn", "fail")
NAME_LIMIT = 80  # characters of a target's name
# The table's columns, in order: the values compared across targets for drift.
COLUMNS = (
    ("python", "python"),
    ("selector", "selector"),
    ("loop", "loop"),
    ("nofile_soft", "soft limit"),
    ("nofile_hard", "hard limit"),
)


class FleetError(ValueError):
    """A fleet document that cannot be read as a whole: wrong kind, schema version or shape."""


@dataclass(frozen=True)
class Source:
    """How a target was reached: a collected file, or a command line (secrets masked)."""

    kind: str  # one of SOURCE_KINDS
    location: str  # the file's path, or the command line as show_command() gives it


@dataclass(frozen=True)
class TargetCheck:
    """The findings of a check on one target: rules only, or live (with the self-test)."""

    mode: str  # one of CHECK_MODES
    findings: tuple[Finding, ...]
    strict: bool = False
    seconds: float | None = None
    selftest: dict[str, Any] | None = None  # a live check's worker report, as JSON


@dataclass(frozen=True)
class Observation:
    """What reaching one target gave: its facts, or the error that stopped it.

    The input of the builder. A live run fills `check` with its own findings (they cannot be
    recomputed); otherwise the builder judges the facts by the rules alone.
    """

    name: str
    source: Source
    facts: Facts | None = None
    error: str | None = None
    seconds: float | None = None  # how long reaching it took, when it was reached live
    check: TargetCheck | None = None


@dataclass(frozen=True)
class Options:
    """What the fleet's plans and verdicts are made for (as for `iodetect check`)."""

    needs: frozenset[str] = frozenset()
    connections: int | None = 300
    loop: str = "auto"
    selector: str | None = None
    require_loop: str | None = None
    strict: bool = False
    check: str | None = "rules"  # rules, live, or None: no verdicts (a report of many targets)


@dataclass(frozen=True)
class Target:
    """One row of the fleet: the observation, the plan made for it, the check and the verdict."""

    name: str
    source: Source
    facts: Facts | None
    error: str | None
    seconds: float | None
    plan: Plan | None
    plan_error: str | None  # why there is no plan when there are facts
    check: TargetCheck | None
    verdict: str | None  # one of VERDICTS; None when no check ran
    row: tuple[str | None, ...]  # the table's cells, in the order of COLUMNS; None: no value

    def cell(self, column: str) -> str | None:
        """This target's value in a column of the table (a name of COLUMNS)."""
        return self.row[[c for c, _ in COLUMNS].index(column)]

    def reason(self) -> str | None:
        """Why the target failed or could not be examined: the error or the first failure."""
        if self.error is not None:
            return self.error
        if self.check is None:
            return None
        for level in ("fail", "warn"):
            for f in self.check.findings:
                if f.level == level:
                    return f.message
        return None


@dataclass(frozen=True)
class Drift:
    """A column whose values differ between targets: the common value and the others."""

    column: str
    title: str
    common: str | None  # the most common value (the first target's, on a tie)
    differs: tuple[tuple[str, str | None], ...]  # (target name, its value)


@dataclass(frozen=True)
class Fleet:
    options: Options
    targets: tuple[Target, ...]
    drift: tuple[Drift, ...]

    def failing(self, target: Target) -> bool:
        if target.verdict in ("fail", "error"):
            return True
        return self.options.strict and target.verdict == "warn"

    @property
    def failed(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if self.failing(t))

    @property
    def exit_code(self) -> int:
        """0 every target passed (or no check ran), 1 one failed or could not be examined."""
        return 1 if self.failed else 0

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for t in self.targets if t.verdict == v) for v in VERDICTS}

    def marked(self, name: str, column: str) -> bool:
        """Does this target's value in this column differ from the common one?"""
        return any(d.column == column and any(n == name for n, _ in d.differs) for d in self.drift)


# --- JSON ------------------------------------------------------------------------------------


def to_dict(fleet: Fleet) -> dict[str, Any]:
    """The public JSON form: kind and schema version first, then options, targets, summary."""
    from iodetect import recommend

    opts = fleet.options
    return {
        "kind": FLEET_KIND,
        "schema_version": SCHEMA_VERSION,
        "options": {
            "needs": sorted(opts.needs),
            "connections": opts.connections,
            "loop": opts.loop,
            "selector": opts.selector,
            "require_loop": opts.require_loop,
            "strict": opts.strict,
            "check": opts.check,
        },
        "targets": [
            {
                "name": t.name,
                "source": {"kind": t.source.kind, "location": t.source.location},
                "facts": model.to_dict(t.facts) if t.facts is not None else None,
                "error": t.error,
                "seconds": round(t.seconds, 3) if t.seconds is not None else None,
                "plan": recommend.plan_dict(t.plan) if t.plan is not None else None,
                "plan_error": t.plan_error,
                "check": _check_dict(t.check) if t.check is not None else None,
                "verdict": t.verdict,
                "row": {column: t.cell(column) for column, _ in COLUMNS},
            }
            for t in fleet.targets
        ],
        "drift": [
            {
                "column": d.column,
                "title": d.title,
                "common": d.common,
                "differs": [{"name": n, "value": v} for n, v in d.differs],
            }
            for d in fleet.drift
        ],
        "summary": {
            "targets": len(fleet.targets),
            **fleet.counts(),
            "failed": [
                {"name": t.name, "verdict": t.verdict, "reason": t.reason()} for t in fleet.failed
            ],
        },
        "exit_code": fleet.exit_code,
    }


def _check_dict(check: TargetCheck) -> dict[str, Any]:
    return {
        "mode": check.mode,
        "strict": check.strict,
        "seconds": round(check.seconds, 3) if check.seconds is not None else None,
        "findings": [
            {
                "step": f.step,
                "level": f.level,
                "code": f.code,
                "message": f.message,
                "remedy": f.remedy,
            }
            for f in check.findings
        ],
        "selftest": check.selftest,
    }


def observations_from_dict(data: Any, origin: str) -> tuple[Observation, ...]:
    """The observations a fleet document holds, for building a fleet or a comparison again.

    The document as a whole must be a fleet of this schema version (FleetError otherwise);
    one bad target inside it becomes an error for that target. `origin` names the file.
    """
    if not isinstance(data, dict):
        raise FleetError("a fleet document must be a JSON object")
    if data.get("kind") != FLEET_KIND:
        raise FleetError(f"not an iodetect fleet (kind is {clean(repr(data.get('kind')), 60)})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise FleetError(
            f"unsupported fleet schema_version {clean(repr(version), 40)} "
            f"(this iodetect reads {SCHEMA_VERSION})"
        )
    targets = data.get("targets")
    if not isinstance(targets, list):
        raise FleetError("a fleet document's targets must be an array")
    return tuple(_observation(item, i, origin) for i, item in enumerate(targets))


def _observation(item: Any, index: int, origin: str) -> Observation:
    fallback = f"{origin}[{index}]"
    if not isinstance(item, dict):
        return Observation(fallback, Source("file", origin), error="not a target object")
    name = item.get("name")
    name = clean(name, NAME_LIMIT) if isinstance(name, str) and clean(name) else fallback
    src = item.get("source")
    if (
        isinstance(src, dict)
        and src.get("kind") in SOURCE_KINDS
        and isinstance(src.get("location"), str)
    ):
        source = Source(src["kind"], clean(src["location"]))
    else:
        source = Source("file", origin)
    seconds = item.get("seconds")
    seconds = float(seconds) if isinstance(seconds, int | float) and seconds >= 0 else None
    error = item.get("error")
    facts_data = item.get("facts")
    if facts_data is None:
        reason = clean(error) if isinstance(error, str) and clean(error) else "no facts"
        return Observation(name, source, error=reason, seconds=seconds)
    try:
        facts = read_facts(facts_data)
    except model.FactsError as exc:
        return Observation(name, source, error=f"bad facts in {origin}: {clean(exc)}")
    check = _live_check(item.get("check"))
    return Observation(name, source, facts=facts, seconds=seconds, check=check)


def _live_check(data: Any) -> TargetCheck | None:
    """A live check's findings, kept as evidence; a rules check is recomputed, so dropped."""
    if not isinstance(data, dict) or data.get("mode") != "live":
        return None
    from iodetect.check import Finding

    findings = []
    for f in data.get("findings") or ():
        if not isinstance(f, dict) or f.get("level") not in LEVELS:
            continue
        remedy = f.get("remedy")
        findings.append(
            Finding(
                step=clean(f.get("step", ""), 40),
                level=f["level"],
                message=clean(f.get("message", "")),
                remedy=clean(remedy) if isinstance(remedy, str) else None,
                code=clean(f.get("code", ""), 60),
            )
        )
    seconds = data.get("seconds")
    selftest = data.get("selftest")
    return TargetCheck(
        "live",
        tuple(findings),
        strict=data.get("strict") is True,
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        selftest=selftest if isinstance(selftest, dict) else None,
    )


def read_facts(data: Any) -> Facts:
    """Facts from a document's data, completed as every source of facts is (FactsError).

    The probe reports raw facts; iodetect's catalog decides the rest (whether each loop is
    supported there, why a selector is absent), so a file gets the answers a live probe would.
    """
    from iodetect import probe

    return probe.complete(model.from_dict(probe.fill_in(data)))


def unique_names(names: Sequence[str]) -> list[str]:
    """The names with duplicates told apart: web1, web1 (2), web1 (3)."""
    seen: dict[str, int] = {}
    taken = set(names)
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        if count == 1:
            out.append(name)
            continue
        candidate = f"{name} ({count})"
        while candidate in taken:
            count += 1
            candidate = f"{name} ({count})"
        seen[name] = count
        taken.add(candidate)
        out.append(candidate)
    return out
