"""The snippet renderer: the loop_setup.py module of a plan, written as an engineer would.

The module is target-side code: standard library plus the chosen loop, CPython 3.8+ and PyPy,
clean under `-X dev -W error`, and under `ruff check`, `ruff format --check`, `black --check`
and `mypy --strict` with their defaults. It exposes new_event_loop(), the factory servers take,
and run(main). Importing it only imports and refuses an interpreter older than it is written
for; the soft descriptor limit is raised when a loop is made, so a server that takes only the
factory gets it too, and run() (which makes its loop with the factory) does not raise it again.

The module is a function of the plan's lasting parts alone: the platform family, the
implementation and Python range, the loop and selector, the needs and connections asked for,
the catalog's version floors. Nothing a probe saw (kernel release, host name, patch level,
descriptor limits, installed versions) is written into it, so the same facts and options give
the same bytes, and `iodetect snippet --check` passes on every host of the same kind. `facts`
is not read; the header is plain ASCII, and no string from a facts file reaches the code.
"""

from __future__ import annotations

import re
import textwrap

from iodetect.catalog import limits, loops
from iodetect.catalog.cpython import minors_text
from iodetect.model import Facts
from iodetect.recommend import SELECTOR_CLASSES, Plan, PythonRange
from iodetect.recommend.idiom import Span, run_idioms
from iodetect.record import frozen
from iodetect.text import clean

# PEP 8's line length, under the 88 of black and ruff format: no statement is ever wrapped
# differently by a formatter set to a longer line, and flake8's default passes too.
WIDTH = 79

PLATFORM_NAMES = {
    "linux": "Linux",
    "darwin": "macOS",
    "win32": "Windows",
    "freebsd": "FreeBSD",
    "openbsd": "OpenBSD",
    "netbsd": "NetBSD",
    "sunos": "SunOS",
    "aix": "AIX",
    "cygwin": "Cygwin",
}

# Where min(hard, cap) and soft < target are right as they stand: resource.RLIM_INFINITY is
# positive there on every CPython (macOS, the BSDs), or never the descriptor limit (Linux caps
# RLIMIT_NOFILE at fs.nr_open). Elsewhere it may be negative before 3.15 (-3 on illumos:
# cpython gh-137044), so the module compares with it by name.
FINITE_NOFILE = ("linux", "darwin", "freebsd", "openbsd", "netbsd")

# ruff's UP036 ("outdated version block") flags a version check against its target version
# or an older one, and its default target is 3.11 (`ruff config target-version`, ruff 0.17:
# "Default value: py311"). Each such check carries a targeted suppression that says why it
# stays: the module also runs on older Pythons. A check against a newer version carries none,
# since ruff's default RUF100 flags a suppression that suppresses nothing; the lint tests run
# the ruff installed here and fail when its default moves.
RUFF_DEFAULT_TARGET = (3, 11)
NOQA_GUARD = "# noqa: UP036 (refuses older Pythons)"


# The line before the command in the header: `declared_command` reads the command back.
MADE_BY = "Made by this command (regenerate it, don't edit it):"
HEADER_LINES = 40  # the header is at most this long: a declaration further down is not one


def declared_command(source: str) -> tuple[str, ...]:
    """The words of the command in a module's header, as `iodetect snippet` wrote it; () when
    the module has no such header (a hand-written one).

    The header is the module's docstring: its first line opens it, MADE_BY is a line of it, and
    the command follows on lines indented by four spaces. Only the first HEADER_LINES lines are
    read, so a large or hostile file costs nothing.
    """
    lines = source.lstrip("\ufeff").split("\n", HEADER_LINES)[:HEADER_LINES]
    if not lines or not lines[0].startswith('"""') or lines[0].count('"""') > 1:
        return ()
    words: list[str] = []
    for i, line in enumerate(lines[1:], 1):
        if line.startswith('"""') or line.rstrip().endswith('"""'):
            return ()  # the docstring ended before the command
        if line.rstrip() == MADE_BY:
            for more in lines[i + 1 :]:
                if not more.startswith("    ") or '"""' in more:
                    break
                words += more.split()
            return tuple(words)
    return ()


