"""Generated loop_setup modules: live echo runs on every CPython here, other platforms, the CLI.

The live runs (marked `targets`) go through one thread pool: each case probes its interpreter,
recommends, renders, and runs the module under `-X dev -W error` with a real TCP echo on
loopback, all with deadlines. The results are computed once and checked case by case.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from iodetect import model, snippet, transport
from iodetect.model import Facts, Library, Selector
from iodetect.platforms import documented_facts
from iodetect.recommend import Needs, Plan, PythonRange, parse_python, recommend

import interpreters
from interpreters import PYPY, TARGETS, VERSIONS, Interp

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ROOT / "tests" / "hosts"
GOLDEN = ROOT / "tests" / "golden"
DRIVER = (ROOT / "tests" / "snippet_driver.py").read_text(encoding="utf-8")
STRICT = ("-X", "dev", "-W", "error")
DEADLINE = 90.0


# --- running modules on real interpreters ---------------------------------------------------


def run_module(source: str, command: list[str], timeout: float = DEADLINE) -> dict[str, Any]:
    """Run `source` as loop_setup through the echo driver; the driver's JSON result."""
    result: dict[str, Any] = run_module_outcome(source, command, timeout).result
    return result


def run_module_outcome(
    source: str, command: list[str], timeout: float = DEADLINE
) -> transport.Outcome:
    """The driver's result and the module's stderr."""
    program = DRIVER + f"\nmain(json.loads({json.dumps(json.dumps({'source': source}))}))\n"
    return transport.run_program(program, command, timeout)


def probe(command: list[str]) -> Facts:
    """The interpreter's facts, as iodetect gets them (the catalog's request, completed)."""
    from iodetect.probe import remote_facts

    return remote_facts(command, DEADLINE)


def limited(command: list[str], soft: int) -> list[str]:
    """The command with its soft descriptor limit lowered first (children inherit it)."""
    return ["sh", "-c", f'ulimit -Sn {soft} && exec "$@"', "sh", *command]


@dataclasses.dataclass(frozen=True)
class Outcome:
    plan: Plan | None
    result: dict[str, Any] | None
    error: str | None = None
    skip: str | None = None
    stderr: str = ""


def _guard(fn: Callable[[], Outcome]) -> Outcome:
    try:
        return fn()
    except Exception as exc:  # each case reports its own failure
        return Outcome(None, None, error=f"{type(exc).__name__}: {exc}")


RANGE = parse_python("3.9+")


def _cases_for(version: str) -> dict[str, Callable[[], Outcome]]:
    """Every live case for one CPython version, keyed by case id."""
    interp = interpreters.find(version)
    cases: dict[str, Callable[[], Outcome]] = {}
    if interp is None:
        return cases
    plain_facts = functools.lru_cache(maxsize=None)(lambda: probe(interp.command()))

    def std(selector: str) -> Outcome:
        facts = plain_facts()
        sel = facts.selector(selector)
        if sel is None or not sel.available:
            return Outcome(None, None, skip=f"{selector} is not available here")
        plan = recommend(facts, Needs(loop="asyncio", selector=selector))
        source = snippet.render(plan, facts)
        return Outcome(plan, run_module(source, interp.command(*STRICT)))

    for sel in ("epoll", "poll", "select"):
        cases[f"{version}-std-{sel}"] = functools.partial(std, sel)

    def auto_plain() -> Outcome:
        facts = plain_facts()
        plan = recommend(facts, Needs())
        return Outcome(plan, run_module(snippet.render(plan, facts), interp.command(*STRICT)))

    cases[f"{version}-auto-plain"] = auto_plain

    def with_package(package: str, wanted: Needs) -> Outcome:
        command = interp.package_command(package)
        if command is None:
            return Outcome(None, None, skip=f"{package} does not install for {version}")
        facts = probe(command)
        plan = recommend(facts, wanted)
        strict = interp.package_command(package, *STRICT)
        assert strict is not None
        return Outcome(plan, run_module(snippet.render(plan, facts), strict))

    if version != PYPY:
        cases[f"{version}-auto-uvloop"] = functools.partial(with_package, "uvloop", Needs())
    if version not in ("3.8", "3.9", PYPY):
        cases[f"{version}-rloop"] = functools.partial(with_package, "rloop", Needs(loop="rloop"))

    if version == PYPY or parse_python(version).low >= RANGE.low:

        def range_std() -> Outcome:
            plan, source = range_module("selector")
            return Outcome(plan, run_module(source, interp.command(*STRICT)))

        def range_uvloop() -> Outcome:  # never on PyPy: uvloop is CPython-only
            command = interp.package_command("uvloop", *STRICT)
            if command is None:
                return Outcome(None, None, skip=f"uvloop does not install for {version}")
            plan, source = range_module("uvloop")
            return Outcome(plan, run_module(source, command))

        cases[f"{version}-range-std"] = range_std
        if version != PYPY:
            cases[f"{version}-range-uvloop"] = range_uvloop

    def fallback() -> Outcome:
        # Under -W error too: the fallback is logged, never warned, so it can happen.
        plan, source = fallback_module(True)
        got = run_module_outcome(source, interp.command(*STRICT))
        return Outcome(plan, got.result, stderr=got.stderr)

    def missing() -> Outcome:
        _, source = fallback_module(False)
        try:
            run_module(source, interp.command(*STRICT))
        except transport.TargetError as exc:
            return Outcome(None, None, error=str(exc))
        return Outcome(None, None)

    cases[f"{version}-fallback"] = fallback
    cases[f"{version}-missing"] = missing

    def nofile() -> Outcome:
        facts = probe(limited(interp.command(), 512))
        plan = recommend(facts, Needs(connections=2000))
        source = snippet.render(plan, facts)
        return Outcome(plan, run_module(source, limited(interp.command(*STRICT), 512)))

    cases[f"{version}-nofile"] = nofile
    return cases


