"""The pre-deploy check: probe, recommend, take the setup, prove it live; each outcome a finding.

A deploy gate must not crash where it should report: every step runs isolated, and whatever
goes wrong in it (a missing interpreter, a setup module that raises, a worker that hangs)
becomes a finding with a level, a message and a remedy, like the doctor commands people know.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Plan

SCHEMA_VERSION = 1
CHECK_KIND = "iodetect.check"
LEVELS = ("ok", "warn", "fail")
DEFAULT_CONNECTIONS = 300
DEFAULT_TIMEOUT = 30.0
# Descriptors a service needs beyond its connections: listeners, logs, the loop, the interpreter.
NOFILE_HEADROOM = 64
SELECT_CEILING = 1024  # FD_SETSIZE on Linux and macOS, when the facts cannot say

NOFILE_REMEDY = (
    "raise the open-files limit where the service starts: `ulimit -n {n}` in the shell or "
    "entrypoint (up to the hard limit), `LimitNOFILE={n}` in the systemd unit, "
    "`docker run --ulimit nofile={n}:{n}` (or `ulimits: nofile:` in compose); Kubernetes has no "
    "per-pod setting, so raise it in the container runtime (containerd/CRI-O default ulimits or "
    "LimitNOFILE= of its systemd unit) or with `ulimit -n` in the entrypoint"
)
HARD_REMEDY = (
    "the hard limit caps what a process may raise itself to; only its parent can raise it: "
    "`LimitNOFILE={n}` in the systemd unit, `docker run --ulimit nofile={n}:{n}`, the container "
    "runtime's default ulimits for Kubernetes, or /etc/security/limits.conf for logins"
)


class UsageError(ValueError):
    """Options the check cannot understand (exit 2), as opposed to a finding (exit 1)."""


@dataclass(frozen=True)
class Finding:
    """One outcome of the check, in the style of doctor commands."""

    step: str  # probe, limits, recommend, setup, selftest
    level: str  # one of LEVELS
    message: str
    remedy: str | None = None
    code: str = ""  # a stable name for scripts, e.g. "nofile.hard"


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
    strict: bool = False


@dataclass(frozen=True)
class Expectation:
    """What the self-test must observe, from the plan."""

    loop: str | None  # the loop's name: asyncio, uvloop, winloop, rloop
    loop_class: str | None  # class name (last dotted part) of the running loop
    selector_class: str | None  # selector class name, None for loops without one
    above_fd: int | None  # prove descriptors numbered above this (the select() ceiling)


@dataclass(frozen=True)
class Result:
    findings: tuple[Finding, ...]
    strict: bool = False
    target: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    selftest: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> tuple[Finding, ...]:
        bad = ("warn", "fail") if self.strict else ("fail",)
        return tuple(f for f in self.findings if f.level in bad)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @property
    def ok(self) -> bool:
        return not self.failed


def to_dict(result: Result) -> dict[str, Any]:
    """The JSON form of a check: kind and schema version first, then every finding and figure."""
    return {
        "kind": CHECK_KIND,
        "schema_version": SCHEMA_VERSION,
        "ok": result.ok,
        "exit_code": result.exit_code,
        "strict": result.strict,
        "seconds": round(result.seconds, 3),
        "target": result.target,
        "plan": result.plan,
        "selftest": result.selftest,
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


def needed_nofile(options: Options) -> int:
    """Descriptors the service must be able to open: its connections plus headroom."""
    return max(options.min_nofile or 0, options.connections + NOFILE_HEADROOM)


# --- steps ---------------------------------------------------------------------------------------


class _Steps:
    """Collects findings; runs each step isolated, so a crash in one is a finding, not an exit."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.findings: list[Finding] = []
        self.start = time.monotonic()

    def add(
        self, step: str, level: str, message: str, remedy: str | None = None, code: str = ""
    ) -> None:
        self.findings.append(Finding(step, level, message, remedy, code or step))

    def remaining(self) -> float:
        return self.options.timeout - (time.monotonic() - self.start)

    def isolated(self, step: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except UsageError:
            raise
        except Exception as exc:  # a crash of one step is reported, never a traceback
            text = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__
            self.add(step, "fail", f"the {step} step crashed: {detail}", code=f"{step}.crash")
            return None


def run_check(
    options: Options,
    *,
    facts: Facts | None = None,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Probe, recommend, take the setup, self-test; never raises for anything found on the way."""
    steps = _Steps(options)
    say = progress or (lambda _msg: None)

    if facts is None:
        say("probing the target interpreter")
        facts = steps.isolated("probe", lambda: _probe(steps))
    if facts is None:
        return _result(steps)
    target = _target(facts)

    steps.isolated("limits", lambda: _static_limits(steps, facts))
    say("choosing the loop")
    planned = steps.isolated("recommend", lambda: _recommend(steps, facts))
    if planned is None:
        return _result(steps, target)
    plan, expect = planned
    plan_view = _plan_view(plan, expect)

    say("preparing the setup module")
    source = steps.isolated("setup", lambda: _setup(steps, plan, facts))
    if source is None:
        return _result(steps, target, plan_view)

    say(f"self-test: {options.connections} connections through the loop")
    report = steps.isolated("selftest", lambda: _selftest(steps, facts, source, expect))
    if report is not None:
        steps.isolated("selftest", lambda: _judge(steps, facts, expect, report))
    return _result(steps, target, plan_view, report)


def _result(
    steps: _Steps,
    target: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    selftest: dict[str, Any] | None = None,
) -> Result:
    return Result(
        tuple(steps.findings),
        steps.options.strict,
        target or {},
        plan,
        selftest,
        time.monotonic() - steps.start,
    )


def _probe(steps: _Steps) -> Facts | None:
    from iodetect import probe, transport

    # This interpreter too is probed in a child: the probe imports the installed loops, and a
    # hanging import must meet the deadline like everything else.
    python = steps.options.python
    command = [sys.executable] if python is None else python
    try:
        facts = probe.remote_facts(command, round(max(1.0, min(15.0, steps.remaining() / 2)), 1))
    except transport.TargetError as exc:
        hung = "gave no answer" in str(exc)
        steps.add(
            "probe",
            "fail",
            str(exc) + ("; its whole process group was killed" if hung else ""),
            "raise --timeout if the target is slow to start; otherwise something on it blocks "
            "(an import of a broken loop package, a prompt for a password)"
            if hung
            else "check that the --python command starts a Python 3.8+ interpreter that reads "
            "a program on stdin (e.g. `docker exec -i app python3`; note the -i)",
            "probe.target",
        )
        return None
    iv = facts.interpreter
    where = f" ({iv.executable})" if iv.executable else ""
    steps.add("probe", "ok", f"{iv.implementation} {iv.release} on {facts.host.platform}{where}")
    for err in facts.errors:
        steps.add("probe", "warn", f"could not read {err.probe}: {err.error}", code="probe.partial")
    return facts


def _target(facts: Facts) -> dict[str, Any]:
    return {
        "python": facts.interpreter.release,
        "implementation": facts.interpreter.implementation,
        "executable": facts.interpreter.executable,
        "platform": facts.host.platform,
        "container": facts.host.container,
        "nofile_soft": facts.limits.nofile_soft,
        "nofile_hard": facts.limits.nofile_hard,
    }


def _limit(value: int | None) -> float | None:
    """A limit as a number; -1 (RLIM_INFINITY) is unlimited."""
    if value is None:
        return None
    return float("inf") if value < 0 else float(value)


def _static_limits(steps: _Steps, facts: Facts) -> None:
    """What the facts already tell: a hard limit below the need cannot be fixed from inside."""
    from iodetect.recommend import assess_nofile

    need = needed_nofile(steps.options)
    verdict = assess_nofile(facts.limits, facts.host.platform, need)
    if verdict.code in ("nofile.unknown", "nofile.windows"):
        if not facts.windows:
            steps.add("limits", "warn", "the descriptor limits could not be read", code="nofile")
        return
    if verdict.fails:
        steps.add(
            "limits",
            "fail",
            f"{verdict.cap_text} is below the {need} this service "
            f"needs ({steps.options.connections} connections + {NOFILE_HEADROOM} headroom"
            + (f", --min-nofile {steps.options.min_nofile}" if steps.options.min_nofile else "")
            + "); no process can raise it itself",
            HARD_REMEDY.format(n=_suggest(need)),
            "nofile.hard",
        )
    elif verdict.code == "nofile.raisable":
        steps.add(
            "limits",
            "ok",
            f"soft descriptor limit {facts.limits.nofile_soft} is below the {need} needed; the "
            f"hard limit {facts.limits.nofile_hard} allows raising it (the self-test shows "
            "whether the setup does)",
            code="nofile.raisable",
        )
    else:
        steps.add(
            "limits",
            "ok",
            f"descriptor limits soft {_show(facts.limits.nofile_soft)} / hard "
            f"{_show(facts.limits.nofile_hard)} cover the {need} needed",
            code="nofile",
        )


def _suggest(need: int) -> int:
    """A round figure at or above the need."""
    for n in (1024, 4096, 8192, 16384, 65536, 262144, 1048576):
        if n >= need:
            return n
    return need


def _show(value: int | None) -> str:
    return "unlimited" if value is not None and value < 0 else str(value)


def _recommend(steps: _Steps, facts: Facts) -> tuple[Plan, Expectation] | None:
    from iodetect import recommend

    opts = steps.options
    loop = opts.loop
    if opts.require_loop and loop == "auto":
        loop = opts.require_loop
    if opts.require_loop and opts.require_loop != "asyncio":
        _required_loop_present(steps, facts, opts.require_loop)
    # The recommender adds its own headroom to connections; --min-nofile is folded in here.
    connections = max(opts.connections, (opts.min_nofile or 0) - recommend.HEADROOM)
    needs = recommend.Needs(
        needs=opts.needs, connections=connections, loop=loop, selector=opts.selector
    )
    try:
        plan = recommend.recommend(facts, needs)
    except recommend.NeedsError as exc:
        raise UsageError(str(exc)) from None
    hard_found = any(f.code == "nofile.hard" for f in steps.findings)
    for conflict in plan.conflicts:
        if hard_found and conflict.code in recommend.NOFILE_FAILING:
            continue  # already a finding of the limits step, with the fuller remedy
        steps.add(
            "recommend",
            "fail",
            conflict.message,
            conflict.remedy,
            "nofile.plan"
            if conflict.code.startswith(("nofile.", "select."))
            else "recommend.conflict",
        )
    for note in plan.reasons:
        if note.code.startswith("advisory."):
            steps.add("recommend", "ok", note.text, code="recommend.advisory")
    for note in plan.warnings:
        steps.add("recommend", "warn", note.text, code="recommend.warning")
    expect = _expectation(plan, facts, opts)
    steps.add(
        "recommend",
        "ok",
        f"plan: {plan.loop_factory}"
        + (f" with {plan.expect.selector_class}" if plan.expect.selector_class else "")
        + (f" ({plan.reasons[0].text})" if plan.reasons else "")
        + ("; the soft descriptor limit is raised at start-up" if plan.nofile else ""),
        code="recommend.plan",
    )
    return plan, expect


def _required_loop_present(steps: _Steps, facts: Facts, name: str) -> None:
    lp = facts.loop(name)
    if lp is None:
        return  # a loop the probe does not know: the self-test will say what ran
    if lp.installed is None:
        steps.add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} is not installed on the target",
            f"install it in the service's environment: `pip install {name}`"
            + (f" ({lp.support_note})" if lp.support_note else ""),
            "loop.missing",
        )
    elif not lp.importable:
        steps.add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} {lp.installed} is installed but does not import: "
            f"{lp.import_error or 'unknown error'}",
            f"reinstall a {name} built for this Python (`pip install --force-reinstall {name}`)"
            + (f"; {lp.support_note}" if lp.support_note else ""),
            "loop.broken",
        )
    elif not lp.supported:
        steps.add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} {lp.installed} does not support this target"
            + (f" ({lp.support_note})" if lp.support_note else ""),
            f"upgrade {name} or choose another loop",
            "loop.unsupported",
        )


def _last(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1] if name else None


def _expectation(plan: Plan, facts: Facts, opts: Options) -> Expectation:
    ceiling = facts.select_ceiling.limit if facts.select_ceiling else None
    if ceiling is None and not facts.windows:
        ceiling = SELECT_CEILING
    # Prove descriptors above the select() ceiling whenever the service may use them: it needs
    # more, or the setup raises the soft limit past the ceiling.
    reach = needed_nofile(opts)
    hard = facts.limits.nofile_hard
    if plan.nofile is not None:
        raised = plan.nofile.target if plan.nofile.target is not None else hard
        if raised is not None and raised < 0:
            raised = hard if hard is not None and hard > 0 else 1 << 20
        if raised is not None and hard is not None and hard > 0:
            raised = min(raised, hard)
        reach = max(reach, raised or 0)
    above = ceiling if ceiling is not None and reach > ceiling and not facts.windows else None
    return Expectation(
        plan.expect.loop_package, plan.expect.loop_class, plan.expect.selector_class, above
    )


def _plan_view(plan: Plan, expect: Expectation) -> dict[str, Any]:
    return {
        "loop": plan.loop,
        "loop_factory": plan.loop_factory,
        "loop_package": expect.loop,
        "loop_class": expect.loop_class,
        "selector_class": expect.selector_class,
        "nofile_target": plan.nofile.target if plan.nofile else None,
        "raise_nofile": plan.nofile is not None,
        "above_fd": expect.above_fd,
        "reasons": [n.text for n in plan.reasons],
    }


def _setup(steps: _Steps, plan: Plan, facts: Facts) -> str | None:
    opts = steps.options
    if opts.setup_source is not None:
        try:
            compile(opts.setup_source, opts.setup_name, "exec")
        except SyntaxError as exc:
            steps.add(
                "setup",
                "fail",
                f"{opts.setup_name} line {exc.lineno}: syntax error: {exc.msg}",
                "fix the module; the self-test runs it as the service would import it",
                "setup.syntax",
            )
            return None
        except ValueError as exc:  # e.g. null bytes in the source
            steps.add("setup", "fail", f"{opts.setup_name}: {exc}", code="setup.syntax")
            return None
        steps.add("setup", "ok", f"testing the application's {opts.setup_name}", code="setup")
        return opts.setup_source
    from iodetect import snippet

    if plan.conflicts:
        steps.add(
            "setup",
            "fail",
            "no setup generated: the plan has conflicts (above); nothing to self-test",
            "resolve the conflicts, or test the application's own module with --snippet FILE",
            "setup.conflict",
        )
        return None
    source = snippet.render(plan, facts)
    steps.add("setup", "ok", "testing the generated loop_setup.py", code="setup")
    return source


def selftest_params(options: Options, source: str, above_fd: int | None, deadline: float) -> Any:
    """The worker's parameters: the setup source travels with them (the target sees no files)."""
    return {
        "setup_source": source,
        "setup_name": options.setup_name,
        "connections": options.connections,
        "above_fd": above_fd,
        "deadline": deadline,
        # Most of the time goes to the many-connection test; the others take milliseconds.
        "budget_tcp": max(4.0, deadline * 0.6),
    }


def run_selftest(
    options: Options, source: str, above_fd: int | None, timeout: float
) -> dict[str, Any]:
    """Run the worker on the target; raises TargetError (one line) when it gives no result."""
    from iodetect import target, transport

    deadline = max(1.0, timeout - 2.0)  # the worker ends itself before it has to be killed
    program = target.program("selftest", selftest_params(options, source, above_fd, deadline))
    outcome = transport.run_program(program, options.python, timeout, what="self-test")
    if not isinstance(outcome.result, dict):
        raise transport.TargetError("self-test: the worker answered with something other than JSON")
    return outcome.result


def _selftest(
    steps: _Steps, facts: Facts, source: str, expect: Expectation
) -> dict[str, Any] | None:
    from iodetect import transport

    timeout = round(max(2.0, steps.remaining()), 1)
    try:
        return run_selftest(steps.options, source, expect.above_fd, timeout)
    except transport.TargetError as exc:
        killed = "killed" in str(exc)
        steps.add(
            "selftest",
            "fail",
            str(exc) + ("; its whole process group was killed at the deadline" if killed else ""),
            "raise --timeout if the target is slow to start; otherwise the setup or the loop "
            "hangs: run the service's loop_setup.py by hand"
            if killed
            else None,
            "selftest.deadline" if killed else "selftest.target",
        )
        return None


TEST_TITLES = {
    "tcp4": "TCP over IPv4",
    "tcp6": "TCP over IPv6",
    "unix": "Unix stream sockets",
    "udp": "UDP datagrams",
}


def _judge(steps: _Steps, facts: Facts, expect: Expectation, rep: dict[str, Any]) -> None:
    """Turn the worker's report into findings."""
    opts = steps.options
    err = rep.get("error")
    if err:
        stage = rep.get("error_stage")
        line = rep.get("error_line")
        where = f" (line {line})" if line else ""
        remedy = None
        if stage in ("import", "run"):
            remedy = (
                f"run `python -X dev -c 'import loop_setup'` next to {opts.setup_name} on the "
                "target to see the full error"
                if stage == "import"
                else None
            )
        steps.add("selftest", "fail", f"{err}{where}", remedy, f"selftest.{stage or 'error'}")
    loop = rep.get("loop")
    if loop:
        _judge_loop(steps, expect, rep, loop)
    for test in rep.get("tests") or ():
        _judge_test(steps, test)
    _judge_nofile(steps, facts, rep)
    _judge_fds(steps, rep)
    _judge_warnings(steps, rep)

    figures = rep.get("figures")
    if figures and not err:
        lat = figures.get("latency_ms") or {}
        steps.add(
            "selftest",
            "ok",
            f"{figures.get('connections_held', 0)} connections held at once, "
            f"{figures.get('round_trips', 0)} round trips, {_bytes(figures.get('bytes', 0))} "
            f"echoed and verified in {rep.get('elapsed', 0):.2f} s"
            + (f" (round trip p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms)" if lat else ""),
            code="selftest.figures",
        )
    if opts.require_loop and loop:
        ran = _loop_name(loop)
        if ran != opts.require_loop:
            steps.add(
                "selftest",
                "fail",
                f"--require-loop {opts.require_loop}: the setup ran {ran} ({loop})",
                f"make {opts.setup_name} build its loop with {opts.require_loop}",
                "loop.required",
            )


def _judge_test(steps: _Steps, test: dict[str, Any]) -> None:
    name = str(test.get("name"))
    status = test.get("status")
    detail = test.get("detail")
    if name.startswith("fds_above_"):
        ceiling = name.rsplit("_", 1)[-1]
        title = f"descriptors above {ceiling}"
        if status == "ok":
            steps.add(
                "selftest",
                "ok",
                f"{test.get('connections')} connections on descriptors "
                f"{test.get('lowest_fd')}-{test.get('highest_fd')} (above the select() "
                f"ceiling of {ceiling}) worked through the loop",
                code="selftest.high_fds",
            )
            return
        fix = (
            NOFILE_REMEDY.format(n=_suggest(int(ceiling) * 4))
            + "; or have loop_setup.py raise the soft limit to the hard limit"
            if "soft limit" in str(detail)
            else "use a loop on epoll/kqueue (the default selector or uvloop), not select()"
        )
        steps.add("selftest", "fail", f"{title}: {detail}", fix, "selftest.high_fds")
        return
    title = TEST_TITLES.get(name, name)
    if status == "ok":
        extra = ""
        if "connections" in test:
            extra = f": {test['connections']} connections"
        elif "datagrams" in test:
            extra = f": {test['datagrams']} datagrams"
        steps.add("selftest", "ok", f"{title}{extra}, every byte verified", code=f"test.{name}")
    elif status == "skip":
        steps.add("selftest", "ok", f"{title}: not tested, {detail}", code=f"test.{name}")
    elif status == "unsupported":
        needed = name == "unix" and "unix_sockets" in steps.options.needs
        steps.add(
            "selftest",
            "fail" if needed else "warn",
            f"{title}: this loop does not support them ({detail})",
            "choose a loop that does (--loop auto)" if needed else None,
            f"test.{name}",
        )
    elif status == "warn":
        steps.add(
            "selftest",
            "warn",
            f"{title}: {detail}",
            NOFILE_REMEDY.format(n=_suggest(2 * steps.options.connections + 256)),
            f"test.{name}",
        )
    else:
        loopback = name in ("tcp4", "tcp6", "udp") and _loopback_broken(str(detail))
        remedy = None
        if loopback:
            remedy = (
                "loopback is unusable here: bring up `lo` (ip link set lo up) in this namespace"
            )
        steps.add("selftest", "fail", f"{title}: {detail}", remedy, f"test.{name}")


def _loopback_broken(detail: str) -> bool:
    return any(
        s in detail
        for s in ("Cannot assign", "Network is unreachable", "Connection refused", "Errno 99")
    )


def _loop_name(loop_class: str) -> str:
    """The loop a class belongs to: uvloop.Loop -> uvloop, asyncio.*EventLoop -> asyncio."""
    top = loop_class.split(".", 1)[0]
    return top if top in ("uvloop", "winloop", "rloop") else "asyncio"


def _judge_loop(steps: _Steps, expect: Expectation, rep: dict[str, Any], loop: str) -> None:
    selector = rep.get("selector")
    ran = f"{_loop_name(loop)}'s {_last(loop)}" + (f" with {selector}" if selector else "")
    problems = []
    if expect.loop_class and _last(loop) != expect.loop_class:
        problems.append(f"the plan expects {expect.loop}'s {expect.loop_class}")
    elif expect.loop and not expect.loop_class and _loop_name(loop) != expect.loop:
        problems.append(f"the plan expects the {expect.loop} loop")
    if expect.selector_class and selector != expect.selector_class:
        problems.append(f"the plan expects the selector {expect.selector_class}")
    if problems:
        steps.add(
            "selftest",
            "fail",
            f"the setup ran {ran}, but " + " and ".join(problems),
            "regenerate loop_setup.py with `iodetect snippet`, or pass --loop/--selector to "
            "match what the application means to run",
            "selftest.loop",
        )
    else:
        steps.add("selftest", "ok", f"ran {ran} as planned", code="selftest.loop")
    factory_loop = rep.get("factory_loop")
    if factory_loop and factory_loop != loop:
        steps.add(
            "selftest",
            "warn",
            f"new_event_loop() gives {factory_loop} but run() used {loop}: servers started with "
            "`--loop loop_setup:new_event_loop` would get a different loop",
            code="selftest.factory",
        )
    elif rep.get("factory_error"):
        steps.add(
            "selftest",
            "fail",
            f"new_event_loop() failed: {rep['factory_error']}",
            code="selftest.factory",
        )


def _judge_nofile(steps: _Steps, facts: Facts, rep: dict[str, Any]) -> None:
    """The soft limit the loop actually ran with must cover the need."""
    inside = rep.get("nofile_in_loop") or {}
    before = rep.get("nofile_before") or {}
    soft = inside.get("soft")
    if soft is None:
        return
    need = needed_nofile(steps.options)
    soft_f = _limit(soft)
    hard = inside.get("hard")
    if soft_f is not None and soft_f < need:
        hard_f = _limit(hard)
        can = hard_f is not None and hard_f >= need
        steps.add(
            "selftest",
            "fail",
            f"soft descriptor limit inside the loop is {soft}, below the {need} needed"
            + (
                f"; the hard limit {_show(hard)} would allow it but the setup does not raise it"
                if can
                else f", and the hard limit {_show(hard)} does not allow raising it"
            ),
            (
                "have loop_setup.py raise the soft limit (the generated one does when the plan "
                "needs it), or " + NOFILE_REMEDY.format(n=_suggest(need))
            )
            if can
            else HARD_REMEDY.format(n=_suggest(need)),
            "nofile.soft",
        )
    elif before.get("soft") is not None and before.get("soft") != soft:
        steps.add(
            "selftest",
            "ok",
            f"the setup raised the soft descriptor limit from {_show(before.get('soft'))} to "
            f"{_show(soft)}",
            code="nofile.raised",
        )


def _judge_fds(steps: _Steps, rep: dict[str, Any]) -> None:
    fds = rep.get("fds")
    if not fds:
        return
    leaked = fds.get("leaked") or []
    if leaked:
        shown = ", ".join(f"{d['fd']} ({d['target']})" for d in leaked[:5])
        steps.add(
            "selftest",
            "fail",
            f"{len(leaked)} descriptor(s) left open after the loop finished: {shown}",
            "close the loop and its transports when run() ends (loop.close(), "
            "shutdown_asyncgens(), shutdown_default_executor())",
            "selftest.leak",
        )
    else:
        steps.add(
            "selftest",
            "ok",
            f"no descriptor leaked ({fds.get('before')} open before the run, "
            f"{fds.get('after')} after)",
            code="selftest.leak",
        )


def _judge_warnings(steps: _Steps, rep: dict[str, Any]) -> None:
    crashed = rep.get("error_stage") == "run"
    unclosed = []
    for w in rep.get("warnings") or ():
        category = w.get("category")
        if category == "ResourceWarning":
            if crashed and str(w.get("where")).startswith("<"):
                continue  # the worker's own sockets, abandoned when the loop broke
            unclosed.append(f"{w.get('message')} ({w.get('where')})")
            continue
        steps.add(
            "selftest",
            "warn",
            f"{category} at {w.get('where')}: {w.get('message')}",
            "the setup uses an API this Python deprecates; regenerate it with `iodetect snippet`"
            if category in ("DeprecationWarning", "PendingDeprecationWarning")
            else None,
            "selftest.warning",
        )
    if unclosed:
        more = f" and {len(unclosed) - 1} more" if len(unclosed) > 1 else ""
        steps.add(
            "selftest",
            "fail",
            f"resources left open (ResourceWarning): {unclosed[0]}{more}",
            "close every transport, server and loop the setup creates",
            "selftest.resource",
        )


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def verify_setup(
    source: str,
    plan: Plan,
    facts: Facts,
    python: str | Sequence[str] | None,
    connections: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    saved: bool = False,
) -> tuple[Finding, ...]:
    """`snippet --verify`: the self-test of a module before it is written; its failed findings.

    It runs on the interpreter the facts came from, so saved (`saved`) or documented facts
    cannot be verified (UsageError).
    """
    if saved or facts.origin != "probe":
        raise UsageError(
            "--verify runs the module on a live interpreter: not with --facts or --platform"
        )
    options = Options(
        python=python,
        connections=connections or DEFAULT_CONNECTIONS,
        setup_source=source,
        timeout=timeout,
    )
    steps = _Steps(options)
    expect = _expectation(plan, facts, options)
    report = steps.isolated("selftest", lambda: _selftest(steps, facts, source, expect))
    if report is not None:
        steps.isolated("selftest", lambda: _judge(steps, facts, expect, report))
    return tuple(f for f in steps.findings if f.level == "fail")