def escape(value: object, limit: int = 200) -> str:
    """Printable ASCII without quotes or backslashes, for the docstring; at most `limit` long.

    text.clean() takes out what a terminal acts on and cuts the length; the docstring needs more
    than a terminal does: a quote could close it and a backslash start an escape (`\\N{` is a
    SyntaxError), and the header is ASCII. Those become "?".
    """
    return re.sub(r'[^\x20-\x7e]|["\\]', "?", clean(value, limit))


@frozen
class _Shape:
    """What the module looks like: the plan and the options, read once."""

    plan: Plan
    py: PythonRange
    fallback: bool

    @property
    def low(self) -> tuple[int, int]:
        return self.py.low

    @property
    def spans(self) -> tuple[Span, ...]:
        return run_idioms(self.py)

    @property
    def guard(self) -> bool:
        """A version guard, where older versions would fail late or obscurely.

        From 3.12 the module is the same on every version, and asyncio.run(main,
        loop_factory=...) refuses an older one by itself (TypeError).
        """
        return (3, 8) < self.low < (3, 12)

    @property
    def windows(self) -> bool:
        return self.plan.platform == "win32"

    @property
    def alternative(self) -> str | None:
        """The alternative loop's module name (uvloop, winloop, rloop), else None."""
        return None if self.plan.standard else self.plan.loop

    @property
    def fallback_class(self) -> str:
        return (self.plan.fallback_factory or "asyncio.SelectorEventLoop").rpartition(".")[2]


def render(
    plan: Plan,
    facts: Facts | None = None,
    target: PythonRange | None = None,
    fallback: bool = False,
    command: str = "iodetect snippet > loop_setup.py",
) -> str:
    """The loop_setup.py module for this plan. The plan must have no conflicts.

    facts is accepted for the callers that pass it and not read: see the module docstring.
    """
    if plan.conflicts:
        raise ValueError("a plan with conflicts has no setup code: " + plan.conflicts[0].message)
    shape = _Shape(plan, target or plan.python, fallback and not plan.standard)
    body = [*_guards(shape), *TYPE_VAR, *_factory(shape), *_run(shape)]
    head = _imports(shape, body)
    text = "\n".join([*_docstring(shape, command), "", *head, *body]) + "\n"
    compile(text, "loop_setup.py", "exec")  # never hand out code that does not parse
    return text


# --- the header ---------------------------------------------------------------------------------


def _docstring(s: _Shape, command: str) -> list[str]:
    plan = s.plan
    title = f"Event loop setup: {_loop_name(plan)} for {_runtime(s)} on {_platform(plan)}."
    # The command on lines of its own: the options differ from module to module, the rest not.
    made = [MADE_BY]
    made += _wrap(escape(command), "    ", "    ")
    use = (
        "Use run(main()), or hand new_event_loop to a server that takes a loop factory "
        "(uvicorn app:app --loop loop_setup:new_event_loop). Why, in short (`iodetect report` "
        "gives the full reasoning):"
    )
    lines = [*_wrap('"""' + title, ""), "", *made, *_wrap(use, "")]
    for reason in _reasons(s):
        lines += _wrap("- " + reason, "  ")
    return [*lines, '"""']


def _wrap(text: str, hang: str, first: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=hang,
        break_long_words=True,
        break_on_hyphens=False,
    )


def _loop_name(plan: Plan) -> str:
    return plan.loop_factory.rpartition(".")[0] if not plan.standard else _class(plan)


def _class(plan: Plan) -> str:
    return plan.loop_factory.rpartition(".")[2]


def _runtime(s: _Shape) -> str:
    impl = s.plan.implementation
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(impl) or re.sub(
        r"[^A-Za-z0-9._+-]", "", impl
    )[:40]
    return f"{name or '?'} {s.py}"


def _platform(plan: Plan) -> str:
    return PLATFORM_NAMES.get(plan.platform, plan.platform)


