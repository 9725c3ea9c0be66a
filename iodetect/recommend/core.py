"""The recommendation in steps: needs, loop, selector, descriptor limits, then the plan."""

from __future__ import annotations

from iodetect.catalog import cpython, loops, mechanisms, platforms, support
from iodetect.catalog.platforms import SRC_PLATFORMS
from iodetect.catalog.records import show_version
from iodetect.model import Facts, PlanLoop, SelectorName
from iodetect.recommend import limits, loop, selector
from iodetect.recommend.idiom import idiom_note
from iodetect.recommend.needs import Notes, derive, validate, who
from iodetect.recommend.plan import (
    NEWEST,
    OLDEST,
    SELECTOR_CLASSES,
    STANDARD_LOOPS,
    BenchEvidence,
    DerivedNeed,
    Expectation,
    Needs,
    Plan,
    PythonRange,
)

_FACTORIES: dict[str, str] = {
    "selector": "asyncio.SelectorEventLoop",
    "proactor": "asyncio.ProactorEventLoop",
    **{lp.name: lp.factory for lp in loops.LOOPS},
}


def recommend(
    facts: Facts,
    needs: Needs,
    bench: BenchEvidence | None = None,
    *,
    python: PythonRange | None = None,
) -> Plan:
    """The loop, selector and descriptor plan for this host and these needs, with reasons.

    python: the CPython versions the code must run on (default: the facts' interpreter).
    """
    validate(needs)
    py = python or PythonRange(facts.py, facts.py)
    family = platforms.family(facts.host.platform)
    notes = Notes()
    derived, strict, soft = _needs(facts, needs, family, notes)
    _check_python(facts, py, notes)
    ctx = loop.Context(facts, needs, py, family, strict, soft, derived)
    if family == "win32":
        _windows_needs(ctx, notes)
    chosen, why = loop.choose(ctx, bench, notes)
    _bench_notes(needs, bench, chosen, notes)
    sel, pin, ceiling = _selector(ctx, chosen, notes)
    nofile = limits.plan_nofile(
        facts.limits, facts.host.platform, needs.connections, ceiling, "subprocess" in strict, notes
    )
    installed = _installed(facts, chosen)
    advisories = _advisories(ctx, chosen, installed, notes)
    notes.reasons.insert(0, why)
    notes.reasons.append(idiom_note(py))
    return Plan(
        loop=chosen,
        loop_factory=_FACTORIES[chosen],
        selector=sel,
        pin_selector=pin,
        expect=_expect(chosen, family, sel),
        nofile=nofile,
        platform=family,
        python=py,
        needs=frozenset(strict),  # type: ignore[arg-type]  # validated names
        connections=needs.connections,
        reasons=tuple(notes.reasons),
        derived=derived,
        warnings=tuple(notes.warnings),
        conflicts=tuple(notes.conflicts),
        loop_version=installed,
        min_loop_version=_minimum(ctx, chosen),
        fallback_factory=None if chosen in STANDARD_LOOPS else _fallback(family, strict),
        select_ceiling=ceiling,
        implementation=facts.interpreter.implementation,
        implementation_version=facts.interpreter.implementation_version,
        install=None if chosen in STANDARD_LOOPS else loop.install_spec(chosen, ctx),
        advisories=advisories,
    )


def _needs(
    facts: Facts, needs: Needs, family: str, notes: Notes
) -> tuple[tuple[DerivedNeed, ...], set[str], set[str]]:
    """The needs installed libraries add; strict ones join the asked ones, soft ones stay
    preferences."""
    derived = derive(facts, family, notes)
    strict: set[str] = set(needs.needs) | {d.need for d in derived if d.strict}
    soft: set[str] = {str(d.need) for d in derived if not d.strict} - strict
    for d in derived:
        verb = "needs" if d.strict else "prefers"
        notes.reason(f"{d.library} {verb} {d.need}: {d.why}", d.source, f"library.{verb}")
    if family == "darwin" and "pty" in strict:
        notes.reason(
            "pty on macOS: kqueue and poll handle ptys on macOS 10.9 and later; no select() needed",
            selector.SRC_MACOS_PTY,
            "pty.darwin",
        )
    return derived, strict, soft


def _check_python(facts: Facts, py: PythonRange, notes: Notes) -> None:
    if py.low < OLDEST:
        notes.conflict(
            f"Python {py}: the generated code needs CPython {OLDEST[0]}.{OLDEST[1]} or later",
            "upgrade the interpreter, or pass a supported --target-python",
            cpython.SRC_OLDEST,
            "python.too_old",
        )
    if py.high is not None and py.high > NEWEST:
        notes.warn(
            f"Python {py} goes past {NEWEST[0]}.{NEWEST[1]}, the newest version these rules are "
            "verified on",
            cpython.SRC_NEWEST,
            "python.unverified",
        )
    if facts.interpreter.implementation not in ("cpython", "pypy"):
        notes.warn(
            f"the rules are verified on CPython and PyPy; this is "
            f"{facts.interpreter.implementation}",
            cpython.SRC_NEWEST,
            "python.implementation",
        )


