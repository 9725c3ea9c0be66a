"""The serve step: the real launch command, started, read from outside and stopped.

The self-test proves the loop setup; this step proves that the service's launch command
(uvicorn, gunicorn, hypercorn, granian, a script of its own) runs it. `inspect --serve`
(iodetect.inspect.serve) starts the command in a session of its own, waits for its workers,
reads them from /proc and stops everything it started, also on a deadline, an error or a stop
signal; this step holds each worker's loop, selector and soft descriptor limit against the plan
and, with --snippet, against the loop the module's header declares (check.declared), and names
the server's own way to take the loop in each remedy.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iodetect.catalog.mechanisms import SELECTOR_CLASSES
from iodetect.check.declared import read as read_declared
from iodetect.check.findings import Recorder
from iodetect.check.limits import HARD_REMEDY, NOFILE_REMEDY, limit, show, suggest
from iodetect.check.options import NOFILE_HEADROOM, Expectation, Options, needed_nofile
from iodetect.errors import ServeError, UsageError
from iodetect.text import show_command

if TYPE_CHECKING:
    from iodetect.check.report import Report
    from iodetect.inspect.model import Inspection, Loop
    from iodetect.inspect.model import Report as Served
    from iodetect.model import Facts

MIN_SECONDS = 5.0  # the least the step waits for the command to serve
SELFTEST_SHARE = 0.5  # the self-test's share of what is left when this step follows it
SERVERS = ("uvicorn", "gunicorn", "hypercorn", "granian", "fastapi")
DOCS = "docs/servers.md"


def argv_of(command: str) -> list[str]:
    """The command as argv; an error with exit 2 when it cannot be used at all."""
    if not sys.platform.startswith("linux"):
        raise UsageError(f"--serve reads /proc and works on Linux only (this is {sys.platform})")
    from iodetect.inspect.serve import argv_of as parse

    return parse(command)


# --- what the worker must run --------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A loop to hold the workers to: the plan's, or the one loop_setup.py declares."""

    loop: str | None  # asyncio, uvloop, winloop, rloop
    selector_class: str | None  # for the standard loop; None: any
    origin: str  # for people: "the plan", "loop_setup.py (the loop its header declares)"

    def text(self) -> str:
        if self.loop is None:
            return "any loop" + (f" with {self.selector_class}" if self.selector_class else "")
        if self.loop == "asyncio":
            what = "the standard asyncio loop"
            return what + (f" with {self.selector_class}" if self.selector_class else "")
        return self.loop

    def same(self, other: Choice) -> bool:
        return (self.loop, self.selector_class) == (other.loop, other.selector_class)


# --- how the command takes its loop --------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """The server a launch command starts, as far as its words say."""

    server: str | None  # one of SERVERS; None: a command of the service's own
    loop: str | None = None  # the value of its loop option: uvicorn/granian --loop
    worker: str | None = None  # gunicorn's and hypercorn's worker class (-k)


def _words(argv: Sequence[str]) -> list[str]:
    """argv, with a shell's -c string split once (`sh -c 'ulimit -n 4096; exec uvicorn ...'`)."""
    out: list[str] = []
    for arg in argv[:256]:
        if any(c.isspace() for c in arg):
            try:
                out += [w.rstrip(";") for w in shlex.split(arg[:4096])]
            except ValueError:
                out.append(arg)
        else:
            out.append(arg)
    return out


def _option(words: Sequence[str], *names: str) -> str | None:
    value = None
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                value = words[i + 1]
            elif name.startswith("--") and word.startswith(name + "="):
                value = word.split("=", 1)[1]
    return value


def launch_of(argv: Sequence[str]) -> Launch:
    words = _words(argv)
    for i, word in enumerate(words):
        name = os.path.basename(word)
        if name == "-m" and i + 1 < len(words):
            name = words[i + 1].split(".", 1)[0]
        if name in SERVERS:
            rest = words[i + 1 :]
            if name in ("gunicorn", "hypercorn"):
                return Launch(name, worker=_option(rest, "-k", "--worker-class"))
            return Launch(name, loop=_option(rest, "--loop"))
    return Launch(None)


