"""The judge: the worker's typed report, held against the plan and the options, as findings.

It trusts nothing it can check: the tests the plan calls for must all be in the report, the
count of connections held must be the count asked for, and a failure is judged by the cause
the worker gives (a stable word), never by the wording of its message.
"""

from __future__ import annotations

from iodetect.check.findings import Recorder
from iodetect.check.limits import HARD_REMEDY, NOFILE_REMEDY, limit, show, suggest
from iodetect.check.options import Expectation, Options, needed_nofile
from iodetect.check.report import Report, Test

TEST_TITLES = {
    "tcp4": "TCP over IPv4",
    "tcp6": "TCP over IPv6",
    "unix": "Unix stream sockets",
    "udp": "UDP datagrams",
}
LOOPBACK_REMEDY = "loopback is unusable here: bring up `lo` (ip link set lo up) in this namespace"
PORTS_REMEDY = (
    "the self-test's clients connect to one port, each client process from one loopback "
    "address (further ones, 127.0.0.2 and up, only on Linux and for at least 1024 "
    "connections each), so the kernel's ephemeral port range bounds them (the service's real "
    "clients come from many addresses): widen net.ipv4.ip_local_port_range for the check "
    "(`sysctl -w net.ipv4.ip_local_port_range='1024 65535'`), or check fewer connections at a "
    "time"
)


def judge(rec: Recorder, expect: Expectation, options: Options, rep: Report) -> None:
    """Turn the worker's report into findings."""
    if rep.error:
        where = f" (line {rep.error_line})" if rep.error_line else ""
        remedy = (
            f"run `python -X dev -c 'import loop_setup'` next to {options.setup_name} on the "
            "target to see the full error"
            if rep.error_stage == "import"
            else None
        )
        rec.add(
            "selftest",
            "fail",
            f"{rep.error}{where}",
            remedy,
            f"selftest.{rep.error_stage or 'error'}",
        )
    if rep.ran_with is not None:  # the module imported: what it exposes is known
        _judge_exposes(rec, options, rep)
    if rep.loop:
        _judge_loop(rec, expect, rep, rep.loop)
    failed = {t.name for t in rep.tests if t.status == "fail"}
    for test in rep.tests:
        _judge_test(rec, options, test)
    if not rep.error:
        _judge_required(rec, expect, options, rep)
    _judge_nofile(rec, options, rep)
    _judge_fds(rec, rep)
    _judge_warnings(rec, rep, failed)
    _judge_figures(rec, rep)
    if options.require_loop and rep.loop:
        ran = loop_name(rep.loop)
        if ran != options.require_loop:
            rec.add(
                "selftest",
                "fail",
                f"--require-loop {options.require_loop}: the setup ran {ran} ({rep.loop})",
                f"make {options.setup_name} build its loop with {options.require_loop}",
                "loop.required",
            )


# What each entry point is for, said when a module lacks it.
ENTRY_POINTS = {
    "run": (
        "run(main)",
        "a service started with run(main()) cannot use it",
    ),
    "new_event_loop": (
        "new_event_loop()",
        "servers that take a loop factory (uvicorn --loop loop_setup:new_event_loop) cannot use "
        "it, and the loop they would get is not compared with run()'s",
    ),
}


def _judge_exposes(rec: Recorder, options: Options, rep: Report) -> None:
    """A module must expose both entry points: each is how some server takes the loop."""
    for name, (shown, why) in ENTRY_POINTS.items():
        if name in rep.exposes:
            continue
        ran = "run()" if rep.ran_with == "run" else "new_event_loop()"
        rec.add(
            "selftest",
            "fail",
            f"{options.setup_name} has no {shown}: {why} (the self-test ran the loop through "
            f"{ran})",
            "define it beside the other one: run(main) runs main on a loop from "
            "new_event_loop(), as the module `iodetect snippet` writes does",
            "setup.missing",
        )