@functools.lru_cache(maxsize=None)
def range_module(loop: str) -> tuple[Plan, str]:
    """One 3.9+ module, generated from this host's linux facts, for every version to run."""
    facts = model.load(str(HOSTS / "linux.json"))
    wanted = Needs(loop="asyncio") if loop == "selector" else Needs(loop=loop)
    plan = recommend(facts, wanted, python=RANGE)
    assert plan.ok, plan.conflicts
    return plan, snippet.render(plan, facts)


@functools.lru_cache(maxsize=None)
def fallback_module(fallback: bool) -> tuple[Plan, str]:
    """A uvloop module for every version, to run where uvloop is absent."""
    facts = model.load(str(HOSTS / "linux.json"))
    plan = recommend(facts, Needs(loop="uvloop"), python=parse_python("3.8+"))
    return plan, snippet.render(plan, facts, fallback=fallback)


@functools.lru_cache(maxsize=1)
def live_results() -> dict[str, Outcome]:
    cases: dict[str, Callable[[], Outcome]] = {}
    for version in TARGETS:
        cases.update(_cases_for(version))
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {key: pool.submit(_guard, fn) for key, fn in cases.items()}
        return {key: f.result() for key, f in futures.items()}


def outcome(case: str) -> Outcome:
    version = case.split("-")[0]
    interpreters.require(version)
    got = live_results().get(case)
    if got is None:
        pytest.skip(f"no such case on this machine: {case}")
    if got.skip:
        pytest.skip(got.skip)
    return got


def assert_ran_as_planned(got: Outcome) -> None:
    assert got.error is None, got.error
    assert got.plan is not None and got.result is not None
    r, e = got.result, got.plan.expect
    assert r["echo_ok"] and r["bytes"] == 1 << 20
    assert (r["loop_class"], r["loop_package"], r["selector_class"]) == (
        e.loop_class,
        e.loop_package,
        e.selector_class,
    )
    assert r["factory_class"] == e.loop_class
    assert r["public"] == ["new_event_loop", "run"]  # nothing else, no constants for tests
    assert r["nofile_after_import"] == r["nofile_before"]  # importing it changes nothing


@pytest.mark.targets
@pytest.mark.parametrize("version", TARGETS)
@pytest.mark.parametrize("selector", ["epoll", "poll", "select"])
def test_standard_loop_with_each_selector(version: str, selector: str) -> None:
    got = outcome(f"{version}-std-{selector}")
    assert_ran_as_planned(got)
    assert got.plan is not None and got.plan.selector == selector


@pytest.mark.targets
@pytest.mark.parametrize("version", TARGETS)
def test_auto_without_uvloop_is_the_standard_loop_with_epoll(version: str) -> None:
    got = outcome(f"{version}-auto-plain")
    assert_ran_as_planned(got)
    assert got.plan is not None and (got.plan.loop, got.plan.selector) == ("selector", "epoll")


@pytest.mark.targets
@pytest.mark.parametrize("version", VERSIONS)
def test_auto_with_uvloop_is_uvloop(version: str) -> None:
    got = outcome(f"{version}-auto-uvloop")
    assert_ran_as_planned(got)
    assert got.plan is not None and got.plan.loop == "uvloop"


@pytest.mark.targets
@pytest.mark.parametrize("version", [v for v in VERSIONS if v not in ("3.8", "3.9")])
def test_rloop_on_request(version: str) -> None:
    got = outcome(f"{version}-rloop")
    assert_ran_as_planned(got)
    assert got.plan is not None and got.plan.loop == "rloop"