def _reasons(s: _Shape) -> list[str]:
    """One line per decision, each built from the plan's lasting parts (never a probed value)."""
    plan = s.plan
    codes = {note.code for note in plan.reasons}
    first = plan.reasons[0].code if plan.reasons else ""
    out = [_loop_reason(s, first)]
    name = s.alternative
    if name is not None and plan.min_loop_version:
        floor = f"{name}>={plan.min_loop_version}"
        line = f"needs {floor}"
        if plan.install and plan.install != floor:
            line += f"; '{plan.install}' is clear of known data-integrity defects"
        out.append(line)
    if s.fallback and name is not None:
        out.append(
            f"where {name} does not import, asyncio's {s.fallback_class} instead, "
            "with a logged warning"
        )
    if plan.selector is not None:
        out.append(_selector_reason(plan, codes))
    extra = sorted(plan.needs - {"add_reader"}) if s.windows else sorted(plan.needs)
    if extra:
        out.append("the service needs " + ", ".join(extra))
    if plan.nofile is not None:
        out.append(_nofile_reason(plan))
    out.append(_idiom_reason(s))
    return out


def _loop_reason(s: _Shape, code: str) -> str:
    plan = s.plan
    name = s.alternative
    if name is not None:
        record = loops.loop(name)
        maturity = f"; {record.maturity}" if record is not None else ""
        if code == "loop.auto":
            return f"{name}: installed here, and faster than the standard loop"
        if code == "loop.bench":
            return f"{name}: measured fastest here by iodetect bench"
        return f"{name}: asked for{maturity}"
    cls = _class(plan)
    if code == "loop.requested":
        return f"{cls}: asked for"
    if s.windows and plan.loop == "proactor":
        return f"{cls} (IOCP): the Windows default" + (
            ", and subprocesses need it" if "subprocess" in plan.needs else ""
        )
    if s.windows:
        return f"{cls}: add_reader needs it on Windows"
    return f"{cls}: the standard loop"


def _selector_reason(plan: Plan, codes: set[str]) -> str:
    cls = SELECTOR_CLASSES[plan.selector] if plan.selector else "?"
    ceiling = plan.select_ceiling
    if plan.platform == "win32":
        return f"{cls}: the only selector on Windows, at most {ceiling} sockets"
    if plan.pin_selector and "selector.requested" in codes:
        line = f"{cls}: asked for"
    elif plan.pin_selector:
        line = f"{cls}, named in the code: not DefaultSelector's pick here"
    else:
        line = f"{cls}: selectors.DefaultSelector's pick here"
    if ceiling is not None:
        line += f"; select() takes descriptors below {ceiling}"
    return line


def _nofile_reason(plan: Plan) -> str:
    nf = plan.nofile
    assert nf is not None
    more = ""
    if nf.need is not None and plan.connections is not None:
        more = f" ({plan.connections} connections and {nf.need - plan.connections} more)"
    if nf.target is not None:  # select(): only as far as the connections need
        return f"new_event_loop() lifts the soft descriptor limit to {nf.target}{more}, no higher"
    line = "new_event_loop() lifts the soft descriptor limit to the hard one, as Go does"
    if nf.need is not None:
        line += f"; it fails below {nf.need}{more}"
    return line


def _idiom_reason(s: _Shape) -> str:
    ways = [f"{_idiom_text(span)} on {minors_text(span.since, span.until)}" for span in s.spans]
    return "run(): " + "; ".join(reversed(ways)) + "; no get_event_loop()"


def _idiom_text(span: Span) -> str:
    return {
        "manual": "asyncio.run()'s steps with this loop",
        "runner": "asyncio.Runner(loop_factory=...)",
        "run_loop_factory": "asyncio.run(main, loop_factory=...)",
    }[span.record.idiom]


def _cap(plan: Plan) -> int:
    """The soft limit the module raises to at most (before the hard limit caps it)."""
    nf = plan.nofile
    assert nf is not None
    if nf.target is not None:
        return nf.target
    return max(nf.need or 0, limits.SANE_MAX)


# --- the code -----------------------------------------------------------------------------------


def _imports(s: _Shape, body: list[str]) -> list[str]:
    """The import block, in the order isort, ruff and black keep: only what the body uses."""
    code = "\n".join(body)
    used = [m for m in ("logging", "resource", "selectors", "sys") if f"{m}." in code]
    # 3.8 cannot subscript collections.abc.Coroutine at run time: the annotations stay strings.
    out = ["from __future__ import annotations", ""] if s.low < (3, 9) else []
    out += [f"import {m}" for m in sorted(["asyncio", *used])]
    out.append("from collections.abc import Coroutine")
    out.append("from typing import Any, TypeVar")
    name = s.alternative
    if name is not None and not s.fallback:
        out += ["", f"import {name}"]
    elif name is not None:
        # ImportError only: a broken build raises it as well, and anything else is a bug to see.
        out += [
            "",
            "try:",
            f"    import {name}",
            "except ImportError as exc:",
            f'    _{name}_error = f"{{type(exc).__name__}}: {{exc}}"',
            "else:",
            f'    _{name}_error = ""',
        ]
    return out