def loop_remedy(launch: Launch, want: Choice) -> str:
    """How this server is made to run the wanted loop: its own way to take one (each as the
    server's code at a release has it; the recipes are tested in docs/servers.md)."""
    factory = "`--loop loop_setup:new_event_loop`"
    if launch.server == "uvicorn":
        # uvicorn/config.py Config.get_loop_factory(): a --loop value other than its own names
        # is imported and used as the loop factory (0.36.0, "Allow to provide importable string
        # in --loop", #2658); auto takes uvloop when it imports (uvicorn/loops/auto.py).
        ran = (
            "without --loop, uvicorn runs its own choice (auto: uvloop when it imports, else the "
            "standard loop on the default selector)"
            if launch.loop is None
            else f"uvicorn's --loop {launch.loop} chooses the loop itself"
            if ":" not in launch.loop
            else f"the factory {launch.loop} builds another loop"
        )
        return (
            f"{ran}: start it with {factory} (uvicorn 0.36+) so that every worker builds the "
            f"loop with the module `iodetect snippet` writes; see {DOCS}"
        )
    if launch.server == "fastapi":
        # fastapi-cli 0.0.32 src/fastapi_cli/cli.py: uvicorn.run(...) is given no loop=.
        return (
            "`fastapi run` and `fastapi dev` pass no loop to uvicorn, so uvicorn runs its own "
            f"choice (auto): start uvicorn itself with {factory} (uvicorn 0.36+); see {DOCS}"
        )
    if launch.server == "gunicorn":
        if launch.worker and "uvicorn" in launch.worker.lower():
            # uvicorn_worker/_workers.py 0.4.0: run() calls asyncio_run(..., loop_factory=
            # self.config.get_loop_factory()) with CONFIG_KWARGS["loop"] ("auto"; "asyncio" for
            # UvicornH11Worker); 0.3.0 and earlier set it through config.setup_event_loop(), an
            # event-loop policy that no factory reaches.
            return (
                f"gunicorn's {launch.worker} takes its loop from the worker class's "
                'CONFIG_KWARGS["loop"] (UvicornWorker: auto, UvicornH11Worker: asyncio; before '
                "uvicorn-worker 0.4.0 it set the loop through an event-loop policy): run a "
                'worker subclass with CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "loop": '
                '"loop_setup:new_event_loop"} (uvicorn-worker 0.4+, uvicorn 0.36+); see '
                f"{DOCS}"
            )
        return (
            f"gunicorn's worker class ({launch.worker or 'sync'}) builds the loop itself: use "
            f"a uvicorn worker subclass that names the factory; see {DOCS}"
        )
    if launch.server == "hypercorn":
        # hypercorn/run.py and hypercorn/asyncio/run.py (0.18): -k asyncio runs asyncio's
        # Runner with no loop factory, -k uvloop with uvloop.new_event_loop; nothing takes one.
        if want.loop == "uvloop":
            return (
                "hypercorn picks its loop by worker class only: start it with `-k uvloop`; "
                f"see {DOCS}"
            )
        return (
            "hypercorn's --worker-class picks the loop by name and takes no factory: start "
            f"hypercorn through the module's run() (the serve_hypercorn.py recipe in {DOCS})"
        )
    if launch.server == "granian":
        # granian/_loops.py (2.8): --loop is a name (auto: rloop, then uvloop, winloop, asyncio).
        if want.loop in ("uvloop", "rloop", "winloop"):
            return (
                f"granian's --loop takes only a name: start it with `--loop {want.loop}`; "
                f"see {DOCS}"
            )
        return (
            "granian's --loop takes only a name and never imports loop_setup: run granian's "
            f"embedded server under the module's run() (the serve_granian.py recipe in {DOCS})"
        )
    return (
        "the command builds its loop itself: have it run the service with loop_setup.run(main()), "
        f"or hand loop_setup.new_event_loop to its server; see {DOCS}"
    )


# --- the step ------------------------------------------------------------------------------------


def budget(rec: Recorder) -> float:
    """The step's own deadline for the command to serve: what the check has left."""
    return round(max(MIN_SECONDS, rec.deadline.remaining()), 1)


