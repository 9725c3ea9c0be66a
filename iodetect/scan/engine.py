"""The scanner: finds uses of given names in Python source by parsing it. Standard library, 3.8+.

This file is target-side code as well: `iodetect scan --deps` sends it to the target interpreter
on stdin (`python -`), where it lists the installed distributions and scans their files with
that interpreter's own parser, and prints only the uses it found (one MARKER line of JSON). It
never imports or runs the code it reads. Everything is bounded: a size cap per file, a cap on
uses and on skipped-file entries, a deadline; unreadable, undecodable and unparsable files are
reported and skipped; symlinked folders are followed once (a loop is reported, not followed).

For each use it reports where it is and what is known of the situation there, so that the
caller can judge it version by version:
- the loop state at the call: inside `async def` a loop runs; at module level, or in a function
  that runs a loop itself (run_until_complete), none runs; after set_event_loop(loop) one is set;
  after set_event_loop(None) or asyncio.run() none is left; in any other function it is unknown;
- guards: the CPython versions under which the line can run at all (sys.version_info tests,
  `if TYPE_CHECKING`), the exceptions an enclosing `try` catches, names checked by hasattr(),
  and whether warnings are silenced there (warnings.catch_warnings with an "ignore" filter,
  pytest.warns, assertWarns).
Nothing here may emit a warning: it runs under `-W error`.
"""

from __future__ import annotations

import ast
import bisect
import io
import itertools
import json
import os
import re
import stat
import sys
import time
import tokenize
import warnings
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

MARKER = "@@iodetect@@ "
SCAN_VERSION = 1

# Versions are evaluated on a finite universe, 3.0.0 to 3.19.39, as a bit set: bit i is version
# (3, i // 40, i % 40). A version test in the code is evaluated on each of them with Python's
# own comparison, so every form (slices, chained comparisons, .minor) means what CPython means.
MINORS = 20
PATCHES = 40
ALL = (1 << (MINORS * PATCHES)) - 1
COMPARE: Dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}
# A distribution's own test suite ships but does not run in production: left out by default.
TEST_DIRS = frozenset(("test", "tests"))
CODE_LIMIT = 200  # characters of a source line kept with a use
TEXT_LIMIT = 500  # characters of a path or name
IGNORE_RE = re.compile(r"#\s*iodetect:\s*ignore\b")
SKIP_DIRS = frozenset(
    (
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".eggs",
    )
)


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bit(minor: int, patch: int) -> int:
    return 1 << (minor * PATCHES + patch)


