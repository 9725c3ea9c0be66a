"""The recommender as a table: fixture facts x needs -> loop, selector, conflicts, reasons."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from iodetect import model
from iodetect.model import (
    UNLIMITED,
    Facts,
    Interpreter,
    Library,
    Limits,
    Loop,
    SelectCeiling,
    Selector,
)
from iodetect.platforms import PLATFORMS, documented_facts
from iodetect.recommend import (
    HEADROOM,
    BenchEvidence,
    Needs,
    NeedsError,
    NofilePlan,
    Plan,
    PythonRange,
    assess_nofile,
    nofile_remedy,
    parse_needs,
    parse_python,
    recommend,
)

HOSTS = Path(__file__).parent / "hosts"


def host(name: str) -> Facts:
    return model.load(str(HOSTS / f"{name}.json"))


def with_loop(facts: Facts, name: str, **changes: object) -> Facts:
    loops = tuple(
        replace(lp, **changes) if lp.name == name else lp  # type: ignore[arg-type]
        for lp in facts.loops
    )
    return replace(facts, loops=loops)


def with_libs(facts: Facts, *libs: tuple[str, str]) -> Facts:
    return replace(facts, libraries=tuple(Library(n, v) for n, v in libs))


def with_python(facts: Facts, minor: int, free_threaded: bool = False) -> Facts:
    interp = replace(
        facts.interpreter,
        version=(3, minor, 0),
        release=f"3.{minor}.0",
        free_threaded=free_threaded,
    )
    return replace(facts, interpreter=interp)


def no_uvloop(facts: Facts) -> Facts:
    return with_loop(facts, "uvloop", installed=None, importable=None, supported=False)


def needs(*names: str, **kw: object) -> Needs:
    return Needs(needs=frozenset(names), **kw)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    facts: Facts
    needs: Needs
    loop: str
    selector: str | None
    conflict: str | None = None  # a substring of one conflict; None: no conflicts
    reason: str | None = None  # a substring of one reason
    warning: str | None = None  # a substring of one warning
    bench: BenchEvidence | None = None
    python: PythonRange | None = None


LINUX = host("linux")
DARWIN = host("darwin")
WIN = host("win32")
WIN_WINLOOP = replace(
    with_loop(WIN, "winloop", installed="0.2.2", importable=True, supported=True), origin="probe"
)
FREEBSD = host("freebsd")
SUNOS = host("sunos")

CASES = [
    # winloop: usable when installed, but never chosen automatically (0.x, one maintainer).
    Case(
        "win-winloop-installed-auto",
        WIN_WINLOOP,
        needs(),
        "proactor",
        None,
        warning="winloop is installed but not chosen automatically",
    ),
    Case(
        "win-winloop-installed-asked",
        WIN_WINLOOP,
        needs(loop="winloop"),
        "winloop",
        None,
        reason="winloop 0.2.2 is installed and imports",
    ),
    # Linux: uvloop where it is installed and imports, else the standard loop with epoll.
    Case("linux-auto-uvloop", LINUX, needs(), "uvloop", None, reason="uvloop 0.23.0"),
    Case(
        "linux-auto-std", no_uvloop(LINUX), needs(), "selector", "epoll", reason="DefaultSelector"
    ),
    Case("linux-asyncio", LINUX, needs(loop="asyncio"), "selector", "epoll"),
    Case(
        "linux-selector-poll",
        LINUX,
        needs(selector="poll"),
        "selector",
        "poll",
        reason="--selector poll implies it",
    ),
    Case(
        "linux-select-too-many",
        LINUX,
        needs(selector="select", connections=2000),
        "selector",
        "select",
        conflict="exceed what select() can watch",
    ),
    Case(
        "linux-select-unknown-load",
        LINUX,
        needs(selector="select"),
        "selector",
        "select",
        warning="select() watches at most 1024",
    ),
    Case(
        "linux-over-hard-limit",
        LINUX,
        needs(connections=30000),
        "uvloop",
        None,
        conflict="the hard limit is 20000",
    ),
    Case(
        "linux-within-limit",
        LINUX,
        needs(connections=10000),
        "uvloop",
        None,
        reason="already at the most this host allows",
    ),
    Case(
        "linux-rloop",
        LINUX,
        needs(loop="rloop"),
        "rloop",
        None,
        warning="not suited for production",
    ),
    Case(
        "linux-rloop-unix",
        LINUX,
        needs("unix_sockets", loop="rloop"),
        "rloop",
        None,
        conflict="--loop rloop has no Unix domain sockets",
    ),
    # rloop 0.2.x supports 3.9, 0.3.0 dropped it (gi0baro/rloop 'Drop Python 3.9'): a warning.
    Case(
        "linux-rloop-py39",
        LINUX,
        needs(loop="rloop"),
        "rloop",
        None,
        warning="rloop's current releases need Python 3.10+; only older ones support 3.9",
        python=parse_python("3.9+"),
    ),
    Case(
        "linux-rloop-py38",
        LINUX,
        needs(loop="rloop"),
        "rloop",
        None,
        conflict="rloop has no release for Python 3.8",
        python=parse_python("3.8+"),
    ),
    Case(
        "linux-proactor",
        LINUX,
        needs(loop="proactor"),
        "selector",
        "epoll",
        conflict="only on Windows",
    ),
    Case("linux-winloop", LINUX, needs(loop="winloop"), "winloop", None, conflict="Windows only"),
    Case(
        "linux-uvloop-missing",
        no_uvloop(LINUX),
        needs(loop="uvloop"),
        "uvloop",
        None,
        conflict="uvloop is not installed",
    ),
    Case(
        "linux-uvloop-0.21-on-3.14",
        with_loop(with_python(LINUX, 14), "uvloop", installed="0.21.0"),
        needs(),
        "selector",
        "epoll",
        warning="uvloop 0.21.0 predates Python 3.14 support: 0.22+ needed",
    ),
    Case(
        "linux-uvloop-0.21-on-3.14-asked",
        with_loop(with_python(LINUX, 14), "uvloop", installed="0.21.0"),
        needs(loop="uvloop"),
        "uvloop",
        None,
        conflict="0.22+ needed",
    ),
    Case(
        "linux-uvloop-broken",
        with_loop(
            LINUX,
            "uvloop",
            importable=False,
            supported=False,
            import_error="ImportError: undefined symbol",
        ),
        needs(),
        "selector",
        "epoll",
        warning="does not import: ImportError",
    ),
    Case(
        "linux-uvloop-313t",
        with_python(LINUX, 13, free_threaded=True),
        needs(),
        "selector",
        "epoll",
        reason="cp313t",
    ),
    Case(
        "linux-selector-missing",
        replace(
            LINUX,
            selectors=tuple(
                replace(s, available=False, reason="construction failed: EPERM")
                if s.name == "epoll"
                else s
                for s in LINUX.selectors
            ),
        ),
        needs(loop="asyncio"),
        "selector",
        "poll",
        reason="epoll is listed but unusable",
    ),
    Case(
        "linux-hostile-selector-name",
        replace(
            no_uvloop(LINUX),
            default_selector="epoll\nimport os",
            selectors=(Selector("epoll\nimport os", True), *LINUX.selectors),
        ),
        needs(),
        "selector",
        "epoll",
        reason="the best that works here",
    ),
    Case(
        "linux-py37",
        with_python(no_uvloop(LINUX), 7),
        needs(),
        "selector",
        "epoll",
        conflict="needs CPython 3.8 or later",
    ),
    # add_reader needs matter only on Windows: every loop elsewhere has add_reader.
    Case(
        "linux-psycopg-no-constraint",
        with_libs(LINUX, ("psycopg", "3.2.1")),
        needs(),
        "uvloop",
        None,
    ),
    # Bench evidence: the measured-fastest stable loop wins, a tie means the standard loop.
    Case(
        "linux-bench-tie",
        LINUX,
        needs(),
        "selector",
        "epoll",
        bench=BenchEvidence(None, "uvloop +3% (spread 12%)", None),
        reason="measured",
    ),
    Case(
        "linux-bench-uvloop",
        LINUX,
        needs(),
        "uvloop",
        None,
        bench=BenchEvidence("uvloop", "uvloop 42k req/s vs asyncio 27k", None),
        reason="measured fastest here (uvloop 42k",
    ),
    Case(
        "linux-bench-rloop",
        LINUX,
        needs(),
        "uvloop",
        None,
        bench=BenchEvidence("rloop", "rloop 46k req/s", None),
        warning="not stable enough",
    ),
    # Windows: Proactor by default; add_reader forces the selector loop and its 512 ceiling.
    Case("win-auto", WIN, needs(), "proactor", None, reason="ProactorEventLoop (IOCP)"),
    Case(
        "win-add-reader",
        WIN,
        needs("add_reader"),
        "selector",
        "select",
        warning="Windows SelectorEventLoop watches at most 512 sockets",
    ),
    Case(
        "win-add-reader-600",
        WIN,
        needs("add_reader", connections=600),
        "selector",
        "select",
        conflict="600 connections exceed",
    ),
    # The loop's select() set holds the listener and one socket of its self-pipe pair
    # (cpython Lib/asyncio/selector_events.py _make_self_pipe): 2 kept, not 3.
    Case("win-add-reader-510", WIN, needs("add_reader", connections=510), "selector", "select"),
    Case(
        "win-add-reader-511",
        WIN,
        needs("add_reader", connections=511),
        "selector",
        "select",
        conflict="512 sockets, 2 kept for the listener",
    ),
    Case(
        "win-both",
        WIN,
        needs("add_reader", "subprocess"),
        "selector",
        "select",
        conflict="add_reader (--needs) and subprocess (--needs) on Windows",
    ),
    Case(
        "win-signals",
        WIN,
        needs("signals"),
        "proactor",
        None,
        conflict="no standard event loop on Windows has add_signal_handler",
    ),
    Case("win-unix-sockets", WIN, needs("unix_sockets"), "proactor", None, conflict="Unix socket"),
    Case(
        "win-psycopg-playwright",
        with_libs(WIN, ("psycopg", "3.2.1"), ("playwright", "1.48.0")),
        needs(),
        "selector",
        "select",
        conflict="add_reader (psycopg 3.2.1) and subprocess (playwright 1.48.0)",
    ),
    Case(
        "win-playwright",
        with_libs(WIN, ("playwright", "1.48.0")),
        needs(),
        "proactor",
        None,
        reason="playwright 1.48.0 needs subprocess",
    ),
    Case(
        "win-aiodns-3.2",
        with_libs(WIN, ("aiodns", "3.2.0"), ("pycares", "4.5.0")),
        needs(),
        "selector",
        "select",
        reason="aiodns 3.2.0 needs add_reader",
    ),
    Case(
        "win-pyzmq-tornado",
        with_libs(WIN, ("pyzmq", "26.2.0"), ("tornado", "6.4.1")),
        needs(),
        "selector",
        "select",
        reason="would add a selector thread on Proactor",
    ),
    Case(
        "win-pyzmq-tornado-playwright",
        with_libs(WIN, ("pyzmq", "26.2.0"), ("tornado", "6.4.1"), ("playwright", "1.48.0")),
        needs(),
        "proactor",
        None,
    ),
    Case(
        "win-pyzmq-no-tornado-playwright",
        with_libs(WIN, ("pyzmq", "26.2.0"), ("playwright", "1.48.0")),
        needs(),
        "selector",
        "select",
        conflict="add_reader (pyzmq 26.2.0)",
    ),
    Case(
        "win-old-tornado",
        with_libs(WIN, ("tornado", "6.0.4")),
        needs(),
        "selector",
        "select",
        reason="tornado before 6.1 calls add_reader",
    ),
    Case(
        "win-uvloop",
        WIN,
        needs(loop="uvloop"),
        "uvloop",
        None,
        conflict="uvloop does not support Windows",
    ),
    Case("win-winloop", WIN, needs(loop="winloop"), "winloop", None, warning="a 0.x port"),
    Case(
        "win-proactor-add-reader",
        WIN,
        needs("add_reader", loop="proactor"),
        "proactor",
        None,
        conflict="--loop proactor has no add_reader",
    ),
    Case(
        "win-selector-subprocess",
        WIN,
        needs("subprocess", loop="selector"),
        "selector",
        "select",
        conflict="cannot start subprocesses",
    ),
    Case("darwin-auto", DARWIN, needs(), "uvloop", None, reason="kern.maxfilesperproc"),
    Case("darwin-std", no_uvloop(DARWIN), needs(), "selector", "kqueue"),
    # FreeBSD and illumos: kqueue and /dev/poll through DefaultSelector.
    Case(
        "freebsd-auto",
        FREEBSD,
        needs(),
        "selector",
        "kqueue",
        reason="cannot say whether uvloop is installed",
    ),
    Case(
        "freebsd-uvloop-asked",
        FREEBSD,
        needs(loop="uvloop"),
        "uvloop",
        None,
        warning="checks when it is imported",
    ),
    Case("sunos-auto", SUNOS, needs(), "selector", "devpoll", reason="raise the soft limit"),
    Case(
        "sunos-epoll",
        SUNOS,
        needs(selector="epoll"),
        "selector",
        "epoll",
        conflict="select.epoll is absent",
    ),
    Case(
        "sunos-subprocess",
        SUNOS,
        needs("subprocess"),
        "selector",
        "devpoll",
        warning="children inherit the raised descriptor limit",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_table(case: Case) -> None:
    plan = recommend(case.facts, case.needs, case.bench, python=case.python)
    assert (plan.loop, plan.selector) == (case.loop, case.selector), _explain(plan)
    conflicts = [f"{c.message} / {c.remedy}" for c in plan.conflicts]
    if case.conflict is None:
        assert not conflicts, _explain(plan)
    else:
        assert any(case.conflict in c for c in conflicts), _explain(plan)
        assert all(c.remedy for c in plan.conflicts)
    if case.reason is not None:
        assert any(case.reason in n.text for n in plan.reasons), _explain(plan)
    if case.warning is not None:
        assert any(case.warning in n.text for n in plan.warnings), _explain(plan)
    assert all(n.source for n in (*plan.reasons, *plan.warnings))
    for conflict in plan.conflicts:
        assert conflict.source


def _explain(plan: Plan) -> str:
    lines = [f"loop={plan.loop} selector={plan.selector}"]
    lines += [f"reason: {n.text}" for n in plan.reasons]
    lines += [f"warning: {n.text}" for n in plan.warnings]
    lines += [f"conflict: {c.message}" for c in plan.conflicts]
    return "\n".join(lines)


EXPECTATIONS = [
    (LINUX, needs(), ("Loop", "uvloop", None), "uvloop.new_event_loop"),
    (
        no_uvloop(LINUX),
        needs(),
        ("_UnixSelectorEventLoop", "asyncio", "EpollSelector"),
        "asyncio.SelectorEventLoop",
    ),
    (WIN, needs(), ("ProactorEventLoop", "asyncio", None), "asyncio.ProactorEventLoop"),
    (
        WIN,
        needs("add_reader"),
        ("_WindowsSelectorEventLoop", "asyncio", "SelectSelector"),
        "asyncio.SelectorEventLoop",
    ),
    (LINUX, needs(loop="rloop"), ("RLoop", "rloop", None), "rloop.new_event_loop"),
    (
        SUNOS,
        needs(),
        ("_UnixSelectorEventLoop", "asyncio", "DevpollSelector"),
        "asyncio.SelectorEventLoop",
    ),
]


@pytest.mark.parametrize(("facts", "wanted", "expected", "factory"), EXPECTATIONS)
def test_expectation_for_the_self_test(
    facts: Facts, wanted: Needs, expected: tuple[str, str, str | None], factory: str
) -> None:
    plan = recommend(facts, wanted)
    e = plan.expect
    assert (e.loop_class, e.loop_package, e.selector_class) == expected
    assert plan.loop_factory == factory


def test_nofile_plan_targets() -> None:
    """The limits seen here never become the target: the module reads them where it runs."""
    darwin = recommend(DARWIN, needs(connections=1000))
    assert darwin.nofile == NofilePlan(None, 1064, ANY_WHY)
    sunos = recommend(SUNOS, needs())
    assert sunos.nofile == NofilePlan(None, None, ANY_WHY)
    # soft already equals hard here; another host of the same kind may differ
    assert recommend(LINUX, needs()).nofile == NofilePlan(None, None, ANY_WHY)
    assert recommend(WIN, needs()).nofile is None  # no RLIMIT_NOFILE on Windows
    documented = recommend(documented_facts("linux"), needs())
    assert documented.nofile is not None and documented.nofile.target is None  # read at run time
    select = recommend(
        replace(SUNOS, limits=replace(SUNOS.limits, nofile_soft=256)),
        needs(selector="select", connections=500),
    )
    assert select.nofile is not None and select.nofile.target == 564  # never past the ceiling
    # and no raise at all with select() when the connections are not stated
    assert recommend(SUNOS, needs(selector="select")).nofile is None


def test_derived_needs_name_their_library() -> None:
    facts = with_libs(WIN, ("psycopg", "3.2.1"), ("playwright", "1.48.0"), ("aiodns", "3.2.0"))
    plan = recommend(facts, needs())
    got = {(d.need, d.library) for d in plan.derived}
    assert got == {
        ("add_reader", "psycopg 3.2.1"),
        ("subprocess", "playwright 1.48.0"),
        ("add_reader", "aiodns 3.2.0"),
    }
    assert plan.needs == {"add_reader", "subprocess"}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_documented_platforms_pick_the_standard_loop(platform: str) -> None:
    plan = recommend(documented_facts(platform, (3, 12)), needs())
    assert plan.ok
    assert plan.loop == ("proactor" if platform == "win32" else "selector")


def test_documented_platform_accepts_a_requested_loop() -> None:
    plan = recommend(documented_facts("darwin", (3, 12)), needs(loop="uvloop"))
    assert plan.ok and plan.loop == "uvloop" and plan.min_loop_version == "0.18"
    plan = recommend(
        documented_facts("linux", (3, 14)), needs(loop="uvloop"), python=parse_python("3.9+")
    )
    assert plan.ok and plan.min_loop_version == "0.23"


def test_bad_needs_are_errors() -> None:
    for bad in (
        needs("telepathy"),
        needs(loop="trio"),
        needs(selector="iocp"),
        needs(connections=0),
    ):
        with pytest.raises(NeedsError):
            recommend(LINUX, bad)
    with pytest.raises(NeedsError, match="unknown need 'x'"):
        parse_needs("add_reader, x")
    assert parse_needs(" add_reader,subprocess ,") == {"add_reader", "subprocess"}


@pytest.mark.parametrize(
    ("text", "low", "high", "shown"),
    [
        ("3.12", (3, 12), (3, 12), "3.12"),
        ("3.9+", (3, 9), None, "3.9+"),
        ("3.9-3.11", (3, 9), (3, 11), "3.9-3.11"),
        (" 3.8 ", (3, 8), (3, 8), "3.8"),
    ],
)
def test_parse_python(
    text: str, low: tuple[int, int], high: tuple[int, int] | None, shown: str
) -> None:
    r = parse_python(text)
    assert (r.low, r.high, str(r)) == (low, high, shown)


@pytest.mark.parametrize("text", ["2.7", "3.7", "3", "3.x", "3.12-3.9", "3.9; import os"])
def test_parse_python_rejects(text: str) -> None:
    with pytest.raises(NeedsError):
        parse_python(text)


def test_open_range_runs_to_the_newest_known_version() -> None:
    assert parse_python("3.13+").versions() == ((3, 13), (3, 14), (3, 15))


def test_recommender_and_catalog_are_pure() -> None:
    """No sys, os, select or I/O: every module of both packages imports only what is pure."""
    import ast

    import iodetect.catalog
    import iodetect.recommend

    files = [
        *Path(iodetect.recommend.__file__).parent.glob("*.py"),
        *Path(iodetect.catalog.__file__).parent.glob("*.py"),
    ]
    assert len(files) >= 14
    for path in files:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert imported <= {"__future__", "re", "dataclasses", "typing", "iodetect"}, path
        assert "open(" not in text, path


def test_no_function_is_long() -> None:
    """The recommender and the catalog read in steps: no function over about 60 lines."""
    import ast

    import iodetect.catalog
    import iodetect.recommend

    for path in (
        *Path(iodetect.recommend.__file__).parent.glob("*.py"),
        *Path(iodetect.catalog.__file__).parent.glob("*.py"),
    ):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 65, f"{path.name}:{node.name} has {length} lines"


def test_loop_fixture_shapes() -> None:
    """The fixtures the table relies on still say what the cases assume."""
    assert LINUX.loop("uvloop") == Loop("uvloop", "0.23.0", True, None, True, None)
    assert LINUX.loop("rloop") is not None and LINUX.loop("rloop").installed == "0.5.0"  # type: ignore[union-attr]
    assert isinstance(LINUX.interpreter, Interpreter)
    assert DARWIN.limits.maxfilesperproc == 245760


def test_plan_dict_is_json() -> None:
    import json

    from iodetect.recommend import plan_dict

    plan = recommend(with_libs(WIN, ("psycopg", "3.2.1")), needs(connections=100))
    data = json.loads(json.dumps(plan_dict(plan)))
    assert data["loop"] == "selector" and data["selector_class"] == "SelectSelector"
    assert data["expect"]["loop_class"] == "_WindowsSelectorEventLoop"
    assert data["needs"] == ["add_reader"] and data["python"] == "3.13" and data["ok"]
    assert data["derived"][0]["library"] == "psycopg 3.2.1"


def test_bench_style_finding_and_override_are_reported() -> None:
    bench = BenchEvidence("uvloop", "uvloop 0.62x CPU", "Protocol (create_server) needs less CPU")
    plan = recommend(LINUX, needs(loop="asyncio"), bench)
    assert plan.loop == "selector"
    assert any("--loop asyncio overrides it" in w.text for w in plan.warnings)
    assert any("API style: Protocol" in r.text for r in plan.reasons)


# --- the rules, each from its source -----------------------------------------------------------

PYPY = host("pypy")


def warnings_of(plan: Plan) -> str:
    return "\n".join(w.text for w in plan.warnings)


def test_aiodns_with_a_thread_safe_pycares_does_not_constrain_the_loop() -> None:
    """aio-libs/aiodns README v4.0.0 'Note for Windows users'; ChangeLog 3.3.0."""
    for aiodns in ("3.3.0", "3.6.1", "4.0.4"):
        facts = with_libs(WIN, ("aiodns", aiodns), ("pycares", "4.7.0"))
        plan = recommend(facts, needs(connections=600))
        assert plan.ok and plan.loop == "proactor", _explain(plan)
        assert any("runs c-ares in its own thread" in r.text for r in plan.reasons)
        with_playwright = with_libs(
            WIN, ("aiodns", aiodns), ("pycares", "5.2.1"), ("playwright", "1.48.0")
        )
        assert recommend(with_playwright, needs()).ok
    # A pycares without the event thread, or an aiodns before it: add_reader, so a conflict.
    for libs in ((("aiodns", "3.3.0"), ("pycares", "4.6.1")), (("aiodns", "3.2.0"),)):
        plan = recommend(with_libs(WIN, *libs, ("playwright", "1.48.0")), needs())
        assert [c.code for c in plan.conflicts] == ["windows.add_reader_subprocess"]
    # The facts do not list pycares: a warning, never a conflict.
    plan = recommend(with_libs(WIN, ("aiodns", "3.4.0"), ("playwright", "1.48.0")), needs())
    assert plan.ok and "cannot tell" in warnings_of(plan)
    # pycares alone never touches the loop.
    alone = recommend(with_libs(WIN, ("pycares", "4.5.0")), needs(connections=600))
    assert alone.ok and alone.loop == "proactor" and not alone.derived


def test_macos_ptys_need_no_select() -> None:
    """docs asyncio-platforms: modern macOS is fully supported (kqueue lacks character devices
    on 10.6-10.8 only); libuv watches such descriptors with select() in a thread."""
    plan = recommend(DARWIN, needs("pty", connections=2000))
    assert plan.ok and plan.loop == "uvloop", _explain(plan)
    assert not plan.warnings or "pty" not in warnings_of(plan)
    assert any(r.code == "pty.darwin" and "asyncio-platforms" in r.source for r in plan.reasons)
    std = recommend(no_uvloop(DARWIN), needs("pty", connections=2000))
    assert std.ok and (std.loop, std.selector, std.pin_selector) == ("selector", "kqueue", False)


def test_illumos_select_ceiling_is_65536() -> None:
    """illumos-gate usr/src/uts/common/sys/select.h: FD_SETSIZE 65536 for _LP64."""
    plan = recommend(SUNOS, needs(selector="select", connections=2000))
    assert plan.ok and plan.select_ceiling == 65536, _explain(plan)
    assert recommend(SUNOS, needs(selector="select", connections=65536 - 64)).ok
    over = recommend(SUNOS, needs(selector="select", connections=65536 - 63))
    capacity = next(c for c in over.conflicts if c.code == "select.capacity")
    assert "illumos-gate" in capacity.source


def test_a_measured_ceiling_wins_over_the_table() -> None:
    """A probe that found select() accepting descriptor 1024 lifts the 1024 table value."""
    measured = replace(
        no_uvloop(LINUX),
        select_ceiling=SelectCeiling(None, True, "select() accepted descriptor 1024"),
    )
    plan = recommend(measured, needs(selector="select", connections=5000))
    assert plan.ok and plan.select_ceiling is None, _explain(plan)
    measured_low = replace(SUNOS, select_ceiling=SelectCeiling(1024, True, "raised ValueError"))
    capped = recommend(measured_low, needs(selector="select", connections=2000))
    assert [c.code for c in capped.conflicts] == ["select.capacity"]
    assert "measured by the probe" in capped.conflicts[0].source


def test_illumos_build_with_epoll_prefers_devpoll() -> None:
    """omniosorg/omnios-build disable_epoll.patch: illumos' epoll 'can cause socket related
    failures'; distribution builds remove it and default to devpoll."""
    built = replace(
        SUNOS,
        selectors=tuple(
            replace(s, available=True, reason=None) if s.name == "epoll" else s
            for s in SUNOS.selectors
        ),
        default_selector="epoll",
    )
    plan = recommend(built, needs())
    assert (plan.selector, plan.pin_selector) == ("devpoll", True), _explain(plan)
    assert any(r.code == "selector.caveat" and "omnios-build" in r.source for r in plan.reasons)
    assert any(w.code == "selector.caveat" for w in plan.warnings)
    asked = recommend(built, needs(selector="epoll"))
    assert (
        asked.ok and asked.selector == "epoll" and "socket related failures" in warnings_of(asked)
    )
    assert recommend(SUNOS, needs()).selector == "devpoll"  # a distribution build: no epoll