@pytest.mark.targets
@pytest.mark.parametrize(
    ("version", "loop"),
    [(v, lp) for v in VERSIONS if v != "3.8" for lp in ("std", "uvloop")] + [(PYPY, "std")],
)
def test_one_range_module_runs_on_every_version(version: str, loop: str) -> None:
    got = outcome(f"{version}-range-{loop}")
    assert_ran_as_planned(got)


@pytest.mark.targets
@pytest.mark.parametrize("version", TARGETS)
def test_fallback_uses_the_standard_loop_when_uvloop_is_missing(version: str) -> None:
    """Under -X dev -W error: the module logs why it falls back, and falls back."""
    got = outcome(f"{version}-fallback")
    assert got.error is None, got.error
    assert got.result is not None
    assert got.result["echo_ok"]
    assert (got.result["loop_class"], got.result["selector_class"]) == (
        "_UnixSelectorEventLoop",
        "EpollSelector",
    )
    assert "uvloop does not import (ModuleNotFoundError" in got.stderr
    assert "using asyncio.SelectorEventLoop" in got.stderr


@pytest.mark.targets
@pytest.mark.parametrize("version", TARGETS)
def test_missing_loop_fails_with_a_clear_message(version: str) -> None:
    """A plain `import uvloop`: Python's own error names the module; the header the release."""
    got = outcome(f"{version}-missing")
    assert got.error is not None and "No module named 'uvloop'" in got.error
    _, source = fallback_module(False)
    assert "needs uvloop>=0.23" in (ast.get_docstring(ast.parse(source)) or "")