def required_tests(expect: Expectation) -> tuple[str, ...]:
    """The tests every report must hold, whatever their outcome."""
    names = ["tcp4", "tcp6", "udp"]
    if expect.unix:
        names.append("unix")
    if expect.above_fd is not None:
        names.append(f"fds_above_{expect.above_fd}")
    return tuple(names)


def _judge_required(rec: Recorder, expect: Expectation, options: Options, rep: Report) -> None:
    present = {t.name for t in rep.tests}
    missing = [n for n in required_tests(expect) if n not in present]
    if missing:
        rec.add(
            "selftest",
            "fail",
            f"the worker's report lacks the test(s) the plan calls for: {', '.join(missing)}",
            "the worker did not run as iodetect sent it: something in the setup or the target "
            "interfered with it",
            "selftest.missing",
        )
    tcp = rep.test("tcp4")
    if tcp is not None and tcp.status == "ok":
        held = tcp.held if tcp.held is not None else tcp.connections
        if held is None or held < options.connections:
            rec.add(
                "selftest",
                "fail",
                f"the self-test held {held or 0} of the {options.connections} connections asked "
                "for",
                None,
                "selftest.count",
            )


def _judge_figures(rec: Recorder, rep: Report) -> None:
    fig = rep.figures
    if fig is None or rep.error:
        return
    lat = fig.latency_ms
    mem = fig.memory_kib
    parts = []
    if fig.accept_rate:
        parts.append(f"opened at {fig.accept_rate:,.0f} connections/s")
    if lat:
        parts.append(f"round trip under that load p50 {lat.p50:.2f} ms, p99 {lat.p99:.2f} ms")
    if mem is not None and mem.worker_peak is not None:
        memory = f"peak memory {mem.worker_peak / 1024:.0f} MiB in the worker"
        if fig.memory_per_connection_kib is not None and fig.connections_held >= 1000:
            memory += f" ({fig.memory_per_connection_kib:.1f} KiB per held connection)"
        if mem.client_peak is not None:
            memory += f", {mem.client_peak / 1024:.0f} MiB in the test clients"
        parts.append(memory)
    rec.add(
        "selftest",
        "ok",
        f"{fig.connections_held} connections held at once, {fig.round_trips} round trips, "
        f"{_bytes(fig.bytes)} echoed and verified"
        + (f" in {rep.elapsed:.2f} s" if rep.elapsed is not None else "")
        + "".join(f"; {p}" for p in parts),
        code="selftest.figures",
    )


def _judge_test(rec: Recorder, options: Options, test: Test) -> None:
    name = test.name
    if name.startswith("fds_above_"):
        _judge_high_fds(rec, options, test)
        return
    title = TEST_TITLES.get(name, name)
    detail = test.detail or ""
    if test.status == "ok":
        extra = ""
        if test.connections is not None:
            extra = f": {test.connections} connections"
            if test.clients == 1:
                extra += " from a client process of their own"
            elif test.clients:
                extra += f" from {test.clients} client processes"
        elif test.datagrams is not None:
            extra = f": {test.datagrams} datagrams"
        rec.add("selftest", "ok", f"{title}{extra}, every byte verified", code=f"test.{name}")
    elif test.status == "skip":
        needed = name == "unix" and "unix_sockets" in options.needs
        rec.add(
            "selftest",
            "warn" if needed and test.cause == "no_tmp" else "ok",
            f"{title}: not tested, {detail}",
            "give the check a writable TMPDIR to prove them" if test.cause == "no_tmp" else None,
            f"test.{name}",
        )
    elif test.status == "unsupported":
        needed = name == "unix" and "unix_sockets" in options.needs
        rec.add(
            "selftest",
            "fail" if needed else "warn",
            f"{title}: this loop does not support them ({detail})",
            "choose a loop that does (--loop auto)" if needed else None,
            f"test.{name}",
        )
    elif test.status == "warn":
        rec.add("selftest", "warn", f"{title}: {detail}", _remedy(test, options), f"test.{name}")
    else:
        rec.add("selftest", "fail", f"{title}: {detail}", _remedy(test, options), f"test.{name}")