def _windows_needs(ctx: loop.Context, notes: Notes) -> None:
    """Needs that no standard loop on Windows can meet."""
    winloop = ctx.needs.loop == "winloop"
    impossible = [
        ("unix_sockets", "no event loop on Windows has Unix socket servers or connections"),
        ("pty", "Windows has no ptys (no pty module)"),
    ]
    if not winloop:
        impossible.insert(
            0, ("signals", "no standard event loop on Windows has add_signal_handler")
        )
    for need, what in impossible:
        if need in ctx.strict:
            remedy = "drop the need, or deploy on Linux or macOS"
            if need == "signals":
                remedy += "; on Windows use signal.signal() in the main thread"
            notes.conflict(f"{need} on Windows: {what}", remedy, SRC_PLATFORMS, f"windows.{need}")
    if "add_reader" in ctx.strict and "subprocess" in ctx.strict and not winloop:
        reader = who(ctx.derived, "add_reader", ctx.needs.needs)
        child = who(ctx.derived, "subprocess", ctx.needs.needs)
        remedy = (
            "run one side in a thread with its own loop (e.g. the subprocess work on a "
            "ProactorEventLoop in a worker thread), or deploy on Linux or macOS"
        )
        found = support.loop_support(
            "winloop", None, "win32", ctx.facts.interpreter.implementation, ctx.python.versions()
        )
        if found.ok:
            remedy = (
                f"--loop winloop (pip install '{loop.install_spec('winloop', ctx)}': a libuv "
                f"loop with add_reader and subprocesses), or {remedy}"
            )
        notes.conflict(
            f"add_reader ({reader}) and subprocess ({child}) on Windows: SelectorEventLoop has "
            "add_reader but no subprocesses, ProactorEventLoop subprocesses but no add_reader",
            remedy,
            SRC_PLATFORMS
            + (
                "; Vizonex/Winloop winloop/loop.pyx (add_reader, subprocess_exec)"
                if found.ok
                else ""
            ),
            "windows.add_reader_subprocess",
        )


def _bench_notes(needs: Needs, bench: BenchEvidence | None, chosen: str, notes: Notes) -> None:
    if bench is None:
        return
    measured = loop.bench_loop(bench.fastest_loop) or "standard"
    running = "standard" if chosen in STANDARD_LOOPS else chosen
    if needs.loop != "auto" and measured != running:
        notes.warn(
            f"measured here, {bench.fastest_loop or 'the standard loop'} was fastest "
            f"({bench.summary}); --loop {needs.loop} overrides it",
            loop.SRC_BENCH,
            "bench.override",
        )
    if bench.style_finding:
        notes.reason(f"API style: {bench.style_finding}", loop.SRC_BENCH, "bench.style")


def _selector(
    ctx: loop.Context, chosen: PlanLoop, notes: Notes
) -> tuple[SelectorName | None, bool, int | None]:
    """The selector of a selector loop, whether the code names it, and select()'s ceiling."""
    if chosen != "selector":
        if ctx.needs.selector is not None:
            notes.conflict(
                f"--selector {ctx.needs.selector} applies only to the standard selector loop, "
                f"not {chosen}",
                "drop --selector, or use --loop selector",
                mechanisms.SRC_ORDER,
                "selector.not_selector_loop",
            )
        return None, False, None
    sel, pin = selector.choose_selector(ctx.facts, ctx.needs, ctx.family, ctx.strict, notes)
    ceiling = None
    if sel == "select":
        limit = selector.select_limit(ctx.facts, ctx.family)
        selector.check_capacity(ctx.needs.connections, limit, ctx.windows, notes)
        ceiling = limit.limit
    return sel, pin, ceiling


def _installed(facts: Facts, chosen: str) -> str | None:
    if chosen in STANDARD_LOOPS:
        return None
    found = facts.loop(chosen)
    return found.installed if found is not None else None


def _advisories(
    ctx: loop.Context, chosen: str, installed: str | None, notes: Notes
) -> tuple[str, ...]:
    """Every catalog advisory that applies to the loop the plan runs.

    A warning where the service can act on it (a release fixes it, or it threatens every
    service's data); a note otherwise (open reports, defects only some services reach), so
    that a `check --strict` gate is not failed by what no upgrade can change.
    """
    found = loop.applying(chosen, installed, ctx) if chosen not in STANDARD_LOOPS else ()
    for a in found:
        when = f" when {a.condition}" if a.condition else ""
        fix = (
            f"; fixed in {loop.install_spec(chosen, ctx)}"
            if a.fixed_in
            else "; open, no fix released"
        )
        text = f"advisory {a.id} for {chosen} {installed} ({a.severity}{when}): {a.summary}{fix}"
        if a.fixed_in is not None or loop.blocks(a):
            notes.warn(text, a.source, f"advisory.{a.id}")
        else:
            notes.reason(text, a.source, f"advisory.{a.id}")
    return tuple(a.id for a in found)


def _minimum(ctx: loop.Context, chosen: str) -> str | None:
    if chosen in STANDARD_LOOPS:
        return None
    low = support.minimum(chosen, ctx.python.versions(), ctx.facts.interpreter.free_threaded)
    return show_version(low) if low is not None else None


def _fallback(family: str, strict: set[str]) -> str:
    if family == "win32" and "add_reader" not in strict:
        return "asyncio.ProactorEventLoop"
    return "asyncio.SelectorEventLoop"


def _expect(chosen: str, family: str, sel: SelectorName | None) -> Expectation:
    if chosen == "selector":
        cls = "_WindowsSelectorEventLoop" if family == "win32" else "_UnixSelectorEventLoop"
        return Expectation(cls, "asyncio", SELECTOR_CLASSES[sel or "select"])
    if chosen == "proactor":
        return Expectation("ProactorEventLoop", "asyncio", None)
    record = loops.loop(chosen)
    assert record is not None
    return Expectation(record.loop_class, record.name, None)
