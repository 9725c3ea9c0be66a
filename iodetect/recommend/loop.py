"""Loop choice: which loop runs, from the needs, what is installed here and the catalog."""

from __future__ import annotations

from iodetect.catalog import advisories, loops, support
from iodetect.catalog.platforms import SRC_PLATFORMS
from iodetect.catalog.records import Advisory, show_version, version_tuple
from iodetect.model import Facts, PlanLoop
from iodetect.recommend.needs import Notes, who
from iodetect.recommend.plan import BenchEvidence, DerivedNeed, Needs, Note, PythonRange
from iodetect.record import frozen

SRC_BENCH = "iodetect bench (measured on this host)"
SRC_SELECTORS_DOC = "docs.python.org/3/library/asyncio-eventloop.html (SelectorEventLoop)"


@frozen
class Usable:
    """Can an alternative loop run here for every version in the range? Netty-style: why not."""

    ok: bool
    why: str  # why not, or a note when ok
    code: str
    source: str
    known: bool = True  # False: documented facts cannot say whether it is installed
    broken: bool = False  # installed, but it does not import or does not support this Python
    blocked: tuple[Advisory, ...] = ()  # open data-integrity advisories of the installed version
    warning: str | None = None  # usable, but only older releases support part of the range


@frozen
class Context:
    """What every loop decision reads."""

    facts: Facts
    needs: Needs
    python: PythonRange
    family: str
    strict: set[str]
    soft: set[str]
    derived: tuple[DerivedNeed, ...]

    @property
    def windows(self) -> bool:
        return self.family == "win32"


def usable(ctx: Context, name: str) -> Usable:
    facts = ctx.facts
    found = support.loop_support(
        name,
        None,
        ctx.family,
        facts.interpreter.implementation,
        ctx.python.versions(),
        facts.interpreter.free_threaded,
    )
    if not found.ok:
        return Usable(False, found.why, found.code, found.source)
    warning = found.warning
    loop = facts.loop(name)
    installed = loop.installed if loop is not None else None
    if installed is None:
        if facts.origin == "documented":
            why = (
                f"documented facts cannot say whether {name} is installed; the module checks "
                "when it is imported"
            )
            return Usable(True, why, "loop.unknown", found.source, known=False, warning=warning)
        return Usable(False, f"{name} is not installed", "loop.missing", found.source)
    if loop is not None and loop.importable is False:
        error = loop.import_error or "unknown error"
        why = f"{name} {installed} is installed but does not import: {error}"
        return Usable(False, why, "loop.broken", found.source, broken=True)
    versioned = support.loop_support(
        name,
        installed,
        ctx.family,
        facts.interpreter.implementation,
        ctx.python.versions(),
        facts.interpreter.free_threaded,
    )
    if not versioned.ok:
        return Usable(False, versioned.why, versioned.code, versioned.source, broken=True)
    blocked = tuple(a for a in applying(name, installed, ctx) if blocks(a))
    note = f"{name} {installed} is installed and imports"
    return Usable(True, note, "loop.ok", found.source, blocked=blocked, warning=warning)


def applying(name: str, installed: str | None, ctx: Context) -> tuple[Advisory, ...]:
    """The catalog's advisories that apply to this installed version on these Pythons."""
    version = version_tuple(installed)
    if version is None:
        return ()
    return tuple(
        a
        for a in advisories.advisories_for(name)
        if any(a.applies(version, py) for py in ctx.python.versions())
    )


def blocks(advisory: Advisory) -> bool:
    """An open risk to every service's data: `auto` does not pick such a version."""
    return advisory.severity == "data-integrity" and advisory.condition is None


def install_spec(name: str, ctx: Context) -> str:
    """The pip requirement for `name` on this range, clear of blocking advisories."""
    low = support.minimum(name, ctx.python.versions(), ctx.facts.interpreter.free_threaded)
    for a in advisories.advisories_for(name):
        if blocks(a) and a.fixed_in is not None and (low is None or low < a.fixed_in):
            low = a.fixed_in
    return f"{name}>={show_version(low)}" if low is not None else name