def serve(
    rec: Recorder,
    options: Options,
    expect: Expectation,
    facts: Facts,
    report: Report | None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Start options.serve, compare its workers with the plan, stop everything; the JSON view
    of what was served. UsageError for a command that cannot be parsed."""
    from iodetect.inspect import inspector
    from iodetect.inspect import serve as serving

    assert options.serve is not None
    argv = argv_of(options.serve)
    shown = show_command(argv)
    plan = Choice(expect.loop, expect.selector_class, "the plan")
    module = _module_choice(options, report)
    need = needed_nofile(options)
    seconds = budget(rec)
    how = inspector.Options(
        timeout=seconds,
        plan=False,  # the plan is the check's own; the worker's interpreter need not run
        tasks=False,
        loop=options.loop,
        selector=options.selector,
        needs=options.needs,
    )
    try:
        served = serving.serve(shlex.join(argv), how, progress=progress)
    except ServeError as exc:
        rec.add(
            "serve",
            "fail",
            str(exc),
            "give --serve the command that starts the service, as its deploy runs it",
            "serve.command",
        )
        return _view(None, shown, plan, module, need)
    _carry(rec, served, shown, seconds, stopped=False)
    workers = [i for i in served.inspections if i.role == "worker"]
    if workers:
        _judge_loops(rec, workers, plan, module, launch_of(argv))
        _judge_nofile(rec, workers, options)
        _judge_interpreter(rec, workers, facts)
    _carry(rec, served, shown, seconds, stopped=True)
    return _view(served, shown, plan, module, need)


def _carry(rec: Recorder, served: Served, shown: str, seconds: float, stopped: bool) -> None:
    """inspect's own serve findings (started, exited, timeout, exposed; with `stopped`, only
    serve.stopped, which comes last) in the check's words: the command as shown here (values
    that look secret hidden), the check's options."""
    s = served.serve
    raw = s.command if s is not None else ""
    tail = list(s.output_tail[-3:]) if s is not None else []
    for f in served.findings:
        if f.step not in ("serve", "inspect") or (f.code == "serve.stopped") != stopped:
            continue
        message = f.message.replace(raw, shown) if raw else f.message
        remedy = f.remedy
        code = f.code if f.step == "serve" else "serve.partial"
        if f.code == "serve.exited":
            remedy = "run the command by hand to see why"
            if tail:
                message += "; its last output: " + " | ".join(tail)
        elif f.code == "serve.timeout":
            message = message.replace(f"within {seconds:g} s", f"within the step's {seconds:g} s")
            remedy = (
                "raise --timeout if the service starts slowly (this step has what the self-test "
                "leaves of it); the command must listen on a TCP port on this host"
                + ("; its last output: " + " | ".join(tail) if tail else "")
            )
        rec.add("serve", f.level, message, remedy, code)


def _module_choice(options: Options, report: Report | None) -> Choice | None:
    """The loop the application's module declares (--snippet), else the one the self-test saw
    it build; None for the generated module, which is the plan."""
    if options.setup_source is None:
        return None
    name = options.setup_name
    got = read_declared(options.setup_source)
    if got is not None and got.problem is None and got.loop not in (None, "auto"):
        package = "asyncio" if got.loop in ("asyncio", "selector", "proactor") else got.loop
        selector = SELECTOR_CLASSES.get(got.selector) if got.selector else None
        return Choice(package, selector, f"{name} (the loop its header declares)")
    if report is not None and (report.factory_loop or report.loop):
        from iodetect.check.judge import loop_name

        ran = report.factory_loop or report.loop or ""
        selector = report.selector if ran == report.loop else None
        return Choice(loop_name(ran), selector, f"{name} (what the self-test saw it build)")
    return None


def _runs(loop: Loop) -> str:
    """What a worker runs, for people."""
    if loop.model == "thread per connection":
        return "no event loop (a thread-per-connection server)"
    if loop.model != "event loop":
        return "no event loop iodetect can see"
    if loop.running is None:
        return f"a loop iodetect does not recognise, waiting in {loop.call}"
    if loop.running == "asyncio":
        what = "the standard asyncio loop" + (f" with {loop.selector}" if loop.selector else "")
    else:
        what = loop.running
    return what + (f" ({loop.call})" if loop.call else "")


def _matches(loop: Loop, want: Choice) -> bool:
    if loop.model != "event loop" or loop.running is None:
        return False
    if want.loop is not None and loop.running != want.loop:
        return False
    # The selector shows only for the standard loop, and only where the call tells it.
    return not (
        want.selector_class
        and loop.running == "asyncio"
        and loop.selector is not None
        and loop.selector != want.selector_class
    )


def _pids(workers: Sequence[Inspection]) -> str:
    """`worker 12` or `workers 12, 13`."""
    pids = ", ".join(str(w.snapshot.pid) for w in workers)
    return f"worker {pids}" if len(workers) == 1 else f"workers {pids}"


def _who(workers: Sequence[Inspection]) -> str:
    """`worker 12 runs` or `workers 12, 13 run`."""
    return _pids(workers) + (" runs" if len(workers) == 1 else " run")


def _judge_loops(
    rec: Recorder,
    workers: Sequence[Inspection],
    plan: Choice,
    module: Choice | None,
    launch: Launch,
) -> None:
    groups: dict[str, list[Inspection]] = {}
    for w in workers:
        groups.setdefault(_runs(w.snapshot.loop), []).append(w)
    also = module is not None and module.same(plan)
    for runs, group in groups.items():
        loop = group[0].snapshot.loop
        who = _who(group)
        for want in (plan, module):
            if want is None or (want is module and also):
                continue
            code = "serve.loop" if want is plan else "serve.snippet"
            says = "the plan says" if want is plan else f"{want.origin} says"
            if also and module is not None:
                says = f"the plan and {module.origin} say"
            if _matches(loop, want):
                rec.add("serve", "ok", f"{who} {runs}, as {says}", code=code)
                continue
            if want is plan and loop.running == want.loop:
                code = "serve.selector"  # the right loop on another selector
            rec.add(
                "serve",
                "fail",
                f"{who} {runs}, but {says} {want.text()}",
                loop_remedy(launch, want),
                code,
            )