def test_pypy_never_gets_uvloop_and_is_named() -> None:
    """MagicStack/uvloop: CPython-only (classifier, uvloop#82); the plan names PyPy."""
    facts = with_loop(PYPY, "uvloop", installed="0.23.0", importable=True)
    plan = recommend(facts, needs())
    assert plan.loop == "selector" and plan.runtime == "PyPy 3.11 (PyPy 8.0.1)"
    assert "supports CPython only, not PyPy" in plan.reasons[0].text
    asked = recommend(facts, needs(loop="uvloop"))
    assert [c.code for c in asked.conflicts] == ["loop.implementation"]
    assert "pip install" not in asked.conflicts[0].remedy
    assert "uvloop#82" in asked.conflicts[0].source
    assert not any("verified" in w.text for w in plan.warnings)  # PyPy is a verified target


def test_uvloop_minimum_follows_what_the_code_calls() -> None:
    """The code calls only uvloop.new_event_loop (every release has it): the minimum for a
    version is the first release built for it (uvloop release workflows at each tag)."""
    expected = {
        "3.8": "0.14", "3.9": "0.15", "3.10": "0.16", "3.11": "0.17", "3.12": "0.18",
        "3.13": "0.21", "3.14": "0.22", "3.15": "0.23", "3.8+": "0.23", "3.8-3.11": "0.17",
    }  # fmt: skip
    for rng, minimum in expected.items():
        py = parse_python(rng)
        facts = documented_facts("linux", py.low)
        plan = recommend(facts, needs(loop="uvloop"), python=py)
        assert plan.min_loop_version == minimum, rng


