"""The recommender as a table: fixture facts x needs -> loop, selector, conflicts, reasons."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from iodetect import model
from iodetect.model import Facts, Interpreter, Library, Loop, Selector
from iodetect.platforms import PLATFORMS, documented_facts
from iodetect.recommend import (
    BenchEvidence,
    Needs,
    NeedsError,
    Plan,
    PythonRange,
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
        reason="implies the standard selector loop",
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
    Case("linux-rloop", LINUX, needs(loop="rloop"), "rloop", None, warning="alpha"),
    Case(
        "linux-rloop-unix",
        LINUX,
        needs("unix_sockets", loop="rloop"),
        "rloop",
        None,
        conflict="no Unix sockets",
    ),
    Case(
        "linux-rloop-py39",
        LINUX,
        needs(loop="rloop"),
        "rloop",
        None,
        conflict="rloop needs Python 3.10+",
        python=parse_python("3.9+"),
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
        warning="too old for Python 3.14: 0.22+ needed",
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
    Case(
        "linux-psycopg-derived",
        with_libs(LINUX, ("psycopg", "3.2.1")),
        needs(),
        "uvloop",
        None,
        reason="psycopg 3.2.1 needs add_reader",
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
    Case("win-add-reader-509", WIN, needs("add_reader", connections=509), "selector", "select"),
    Case(
        "win-add-reader-510",
        WIN,
        needs("add_reader", connections=510),
        "selector",
        "select",
        conflict="512 sockets, 3 kept for the listener",
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
        conflict="no event loop on Windows has add_signal_handler",
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
        "win-aiodns",
        with_libs(WIN, ("aiodns", "3.2.0")),
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
        reason="Proactor would add a selector thread",
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
        reason="tornado < 6.1",
    ),
    Case(
        "win-uvloop",
        WIN,
        needs(loop="uvloop"),
        "uvloop",
        None,
        conflict="uvloop does not support Windows",
    ),
    Case("win-winloop", WIN, needs(loop="winloop"), "winloop", None, warning="one maintainer"),
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
    # macOS: kqueue mishandles ptys, so a pty means select() and its ceiling.
    Case("darwin-auto", DARWIN, needs(), "uvloop", None, reason="kern.maxfilesperproc"),
    Case("darwin-pty", DARWIN, needs("pty"), "selector", "select", reason="mishandle ptys"),
    Case(
        "darwin-pty-2000",
        DARWIN,
        needs("pty", connections=2000),
        "selector",
        "select",
        conflict="exceed what select() can watch",
    ),
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
    darwin = recommend(DARWIN, needs(connections=1000))
    assert darwin.nofile is not None and darwin.nofile.target == 245760
    assert darwin.nofile.need == 1064
    sunos = recommend(SUNOS, needs())
    assert sunos.nofile is not None and sunos.nofile.target == 65536
    assert recommend(LINUX, needs()).nofile is None  # soft already equals hard
    assert recommend(WIN, needs()).nofile is None  # no RLIMIT_NOFILE on Windows
    documented = recommend(documented_facts("linux"), needs())
    assert documented.nofile is not None and documented.nofile.target is None  # read at run time
    select = recommend(
        replace(SUNOS, limits=replace(SUNOS.limits, nofile_soft=256)),
        needs(selector="select", connections=500),
    )
    assert select.nofile is not None and select.nofile.target == 564  # never past the ceiling


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


def test_recommender_is_pure() -> None:
    """No sys, os, select or I/O: the module imports only what is pure."""
    import ast

    import iodetect.recommend as mod

    tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
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
    assert imported <= {"__future__", "re", "dataclasses", "iodetect"}
    assert "open(" not in Path(mod.__file__).read_text(encoding="utf-8")


def test_loop_fixture_shapes() -> None:
    """The fixtures the table relies on still say what the cases assume."""
    assert LINUX.loop("uvloop") == Loop("uvloop", "0.23.0", True, None, True, None)
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