def _remedy(test: Test, options: Options) -> str | None:
    need = needed_nofile(options)
    if test.cause == "loopback":
        return LOOPBACK_REMEDY
    if test.cause == "ports":
        return PORTS_REMEDY
    if test.cause == "nofile":
        return (
            "have loop_setup.py raise the soft limit to the hard limit (the generated one does "
            "when the plan needs it), or " + NOFILE_REMEDY.format(n=suggest(need))
        )
    if test.cause == "client_nofile":
        return HARD_REMEDY.format(n=suggest(need))
    if test.cause == "memory":
        return (
            "the host ran out of memory for the test's connections (the kernel's socket buffers "
            "or the processes): give the host or container more memory (`docker run --memory`, "
            "the pod's memory limit), or check fewer connections at a time"
        )
    if test.cause == "mismatch":
        return "the loop or the setup alters data in transit: do not deploy this loop or setup"
    if test.cause == "timeout":
        return (
            "raise --timeout for this many connections, or find what slows the loop (a setup "
            "that blocks it, a debug mode); connections that wait in a full listen queue are "
            "retried by the kernel only a second later: see net.core.somaxconn"
        )
    return None


def _judge_high_fds(rec: Recorder, options: Options, test: Test) -> None:
    ceiling = test.name.rsplit("_", 1)[-1]
    if test.status == "ok":
        rec.add(
            "selftest",
            "ok",
            f"{test.connections} connections on descriptors {test.lowest_fd}-{test.highest_fd} "
            f"(above the select() ceiling of {ceiling}) worked through the loop",
            code="selftest.high_fds",
        )
        return
    fix: str | None
    if test.cause == "nofile":
        fix = (
            NOFILE_REMEDY.format(n=suggest(int(ceiling) * 4))
            + "; or have loop_setup.py raise the soft limit to the hard limit"
        )
    elif test.cause == "low_fd":
        fix = "something closes descriptors under the loop: find it in the setup or the loop"
    elif test.cause in ("timeout", "memory", "ports", "loopback"):  # not the selector's fault
        fix = _remedy(test, options)
    else:
        fix = "use a loop on epoll/kqueue (the default selector or uvloop), not select()"
    rec.add(
        "selftest",
        "fail",
        f"descriptors above {ceiling}: {test.detail}",
        fix,
        "selftest.high_fds",
    )


def loop_name(loop_class: str) -> str:
    """The loop a class belongs to: uvloop.Loop -> uvloop, asyncio.*EventLoop -> asyncio."""
    top = loop_class.split(".", 1)[0]
    return top if top in ("uvloop", "winloop", "rloop") else "asyncio"


def _last(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1] if name else None


def _judge_loop(rec: Recorder, expect: Expectation, rep: Report, loop: str) -> None:
    selector = rep.selector
    ran = f"{loop_name(loop)}'s {_last(loop)}" + (f" with {selector}" if selector else "")
    problems = []
    if expect.loop_class and _last(loop) != expect.loop_class:
        problems.append(f"the plan expects {expect.loop}'s {expect.loop_class}")
    elif expect.loop and not expect.loop_class and loop_name(loop) != expect.loop:
        problems.append(f"the plan expects the {expect.loop} loop")
    if expect.selector_class and selector != expect.selector_class:
        problems.append(f"the plan expects the selector {expect.selector_class}")
    if problems:
        rec.add(
            "selftest",
            "fail",
            f"the setup ran {ran}, but " + " and ".join(problems),
            "regenerate loop_setup.py with `iodetect snippet`, or pass --loop/--selector to "
            "match what the application means to run",
            "selftest.loop",
        )
    else:
        rec.add("selftest", "ok", f"ran {ran} as planned", code="selftest.loop")
    if rep.factory_loop and rep.factory_loop != loop:
        rec.add(
            "selftest",
            "warn",
            f"new_event_loop() gives {rep.factory_loop} but run() used {loop}: servers started "
            "with `--loop loop_setup:new_event_loop` would get a different loop",
            code="selftest.factory",
        )
    elif rep.factory_error:
        rec.add(
            "selftest",
            "fail",
            f"new_event_loop() failed: {rep.factory_error}",
            code="selftest.factory",
        )