@pytest.mark.parametrize(
    ("minor", "refused", "accepted"),
    [
        (12, "0.17.0", "0.18.0"),
        (13, "0.20.0", "0.21.0"),
        (14, "0.21.0", "0.22.0"),
        (15, "0.22.1", "0.23.0"),
    ],
)
def test_first_uvloop_per_cpython_minor(minor: int, refused: str, accepted: str) -> None:
    """uvloop v0.18.0 adds cp312, v0.21.0 cp313, v0.22.0 3.14 (#638), PyPI 0.23.0 cp315."""
    facts = with_python(LINUX, minor)
    old = recommend(with_loop(facts, "uvloop", installed=refused), needs(loop="uvloop"))
    assert [c.code for c in old.conflicts] == ["loop.version"], refused
    assert f"3.{minor} support" in old.conflicts[0].message
    new = recommend(with_loop(facts, "uvloop", installed=accepted), needs(loop="uvloop"))
    assert new.ok, _explain(new)


def test_free_threaded_rule_for_a_range_that_includes_313() -> None:
    """uvloop release.yml at v0.22.1 builds cp314t and no cp313t; 0.23.0 adds cp315t."""
    ft = with_python(LINUX, 14, free_threaded=True)
    assert recommend(ft, needs()).loop == "uvloop"
    plan = recommend(ft, needs(), python=parse_python("3.13+"))
    assert plan.loop == "selector" and "free-threaded 3.13" in plan.reasons[0].text
    asked = recommend(ft, needs(loop="uvloop"), python=parse_python("3.13-3.14"))
    assert [c.code for c in asked.conflicts] == ["loop.free_threaded"]
    old = with_loop(ft, "uvloop", installed="0.21.0")
    assert recommend(old, needs()).loop == "selector"