def ranges(mask: int) -> List[List[List[int]]]:
    """The bit set as [[lo, hi_exclusive], ...] of (3, minor, patch) versions, for JSON."""
    out: List[List[List[int]]] = []
    i, n = 0, MINORS * PATCHES
    while i < n:
        if mask >> i & 1:
            j = i
            while j < n and mask >> j & 1:
                j += 1
            hi = [3, MINORS, 0] if j == n else [3, j // PATCHES, j % PATCHES]
            out.append([[3, i // PATCHES, i % PATCHES], hi])
            i = j
        else:
            i += 1
    return out


class Spec:
    """The patterns to find, from the caller's records (plain data, as sent over JSON)."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self.patterns: List[Dict[str, Any]] = list(data["patterns"])
        self.calls: Dict[str, List[int]] = {}  # name -> patterns matching a call of it
        self.refs: Dict[str, List[int]] = {}  # name -> patterns matching any reference
        self.imports: Dict[str, List[int]] = {}  # module -> patterns matching its import
        self.methods: Dict[str, List[int]] = {}  # method name -> patterns
        self.loop_setters = set(data.get("loop_setters", ()))  # set_event_loop
        self.loop_runners = set(data.get("loop_runners", ()))  # asyncio.run
        roots: Set[str] = set()
        for i, p in enumerate(self.patterns):
            form = p.get("form", "call")
            if form == "method":
                self.methods.setdefault(p["method"], []).append(i)
                roots.update(n.split(".")[0] for n in p.get("receiver", ()))
                if not p.get("receiver"):
                    roots.add(p["method"])
                continue
            table = {"call": self.calls, "ref": self.refs, "import": self.imports}[form]
            for name in p["names"]:
                table.setdefault(name, []).append(i)
                roots.add(name.split(".")[0])
        for name in (*self.loop_setters, *self.loop_runners):
            roots.add(name.split(".")[0])
        self.roots = frozenset(roots)
        self.needles = tuple(sorted(r.encode() for r in roots))
        # A module's name must appear in an import for its names to be used at all.
        words = "|".join(re.escape(r) for r in sorted(roots))
        self.import_re = re.compile(
            (r"\b(?:import|from)\b[^\n]*\b(?:%s)\b" % words).encode() if words else b"(?!)"
        )
        self.method_needles = tuple(m.encode() for m in self.methods)

    def wanted(self, data: bytes) -> bool:
        """Cheap test: can this file use any pattern? (a module imported, or a method named)"""
        if any(m in data for m in self.method_needles):
            return True
        if not any(n in data for n in self.needles):
            return False
        return self.import_re.search(data) is not None


class Frame:
    """One executing scope: the module, a function (async or not), a class body, a lambda."""

    __slots__ = ("kind", "loop", "name", "node", "receivers", "runs_loop")

    def __init__(self, kind: str, name: str, loop: str, node: Optional[ast.AST]) -> None:
        self.kind = kind  # module, async, sync, class
        self.name = name
        self.loop = loop  # running, none, set, cleared, unknown
        self.node = node
        self.runs_loop: Optional[bool] = None
        self.receivers: Set[str] = set()  # local names bound to a receiver call


class Guard:
    """What encloses a line: the versions it can run on, caught errors, hasattr checks, quiet."""

    __slots__ = ("catches", "quiet", "requires", "versions")

    def __init__(
        self,
        versions: int = ALL,
        catches: FrozenSet[str] = frozenset(),
        requires: FrozenSet[str] = frozenset(),
        quiet: bool = False,
    ) -> None:
        self.versions = versions
        self.catches = catches
        self.requires = requires
        self.quiet = quiet

    def but(self, **changes: Any) -> Guard:
        g = Guard(self.versions, self.catches, self.requires, self.quiet)
        for key, value in changes.items():
            setattr(g, key, value)
        return g


class TooMany(Exception):
    """The cap on uses was reached."""


class FileScan(ast.NodeVisitor):
    """Walks one parsed file in source order and collects the uses of the spec's patterns."""

    def __init__(self, spec: Spec, lines: List[str], max_hits: int) -> None:
        self.spec = spec
        self.lines = lines
        self.max_hits = max_hits
        self.hits: List[Dict[str, Any]] = []
        self.aliases: Dict[str, str] = {}  # local name -> dotted name
        self.from_imported: Set[str] = set()  # local names bound by `from m import name`
        self.version_names: Dict[str, int] = {}  # PY312 = sys.version_info >= (3, 12)
        self.frames = [Frame("module", "", "none", None)]
        self.guard = Guard()
        self.consumed: Set[int] = set()  # ids of nodes already reported as part of a larger use
        self.compare_cache: Dict[str, Optional[int]] = {}
        self.marks: List[int] = []  # sorted lines that can hold a use or a state change

    # --- names -------------------------------------------------------------------------------
    def resolve(self, node: ast.AST) -> Optional[str]:
        """The dotted name an expression stands for, through the file's imports, or None."""
        parts: List[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.aliases.get(node.id)
        if base is None:
            return None
        parts.append(base)
        return ".".join(reversed(parts))

    def bind_imports(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    self.aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    local = a.asname or a.name
                    self.aliases[local] = node.module + "." + a.name
                    self.from_imported.add(local)

    def prebind(self, tree: ast.Module) -> None:
        """Module-level imports and aliases first, so uses above them in functions resolve."""
        todo: List[ast.stmt] = list(tree.body)
        while todo:
            stmt = todo.pop(0)
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.bind_imports(stmt)
            elif (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                alias = self.resolve(stmt.value)
                if alias is not None and alias.split(".")[0] in self.spec.roots:
                    self.aliases[stmt.targets[0].id] = alias
            elif isinstance(stmt, (ast.If, ast.Try)) or type(stmt).__name__ == "TryStar":
                for field in ("body", "orelse", "finalbody"):
                    todo.extend(getattr(stmt, field, ()))
                for h in getattr(stmt, "handlers", ()):
                    todo.extend(h.body)

    def mark(self, text: str) -> None:
        """Note the lines that mention a name of interest: a def or class without any is skipped
        whole (nothing in it can be a use, and what it does to the loop state stays inside)."""
        words = set(self.spec.roots) | set(self.spec.methods)
        words |= {k for k, v in self.aliases.items() if v.split(".")[0] in self.spec.roots}
        pattern = re.compile(r"\b(?:%s)\b" % "|".join(re.escape(w) for w in sorted(words)))
        starts = [0, *itertools.accumulate(len(line) + 1 for line in self.lines)]
        lines = set()
        for m in pattern.finditer(text):
            lines.add(bisect.bisect_right(starts, m.start()))
        self.marks = sorted(lines)

    def marked(self, node: ast.AST) -> bool:
        lo = getattr(node, "lineno", 0)
        for d in getattr(node, "decorator_list", ()):
            lo = min(lo, getattr(d, "lineno", lo))
        hi = getattr(node, "end_lineno", None) or 10**9
        i = bisect.bisect_left(self.marks, lo)
        return i < len(self.marks) and self.marks[i] <= hi

    # --- version tests -----------------------------------------------------------------------
    def versions_of(self, test: ast.AST) -> Optional[int]:
        """The versions on which `test` is true, when it is a version test; else None."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.versions_of(test.operand)
            return None if inner is None else ALL & ~inner
        if isinstance(test, ast.BoolOp):
            parts = [self.versions_of(v) for v in test.values]
            if isinstance(test.op, ast.And):
                known = [p for p in parts if p is not None]
                if not known:
                    return None
                both = ALL
                for p in known:
                    both &= p
                return both
            either = 0
            for q in parts:
                if q is None:
                    return None
                either |= q
            return either
        if isinstance(test, ast.Name) and test.id in self.version_names:
            return self.version_names[test.id]
        if isinstance(test, ast.Compare):
            return self.compare_versions(test)
        return None

    def version_value(self, node: ast.AST) -> Optional[Callable[[int, int], Any]]:
        """A function (minor, patch) -> the value of `node` on CPython 3.minor.patch."""
        if self.resolve(node) == "sys.version_info":
            return lambda m, p: (3, m, p, "final", 0)
        if isinstance(node, ast.Attribute) and self.resolve(node.value) == "sys.version_info":
            idx = {"major": 0, "minor": 1, "micro": 2}.get(node.attr)
            if idx is None:
                return None
            return lambda m, p: (3, m, p)[idx]
        if isinstance(node, ast.Subscript) and self.resolve(node.value) == "sys.version_info":
            sl = self.index(node)
            if isinstance(sl, ast.Slice) and sl.lower is None and sl.step is None:
                upper = self.constant(sl.upper) if sl.upper is not None else 5
                if not isinstance(upper, int):
                    return None
                return lambda m, p: (3, m, p, "final", 0)[:upper]
            index = self.constant(sl)
            if isinstance(index, int) and 0 <= index <= 2:
                return lambda m, p: (3, m, p)[index]
            return None
        value = self.constant(node)
        if isinstance(value, (int, tuple)):
            return lambda m, p: value
        return None

    @staticmethod
    def index(node: ast.Subscript) -> Any:
        sl: Any = node.slice
        return sl.value if type(sl).__name__ == "Index" else sl  # Python 3.8 wraps it

    @staticmethod
    def constant(node: Optional[ast.AST]) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Tuple) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts
        ):
            return tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
        return None

    def compare_versions(self, test: ast.Compare) -> Optional[int]:
        key = ast.dump(test)
        if key not in self.compare_cache:
            self.compare_cache[key] = self._compare_versions(test)
        return self.compare_cache[key]

    def _compare_versions(self, test: ast.Compare) -> Optional[int]:
        operands = [test.left, *test.comparators]
        if not any(
            "sys.version_info" in (self.resolve(o) or "")
            or (isinstance(o, (ast.Attribute, ast.Subscript)) and self.resolve(o.value))
            == "sys.version_info"
            for o in operands
        ):
            return None
        values = [self.version_value(o) for o in operands]
        if any(v is None for v in values):
            return None
        fns = [COMPARE.get(type(op)) for op in test.ops]
        if any(f is None for f in fns):
            return None
        mask = 0
        minor_bits = (1 << PATCHES) - 1
        # A test looks at the patch level only through a 3-element tuple, [2] or .micro.
        sensitive = any(
            (isinstance(o, ast.Tuple) and len(o.elts) >= 3)
            or (isinstance(o, ast.Attribute) and o.attr == "micro")
            or (isinstance(o, ast.Subscript) and self.constant(self.index(o)) == 2)
            for o in operands
        )
        try:
            for m in range(MINORS):
                for p in range(PATCHES if sensitive else 1):
                    vals = [v(m, p) for v in values]  # type: ignore[misc]
                    if all(f(vals[i], vals[i + 1]) for i, f in enumerate(fns)):  # type: ignore[misc]
                        mask |= _bit(m, p) if sensitive else minor_bits << (m * PATCHES)
        except TypeError:
            return None
        return mask

    # --- guards ------------------------------------------------------------------------------
    def hasattr_test(self, test: ast.AST) -> Optional[str]:
        if (
            isinstance(test, ast.Call)
            and isinstance(test.func, ast.Name)
            and test.func.id == "hasattr"
            and len(test.args) == 2
        ):
            base = self.resolve(test.args[0])
            attr = test.args[1]
            if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                return base + "." + attr.value
        return None

    def is_type_checking(self, test: ast.AST) -> bool:
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            return True
        return self.resolve(test) == "typing.TYPE_CHECKING"

    def branches(self, test: ast.AST) -> Tuple[Guard, Guard]:
        """The guards of the true and the false branch of a test."""
        g = self.guard
        if self.is_type_checking(test):
            return g.but(versions=0), g
        mask = self.versions_of(test)
        if mask is not None:
            return g.but(versions=g.versions & mask), g.but(versions=g.versions & ~mask & ALL)
        name = self.hasattr_test(test)
        if name is not None:
            return g.but(requires=g.requires | {name}), g
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            name = self.hasattr_test(test.operand)
            if name is not None:
                return g, g.but(requires=g.requires | {name})
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            requires = set(g.requires)
            mask = g.versions
            for v in test.values:
                n = self.hasattr_test(v)
                if n:
                    requires.add(n)
                vm = self.versions_of(v)
                if vm is not None:
                    mask &= vm
            return g.but(versions=mask, requires=frozenset(requires)), g
        return g, g

    def with_guarded(self, test: ast.AST, body: Callable[[], None], guard: Guard) -> None:
        saved = self.guard
        self.guard = guard
        try:
            body()
        finally:
            self.guard = saved

    # --- visiting ----------------------------------------------------------------------------
    def visit_list(self, nodes: List[Any]) -> None:
        for n in nodes:
            self.visit(n)

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        yes, no = self.branches(node.test)
        self.with_guarded(node.test, lambda: self.visit_list(node.body), yes)
        self.with_guarded(node.test, lambda: self.visit_list(node.orelse), no)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit(node.test)
        yes, no = self.branches(node.test)
        self.with_guarded(node.test, lambda: self.visit(node.body), yes)
        self.with_guarded(node.test, lambda: self.visit(node.orelse), no)

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        yes, _ = self.branches(node.test)
        self.with_guarded(node.test, lambda: self.visit_list(node.body), yes)
        self.visit_list(node.orelse)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        saved = self.guard
        try:
            for value in node.values:
                self.visit(value)
                yes, no = self.branches(value)
                self.guard = yes if isinstance(node.op, ast.And) else no
        finally:
            self.guard = saved

    def visit_Assert(self, node: ast.Assert) -> None:
        self.generic_visit(node)
        yes, _ = self.branches(node.test)
        if yes.versions != self.guard.versions:  # assert sys.version_info >= ...: what follows
            self.guard = yes

    def visit_Try(self, node: Any) -> None:
        caught: Set[str] = set()
        for h in node.handlers:
            caught |= self.handler_names(h.type)
        self.with_guarded(
            node,
            lambda: self.visit_list(node.body),
            self.guard.but(catches=self.guard.catches | frozenset(caught)),
        )
        for h in node.handlers:
            if h.type is not None:
                self.visit(h.type)
            self.visit_list(h.body)
        self.visit_list(node.orelse)
        self.visit_list(node.finalbody)

    visit_TryStar = visit_Try

    @staticmethod
    def handler_names(node: Optional[ast.AST]) -> Set[str]:
        if node is None:
            return {"*"}
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        names = set()
        for e in elts:
            if isinstance(e, ast.Name):
                names.add(e.id)
            elif isinstance(e, ast.Attribute):
                names.add(e.attr)
        return names

    def visit_With(self, node: Any) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
        quiet = self.guard.quiet or any(
            self.silences(item.context_expr, node.body) for item in node.items
        )
        self.with_guarded(node, lambda: self.visit_list(node.body), self.guard.but(quiet=quiet))

    visit_AsyncWith = visit_With

    def silences(self, expr: ast.AST, body: List[ast.stmt]) -> bool:
        """Does this context manager keep DeprecationWarning from the code in its body?"""
        if not isinstance(expr, ast.Call):
            return False
        name = self.resolve(expr.func) or ""
        attr = expr.func.attr if isinstance(expr.func, ast.Attribute) else ""
        if name in ("pytest.warns", "pytest.deprecated_call") or attr in (
            "assertWarns",
            "assertWarnsRegex",
        ):
            return True
        if name != "warnings.catch_warnings":
            return False
        for kw in expr.keywords:
            if kw.arg == "action" and self.is_ignore(kw.value):
                return True
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                fn = self.resolve(call.func)
                if fn not in ("warnings.simplefilter", "warnings.filterwarnings"):
                    continue
                action = call.args[0] if call.args else None
                category: Optional[ast.AST] = None
                for kw in call.keywords:
                    if kw.arg == "action":
                        action = kw.value
                    elif kw.arg == "category":
                        category = kw.value
                if fn == "warnings.simplefilter" and len(call.args) > 1:
                    category = call.args[1]
                if fn == "warnings.filterwarnings" and len(call.args) > 2:
                    category = call.args[2]
                if action is None or not self.is_ignore(action):
                    continue
                cat = (self.resolve(category) or getattr(category, "id", "")) if category else ""
                if not cat or cat.split(".")[-1] in (
                    "DeprecationWarning",
                    "PendingDeprecationWarning",
                    "Warning",
                ):
                    return True
        return False

    @staticmethod
    def is_ignore(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value == "ignore"

    def function(self, node: Any, kind: str) -> None:
        if not self.marked(node):
            return
        for d in node.decorator_list:
            self.visit_decorator(d)
        args = node.args
        for default in (*args.defaults, *[d for d in args.kw_defaults if d is not None]):
            self.visit(default)
        loop = "running" if kind == "async" else "unknown"
        self.enter(Frame(kind, node.name, loop, node), node.body)

    def enter(self, frame: Frame, body: List[Any]) -> None:
        saved_guard = self.guard
        # A try around a def does not catch what the function body raises when called later;
        # version tests and hasattr checks around it still hold.
        self.guard = saved_guard.but(catches=frozenset(), quiet=False)
        self.frames.append(frame)
        try:
            if isinstance(body, list):
                self.visit_list(body)
            else:
                self.visit(body)
        finally:
            self.frames.pop()
            self.guard = saved_guard

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.function(node, "sync")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.function(node, "async")

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.enter(Frame("sync", "<lambda>", "unknown", node), node.body)  # type: ignore[arg-type]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if not self.marked(node):
            return
        for d in node.decorator_list:
            self.visit_decorator(d)
        for base in node.bases:
            self.visit_reference(base, "subclass")
        for kw in node.keywords:
            self.visit(kw.value)
        outer = self.frames[-1]
        frame = Frame("class", node.name, outer.loop, None)
        frame.runs_loop = outer.runs_loop
        self.frames.append(frame)
        try:
            self.visit_list(node.body)
        finally:
            self.frames.pop()
            outer.loop = frame.loop if outer.kind != "async" else outer.loop

    def visit_decorator(self, node: ast.AST) -> None:
        target = node.func if isinstance(node, ast.Call) else node
        if self.resolve(target) is not None:
            self.visit_reference(target, "decorator")
            if isinstance(node, ast.Call):
                for a in node.args:
                    self.visit(a)
                for kw in node.keywords:
                    self.visit(kw.value)
        else:
            self.visit(node)

    def visit_reference(self, node: ast.AST, use: str) -> None:
        name = self.resolve(node)
        if name is not None and self.match_ref(node, name, use):
            self.consumed.add(id(node))
        self.visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.bind_imports(node)
        for a in node.names:
            for i in self.spec.imports.get(a.name, ()):
                self.hit(i, node, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.bind_imports(node)
        if not node.module or node.level:
            return
        for i in self.spec.imports.get(node.module, ()):
            self.hit(i, node, "import")
        for a in node.names:
            for i in self.spec.refs.get(node.module + "." + a.name, ()):
                self.hit(i, node, "ref", how="from-import")

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        target = node.targets[0].id
        frame = self.frames[-1]
        if frame.kind == "module":
            mask = self.versions_of(node.value)
            if mask is not None:
                self.version_names[target] = mask
            alias = self.resolve(node.value)
            if alias is not None and alias.split(".")[0] in ("asyncio", "uvloop", "select"):
                self.aliases[target] = alias
        if isinstance(node.value, ast.Call):
            called = self.resolve(node.value.func)
            for i in self.spec.methods.values():
                for j in i:
                    if called in self.spec.patterns[j].get("receiver", ()):
                        frame.receivers.add(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        # Annotations are not looked at: strings under `from __future__ import annotations`,
        # evaluated lazily from 3.14 (PEP 649); only the value runs.
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) not in self.consumed:
            name = self.resolve(node)
            if name is not None and self.match_ref(node, name, "ref"):
                return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if id(node) in self.consumed or node.id not in self.from_imported:
            return
        name = self.aliases.get(node.id)
        if name is not None:
            self.match_ref(node, name, "ref", how="name")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = self.resolve(func)
        if name is not None:
            self.match_call(node, name)
        elif isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            base = self.resolve(node.args[0])
            attr = node.args[1]
            if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                full = base + "." + attr.value
                saved = self.guard
                if len(node.args) > 2:  # a default: no AttributeError
                    self.guard = saved.but(requires=saved.requires | {full})
                try:
                    self.match_ref(node, full, "ref", how="getattr")
                finally:
                    self.guard = saved
        if isinstance(func, ast.Attribute) and func.attr in self.spec.methods:
            self.match_method(node, func)
        if name is not None and isinstance(func, (ast.Attribute, ast.Name)):
            self.state_change(node, name)
            if self.spec.refs.get(name):
                self.match_ref(func, name, "call")
                self.consumed.add(id(func))
        self.generic_visit(node)

    # --- matching ----------------------------------------------------------------------------
    def state_change(self, node: ast.Call, name: str) -> None:
        frame = self.frames[-1]
        if frame.kind == "async":
            return
        if name in self.spec.loop_setters:
            arg = node.args[0] if node.args else None
            none = isinstance(arg, ast.Constant) and arg.value is None
            frame.loop = "cleared" if none else "set"
        elif name in self.spec.loop_runners and not any(
            kw.arg == "loop_factory" for kw in node.keywords
        ):
            frame.loop = "cleared"

    @staticmethod
    def makes_coroutine(node: ast.AST) -> bool:
        """An argument written as a call (a coroutine, most likely), or a starred list of them."""
        if isinstance(node, ast.Starred):
            node = node.value
            if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
                return isinstance(node.elt, ast.Call)
            if isinstance(node, (ast.List, ast.Tuple)):
                return any(isinstance(e, ast.Call) for e in node.elts)
            return False
        return isinstance(node, ast.Call)

    def keywords_ok(self, node: ast.Call, p: Dict[str, Any]) -> bool:
        if (
            p.get("coroutine_arg")
            and node.args
            and not any(self.makes_coroutine(a) for a in node.args)
        ):
            return False
        names = {kw.arg for kw in node.keywords}
        if p.get("keyword") and p["keyword"] not in names:
            return False
        return not (p.get("without_keyword") and (p["without_keyword"] in names or None in names))

    def match_call(self, node: ast.Call, name: str) -> None:
        for i in self.spec.calls.get(name, ()):
            if self.keywords_ok(node, self.spec.patterns[i]):
                self.hit(i, node, "call")

    def match_method(self, node: ast.Call, func: ast.Attribute) -> None:
        for i in self.spec.methods[func.attr]:
            p = self.spec.patterns[i]
            receivers = p.get("receiver", ())
            if receivers:
                v = func.value
                ok = (isinstance(v, ast.Call) and self.resolve(v.func) in receivers) or (
                    isinstance(v, ast.Name) and v.id in self.frames[-1].receivers
                )
                if not ok:
                    continue
            if self.keywords_ok(node, p):
                self.hit(i, node, "call")

    def match_ref(self, node: ast.AST, name: str, use: str, how: str = "") -> bool:
        found = False
        for i in self.spec.refs.get(name, ()):
            if how == "" and isinstance(node, ast.Name):
                how = "name"
            self.hit(i, node, use, how=how)
            found = True
        return found

    def loop_context(self) -> Tuple[str, str]:
        """(context, why) of the loop state here."""
        frame = self.frames[-1]
        if frame.kind == "async":
            return "running", "async"
        if frame.loop == "set":
            return "loop_set", frame.kind
        if frame.loop == "cleared":
            return "cleared", frame.kind
        if frame.loop == "none":
            return "no_loop", "module" if frame.kind in ("module", "class") else "runs-loop"
        if frame.loop == "running":
            return "running", "async"
        if self.runs_loop(frame):
            return "no_loop", "runs-loop"
        return "unknown", "function"

    def runs_loop(self, frame: Frame) -> bool:
        """Does this function run an event loop itself (run_until_complete, run_forever)?"""
        if frame.runs_loop is None:
            frame.runs_loop = False
            if frame.node is not None:
                for n in ast.walk(frame.node):
                    if (
                        isinstance(n, ast.Call)
                        and isinstance(n.func, ast.Attribute)
                        and n.func.attr in ("run_until_complete", "run_forever")
                    ):
                        frame.runs_loop = True
                        break
        return frame.runs_loop

    def qualname(self) -> str:
        return ".".join(f.name for f in self.frames[1:] if f.name)

    def hit(self, index: int, node: ast.AST, use: str, how: str = "") -> None:
        if not self.guard.versions:
            return  # never runs (if TYPE_CHECKING, or version tests that exclude every version)
        line = getattr(node, "lineno", 0)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if IGNORE_RE.search(text):
            return
        if len(self.hits) >= self.max_hits:
            raise TooMany()
        p = self.spec.patterns[index]
        ctx, why = self.loop_context() if p.get("loop_sensitive") else ("any", "")
        hit: Dict[str, Any] = {
            "p": index,
            "use": use,
            "ctx": ctx,
            "why": why,
            "line": line,
            "col": getattr(node, "col_offset", 0) + 1,
            "end_line": getattr(node, "end_lineno", None) or line,
            "end_col": (getattr(node, "end_col_offset", None) or 0) + 1,
            "code": clip(text.strip(), CODE_LIMIT),
            "func": clip(self.qualname(), 200),
        }
        if how:
            hit["how"] = how
        if self.guard.versions != ALL:
            hit["versions"] = ranges(self.guard.versions)
        if self.guard.catches:
            hit["catches"] = sorted(self.guard.catches)[:20]
        if self.guard.requires:
            hit["requires"] = sorted(self.guard.requires)[:20]
        if self.guard.quiet:
            hit["quiet"] = True
        self.hits.append(hit)


# --- files -----------------------------------------------------------------------------------
def read_file(path: str, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most max_bytes; OSError or ValueError with the reason."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > max_bytes:
            raise ValueError("larger than %d bytes (%d)" % (max_bytes, st.st_size))
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ValueError("larger than %d bytes" % max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode(data: bytes) -> str:
    """The text of Python source bytes, by its coding cookie or BOM (PEP 263)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def error_text(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = " (line %s)" % exc.lineno if exc.lineno else ""
        return clip("syntax error: %s%s" % (exc.msg, where), 300)
    if isinstance(exc, UnicodeError):
        return clip("cannot decode: %s" % exc, 300)
    if isinstance(exc, (RecursionError, MemoryError)):
        return "too deeply nested to parse"
    if isinstance(exc, OSError):
        return clip("cannot read: %s" % (exc.strerror or exc), 300)
    return clip("%s: %s" % (type(exc).__name__, exc), 300)


class Scanner:
    """Scans files against a Spec, within limits shared by the whole run."""

    def __init__(self, spec: Spec, limits: Dict[str, Any]) -> None:
        self.spec = spec
        self.max_bytes = int(limits.get("max_file_bytes", 4 << 20))
        self.max_hits = int(limits.get("max_hits", 5000))
        self.max_skipped = int(limits.get("max_skipped", 200))
        self.deadline = time.monotonic() + float(limits.get("timeout", 60.0))
        self.hits_total = 0
        self.incomplete: Optional[str] = None

    def out_of_time(self) -> bool:
        if self.incomplete is None and time.monotonic() > self.deadline:
            self.incomplete = "deadline reached"
        return self.incomplete is not None

    def scan_file(self, path: str, group: Dict[str, Any], shown: str) -> None:
        group["files"] += 1
        try:
            data = read_file(path, self.max_bytes)
        except (OSError, ValueError) as exc:
            self.skip(group, shown, error_text(exc) if isinstance(exc, OSError) else str(exc))
            return
        group["bytes"] += len(data)
        group["lines"] += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        if not self.spec.wanted(data):
            return
        group["parsed"] += 1
        try:
            text = decode(data)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SyntaxWarning etc. are the scanned code's
                tree = ast.parse(text, shown)
            lines = text.split("\n")  # line numbers as the parser counts them
            visitor = FileScan(self.spec, lines, self.max_hits - self.hits_total)
            visitor.prebind(tree)
            visitor.mark(text)
            try:
                visitor.visit(tree)
            except TooMany:
                self.incomplete = "more than %d uses; the rest were not scanned" % self.max_hits
        except (SyntaxError, ValueError, UnicodeError, LookupError) as exc:
            self.skip(group, shown, error_text(exc))
            return
        except (RecursionError, MemoryError) as exc:
            self.skip(group, shown, error_text(exc))
            return
        for h in visitor.hits:
            h["path"] = clip(shown)
        group["hits"].extend(visitor.hits)
        self.hits_total += len(visitor.hits)

    def skip(self, group: Dict[str, Any], shown: str, reason: str) -> None:
        if len(group["skipped"]) < self.max_skipped:
            group["skipped"].append({"path": clip(shown), "reason": clip(reason, 300)})
        else:
            group["skipped_more"] = group.get("skipped_more", 0) + 1


def new_group(kind: str, name: str, version: str = "", location: str = "") -> Dict[str, Any]:
    return {
        "kind": kind,
        "name": clip(name, 200),
        "version": clip(version, 100),
        "location": clip(location),
        "files": 0,
        "parsed": 0,
        "lines": 0,
        "bytes": 0,
        "hits": [],
        "skipped": [],
    }


def walk(root: str, scanner: Scanner, group: Dict[str, Any], excludes: List[str]) -> None:
    """Every .py file under root, symlinked folders followed once, the usual clutter skipped."""
    import fnmatch

    seen: Set[Tuple[int, int]] = set()
    stack = [root]
    while stack:
        if scanner.out_of_time():
            return
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            scanner.skip(group, folder, error_text(exc))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            scanner.skip(group, folder, "symlink loop or folder seen twice: not followed")
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            scanner.skip(group, folder, error_text(exc))
            continue
        subdirs = []
        for entry in entries:
            path = entry.path
            rel = os.path.relpath(path, root)
            if any(
                fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(entry.name, pat) for pat in excludes
            ):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name in SKIP_DIRS or os.path.exists(os.path.join(path, "pyvenv.cfg")):
                    continue
                subdirs.append(path)
            elif entry.name.endswith((".py", ".pyw")):
                if scanner.out_of_time():
                    return
                scanner.scan_file(path, group, path)
        stack.extend(reversed(subdirs))


def scan_paths(
    paths: List[str], spec: Spec, limits: Dict[str, Any], excludes: List[str]
) -> Dict[str, Any]:
    """Scan files and folders (the project) into one group."""
    scanner = Scanner(spec, limits)
    group = new_group("project", "project", "", ", ".join(paths))
    for path in paths:
        if scanner.out_of_time():
            break
        if os.path.isdir(path):
            walk(path, scanner, group, excludes)
        else:
            scanner.scan_file(path, group, path)
    return {"groups": [group], "incomplete": scanner.incomplete}


# --- installed distributions -----------------------------------------------------------------
def _header(text: str, names: Tuple[str, ...]) -> Dict[str, str]:
    """The first values of some RFC 822 headers of METADATA (the body can be long: not parsed)."""
    found: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key in names and key not in found:
            found[key] = value.strip()
    return found


def _record_paths(text: str) -> List[str]:
    """The paths in a RECORD file (CSV: path,hash,size)."""
    import csv

    return [row[0] for row in csv.reader(io.StringIO(text)) if row]


def distributions() -> Iterator[Tuple[str, str, str, List[str], str]]:
    """(name, version, base folder, .py files, note) of each distribution on sys.path, once.

    RECORD and METADATA are read directly: importlib.metadata's `files` stats every file and
    its `metadata` parses the whole long description, which costs more than the scan.
    """
    from importlib import metadata

    entries = [p for p in sys.path if p and os.path.isdir(p)]
    seen: Set[str] = set()
    for dist in metadata.distributions(path=entries):
        try:
            head = _header(
                dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "", ("Name", "Version")
            )
            record = dist.read_text("RECORD")
            legacy = None if record is not None else dist.read_text("installed-files.txt")
        except Exception:  # a broken distribution: skip it, not the scan
            continue
        name = head.get("Name", "")
        key = re.sub(r"[-_.]+", "-", name).lower()
        if not key or key in seen:
            continue
        seen.add(key)
        version = head.get("Version", "")
        base = os.path.normpath(str(dist.locate_file("")))
        if record is not None:
            rels = _record_paths(record)
        elif legacy is not None:  # egg-info: paths relative to the egg-info folder
            egg = getattr(dist, "_path", None)
            rels = [
                os.path.relpath(os.path.normpath(os.path.join(str(egg), line.strip())), base)
                for line in legacy.splitlines()
                if line.strip() and egg is not None
            ]
        else:
            yield name, version, base, [], "no list of installed files (RECORD)"
            continue
        paths = [r for r in rels if r.endswith(".py") and "__pycache__" not in r]
        note = ""
        if not paths:
            try:
                direct = json.loads(dist.read_text("direct_url.json") or "{}")
                editable = bool(direct.get("dir_info", {}).get("editable"))
            except Exception:  # absent or malformed: not an editable install we can name
                editable = False
            if editable:
                note = "editable install: scan its source folder as a path"
        yield name, version, base, paths, note


def scan_distributions(spec: Spec, limits: Dict[str, Any]) -> Dict[str, Any]:
    """Scan the .py files of every installed distribution, one group each."""
    scanner = Scanner(spec, limits)
    groups = []
    claimed: Set[str] = set()
    for name, version, base, rels, note in distributions():
        if scanner.out_of_time():
            break
        group = new_group("distribution", name, version, base)
        if note:
            group["note"] = clip(note, 200)
        real_base = os.path.realpath(base)
        skip_tests = limits.get("skip_tests", True)
        for rel in sorted(rels):
            if scanner.out_of_time():
                break
            if skip_tests and TEST_DIRS & set(re.split(r"[\\/]", rel)[:-1]):
                group["tests"] = group.get("tests", 0) + 1
                continue
            full = os.path.normpath(os.path.join(base, rel))
            # RECORD is data from the distribution: a path that leaves its folder (../, an
            # absolute path, a symlink pointing out) is not read.
            inside = full.startswith(base + os.sep)
            if inside and os.path.islink(full):
                inside = os.path.realpath(full).startswith(real_base + os.sep)
            if not inside:
                scanner.skip(group, rel, "outside the distribution's folder: not read")
                continue
            if full in claimed:
                continue
            claimed.add(full)
            scanner.scan_file(full, group, rel)
        groups.append(group)
    return {"groups": groups, "incomplete": scanner.incomplete}


def interpreter() -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "implementation": sys.implementation.name,
        "version": list(sys.version_info[:3]),
        "executable": clip(sys.executable or ""),
        "platform": sys.platform,
    }
    info["nofile"] = None
    if sys.platform != "win32":  # Windows has no descriptor limit of this kind
        import resource

        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            inf = resource.RLIM_INFINITY
            info["nofile"] = [-1 if soft == inf else soft, -1 if hard == inf else hard]
        except (OSError, ValueError):
            pass
    return info


def run(params: Dict[str, Any]) -> Dict[str, Any]:
    """One scan as described by params (mode "deps" or "paths"); the result as plain data."""
    start = time.monotonic()
    spec = Spec(params["spec"])
    limits = params.get("limits", {})
    if params.get("mode") == "info":
        result: Dict[str, Any] = {"groups": [], "incomplete": None}
    elif params.get("mode") == "deps":
        result = scan_distributions(spec, limits)
    else:
        result = scan_paths(
            list(params.get("paths", ())), spec, limits, list(params.get("exclude", ()))
        )
    result["scan_version"] = SCAN_VERSION
    result["python"] = interpreter()
    result["seconds"] = round(time.monotonic() - start, 3)
    return result


def main(params: Dict[str, Any]) -> None:
    """Entry point on the target: print the result after MARKER on one line."""
    result = run(params)
    sys.stdout.write(MARKER + json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()
