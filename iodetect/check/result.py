"""The check's result: its findings and what it tested against, and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iodetect.check.findings import UNREACHABLE, Finding
from iodetect.check.report import Report, report_dict
from iodetect.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from iodetect.findings import failing

SCHEMA_VERSION = 1
CHECK_KIND = "iodetect.check"


@dataclass(frozen=True)
class Result:
    findings: tuple[Finding, ...]
    strict: bool = False
    target: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    selftest: Report | None = None
    seconds: float = 0.0
    ignore: frozenset[str] = frozenset()  # --ignore: codes whose warnings were accepted
    serve: dict[str, Any] | None = None  # the serve step's view: command, workers, stop

    def ignored(self, finding: Finding) -> bool:
        """A warning accepted with --ignore: shown as such, never failing. A failure cannot be
        ignored."""
        return finding.level == "warn" and finding.code in self.ignore

    @property
    def failed(self) -> tuple[Finding, ...]:
        """The findings that fail the check: failures, and with --strict (--fail-on warn) the
        warnings that were not ignored too."""
        return tuple(f for f in failing(self.findings, self.strict) if not self.ignored(f))

    @property
    def exit_code(self) -> int:
        """0 pass, 1 a finding failed, 2 the target could not be reached at all."""
        failed = self.failed
        if any(f.code in UNREACHABLE and f.level == "fail" for f in failed):
            return EXIT_USAGE
        return EXIT_FAILED if failed else EXIT_OK

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """'PASS: 14 ok, 0 warning(s), 0 failed in 1.48 s', the verdict line of the text form."""
        n = {lvl: sum(1 for f in self.findings if f.level == lvl) for lvl in ("ok", "warn", "fail")}
        strict = " (--strict: warnings fail)" if self.strict and n["warn"] else ""
        return (
            f"{'PASS' if self.ok else 'FAIL'}: {n['ok']} ok, {n['warn']} warning(s), "
            f"{n['fail']} failed{strict} in {self.seconds:.2f} s"
        )


def to_dict(result: Result) -> dict[str, Any]:
    """The JSON form of a check: kind and schema version first, then every finding and figure."""
    return {
        "kind": CHECK_KIND,
        "schema_version": SCHEMA_VERSION,
        "ok": result.ok,
        "exit_code": result.exit_code,
        "strict": result.strict,
        "fail_on": "warn" if result.strict else "fail",
        "ignore": sorted(result.ignore),
        "seconds": round(result.seconds, 3),
        "target": result.target,
        "plan": result.plan,
        "selftest": report_dict(result.selftest) if result.selftest is not None else None,
        "serve": result.serve,
        "findings": [
            {
                "step": f.step,
                "level": f.level,
                "code": f.code,
                "message": f.message,
                "remedy": f.remedy,
            }
            for f in result.findings
        ],
    }