def _guards(s: _Shape) -> list[str]:
    out: list[str] = []
    if s.guard:
        version = f"{s.low[0]}.{s.low[1]}"
        out += [
            "",
            f"if sys.version_info < {s.low!r}:  {NOQA_GUARD}",
            f'    raise RuntimeError("loop_setup: written for Python {version} and later")',
        ]
    if s.windows:
        out += [
            "",
            'if sys.platform != "win32":',
            '    raise RuntimeError("loop_setup: written for Windows")',
        ]
    return out


# Not PEP 695's `def run[T]()`: iodetect itself runs on 3.10 and must parse what it writes.
TYPE_VAR = ["", 'T = TypeVar("T")']


def _factory(s: _Shape) -> list[str]:
    plan = s.plan
    name = s.alternative
    if name is not None:
        what = f"a new {name} loop"
    else:
        what = f"a new {_class(plan)}"
        if plan.pin_selector and plan.selector:
            what += f" with {SELECTOR_CLASSES[plan.selector]}"
    out = ["", "", "def new_event_loop() -> asyncio.AbstractEventLoop:"]
    doc = f'    """Raise the soft descriptor limit, then return {what}."""'
    if plan.nofile is None:
        out.append(f'    """Return {what}."""')
    elif len(doc) <= WIDTH:
        out.append(doc)
    else:
        out += [
            f'    """Return {what}.',
            "",
            "    The soft descriptor limit goes up first: servers call only this.",
            '    """',
        ]
    if plan.nofile is not None:
        out += _nofile(plan)
    out += _make_loop(s)
    if plan.nofile is not None and plan.platform == "darwin":
        out += _maxfilesperproc()
    return out


def _make_loop(s: _Shape) -> list[str]:
    plan = s.plan
    name = s.alternative
    if name is not None:
        made = [f"    return {name}.new_event_loop()"]
        if not s.fallback:
            return made
        return [
            f"    if _{name}_error:",
            "        logging.getLogger(__name__).warning(",
            f'            "{name} does not import (%s): using asyncio.{s.fallback_class}",',
            f"            _{name}_error,",
            "        )",
            f"        return asyncio.{s.fallback_class}()",
            *made,
        ]
    if plan.loop == "proactor":
        return ["    return asyncio.ProactorEventLoop()"]
    if plan.pin_selector and plan.selector:
        cls = SELECTOR_CLASSES[plan.selector]
        return [f"    return asyncio.SelectorEventLoop(selectors.{cls}())"]
    return ["    return asyncio.SelectorEventLoop()"]


def _nofile(plan: Plan) -> list[str]:
    """Raise the soft limit toward the cap, reading the hard limit now, never lowering it."""
    nf = plan.nofile
    assert nf is not None
    cap = _cap(plan)
    if nf.target is not None:
        ceiling = plan.select_ceiling
        why = [f"    # Enough for the connections, below select()'s ceiling of {ceiling}."]
    elif cap == limits.SANE_MAX:
        why = [
            f"    # Up to the hard limit, as the Go runtime does, but not past {cap}:",
            "    # code that closes every descriptor below the limit would crawl.",
        ]
    else:
        why = [f"    # Up to the hard limit, as the Go runtime does: {nf.need} are needed."]
    out = ["    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)", *why]
    finite = plan.platform in FINITE_NOFILE
    if finite:
        out.append(f"    target = min(hard, {cap})")
    else:
        out += [
            "    unlimited = resource.RLIM_INFINITY  # negative before 3.15 here",
            f"    target = {cap} if hard == unlimited else min(hard, {cap})",
        ]
    if plan.platform == "darwin":
        out += [
            '    if sys.platform == "darwin":',
            "        target = min(target, _maxfilesperproc(target))",
        ]
    if nf.need is not None:
        more = f"{plan.connections} connections" if plan.connections is not None else "the service"
        out += [
            f"    if target < {nf.need}:",
            "        raise RuntimeError(",
            f'            "loop_setup: {more} need {nf.need} descriptors, "',
            '            f"the limits allow {target}: raise the hard limit",',
            "        )",
        ]
    cond = "soft < target" if finite else "soft != unlimited and soft < target"
    out += [
        f"    if {cond}:",
        "        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))",
    ]
    return out