def standard(ctx: Context, why: str, source: str = "") -> tuple[PlanLoop, Note]:
    """The standard loop that fits the needs on this platform; source backs `why`."""
    if not ctx.windows:
        return "selector", Note(
            f"standard SelectorEventLoop: {why}", source or SRC_SELECTORS_DOC, "loop.standard"
        )
    if "add_reader" in ctx.strict:
        by = who(ctx.derived, "add_reader", ctx.needs.needs)
        text = f"SelectorEventLoop on Windows: add_reader ({by}) needs it; {why}"
        return "selector", Note(text, SRC_PLATFORMS, "loop.standard")
    if "subprocess" in ctx.strict:
        text = f"ProactorEventLoop: subprocesses need it on Windows; {why}"
        return "proactor", Note(text, SRC_PLATFORMS, "loop.standard")
    if "add_reader" in ctx.soft:
        libs = [d for d in ctx.derived if d.need == "add_reader" and not d.strict]
        text = (
            "SelectorEventLoop on Windows: keeps add_reader on the loop's own thread ("
            + ", ".join(d.library for d in libs)
            + f" would add a selector thread on Proactor); {why}"
        )
        return "selector", Note(
            text, "; ".join(dict.fromkeys(d.source for d in libs)), "loop.standard"
        )
    text = f"ProactorEventLoop (IOCP), the Windows default since 3.8; {why}"
    return "proactor", Note(text, SRC_PLATFORMS, "loop.standard")


def choose(ctx: Context, bench: BenchEvidence | None, notes: Notes) -> tuple[PlanLoop, Note]:
    """The loop: asked for, measured fastest, or the best stable one here."""
    asked = ctx.needs.loop
    if asked == "auto" and ctx.needs.selector is not None:
        return standard(ctx, f"--selector {ctx.needs.selector} implies it")
    if asked == "asyncio":
        return standard(ctx, "requested with --loop asyncio")
    if asked == "selector":
        return _selector(ctx, notes)
    if asked == "proactor":
        return _proactor(ctx, notes)
    for record in loops.LOOPS:
        if asked == record.name:
            return _alternative(ctx, record.name, notes)
    return _auto(ctx, bench, notes)


def _selector(ctx: Context, notes: Notes) -> tuple[PlanLoop, Note]:
    if ctx.windows and "subprocess" in ctx.strict:
        notes.conflict(
            "--loop selector on Windows cannot start subprocesses ("
            + who(ctx.derived, "subprocess", ctx.needs.needs)
            + ")",
            "use --loop proactor, or drop the subprocess need",
            SRC_PLATFORMS,
            "loop.selector_subprocess",
        )
    return "selector", Note(
        "SelectorEventLoop: requested with --loop selector", SRC_SELECTORS_DOC, "loop.requested"
    )


def _proactor(ctx: Context, notes: Notes) -> tuple[PlanLoop, Note]:
    if not ctx.windows:
        notes.conflict(
            f"--loop proactor: ProactorEventLoop exists only on Windows, not {ctx.family}",
            "use --loop auto or --loop selector",
            SRC_PLATFORMS,
            "loop.proactor_platform",
        )
        return "selector", Note(
            "ProactorEventLoop requested, but it is Windows-only", SRC_PLATFORMS, "loop.requested"
        )
    if "add_reader" in ctx.strict:
        notes.conflict(
            "--loop proactor has no add_reader ("
            + who(ctx.derived, "add_reader", ctx.needs.needs)
            + ")",
            "use --loop selector, or drop the library that needs add_reader",
            SRC_PLATFORMS,
            "loop.proactor_add_reader",
        )
    return "proactor", Note(
        "ProactorEventLoop: requested with --loop proactor", SRC_PLATFORMS, "loop.requested"
    )


def _alternative(ctx: Context, name: PlanLoop, notes: Notes) -> tuple[PlanLoop, Note]:
    record = loops.loop(name)
    assert record is not None
    use = usable(ctx, name)
    if not use.ok:
        hard = use.code in (
            "loop.platform",
            "loop.implementation",
            "loop.python",
            "loop.free_threaded",
        )
        remedy = (
            "use --loop auto"
            if hard
            else f"pip install '{install_spec(name, ctx)}', or use --loop auto"
        )
        notes.conflict(f"--loop {name}: {use.why}", remedy, use.source, use.code)
    elif not use.known:
        notes.warn(use.why, "facts origin: documented (iodetect.platforms)", use.code)
    if use.ok and use.warning:
        notes.warn(use.warning, use.source, "loop.python_older")
    if not record.auto:
        notes.warn(
            f"{name}: {record.maturity}; never chosen automatically",
            record.maturity_source,
            f"loop.{name}.maturity",
        )
    for gap in loops.LOOP_GAPS:
        if gap.loop == name and gap.need is not None and gap.need in ctx.strict:
            notes.conflict(
                f"--loop {name} has no {gap.what} ({gap.need} needed)",
                "use --loop auto, or drop the need",
                gap.source,
                "loop.gap",
            )
    return name, Note(
        f"{name}: requested with --loop {name}" + (f" ({use.why})" if use.ok else ""),
        record.source,
        "loop.requested",
    )


