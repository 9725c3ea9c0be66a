"""The scan report: findings with a verdict per target version, grouped; JSON; the exit code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iodetect.catalog import apis
from iodetect.catalog.apis import FD_SETSIZE
from iodetect.catalog.records import SEVERITY, ApiChange, Pattern, Verdict
from iodetect.scan.verdicts import (
    BREAKS,
    Interval,
    Situation,
    Target,
    VersionVerdict,
    judge,
    worst,
)

KIND = "iodetect.scan"
SCHEMA_VERSION = 1
FAIL_LEVELS = ("raise", "warn", "possible", "never")
# How many findings and skipped files are kept per group and in all: a hostile target or a huge
# tree must not make the report unbounded.
MAX_FINDINGS = 5000
MAX_SKIPPED = 200


class ReportError(ValueError):
    """The scanner's answer is malformed (a broken or hostile target). One line."""


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    record: str  # the ApiChange id
    api: str
    use: str
    situation: str  # where the use is, for people
    certainty: str  # "certain", or "possible" when it depends on callers or on limits
    code: str
    function: str
    verdicts: tuple[VersionVerdict, ...]
    worst: Verdict
    replacement: str
    note: str

    @property
    def rank(self) -> tuple[int, int]:
        return SEVERITY[self.worst], 1 if self.certainty == "certain" else 0


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Group:
    kind: str  # "project" or "distribution"
    name: str
    version: str
    location: str
    files: int
    parsed: int
    lines: int
    bytes: int
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...]
    skipped_more: int = 0
    note: str = ""
    tests: int = 0  # test files of a distribution left out

    @property
    def worst(self) -> Verdict:
        return max(
            (f.worst for f in self.findings if f.certainty == "certain"),
            default="fine",
            key=lambda v: SEVERITY[v],
        )

    @property
    def rank(self) -> tuple[int, int]:
        return max((f.rank for f in self.findings), default=(0, 0))


@dataclass(frozen=True)
class Interpreter:
    implementation: str
    version: str
    executable: str
    nofile: tuple[int, int] | None  # soft, hard; -1 unlimited


@dataclass(frozen=True)
class Descriptors:
    """The most descriptors the service may hold, which decides select()'s verdict."""

    limit: int | None  # None unknown, -1 unlimited
    source: str

    @property
    def exceeds(self) -> bool | None:
        if self.limit is None:
            return None
        return self.limit == -1 or self.limit > FD_SETSIZE


@dataclass(frozen=True)
class ScanReport:
    targets: tuple[Target, ...]
    python: Interpreter | None  # the interpreter whose distributions were scanned
    groups: tuple[Group, ...]
    descriptors: Descriptors
    fail_on: str
    seconds: float
    incomplete: str | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for g in self.groups for f in g.findings)

    def failing(self) -> tuple[Finding, ...]:
        """The findings that fail the gate at --fail-on."""
        return tuple(f for f in self.findings if fails(f, self.fail_on))

    @property
    def exit_code(self) -> int:
        return 1 if self.failing() or self.incomplete else 0


def fails(f: Finding, level: str) -> bool:
    if level == "never" or f.worst == "fine":
        return False
    if level == "possible":
        return True
    if f.certainty != "certain":
        return False
    return f.worst in BREAKS or (level == "warn" and f.worst == "warns")


# --- the catalog's records as the scanner's patterns ---------------------------------------------
@dataclass(frozen=True)
class Rules:
    spec: dict[str, Any]  # what the engine takes
    records: dict[tuple[int, str], ApiChange]  # (pattern index, context) -> record


def rules(records: tuple[ApiChange, ...] = apis.RECORDS) -> Rules:
    patterns: list[Pattern] = []
    table: dict[tuple[int, str], ApiChange] = {}
    for r in records:
        if r.pattern not in patterns:
            patterns.append(r.pattern)
        table[(patterns.index(r.pattern), r.context)] = r
    spec = {
        "patterns": [
            {
                "names": list(p.names),
                "form": p.form,
                "keyword": p.keyword,
                "without_keyword": p.without_keyword,
                "method": p.method,
                "receiver": list(p.receiver),
                "loop_sensitive": p.loop_sensitive,
                "coroutine_arg": p.coroutine_arg,
            }
            for p in patterns
        ],
        "loop_setters": list(apis.LOOP_SETTERS),
        "loop_runners": list(apis.LOOP_RUNNERS),
    }
    return Rules(spec, table)


# --- from the engine's answer ------------------------------------------------------------------
SITUATIONS = {
    "running": "inside a coroutine ({func}): the running loop",
    "no_loop/module": "at module level, with no event loop running or set",
    "no_loop/runs-loop": "in {func}(), which runs the loop itself: none runs yet",
    "unknown/function": "in {func}(), a plain function: whether a loop runs there depends on "
    "its callers",
    "loop_set": "after set_event_loop(loop) in the same scope, with no loop running",
    "cleared": "after asyncio.run() or set_event_loop(None) in the same scope: no current loop",
}