def test_macos_descriptor_reason_says_what_xnu_does() -> None:
    """xnu bsd/kern/kern_resource.c: NOFILE is enforced at MIN(rlimit, maxfilesperproc)."""
    plan = recommend(DARWIN, needs(connections=1000))
    note = next(r for r in plan.reasons if r.code == "nofile.raise")
    assert "XNU enforces anyway" in note.text and "kern_resource.c" in note.source
    tight = replace(DARWIN, limits=replace(DARWIN.limits, maxfilesperproc=2000))
    over = recommend(tight, needs(connections=5000))
    assert [c.code for c in over.conflicts] == ["nofile.maxfilesperproc"]


def test_windows_add_reader_and_subprocess_offers_winloop() -> None:
    """Vizonex/Winloop winloop/loop.pyx has add_reader and subprocess_exec."""
    plan = recommend(WIN, needs("add_reader", "subprocess"))
    (conflict,) = plan.conflicts
    assert conflict.code == "windows.add_reader_subprocess"
    assert "--loop winloop (pip install 'winloop" in conflict.remedy
    asked = recommend(WIN, needs("add_reader", "subprocess", loop="winloop"))
    assert asked.ok and asked.loop == "winloop"
    # winloop's releases have no PyPy support: the remedy does not offer it there.
    pypy_win = replace(PYPY, host=WIN.host)
    assert (
        "winloop" not in recommend(pypy_win, needs("add_reader", "subprocess")).conflicts[0].remedy
    )