def _auto(ctx: Context, bench: BenchEvidence | None, notes: Notes) -> tuple[PlanLoop, Note]:
    """The first loop the catalog lets `auto` choose that is usable here, else the standard one."""
    candidates = [(lp, usable(ctx, lp.name)) for lp in loops.LOOPS if lp.auto]
    here = [(lp, use) for lp, use in candidates if use.code not in ("loop.platform",)]
    if bench is not None:
        measured = _measured(ctx, bench, dict((lp.name, use) for lp, use in here), notes)
        if measured is not None:
            return measured
    for record, use in here:
        if use.ok and use.known and not use.blocked:
            return record.name, Note(
                f"{record.name}: {use.why}; {record.maturity}", record.maturity_source, "loop.auto"
            )
    if not here:
        _not_auto_installed(ctx, notes)
        return standard(ctx, f"no stable alternative loop exists for {_platform_name(ctx)}")
    record, use = here[0]
    return _standard_instead(ctx, record.name, use, notes)


def _standard_instead(ctx: Context, name: str, use: Usable, notes: Notes) -> tuple[PlanLoop, Note]:
    """Why the standard loop, when the loop `auto` would choose is not usable here."""
    if use.blocked:
        a = use.blocked[0]
        fix = f"; {install_spec(name, ctx)} fixes it" if a.fixed_in else ""
        found = ctx.facts.loop(name)
        version = found.installed if found is not None else "?"
        notes.warn(
            f"{name} {version} is installed but not used: advisory {a.id} ({a.severity}): "
            f"{a.summary}{fix}",
            a.source,
            f"advisory.{a.id}",
        )
        return standard(ctx, f"{name} {a.id} ({a.severity})")
    if use.broken:
        notes.warn(f"{name} not used: {use.why}", use.source, use.code)
    if not use.known:
        return standard(
            ctx,
            f"the facts cannot say whether {name} is installed; ask with --loop {name} to use "
            "it (the module then checks it on import)",
        )
    _not_auto_installed(ctx, notes)
    return standard(ctx, use.why, use.source) if not use.ok else standard(ctx, "no faster loop")


def _not_auto_installed(ctx: Context, notes: Notes) -> None:
    """A loop `auto` never picks is installed and would run here: say how to ask for it."""
    for record in loops.LOOPS:
        found = ctx.facts.loop(record.name)
        if record.auto or found is None or not found.installed:
            continue
        if usable(ctx, record.name).code == "loop.platform":
            continue
        notes.warn(
            f"{record.name} is installed but not chosen automatically ({record.maturity}); "
            f"ask with --loop {record.name}",
            record.maturity_source,
            f"loop.{record.name}.not_auto",
        )


def _platform_name(ctx: Context) -> str:
    return "Windows" if ctx.windows else ctx.family


def _measured(
    ctx: Context, bench: BenchEvidence, usable_here: dict[str, Usable], notes: Notes
) -> tuple[PlanLoop, Note] | None:
    """A saved bench run decides between stable loops; None: it does not decide here."""
    fastest = bench_loop(bench.fastest_loop)
    if fastest is None:
        return standard(ctx, f"measured: no loop beats it beyond the spread ({bench.summary})")
    if fastest == "standard":
        return standard(ctx, f"measured fastest here ({bench.summary})")
    record = loops.loop(fastest)
    if record is not None and not record.auto:
        notes.warn(
            f"{fastest} measured fastest ({bench.summary}), but it is not stable enough "
            f"to choose automatically; ask with --loop {fastest}",
            SRC_BENCH,
            "bench.not_auto",
        )
        return None
    use = usable_here.get(fastest)
    if record is not None and use is not None and use.ok and use.known and not use.blocked:
        return record.name, Note(
            f"{fastest}: measured fastest here ({bench.summary})", SRC_BENCH, "loop.bench"
        )
    notes.warn(
        f"{bench.fastest_loop} measured fastest ({bench.summary}), but it cannot be used here",
        SRC_BENCH,
        "bench.unusable",
    )
    return None


def bench_loop(name: str | None) -> str | None:
    """A bench loop name in plan terms: asyncio/standard -> the standard loop."""
    if name is None:
        return None
    if name in ("asyncio", "standard", "default", "selector", "proactor"):
        return "standard"
    return name