def _judge_nofile(rec: Recorder, workers: Sequence[Inspection], options: Options) -> None:
    need = needed_nofile(options)
    extra = f", --min-nofile {options.min_nofile}" if options.min_nofile else ""
    wanted = f"{options.connections} connections + {NOFILE_HEADROOM} headroom{extra}"
    groups: dict[tuple[int | None, int | None], list[Inspection]] = {}
    for w in workers:
        lim = w.snapshot.limits
        groups.setdefault((lim.nofile_soft, lim.nofile_hard), []).append(w)
    for (soft, hard), group in groups.items():
        who = _who(group)
        if soft is None:
            rec.add(
                "serve",
                "warn",
                f"the descriptor limits of {_pids(group)} could not be read",
                None,
                "serve.nofile",
            )
            continue
        cap = limit(soft)
        if cap is not None and cap >= need:
            rec.add(
                "serve",
                "ok",
                f"{who} with a soft descriptor limit of {show(soft)} (hard {show(hard)}), "
                f"covering the {need} needed",
                code="serve.nofile",
            )
            continue
        top = limit(hard)
        can = top is None or top >= need
        rec.add(
            "serve",
            "fail",
            f"{who} with a soft descriptor limit of {show(soft)}, below the {need} needed "
            f"({wanted})"
            + (
                f"; the hard limit {show(hard)} would allow it, but nothing raised it"
                if can
                else f", and the hard limit {show(hard)} does not allow raising it"
            ),
            (
                "start the server with `--loop loop_setup:new_event_loop` and a module generated "
                "for this need (`iodetect snippet --connections N`: its new_event_loop() raises "
                "the soft limit), or " + NOFILE_REMEDY.format(n=suggest(need))
            )
            if can
            else HARD_REMEDY.format(n=suggest(need)),
            "serve.nofile",
        )


def _judge_interpreter(rec: Recorder, workers: Sequence[Inspection], facts: Facts) -> None:
    """The plan is made for the checked interpreter: a worker on another one is not covered."""
    planned = facts.interpreter
    others = []
    for w in workers:
        it = w.snapshot.interpreter
        same_impl = it.implementation == planned.implementation
        version = it.version
        same_version = version is None or (planned.release + ".").startswith(version + ".")
        if not (same_impl and same_version):
            others.append((w, f"{it.implementation} {version or '(version unknown)'}"))
    for w, what in others:
        rec.add(
            "serve",
            "warn",
            f"worker {w.snapshot.pid} runs {what}, but the check probed "
            f"{planned.implementation} {planned.release}: the plan and the self-test are for "
            "that one",
            "pass --python with the interpreter the launch command runs (its virtual "
            "environment's python)",
            "serve.interpreter",
        )


def _view(
    served: Served | None, shown: str, plan: Choice, module: Choice | None, need: int
) -> dict[str, Any]:
    """The JSON form (schema: check.schema.json, `serve`); `served` None: it never started."""
    s = served.serve if served is not None else None
    workers = []
    for w in served.inspections if served is not None else ():
        snap = w.snapshot
        workers.append(
            {
                "pid": snap.pid,
                "implementation": snap.interpreter.implementation,
                "python": snap.interpreter.version,
                "loop": snap.loop.running,
                "loop_library": snap.loop.library,
                "model": snap.loop.model,
                "mechanism": snap.loop.mechanism,
                "call": snap.loop.call,
                "selector": snap.loop.selector,
                "nofile_soft": snap.limits.nofile_soft,
                "nofile_hard": snap.limits.nofile_hard,
            }
        )
    return {
        "command": shown,
        "started": bool(s and s.started),
        "ready_seconds": s.ready_seconds if s else None,
        "listening": list(s.listening) if s else [],
        "workers": workers,
        "supervisors": list(s.supervisors) if s else [],
        "expected": {
            "loop_package": plan.loop,
            "selector_class": plan.selector_class,
            "nofile_needed": need,
            "module": None
            if module is None
            else {
                "loop_package": module.loop,
                "selector_class": module.selector_class,
                "origin": module.origin,
            },
        },
        "stopped": bool(s and s.stopped),
        "stop_seconds": s.stop_seconds if s else None,
        "left_running": list(s.left_running) if s else [],
        "output_tail": list(s.output_tail) if s else [],
    }