def test_winloop_fallback_with_add_reader_is_the_selector_loop() -> None:
    plan = recommend(WIN, needs("add_reader", loop="winloop"))
    assert plan.fallback_factory == "asyncio.SelectorEventLoop"
    assert recommend(WIN, needs(loop="winloop")).fallback_factory == "asyncio.ProactorEventLoop"


def test_bench_evidence_naming_the_standard_loop_chooses_it() -> None:
    for name in ("asyncio", "standard"):
        plan = recommend(LINUX, needs(), BenchEvidence(name, "asyncio 0.9x CPU", None))
        assert (plan.loop, plan.selector) == ("selector", "epoll"), name
        assert "measured fastest here" in plan.reasons[0].text


def test_descriptor_limit_boundary_is_inclusive() -> None:
    hard = LINUX.limits.nofile_hard
    assert hard == 20000
    fits = recommend(LINUX, needs(connections=hard - HEADROOM))
    assert fits.ok, _explain(fits)
    over = recommend(LINUX, needs(connections=hard - HEADROOM + 1))
    assert [c.code for c in over.conflicts] == ["nofile.hard"]
    verdict = assess_nofile(LINUX.limits, "linux", hard)
    assert (verdict.code, verdict.fails) == ("nofile.ok", False)
    assert assess_nofile(LINUX.limits, "linux", hard + 1).code == "nofile.hard"