def _str(data: dict[str, Any], key: str, limit: int = 500) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(f"the scanner's answer has a non-text {key!r}")
    return value[:limit]


def _int(data: dict[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(f"the scanner's answer has a non-integer {key!r}")
    return value


def _intervals(value: Any) -> tuple[Interval, ...] | None:
    if value is None:
        return None
    try:
        out = []
        for lo, hi in value[:100]:
            a = (int(lo[0]), int(lo[1]), int(lo[2]))
            b = (int(hi[0]), int(hi[1]), int(hi[2]))
            out.append((a, b))
        return tuple(out)
    except (TypeError, ValueError, IndexError) as exc:
        raise ReportError(f"the scanner's answer has malformed version ranges: {exc}") from None


def _names(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReportError("the scanner's answer has a malformed name list")
    return frozenset(v[:200] for v in value[:50])


def finding(
    hit: dict[str, Any],
    table: Rules,
    targets: tuple[Target, ...],
    descriptors: Descriptors,
) -> Finding | None:
    """The finding for one use the engine reported, or None when no record covers it."""
    if not isinstance(hit, dict):
        raise ReportError("the scanner's answer has a malformed use")
    index = _int(hit, "p", -1)
    ctx = _str(hit, "ctx", 20)
    why = _str(hit, "why", 20)
    line, column = _int(hit, "line"), _int(hit, "col", 1)
    end_line, end_column = _int(hit, "end_line", 0) or line, _int(hit, "end_col", 1)
    path, code, func = _str(hit, "path"), _str(hit, "code", 200), _str(hit, "func", 200)
    certainty = "certain"
    lookup = ctx
    if ctx == "unknown":
        lookup, certainty = "no_loop", "possible"
    record = table.records.get((index, lookup))
    if record is None:
        return None  # e.g. ensure_future() inside a coroutine: nothing to say
    where = Situation(
        use=_str(hit, "use", 20) or "call",
        how=_str(hit, "how", 20),
        versions=_intervals(hit.get("versions")),
        catches=_names(hit.get("catches")),
        requires=_names(hit.get("requires")),
        quiet=hit.get("quiet") is True,
    )
    exceeds = descriptors.exceeds
    if record.fd_ceiling:
        # Whether a descriptor of 1024 or above ever reaches this call depends on the program
        # (libraries often call select() only as a fallback where poll() is missing).
        certainty = "possible"
    verdicts = tuple(judge(record, where, t, True if exceeds is None else exceeds) for t in targets)
    if ctx == "any":
        situation = record.when
    else:
        key = ctx if ctx in ("running", "loop_set", "cleared") else f"{ctx}/{why}"
        situation = SITUATIONS.get(key, record.when).format(func=func or "?")
    return Finding(
        path=path,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        record=record.id,
        api=record.api,
        use=where.use,
        situation=situation,
        certainty=certainty,
        code=code,
        function=func,
        verdicts=verdicts,
        worst=worst(verdicts),
        replacement=record.replacement,
        note=record.note,
    )


def group(
    data: dict[str, Any], table: Rules, targets: tuple[Target, ...], descriptors: Descriptors
) -> Group:
    if not isinstance(data, dict):
        raise ReportError("the scanner's answer has a malformed group")
    hits = data.get("hits", [])
    skipped = data.get("skipped", [])
    if not isinstance(hits, list) or not isinstance(skipped, list):
        raise ReportError("the scanner's answer has malformed lists")
    found = [finding(h, table, targets, descriptors) for h in hits[:MAX_FINDINGS]]
    findings = sorted(
        (f for f in found if f is not None),
        key=lambda f: (-f.rank[0], -f.rank[1], f.path, f.line, f.column),
    )
    skips = []
    for s in skipped[:MAX_SKIPPED]:
        if not isinstance(s, dict):
            raise ReportError("the scanner's answer has a malformed skipped entry")
        skips.append(Skipped(_str(s, "path"), _str(s, "reason", 300)))
    more = _int(data, "skipped_more") + max(0, len(skipped) - MAX_SKIPPED)
    return Group(
        kind="distribution" if data.get("kind") == "distribution" else "project",
        name=_str(data, "name", 200),
        version=_str(data, "version", 100),
        location=_str(data, "location"),
        files=_int(data, "files"),
        parsed=_int(data, "parsed"),
        lines=_int(data, "lines"),
        bytes=_int(data, "bytes"),
        findings=tuple(findings),
        skipped=tuple(skips),
        skipped_more=more,
        note=_str(data, "note", 200),
        tests=_int(data, "tests"),
    )


def interpreter(data: Any) -> Interpreter | None:
    if not isinstance(data, dict):
        return None
    version = data.get("version")
    nofile = data.get("nofile")
    try:
        text = ".".join(str(int(v)) for v in version[:3]) if isinstance(version, list) else ""
        limits = (int(nofile[0]), int(nofile[1])) if isinstance(nofile, list) else None
    except (TypeError, ValueError, IndexError):
        raise ReportError("the scanner's answer has a malformed interpreter") from None
    return Interpreter(_str(data, "implementation", 40), text, _str(data, "executable"), limits)


def descriptors_for(python: Interpreter | None, max_fds: int | None) -> Descriptors:
    """The descriptor ceiling that decides select()'s verdict, and where it comes from."""
    if max_fds is not None:
        return Descriptors(max_fds, "--max-fds")
    if python is None or python.nofile is None:
        return Descriptors(None, "unknown: the target reports no descriptor limit")
    soft, hard = python.nofile
    return Descriptors(
        hard,
        f"the hard descriptor limit of the target ({'unlimited' if hard == -1 else hard}; "
        f"soft {'unlimited' if soft == -1 else soft}): `iodetect snippet` raises the soft "
        "limit to it at start-up, as the Go runtime does",
    )


def build(
    answers: list[dict[str, Any]],
    targets: tuple[Target, ...],
    table: Rules,
    fail_on: str,
    seconds: float,
    python: Interpreter | None,
    descriptors: Descriptors,
) -> ScanReport:
    groups: list[Group] = []
    incomplete = None
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("groups"), list):
            raise ReportError("the scanner's answer is not a scan result")
        groups += [group(g, table, targets, descriptors) for g in answer["groups"][:10000]]
        reason = answer.get("incomplete")
        if reason:
            incomplete = str(reason)[:300]
    project = [g for g in groups if g.kind == "project"]
    dists = sorted(
        (g for g in groups if g.kind == "distribution"),
        key=lambda g: (-g.rank[0], -g.rank[1], g.name.lower()),
    )
    return ScanReport(
        targets, python, tuple(project + dists), descriptors, fail_on, seconds, incomplete
    )


# --- JSON ------------------------------------------------------------------------------------
def to_dict(report: ScanReport) -> dict[str, Any]:
    counts = {v: 0 for v in SEVERITY}
    possible = 0
    for f in report.findings:
        counts[f.worst] += 1
        possible += f.certainty == "possible" and f.worst != "fine"
    py = report.python
    return {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "targets": [str(t) for t in report.targets],
        "python": None
        if py is None
        else {
            "implementation": py.implementation,
            "version": py.version,
            "executable": py.executable,
            "nofile": list(py.nofile) if py.nofile is not None else None,
        },
        "descriptors": {
            "limit": report.descriptors.limit,
            "exceeds_fd_setsize": report.descriptors.exceeds,
            "source": report.descriptors.source,
        },
        "fail_on": report.fail_on,
        "exit_code": report.exit_code,
        "incomplete": report.incomplete,
        "seconds": report.seconds,
        "summary": {
            "files": sum(g.files for g in report.groups),
            "parsed": sum(g.parsed for g in report.groups),
            "lines": sum(g.lines for g in report.groups),
            "bytes": sum(g.bytes for g in report.groups),
            "skipped": sum(len(g.skipped) + g.skipped_more for g in report.groups),
            "findings": counts,
            "possible": possible,
            "failing": len(report.failing()),
        },
        "groups": [
            {
                "kind": g.kind,
                "name": g.name,
                "version": g.version,
                "location": g.location,
                "note": g.note,
                "files": g.files,
                "parsed": g.parsed,
                "lines": g.lines,
                "bytes": g.bytes,
                "worst": g.worst,
                "findings": [
                    {
                        "path": f.path,
                        "line": f.line,
                        "column": f.column,
                        "end_line": f.end_line,
                        "end_column": f.end_column,
                        "record": f.record,
                        "api": f.api,
                        "use": f.use,
                        "situation": f.situation,
                        "certainty": f.certainty,
                        "function": f.function,
                        "code": f.code,
                        "worst": f.worst,
                        "verdicts": [
                            {
                                "target": v.target,
                                "verdict": v.verdict,
                                "effect": v.effect,
                                "source": v.source,
                                "note": v.note,
                            }
                            for v in f.verdicts
                        ],
                        "replacement": f.replacement,
                        "note": f.note,
                    }
                    for f in g.findings
                ],
                "skipped": [{"path": s.path, "reason": s.reason} for s in g.skipped],
                "skipped_more": g.skipped_more,
                "tests_left_out": g.tests,
            }
            for g in report.groups
        ],
    }