@pytest.mark.targets
@pytest.mark.parametrize("version", TARGETS)
def test_descriptor_limit_is_raised_when_a_loop_is_made(version: str) -> None:
    """Started at soft 512: not raised by the import, raised to the hard limit by the factory."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard < 2064:
        pytest.skip("the hard descriptor limit here is too low to raise 512 past 2000 connections")
    got = outcome(f"{version}-nofile")
    assert_ran_as_planned(got)
    assert got.plan is not None and got.plan.nofile is not None
    assert got.plan.nofile.target is None  # read where the module runs, never baked in
    assert got.result is not None
    assert got.result["nofile_before"] == got.result["nofile_after_import"] == 512
    assert got.result["nofile_soft"] == min(hard, 1 << 20)


# --- other platforms: compile everywhere, no missing or deprecated API, golden files --------

# name, platform (or host:NAME for a fixture host's facts), needs, target python ("" = the facts')
Variant = tuple[str, str, Needs, str]

VARIANTS: list[Variant] = [
    ("win32-auto", "win32", Needs(), "3.8+"),
    ("win32-add-reader", "win32", Needs(frozenset({"add_reader"}), connections=400), "3.8+"),
    ("win32-winloop-3.9+", "win32", Needs(loop="winloop"), "3.9+"),
    ("win32-3.14", "win32", Needs(), "3.14"),
    ("darwin-auto", "darwin", Needs(), "3.8+"),
    ("darwin-pty", "darwin", Needs(frozenset({"pty"}), connections=500), "3.8+"),
    ("darwin-uvloop-3.12", "darwin", Needs(loop="uvloop"), "3.12"),
    ("freebsd-auto", "freebsd", Needs(), "3.8+"),
    ("freebsd-3.11", "freebsd", Needs(), "3.11"),
    ("sunos-auto", "sunos", Needs(), "3.8+"),
    ("sunos-poll-3.10", "sunos", Needs(selector="poll"), "3.10"),
    ("host-win32-psycopg", "host:win32", Needs(frozenset({"add_reader"}), connections=200), ""),
    ("host-darwin", "host:darwin", Needs(connections=5000), ""),
    ("host-darwin-fallback-3.9+", "host:darwin", Needs(), "3.9+"),
    ("host-freebsd", "host:freebsd", Needs(frozenset({"subprocess", "signals"})), ""),
    ("host-sunos", "host:sunos", Needs(connections=1000), ""),
    ("host-sunos-select-2000", "host:sunos", Needs(selector="select", connections=2000), ""),
    ("host-pypy", "host:pypy", Needs(connections=500), ""),
    ("darwin-pty-2000", "darwin", Needs(frozenset({"pty"}), connections=2000), "3.8+"),
    ("host-linux", "host:linux", Needs(), ""),
    ("host-linux-3.9+-fallback", "host:linux", Needs(loop="uvloop"), "3.9+"),
    ("linux-uvloop-3.12", "linux", Needs(loop="uvloop"), "3.12"),
    ("linux-select-500", "linux", Needs(selector="select", connections=500), "3.10+"),
    ("linux-rloop-3.11", "linux", Needs(loop="rloop", connections=3000), "3.11"),
]

# Names no generated module may use: deprecated, removed or raising on some target version.
FORBIDDEN = {
    "get_event_loop",
    "set_event_loop_policy",
    "get_event_loop_policy",
    "DefaultEventLoopPolicy",
    "AbstractEventLoopPolicy",
    "WindowsSelectorEventLoopPolicy",
    "WindowsProactorEventLoopPolicy",
    "EventLoopPolicy",
    "install",
    "get_child_watcher",
    "set_child_watcher",
}
WINDOWS_ONLY = {"ProactorEventLoop", "IocpProactor"}


def variant_source(variant: Variant) -> tuple[Plan, str]:
    name, platform, wanted, py = variant
    if platform.startswith("host:"):
        facts = model.load(str(HOSTS / f"{platform[5:]}.json"))
        rng = parse_python(py) if py else None
    else:
        rng = parse_python(py)
        facts = documented_facts(platform, rng.low)
    plan = recommend(facts, wanted, python=rng)
    assert plan.ok, plan.conflicts
    return plan, snippet.render(plan, facts, fallback="fallback" in name)


def _code(source: str) -> str:
    """The module without its docstring and comments: what runs."""
    tree = ast.parse(source)
    if ast.get_docstring(tree) is not None:
        tree.body = tree.body[1:]
    return ast.unparse(tree)


def _windows_only(tree: ast.Module) -> bool:
    """The module refuses other platforms at import: `if sys.platform != 'win32': raise`."""
    return any(
        isinstance(node, ast.If)
        and ast.unparse(node.test) == "sys.platform != 'win32'"
        and isinstance(node.body[0], ast.Raise)
        for node in tree.body
    )


def _attribute_uses(tree: ast.AST) -> list[tuple[str, str, bool, tuple[int, int]]]:
    """(module, attribute, guarded by sys.platform == 'win32', oldest version it runs on).

    The version comes from enclosing `if sys.version_info >= (3, N):` blocks; a module that
    refuses other platforms at import guards every line of it.
    """
    uses: list[tuple[str, str, bool, tuple[int, int]]] = []
    windows = isinstance(tree, ast.Module) and _windows_only(tree)

    def visit(node: ast.AST, guarded: bool, since: tuple[int, int]) -> None:
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            inner, inner_since = guarded, since
            if test == "sys.platform == 'win32'":
                inner = True
            if test.startswith("sys.version_info >= ("):
                inner_since = max(since, ast.literal_eval(test.split(">=", 1)[1].strip()))
            for child in node.body:
                visit(child, inner, inner_since)
            for child in node.orelse:
                visit(child, guarded, since)
            visit(node.test, guarded, since)
            return
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            uses.append((node.value.id, node.attr, guarded, since))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, since)

    visit(tree, windows, (3, 8))
    return uses


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_other_platform_module_uses_no_missing_or_deprecated_api(variant: Variant) -> None:
    plan, source = variant_source(variant)
    tree = ast.parse(source)
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported <= {"asyncio", "sys", "selectors", "logging", "resource", "ctypes", plan.loop}
    code = _code(source)
    if plan.platform == "win32":
        assert "uvloop" not in code and "rloop" not in code
    else:
        assert "winloop" not in code and "Proactor" not in code
    for module, attr, guarded, _ in _attribute_uses(tree):
        assert attr not in FORBIDDEN, f"{module}.{attr}"
        if attr in WINDOWS_ONLY:
            assert guarded, f"{module}.{attr} outside a sys.platform == 'win32' guard"
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & FORBIDDEN


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_other_platform_module_matches_golden(variant: Variant) -> None:
    _, source = variant_source(variant)
    path = GOLDEN / f"{variant[0]}.py"
    if os.environ.get("IODETECT_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with IODETECT_UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8")


COMPILE_CHECK = r"""
import asyncio, json, selectors, sys, warnings
failures = []
here = tuple(sys.version_info[:2])
for name, source, attrs in json.loads(SOURCES):
    try:
        compile(source, name, "exec")
    except SyntaxError as exc:
        failures.append("%s: %s" % (name, exc))
    for module, attr, since in attrs:
        mod = {"asyncio": asyncio, "selectors": selectors, "sys": sys}.get(module)
        if here >= tuple(since) and mod is not None and not hasattr(mod, attr):
            where = "%d.%d" % here
            failures.append("%s: %s.%s is missing on %s" % (name, module, attr, where))