def test_descriptor_limit_rule_codes() -> None:
    lim = Limits(nofile_soft=1024, nofile_hard=4096)
    assert assess_nofile(lim, "linux", 2000).code == "nofile.raisable"
    assert assess_nofile(lim, "linux", 900).code == "nofile.ok"
    assert assess_nofile(lim, "linux", None).code == "nofile.ok"
    assert assess_nofile(lim, "win32", 99999).code == "nofile.windows"
    assert assess_nofile(Limits(), "linux", 10).code == "nofile.unknown"
    unlimited = Limits(nofile_soft=1024, nofile_hard=UNLIMITED, nr_open=1048576)
    assert assess_nofile(unlimited, "linux", 1048576).code == "nofile.raisable"
    assert assess_nofile(unlimited, "linux", 1048577).code == "nofile.nr_open"
    mac = Limits(nofile_soft=256, nofile_hard=UNLIMITED, maxfilesperproc=10240)
    assert assess_nofile(mac, "darwin", 10241).code == "nofile.maxfilesperproc"
    assert assess_nofile(mac, "darwin", 10241).cap_text == "kern.maxfilesperproc 10240"


def test_each_cap_has_its_own_remedy_in_every_command() -> None:
    """The hard limit is raised by the parent; fs.nr_open and kern.maxfilesperproc by sysctl."""
    assert "only its parent can raise it" in nofile_remedy("nofile.hard", 4096)
    assert "sysctl -w fs.nr_open=4096" in nofile_remedy("nofile.nr_open", 4096)
    assert "kern.maxfilesperproc=4096" in nofile_remedy("nofile.maxfilesperproc", 4096)
    assert "ulimit -n 4096" in nofile_remedy("nofile.raisable", 4096)


