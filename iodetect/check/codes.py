"""The finding codes of `iodetect check`: the stable names scripts, --ignore and CI reports use.

This is the one list: docs/ci.md's table is tested against it, and a test reads the check's
sources so that no step can emit a code missing here. Messages may change; codes do not
(a new one may be added; one is never renamed or given another meaning).
"""

from __future__ import annotations

from dataclasses import dataclass

from iodetect.check.findings import STEPS


@dataclass(frozen=True)
class Code:
    code: str
    levels: tuple[str, ...]  # the levels a finding with this code can have
    meaning: str


_OK, _WARN, _FAIL = ("ok",), ("warn",), ("fail",)

CODES: tuple[Code, ...] = (
    # probe
    Code("probe", _OK, "the target interpreter was probed"),
    Code("probe.partial", _WARN, "a fact could not be read on the target"),
    Code("probe.target", _FAIL, "the --python command is missing, exits at once or is no Python"),
    Code("probe.deadline", _FAIL, "the probe did not answer within the deadline"),
    Code("probe.flood", _FAIL, "the target printed without end before answering"),
    # limits
    Code("nofile", ("ok", "warn"), "the descriptor limits cover the need, or cannot be read"),
    Code("nofile.raisable", _OK, "the soft limit is below the need; the setup may raise it"),
    Code("nofile.hard", _FAIL, "the hard descriptor limit is below what the connections need"),
    # recommend
    Code("nofile.plan", _FAIL, "another descriptor conflict of the plan (select()'s ceiling)"),
    Code("recommend.conflict", _FAIL, "the needs cannot be met together on this target"),
    Code("recommend.advisory", _OK, "a known defect of the chosen loop's version, not a blocker"),
    Code("recommend.warning", _WARN, "a warning of the recommender"),
    Code("recommend.plan", _OK, "the plan the self-test holds the setup to"),
    Code("loop.missing", _FAIL, "--require-loop names a loop not installed on the target"),
    Code("loop.broken", _FAIL, "--require-loop names a loop that is installed but does not import"),
    Code("loop.unsupported", _FAIL, "--require-loop names a loop that does not support the target"),
    # setup
    Code("setup", _OK, "the setup module under test"),
    Code("setup.syntax", _FAIL, "the --snippet file is not valid Python"),
    Code("setup.conflict", _FAIL, "no module can be generated for the plan"),
    Code(
        "setup.declared",
        ("ok", "warn"),
        "the --snippet module's header declares its loop choice: that is the expectation",
    ),
    Code("setup.missing", _FAIL, "the --snippet module lacks run() or new_event_loop()"),
    # selftest
    Code("selftest.import", _FAIL, "the setup module failed to import"),
    Code("selftest.run", _FAIL, "the setup's run() failed"),
    Code("selftest.deadline", _FAIL, "the self-test did not finish within the deadline"),
    Code("selftest.worker", _FAIL, "the self-test worker itself failed"),
    Code("selftest.error", _FAIL, "the worker reported an error at no known stage"),
    Code("selftest.target", _FAIL, "the worker's process could not be started or ended badly"),
    Code("selftest.exit", _FAIL, "the worker exited badly after its report"),
    Code("selftest.hang", _FAIL, "the worker could not exit after its report"),
    Code("selftest.flood", _FAIL, "the setup or the loop printed without end"),
    Code("selftest.forged", _FAIL, "a second result line of this run was printed"),
    Code("selftest.malformed", _FAIL, "the worker's report cannot be read"),
    Code("selftest.missing", _FAIL, "a test the plan calls for is absent from the report"),
    Code("selftest.count", _FAIL, "fewer connections were held than asked for"),
    Code("selftest.loop", ("ok", "fail"), "the loop and selector that ran, against the plan"),
    Code("loop.required", _FAIL, "another loop ran than --require-loop demands"),
    Code("selftest.factory", ("warn", "fail"), "new_event_loop() gives another loop than run()"),
    Code("test.tcp4", ("ok", "warn", "fail"), "TCP echo over IPv4, with the connections held"),
    Code("test.tcp6", ("ok", "warn", "fail"), "TCP echo over IPv6"),
    Code("test.unix", ("ok", "warn", "fail"), "Unix stream sockets"),
    Code("test.udp", ("ok", "warn", "fail"), "UDP datagrams"),
    Code("selftest.high_fds", ("ok", "fail"), "connections on descriptors above select() ceiling"),
    Code("nofile.soft", _FAIL, "the soft limit the loop ran with is below the need"),
    Code("nofile.raised", _OK, "the setup raised the soft descriptor limit"),
    Code("selftest.leak", ("ok", "fail"), "descriptors open before and after the run"),
    Code("selftest.resource", _FAIL, "a resource was left open (ResourceWarning)"),
    Code(
        "selftest.resource_after_failure",
        _WARN,
        "a resource left open by a test that failed already",
    ),
    Code("selftest.warning", _WARN, "the setup raised a warning (a DeprecationWarning...)"),
    Code("selftest.worker_warning", _OK, "a warning raised by iodetect's own worker"),
    Code("selftest.impostor", _WARN, "lines imitating the result were printed and ignored"),
    Code("selftest.lingering", _WARN, "a detached process kept the worker's output open"),
    Code("selftest.figures", _OK, "connections held, round trips, latency and memory"),
    # serve (--serve)
    Code("serve.command", _FAIL, "the --serve command could not be started"),
    Code("serve.started", _OK, "the --serve command listened"),
    Code("serve.exited", _FAIL, "the --serve command exited before it served"),
    Code("serve.timeout", _FAIL, "the --serve command did not serve within the step's deadline"),
    Code("serve.exposed", _WARN, "the served command listens beyond loopback"),
    Code("serve.worker", _FAIL, "a worker of the served command could not be read"),
    Code("serve.partial", ("ok", "warn", "fail"), "a worker could be read only in part"),
    Code("serve.loop", ("ok", "fail"), "a worker's loop, against the plan"),
    Code("serve.selector", _FAIL, "a worker runs the planned loop on another selector"),
    Code("serve.snippet", ("ok", "fail"), "a worker's loop, against the --snippet module's"),
    Code(
        "serve.nofile", ("ok", "warn", "fail"), "a worker's soft descriptor limit, against the need"
    ),
    Code("serve.interpreter", _WARN, "a worker runs another interpreter than the one checked"),
    Code("serve.stopped", ("ok", "fail"), "everything the --serve command started was stopped"),
    *(Code(f"{step}.crash", _FAIL, f"the {step} step crashed (a defect)") for step in STEPS),
)

BY_NAME = {c.code: c for c in CODES}


def unknown(codes: tuple[str, ...] | list[str]) -> list[str]:
    """The codes of `codes` that are not finding codes."""
    return [c for c in codes if c not in BY_NAME]