def _maxfilesperproc() -> list[str]:
    return [
        "",
        "",
        "def _maxfilesperproc(default: int) -> int:",
        '    """kern.maxfilesperproc: older macOS refuses a soft limit above it."""',
        "    import ctypes",
        "",
        "    value = ctypes.c_int(0)",
        "    size = ctypes.c_size_t(ctypes.sizeof(value))",
        "    args = (ctypes.byref(value), ctypes.byref(size), None, 0)",
        '    if ctypes.CDLL(None).sysctlbyname(b"kern.maxfilesperproc", *args):',
        "        return default",
        "    return value.value",
    ]


def _run(s: _Shape) -> list[str]:
    out = [
        "",
        "",
        "def run(main: Coroutine[Any, Any, T]) -> T:",
        '    """Run main on a new loop from new_event_loop() and return its result."""',
    ]
    spans = list(reversed(s.spans))  # newest first: the version checks read downwards
    for i, span in enumerate(spans):
        last = i == len(spans) - 1
        indent = "    " if last else "        "
        if not last:  # the minor where the catalog's idiom starts (cpython.idiom)
            since = span.record.since
            out.append(f"    if sys.version_info >= {since!r}:{_noqa(s, since)}")
        out += [indent + line for line in _idiom_lines(s, span)]
    if any(span.record.idiom == "manual" for span in spans):
        out += _cancel_all_tasks()
    return out


def _noqa(s: _Shape, since: tuple[int, int]) -> str:
    """The suppression a check against `since` needs with ruff's defaults, with its reason."""
    if since > RUFF_DEFAULT_TARGET:
        return ""
    return f"  # noqa: UP036 (runs on {s.low[0]}.{s.low[1]} too)"


def _idiom_lines(s: _Shape, span: Span) -> list[str]:
    idiom = span.record.idiom
    if idiom == "run_loop_factory":
        return ["return asyncio.run(main, loop_factory=new_event_loop)"]
    if idiom == "runner":
        return [
            "with asyncio.Runner(loop_factory=new_event_loop) as runner:",
            "    return runner.run(main)",
        ]
    # Before 3.11 asyncio.run() takes no loop factory: what it does, with this loop.
    executor = "loop.run_until_complete(loop.shutdown_default_executor())"
    if span.since >= (3, 9):
        shutdown = [f"        {executor}"]
    elif span.until is not None and span.until < (3, 9):
        shutdown = []  # 3.8 has no shutdown_default_executor()
    else:
        shutdown = [
            f"        if sys.version_info >= (3, 9):{_noqa(s, (3, 9))}",
            f"            {executor}",
        ]
    return [
        "# Before 3.11 asyncio.run() takes no loop factory: what it does.",
        "loop = new_event_loop()",
        "try:",
        "    asyncio.set_event_loop(loop)",
        "    return loop.run_until_complete(main)",
        "finally:",
        "    try:",
        "        _cancel_all_tasks(loop)",
        "        loop.run_until_complete(loop.shutdown_asyncgens())",
        *shutdown,
        "    finally:",
        "        asyncio.set_event_loop(None)",
        "        loop.close()",
    ]


def _cancel_all_tasks() -> list[str]:
    return [
        "",
        "",
        "def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:",
        '    """Cancel what main() left running, as asyncio.run() does."""',
        "    tasks = asyncio.all_tasks(loop)",
        "    if not tasks:",
        "        return",
        "    for task in tasks:",
        "        task.cancel()",
        "    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))",
        "    for task in tasks:",
        "        if not task.cancelled() and task.exception() is not None:",
        "            loop.call_exception_handler(",
        "                {",
        '                    "message": "unhandled exception during run() shutdown",',
        '                    "exception": task.exception(),',
        '                    "task": task,',
        "                }",
        "            )",
    ]