def test_huge_descriptor_limits_are_a_hazard_and_not_a_target() -> None:
    """cpython gh-127177, containerd#7566: soft limits near 2**30 make descriptor walks slow."""
    huge = 1073741816
    container = replace(LINUX, limits=replace(LINUX.limits, nofile_soft=huge, nofile_hard=huge))
    plan = recommend(container, needs(connections=100))
    assert plan.nofile == NofilePlan(None, 164, ANY_WHY)  # the module never lowers a limit
    (hazard,) = [w for w in plan.warnings if w.code == "nofile.huge"]
    assert str(huge) in hazard.text and "gh-127177" in hazard.source
    low_soft = replace(container, limits=replace(container.limits, nofile_soft=1024))
    raised = recommend(low_soft, needs(connections=100))
    assert raised.nofile == NofilePlan(None, 164, ANY_WHY)
    assert any("to 1048576, not to the hard limit 1073741816" in r.text for r in raised.reasons)
    many = recommend(low_soft, needs(connections=2_000_000))
    assert many.nofile == NofilePlan(None, 2_000_064, ANY_WHY)
    assert any("(the connections need that many)" in r.text for r in many.reasons)
    normal = replace(LINUX, limits=replace(LINUX.limits, nofile_soft=1024))
    assert recommend(normal, needs()).nofile == NofilePlan(None, None, ANY_WHY)