print("@@iodetect@@ " + json.dumps(failures))
"""


@pytest.mark.targets
def test_other_platform_modules_compile_on_every_version() -> None:
    """Each module compiles on every CPython here; every name it uses exists there.

    Windows-only names (checked to be guarded above) and names only a pinned selector of
    another platform has are looked up where they exist: not on this Linux host.
    """
    items = []
    for variant in VARIANTS:
        plan, source = variant_source(variant)
        attrs = sorted(
            {
                (m, a, max(since, plan.python.low))
                for m, a, guarded, since in _attribute_uses(ast.parse(source))
                if m in ("asyncio", "selectors", "sys") and not guarded and a not in WINDOWS_ONLY
            }
        )
        items.append((variant[0], source, attrs))
    program = f"SOURCES = {json.dumps(json.dumps(items))}\n" + COMPILE_CHECK
    present = interpreters.available()
    assert present, "no CPython interpreters found"
    pypy = interpreters.find(PYPY)
    if pypy is not None:
        present.append(pypy)

    def check(interp: Interp) -> tuple[str, list[str]]:
        return interp.version, transport.run_program(program, interp.command(*STRICT), 60).result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(pool.map(check, present))
    assert results == {i.version: [] for i in present}


# --- hostile facts ----------------------------------------------------------------------------

HOSTILE = '"""\nimport os; os.system("echo pwned")  # \'\r\n\\x00\u2028 """; raise SystemExit(3)\n#'


def hostile_facts(selector_names: bool = True) -> Facts:
    """Facts with hostile strings everywhere; selector names only where the model allows them
    (the model rejects unknown selector names when it reads a file)."""
    clean = model.load(str(HOSTS / "linux.json"))
    host = replace(
        clean.host,
        platform="linux" + HOSTILE,
        os_name=HOSTILE,
        os_release=HOSTILE,
        machine=HOSTILE,
    )
    interp = replace(clean.interpreter, release=HOSTILE, implementation=HOSTILE)
    loops = tuple(
        replace(lp, installed="0.23.0" + HOSTILE) if lp.name == "uvloop" else lp
        for lp in clean.loops
    )
    selectors = tuple(
        replace(sel, reason=HOSTILE) if not sel.available else sel for sel in clean.selectors
    )
    if selector_names:
        selectors = (Selector(HOSTILE, True, HOSTILE), *selectors)
    libs = (Library("psycopg", "3.2.1" + HOSTILE), Library(HOSTILE, HOSTILE))
    return replace(
        clean,
        host=host,
        interpreter=interp,
        loops=loops,
        selectors=selectors,
        libraries=libs,
        note=HOSTILE,
    )


def clean_twin() -> Facts:
    """The hostile facts' twin: the same decisions (an implementation the catalog does not
    know, so no uvloop), no hostile strings."""
    clean = model.load(str(HOSTS / "linux.json"))
    interp = replace(clean.interpreter, implementation="otherpython")
    return replace(clean, interpreter=interp, libraries=(Library("psycopg", "3.2.1"),))


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_hostile_facts_change_no_code(loop: str, tmp_path: Path) -> None:
    wanted = Needs(loop=loop, connections=100)
    plan_h = recommend(hostile_facts(), wanted, python=parse_python("3.9+"))
    plan_c = recommend(clean_twin(), wanted, python=parse_python("3.9+"))
    source_h = snippet.render(plan_h, hostile_facts())
    source_c = snippet.render(plan_c, clean_twin())
    assert _code(source_h) == _code(source_c)
    assert "pwned" not in _code(source_h)
    # Only the implementation's name reaches the header, reduced to letters, digits and ._+-
    doc = ast.get_docstring(ast.parse(source_h)) or ""
    assert '"' not in doc and "\\" not in doc and "\n" not in doc.splitlines()[0]
    assert all(line.isascii() and len(line) <= snippet.WIDTH for line in source_h.splitlines())
    (tmp_path / "loop_setup.py").write_text(source_h, encoding="utf-8")
    lint(tmp_path)


def test_a_hostile_command_cannot_break_the_header(tmp_path: Path) -> None:
    """The command in the header comes from the user's options (a --bench path): quotes that
    would close the docstring, a backslash escape that does not compile, terminal controls, a
    newline and non-ASCII all stay out, and the module still lints clean."""
    plan = recommend(clean_twin(), Needs(loop="asyncio"))
    command = 'iodetect snippet --bench """\\N{x}\x1b]0;t\x07\n\u202e\u00e9.json > loop_setup.py'
    source = snippet.render(plan, clean_twin(), command=command)
    compile(source, "loop_setup.py", "exec")
    head = source.split('"""', 2)[1]
    assert head.isascii() and "\\" not in head and '"' not in head
    assert "\x1b" not in source and "\x07" not in source
    assert "--bench ????N{x}]0;t ?.json > loop_setup.py" in " ".join(head.split())
    assert _code(source) == _code(snippet.render(plan, clean_twin()))
    (tmp_path / "loop_setup.py").write_text(source, encoding="utf-8")
    lint(tmp_path)