def _judge_nofile(rec: Recorder, options: Options, rep: Report) -> None:
    """The soft limit the loop actually ran with must cover the need."""
    inside = rep.nofile_in_loop
    if inside is None or inside.soft is None:
        return
    before = rep.nofile_before
    need = needed_nofile(options)
    soft = limit(inside.soft)
    if soft is not None and soft < need:
        hard = limit(inside.hard)
        can = hard is not None and hard >= need
        rec.add(
            "selftest",
            "fail",
            f"soft descriptor limit inside the loop is {show(inside.soft)}, below the {need} "
            "needed"
            + (
                f"; the hard limit {show(inside.hard)} would allow it but the setup does not "
                "raise it"
                if can
                else f", and the hard limit {show(inside.hard)} does not allow raising it"
            ),
            (
                "have loop_setup.py raise the soft limit (the generated one does when the plan "
                "needs it), or " + NOFILE_REMEDY.format(n=suggest(need))
            )
            if can
            else HARD_REMEDY.format(n=suggest(need)),
            "nofile.soft",
        )
    elif before is not None and before.soft is not None and before.soft != inside.soft:
        rec.add(
            "selftest",
            "ok",
            f"the setup raised the soft descriptor limit from {show(before.soft)} to "
            f"{show(inside.soft)}",
            code="nofile.raised",
        )


def _judge_fds(rec: Recorder, rep: Report) -> None:
    fds = rep.fds
    if fds is None:
        return
    if fds.leaked:
        shown = ", ".join(f"{d.fd} ({d.target})" for d in fds.leaked[:5])
        rec.add(
            "selftest",
            "fail",
            f"{len(fds.leaked)} descriptor(s) left open after the loop finished: {shown}",
            "close the loop and its transports when run() ends (loop.close(), "
            "shutdown_asyncgens(), shutdown_default_executor())",
            "selftest.leak",
        )
    else:
        rec.add(
            "selftest",
            "ok",
            f"no descriptor leaked ({fds.before} open before the run, {fds.after} after)",
            code="selftest.leak",
        )


def _judge_warnings(rec: Recorder, rep: Report, failed: set[str]) -> None:
    """Warnings by whose they are. A ResourceWarning is a leak of the setup or the loop (where
    the collector happened to run says nothing of who leaked), unless it came out of a test that
    failed: then it follows from that failure. Other warnings are the setup's or a library's
    (they warn), or the worker's own (only noted: they say nothing of the setup)."""
    crashed = rep.error_stage in ("run", "deadline")
    unclosed = []
    for w in rep.warnings:
        if w.category == "ResourceWarning":
            if w.phase in failed or (crashed and w.phase == "run"):
                title = TEST_TITLES.get(w.phase, w.phase)
                rec.add(
                    "selftest",
                    "warn",
                    f"after the failed {title} test, the loop left a resource open "
                    f"(ResourceWarning: {w.message}); it follows from that failure, not from "
                    "the setup",
                    code="selftest.resource_after_failure",
                )
            else:
                unclosed.append(f"{w.message} ({w.where})")
            continue
        if w.origin == "worker":
            rec.add(
                "selftest",
                "ok",
                f"the self-test worker itself raised {w.category} at {w.where}: {w.message} "
                "(not the setup's)",
                code="selftest.worker_warning",
            )
            continue
        rec.add(
            "selftest",
            "warn",
            f"{w.category} at {w.where}: {w.message}",
            "the setup uses an API this Python deprecates; regenerate it with `iodetect snippet`"
            if w.category in ("DeprecationWarning", "PendingDeprecationWarning")
            else None,
            "selftest.warning",
        )
    if unclosed:
        more = f" and {len(unclosed) - 1} more" if len(unclosed) > 1 else ""
        rec.add(
            "selftest",
            "fail",
            f"resources left open (ResourceWarning): {unclosed[0]}{more}",
            "close every transport, server and loop the setup creates",
            "selftest.resource",
        )


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