ANY_WHY = "a network service holds one descriptor per connection"


@pytest.mark.parametrize(
    ("libs", "effect"),
    [
        ((("curl_cffi", "0.5.9"),), "needs"),
        ((("curl_cffi", "0.17.0"),), "prefers"),
        ((("aiomqtt", "2.3.0"),), "needs"),
        ((("aiopg", "1.4.0"),), "needs"),
        ((("aiomysql", "0.2.0"),), "warns"),
        ((("qasync", "0.27.1"),), "warns"),
        ((("gevent", "24.2.1"),), "warns"),
    ],
)
def test_more_libraries_that_constrain_the_loop(
    libs: tuple[tuple[str, str], ...], effect: str
) -> None:
    plan = recommend(with_libs(WIN, *libs), needs())
    name = libs[0][0].replace("_", "-")
    if effect == "warns":
        assert any(w.code == f"library.{name}" for w in plan.warnings) and plan.ok
        return
    (derived,) = plan.derived
    assert derived.need == "add_reader" and derived.strict == (effect == "needs")
    assert plan.loop == "selector" and derived.source


def test_citations_support_their_sentences() -> None:
    """Each conflict and warning cites what says it: not gh-99388 for "3.8+", not the policy
    issue for "goes past 3.15", not pyzmq for a tornado preference."""
    old = recommend(with_python(no_uvloop(LINUX), 7), needs())
    assert "gh-99388" not in old.conflicts[0].source
    beyond = recommend(LINUX, needs(), python=PythonRange((3, 12), (3, 16)))
    (past,) = [w for w in beyond.warnings if w.code == "python.unverified"]
    assert "gh-127949" not in past.source
    tornado = recommend(with_libs(WIN, ("tornado", "6.4.1")), needs())
    assert "tornado" in tornado.reasons[0].source and "pyzmq" not in tornado.reasons[0].source
    idiom = recommend(with_python(LINUX, 14), needs()).reasons[-1]
    assert "gh-126353 (PR gh-126354)" in idiom.source and "gh-127949" in idiom.source


def test_advisories_keep_auto_off_affected_uvloop() -> None:
    """uvloop#645 (fixed in 0.23.0 by #740): auto does not pick 0.22.1 and says why."""
    facts = with_loop(LINUX, "uvloop", installed="0.22.1")
    plan = recommend(facts, needs())
    assert plan.loop == "selector" and "uvloop-645" in plan.reasons[0].text
    assert any(w.code == "advisory.uvloop-645" and "uvloop>=0.23" in w.text for w in plan.warnings)
    asked = recommend(facts, needs(loop="uvloop"))
    assert asked.ok and asked.loop == "uvloop" and "uvloop-645" in asked.advisories
    assert any(w.code == "advisory.uvloop-645" for w in asked.warnings)
    current = recommend(LINUX, needs())
    assert current.loop == "uvloop" and "uvloop-645" not in current.advisories
    assert current.install == "uvloop>=0.23"  # clear of the data-integrity advisory
    # Open reports with no fix, or conditional ones, are notes: a --strict gate can act on none.
    assert "uvloop-706" in current.advisories and not any(
        w.code.startswith("advisory.") for w in current.warnings
    )


def test_conflicts_and_notes_carry_codes() -> None:
    plans = [recommend(c.facts, c.needs, c.bench, python=c.python) for c in CASES]
    for plan in plans:
        for item in (*plan.conflicts, *plan.warnings, *plan.reasons):
            assert item.code and item.code == item.code.strip().lower(), item


def test_select_capacity_boundary_on_linux() -> None:
    """select(2): descriptors below 1024; iodetect keeps 64 of them for the service."""
    assert recommend(LINUX, needs(selector="select", connections=960)).ok
    over = recommend(LINUX, needs(selector="select", connections=961))
    assert [c.code for c in over.conflicts] == ["select.capacity"]
    assert "(1024 descriptors, 64 kept for the service)" in over.conflicts[0].message


@pytest.mark.parametrize(
    ("minor", "version", "supported"),
    [(14, "0.21.0", False), (14, "0.22.0", True), (13, "0.20.0", False), (15, "0.22.1", False)],
)
def test_loop_support_in_facts_is_decided_from_the_catalog(
    minor: int, version: str, supported: bool
) -> None:
    """What report and check show as "supported here" comes from the catalog, not the probe."""
    from iodetect.probe import complete

    facts = complete(
        with_loop(with_python(LINUX, minor), "uvloop", installed=version, supported=not supported)
    )
    uvloop = facts.loop("uvloop")
    assert uvloop is not None and uvloop.supported is supported
    if not supported:
        assert uvloop.support_note and "predates Python 3." in uvloop.support_note


def test_runtime_name_from_facts_is_plain() -> None:
    hostile = replace(
        PYPY.interpreter, implementation="x\nimport os", implementation_version="1;\n2"
    )
    plan = recommend(replace(PYPY, interpreter=hostile), needs())
    assert plan.runtime == "ximportos 3.11 (ximportos 12)"