@pytest.mark.targets
def test_hostile_module_runs_like_the_clean_one() -> None:
    interp = interpreters.require("3.12")
    plan = recommend(hostile_facts(), Needs(loop="asyncio"))
    result = run_module(snippet.render(plan, hostile_facts()), interp.command(*STRICT))
    assert result["echo_ok"] and result["selector_class"] == "EpollSelector"


def test_hostile_facts_file_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(model.to_json(hostile_facts(selector_names=False)), encoding="utf-8")
    done = cli("--facts", str(path), "--loop", "asyncio")
    assert done.returncode == 0, done.stderr
    assert _code(done.stdout) == _code(
        snippet.render(recommend(clean_twin(), Needs(loop="asyncio")), clean_twin())
    )


# --- output quality -----------------------------------------------------------------------------


RUFF = Path(sys.executable).parent / "ruff"
BLACK = Path(sys.executable).parent / "black"
MYPY = Path(sys.executable).parent / "mypy"
STUBS = ROOT / "tests" / "stubs"  # winloop and rloop, which do not install here
MYPY_PLATFORMS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
MYPY_PLATFORMS |= {"freebsd": "freebsd", "sunos": "sunos5"}


def lint(directory: Path) -> None:
    """ruff check, ruff format --check and black --check as users run them: no configuration."""
    for argv in (
        [str(RUFF), "check", "--isolated", "--no-cache", "."],
        [str(RUFF), "format", "--isolated", "--check", "--no-cache", "."],
        [str(BLACK), "--check", "--quiet", "."],
    ):
        done = subprocess.run(argv, cwd=directory, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (
            " ".join(argv[:2]) + "\n" + done.stdout[-4000:] + done.stderr[-2000:]
        )


def mypy_versions(py: PythonRange) -> list[str]:
    """The versions to type-check a module at: mypy skips the branches of other versions, so
    one below 3.11 (the manual idiom), 3.11 (Runner) and 3.12 (asyncio.run), where in range.
    mypy takes 3.10 at the oldest."""
    versions = py.versions()
    chosen = [f"3.{m}" for m in (10, 11, 12) if (3, m) in versions]
    return chosen or [f"3.{max(py.low[1], 10)}"]


def assert_mypy_strict(modules: list[tuple[Plan, str]], tmp_path: Path) -> None:
    """mypy --strict on every module, for its platform, at each version of mypy_versions()."""
    groups: dict[tuple[str, str], list[str]] = {}
    for i, (plan, source) in enumerate(modules):
        path = tmp_path / f"loop_setup_{i}.py"
        path.write_text(source, encoding="utf-8")
        for version in mypy_versions(plan.python):
            groups.setdefault((MYPY_PLATFORMS[plan.platform], version), []).append(path.name)
    cache = Path(sys.prefix) / ".iodetect-mypy-cache"  # per environment, kept between runs
    env = {**os.environ, "MYPYPATH": str(STUBS)}
    failed = []
    for (platform, version), names in sorted(groups.items()):
        argv = [str(MYPY), "--strict", "--platform", platform, "--python-version", version]
        argv += ["--cache-dir", str(cache / f"{platform}-{version}"), *names]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            failed.append(f"{platform} {version}:\n{done.stdout[-3000:]}{done.stderr[-1000:]}")
    assert not failed, "\n".join(failed)


def test_golden_modules_pass_the_linters_and_mypy(tmp_path: Path) -> None:
    """Every golden module: ruff, ruff format, black with their defaults, and mypy --strict."""
    modules = [variant_source(v) for v in VARIANTS]
    for variant, (_, source) in zip(VARIANTS, modules):
        (tmp_path / f"{variant[0]}.py").write_text(source, encoding="utf-8")
    lint(tmp_path)
    typed = tmp_path / "typed"
    typed.mkdir()
    assert_mypy_strict(modules, typed)


ALL_SHAPES = [
    (platform, wanted, py)
    for platform in ("linux", "darwin", "win32", "freebsd", "sunos")
    for wanted in (
        Needs(),
        Needs(connections=300),
        Needs(loop="uvloop"),
        Needs(loop="winloop"),
        Needs(selector="poll", connections=2_000_000),
        Needs(selector="select", connections=200),
        Needs(frozenset({"add_reader", "pty"})),
    )
    for py in ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15", "3.8+", "3.11+")
]


def test_every_shape_passes_the_linters(tmp_path: Path) -> None:
    """Every platform x needs x version module, with and without fallback, in one run each."""
    sources = []
    for platform, wanted, py in ALL_SHAPES:
        rng = parse_python(py)
        facts = documented_facts(platform, rng.low)
        plan = recommend(facts, wanted, python=rng)
        if plan.ok:
            sources.append(snippet.render(plan, facts))
            sources.append(snippet.render(plan, facts, fallback=True))
    unique = sorted(set(sources))  # many shapes give the same module
    assert len(unique) > 250
    for i, source in enumerate(unique):
        (tmp_path / f"m{i}.py").write_text(source, encoding="utf-8")
        assert all(len(line) <= snippet.WIDTH for line in source.splitlines()), source
    lint(tmp_path)


def test_render_refuses_a_conflicting_plan() -> None:
    facts = documented_facts("win32", (3, 12))
    plan = recommend(facts, Needs(frozenset({"add_reader", "subprocess"})))
    with pytest.raises(ValueError, match="conflicts"):
        snippet.render(plan, facts)


def test_single_version_idioms() -> None:
    facts = documented_facts("linux", (3, 8))

    def source(py: str) -> str:
        rng = parse_python(py)
        return _code(snippet.render(recommend(facts, Needs(), python=rng), facts))

    manual = "loop.run_until_complete(main)"
    assert manual in source("3.8") and "shutdown_default_executor" not in source("3.8")
    assert "shutdown_default_executor" in source("3.10") and "Runner" not in source("3.10")
    assert "asyncio.Runner(loop_factory=new_event_loop)" in source("3.11")
    assert "asyncio.run(" not in source("3.11") and manual not in source("3.11")
    assert "asyncio.run(main, loop_factory=new_event_loop)" in source("3.14")
    assert "Runner" not in source("3.14") and manual not in source("3.14")
    assert "sys" not in source("3.14")  # nothing to check: the same code on every version
    # A range takes each idiom where the catalog starts it (cpython.idiom), newest first.
    both = source("3.8+")
    checks = ["if sys.version_info >= (3, 12):", "if sys.version_info >= (3, 11):"]
    assert all(c in both for c in checks) and both.index(checks[0]) < both.index(checks[1])
    assert manual in both and "if sys.version_info >= (3, 9):" in both
    eleven = source("3.11+")
    assert "sys.version_info < (3, 11)" in eleven and checks[0] in eleven
    assert "Runner" in eleven and "asyncio.run(main, loop_factory=" in eleven


def test_the_descriptor_limit_is_raised_once_by_the_factory() -> None:
    """new_event_loop() owns the raise: servers given only the factory (uvicorn --loop
    loop_setup:new_event_loop) get it, and run() makes its loop with the factory."""
    for variant in VARIANTS:
        plan, source = variant_source(variant)
        tree = ast.parse(source)
        calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert calls.count("resource.setrlimit") == (0 if plan.nofile is None else 1), variant[0]
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "resource" not in ast.unparse(functions["run"])
        if plan.nofile is not None:
            assert "resource.setrlimit" in ast.unparse(functions["new_event_loop"])
        # At import: imports, the guards, the type variable; nothing else runs.
        for node in tree.body[1:]:
            assert isinstance(
                node, (ast.Import, ast.ImportFrom, ast.If, ast.Try, ast.FunctionDef)
            ) or (ast.unparse(node) == "T = TypeVar('T')"), ast.unparse(node)
            if isinstance(node, ast.If):
                assert ast.unparse(node.test).startswith(("sys.version_info <", "sys.platform !="))
                assert isinstance(node.body[0], ast.Raise) and len(node.body) == 1


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("os_release", "6.1.0-99-cloud-amd64"),
        ("machine", "aarch64"),
        ("executable", "/srv/app/.venv/bin/python3"),
        ("release", "3.11.9"),
        ("limits", (1024, 524288)),
        ("limits", (65536, 65536)),
        ("uvloop", "0.23.1"),
    ],
)
def test_same_kind_of_host_same_module(change: str, value: Any, tmp_path: Path) -> None:
    """Two facts files that differ only in what varies between hosts of the same kind: the
    module generated from one passes `snippet --check` against the other."""
    base = model.load(str(HOSTS / "linux.json"))
    if change == "os_release":
        other = replace(base, host=replace(base.host, os_release=value))
    elif change == "machine":
        other = replace(base, host=replace(base.host, machine=value, cpu_count=64))
    elif change == "executable":
        other = replace(base, interpreter=replace(base.interpreter, executable=value))
    elif change == "release":
        patch = replace(base.interpreter, release=value, version=(3, 11, 9))
        other = replace(base, interpreter=replace(patch, implementation_version=value))
    elif change == "limits":
        soft, hard = value
        other = replace(base, limits=replace(base.limits, nofile_soft=soft, nofile_hard=hard))
    else:
        loops = tuple(
            replace(lp, installed=value) if lp.name == "uvloop" else lp for lp in base.loops
        )
        other = replace(base, loops=loops)
    assert other != base
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(model.to_json(base), encoding="utf-8")
    second.write_text(model.to_json(other), encoding="utf-8")
    for options in ([], ["--connections", "2000"], ["--target-python", "3.9+", "--fallback"]):
        module = tmp_path / "loop_setup.py"
        made = cli("--facts", str(first), *options, "-o", str(module))
        assert made.returncode == 0, made.stderr
        checked = cli("--facts", str(second), *options, "--check", str(module))
        assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the CLI --------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iodetect", "snippet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("iodetect: error:")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_cli_on_this_host_picks_uvloop(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    done = cli()
    assert done.returncode == 0, done.stderr
    assert "return uvloop.new_event_loop()" in done.stdout
    assert "uvloop.new_event_loop" in done.stderr  # the choice is said, on stderr
    (tmp_path / "loop_setup.py").write_text(done.stdout, encoding="utf-8")
    lint(tmp_path)


@pytest.mark.targets
def test_cli_without_uvloop_picks_epoll() -> None:
    interp = interpreters.require("3.12")
    done = cli("--python", " ".join(interp.command()))
    assert done.returncode == 0, done.stderr
    assert "return asyncio.SelectorEventLoop()" in done.stdout
    assert "EpollSelector: selectors.DefaultSelector's pick here" in done.stdout


def test_cli_windows_add_reader_warns_about_512() -> None:
    done = cli("--needs", "add_reader", "--platform", "win32")
    assert done.returncode == 0, done.stderr
    assert "asyncio.SelectorEventLoop()" in done.stdout
    assert "ProactorEventLoop" not in done.stdout
    assert "512" in done.stderr and "warning" in done.stderr


def test_cli_windows_add_reader_and_subprocess_is_a_conflict() -> None:
    done = cli("--needs", "add_reader,subprocess", "--platform", "win32")
    assert done.returncode == 1
    assert done.stdout == ""
    line = one_error_line(done)
    assert "add_reader" in line and "subprocess" in line and "remedy" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--needs", "telepathy"], "unknown need"),
        (["--loop", "trio"], "unknown loop"),
        (["--selector", "iocp"], "unknown selector"),
        (["--platform", "beos"], "unknown platform"),
        (["--target-python", "2.7"], "--target-python"),
        (["--connections", "0"], "positive"),
        (["--facts", "/nonexistent/facts.json"], "cannot read facts file"),
        (["--facts", "tests/hosts/linux.json", "--platform", "linux"], "only one of"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in one_error_line(done)


def test_cli_bad_facts_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text('{"kind": "something else"}', encoding="utf-8")
    done = cli("--facts", str(path))
    assert done.returncode == 2 and "not iodetect facts" in one_error_line(done)


def test_cli_output_file_and_facts(tmp_path: Path) -> None:
    out = tmp_path / "loop_setup.py"
    done = cli("--facts", "tests/hosts/darwin.json", "--needs", "pty", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    text = out.read_text(encoding="utf-8")
    # A pty on modern macOS needs no select(): uvloop (installed on that host) it is.
    assert "SelectSelector" not in text and "return uvloop.new_event_loop()" in text
    assert "- the service needs pty" in text
    assert text.splitlines()[3] == "    iodetect snippet --needs pty > loop_setup.py"
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_target_python_range(tmp_path: Path) -> None:
    done = cli("--platform", "linux", "--target-python", "3.10+", "--loop", "uvloop", "--fallback")
    assert done.returncode == 0, done.stderr
    assert "if sys.version_info < (3, 10):  # noqa: UP036" in done.stdout
    assert "logging.getLogger(__name__).warning(" in done.stdout
    assert "except ImportError as exc:" in done.stdout and "warnings" not in done.stdout
    (tmp_path / "loop_setup.py").write_text(done.stdout, encoding="utf-8")
    lint(tmp_path)


def test_cli_conflicting_connections_exit_1() -> None:
    done = cli("--facts", "tests/hosts/linux.json", "--connections", "1000000")
    assert done.returncode == 1
    assert "hard limit" in one_error_line(done)


def test_range_from_facts_of_another_version_is_noted() -> None:
    done = cli("--facts", "tests/hosts/linux.json", "--target-python", "3.13")
    assert done.returncode == 0, done.stderr
    assert "seen on 3.11 only" in done.stderr


def test_the_module_in_the_docs_is_the_one_generated_here() -> None:
    """docs/snippet.md shows the module for this host's facts (tests/hosts/linux.json)."""
    doc = (ROOT / "docs" / "snippet.md").read_text(encoding="utf-8")
    shown = doc.split("```python\n", 1)[1].split("```", 1)[0]
    assert shown == (GOLDEN / "host-linux.py").read_text(encoding="utf-8")
