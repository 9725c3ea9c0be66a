"""Drift between two environments: two facts (or fleet) documents compared, as the plan sees them.

Only what changes the recommendation or the code is compared: the interpreter (implementation,
version, the setup idiom it allows), the selectors, the alternative loops and their versions,
the libraries that constrain the loop, and the descriptor limits. Executable paths, CPU counts
and timings differ between any two hosts and are left out. Then the plan each side gets with
the same needs is compared, aspect by aspect. B is the side the service will run on: a limit
lower there than on A, where the service was tested, fails the comparison (unless
`--connections` shows B still has enough); so does any change of plan.

Pure: the documents are read by the caller (iodetect.fleet.collected).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iodetect.fleet.document import Observation
from iodetect.fleet.text import clean
from iodetect.model import show_limit

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Needs, Plan

DIFF_KIND = "iodetect.diff"
SCHEMA_VERSION = 1


class ComparisonError(ValueError):
    """The two documents cannot be paired (two fleets without a target name in common)."""


@dataclass(frozen=True)
class Difference:
    """One fact that differs between A and B and matters to the plan."""

    field: str  # a stable name: limits.nofile_soft, loops.uvloop, interpreter.release, ...
    title: str
    a: str
    b: str
    lower_on_b: bool = False  # a descriptor limit the plan needs, lower on B


@dataclass(frozen=True)
class PlanChange:
    aspect: str  # loop, selector, idiom, descriptor limit, needs, verdict
    a: str
    b: str


@dataclass(frozen=True)
class Pair:
    """Two targets compared: one of A, one of B."""

    a: str  # target names
    b: str
    differences: tuple[Difference, ...] = ()
    plan_a: Plan | None = None
    plan_b: Plan | None = None
    plan_changes: tuple[PlanChange, ...] = ()
    error: str | None = None  # why the two could not be compared

    @property
    def lower(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.lower_on_b)

    @property
    def failing(self) -> bool:
        return bool(self.error or self.plan_changes or self.lower)

    def reasons(self) -> list[str]:
        """Why this pair fails, in a few words each."""
        if self.error:
            return [self.error]
        out = []
        if self.plan_changes:
            out.append("plan differs (" + ", ".join(c.aspect for c in self.plan_changes) + ")")
        out.extend(f"{d.title} lower on B ({d.a} -> {d.b})" for d in self.lower)
        return out


@dataclass(frozen=True)
class Side:
    location: str  # the file as named, cleaned
    names: tuple[str, ...]  # its targets


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    how: str  # how targets were paired, in words
    pairs: tuple[Pair, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]  # targets of B with no counterpart in A: not verified, so failing
    needs: Needs

    @property
    def exit_code(self) -> int:
        """1 when a plan differs, a limit is lower on B, or a target of B went unverified."""
        return 1 if self.only_b or any(p.failing for p in self.pairs) else 0


def compare(
    a: Sequence[Observation],
    b: Sequence[Observation],
    needs: Needs,
    a_location: str = "A",
    b_location: str = "B",
) -> Comparison:
    """Pair the targets of A and B and compare each pair. Raises ComparisonError."""
    side_a = Side(clean(a_location), tuple(o.name for o in a))
    side_b = Side(clean(b_location), tuple(o.name for o in b))
    if not a or not b:
        raise ComparisonError("a document without targets cannot be compared")
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()
    if len(a) == 1 and len(b) == 1:
        how = "the one target of each"
        matches = [(a[0], b[0])]
    elif len(a) == 1:
        how = f"A's one target ({a[0].name}) against each of B's {len(b)} targets"
        matches = [(a[0], ob) for ob in b]
    elif len(b) == 1:
        how = f"each of A's {len(a)} targets against B's one target ({b[0].name})"
        matches = [(oa, b[0]) for oa in a]
    else:
        by_name = {o.name: o for o in b}
        matches = [(oa, by_name[oa.name]) for oa in a if oa.name in by_name]
        if not matches:
            raise ComparisonError(
                "the two fleets have no target name in common: compare one target of each "
                "(its own facts file), or name the targets alike"
            )
        in_a = {o.name for o in a}
        only_a = tuple(o.name for o in a if o.name not in by_name)
        only_b = tuple(o.name for o in b if o.name not in in_a)
        how = f"by name: {len(matches)} target(s) in both"
    pairs = tuple(_pair(oa, ob, needs) for oa, ob in matches)
    return Comparison(side_a, side_b, how, pairs, only_a, only_b, needs)


def _pair(a: Observation, b: Observation, needs: Needs) -> Pair:
    if a.facts is None or b.facts is None:
        which = [
            f"{side} ({o.name}) has no facts: {o.error or 'no facts'}"
            for side, o in (("A", a), ("B", b))
            if o.facts is None
        ]
        return Pair(a.name, b.name, error="; ".join(which))
    plan_a, why_a = _plan(a.facts, needs)
    plan_b, why_b = _plan(b.facts, needs)
    return Pair(
        a.name,
        b.name,
        differences=differences(a.facts, b.facts, needs),
        plan_a=plan_a,
        plan_b=plan_b,
        plan_changes=plan_changes(
            _plan_aspects(a.facts, plan_a, why_a), _plan_aspects(b.facts, plan_b, why_b)
        ),
    )


def _plan(facts: Facts, needs: Needs) -> tuple[Plan | None, str | None]:
    from iodetect import recommend

    if facts.py < recommend.OLDEST:
        return None, f"no plan: Python {facts.py[0]}.{facts.py[1]} is older than 3.8"
    return recommend.recommend(facts, needs), None


# --- the facts ---------------------------------------------------------------------------------


def idiom(facts: Facts) -> str:
    """The setup idiom this interpreter allows, from what the probe found in its asyncio."""
    aio = facts.asyncio
    if aio is None:
        return "unknown"
    if aio.run_loop_factory:
        return "asyncio.run(main, loop_factory=F)"
    if aio.has_runner:
        return "asyncio.Runner(loop_factory=F)"
    return "manual loop lifecycle"


def _loop_state(facts: Facts, name: str) -> str:
    lp = facts.loop(name)
    if lp is None or lp.installed is None:
        return "not installed"
    text = clean(lp.installed, 40)
    if not lp.importable:
        return f"{text}, does not import"
    if not lp.supported:
        return f"{text}, not supported here"
    return text


def _facts_rows(facts: Facts) -> dict[str, tuple[str, str]]:
    """field -> (title, value) for everything compared except the descriptor limits."""
    from iodetect import model

    iv = facts.interpreter
    rows: dict[str, tuple[str, str]] = {
        "host.platform": ("platform", clean(facts.host.platform, 40)),
        "interpreter.implementation": ("implementation", clean(iv.implementation, 40)),
        "interpreter.release": ("python", clean(iv.release, 40)),
        # PyPy's own release (8.0.1) moves apart from the language version it implements.
        "interpreter.implementation_version": (
            "implementation release",
            clean(iv.implementation_version or "unknown", 40)
            if iv.implementation != "cpython"
            else "-",
        ),
        "interpreter.free_threaded": ("free-threaded", "yes" if iv.free_threaded else "no"),
        "asyncio.idiom": ("setup idiom", idiom(facts)),
        "asyncio.get_event_loop_without_loop": (
            "get_event_loop() with no loop",
            facts.asyncio.get_event_loop_without_loop if facts.asyncio else "unknown",
        ),
        "selectors.available": (
            "selectors",
            ", ".join(s.name for s in facts.selectors if s.available) or "none",
        ),
        "default_selector": ("default selector", clean(facts.default_selector or "none", 20)),
        "select_ceiling": (
            "select() ceiling",
            str(facts.select_ceiling.limit)
            if facts.select_ceiling is not None and facts.select_ceiling.limit is not None
            else "none",
        ),
    }
    for name in model.LOOP_NAMES:
        rows[f"loops.{name}"] = (name, _loop_state(facts, name))
    return rows


def differences(a: Facts, b: Facts, needs: Needs) -> tuple[Difference, ...]:
    """What differs between A and B that matters to the plan, in a fixed order."""
    from iodetect import recommend

    rows_a, rows_b = _facts_rows(a), _facts_rows(b)
    out = [
        Difference(field, title, rows_a[field][1], rows_b[field][1])
        for field, (title, _) in rows_a.items()
        if rows_a[field][1] != rows_b[field][1]
    ]
    libs_a = {lib.name: clean(lib.version, 40) for lib in a.libraries}
    libs_b = {lib.name: clean(lib.version, 40) for lib in b.libraries}
    for name in sorted(set(libs_a) | set(libs_b)):
        va, vb = libs_a.get(name, "absent"), libs_b.get(name, "absent")
        if va != vb:
            out.append(Difference(f"libraries.{clean(name, 40)}", clean(name, 40), va, vb))
    need = needs.connections + recommend.HEADROOM if needs.connections is not None else None
    for field, title in (("nofile_soft", "soft limit"), ("nofile_hard", "hard limit")):
        va, vb = getattr(a.limits, field), getattr(b.limits, field)
        if va == vb:
            continue
        out.append(
            Difference(
                f"limits.{field}", title, show_limit(va), show_limit(vb), _lower(va, vb, need)
            )
        )
    return tuple(out)


def _lower(a: int | None, b: int | None, need: int | None) -> bool:
    """Is B's limit lower than A's in a way the plan feels? -1 is unlimited, None unknown.

    Without a connection count, any drop counts: the service was proven with A's limits.
    With one, a drop counts only when B's limit no longer covers what the service needs.
    """
    if b is None:
        return a is not None  # B's limit could not be read: it cannot be counted on
    if a is None:
        return False
    na = float("inf") if a < 0 else float(a)
    nb = float("inf") if b < 0 else float(b)
    if nb >= na:
        return False
    return need is None or nb < need


# --- the plans ---------------------------------------------------------------------------------


def _plan_aspects(facts: Facts, plan: Plan | None, why: str | None) -> dict[str, str]:
    """The parts of a plan that change the generated code or whether it may be used."""
    if plan is None:
        return {"verdict": why or "no plan"}
    return {
        "loop": plan.loop_factory,
        "selector": (plan.selector or "-") + (" (named in the code)" if plan.pin_selector else ""),
        "idiom": idiom(facts),
        "descriptor limit": "raised at start-up" if plan.nofile else "left as it is",
        "needs": ", ".join(sorted(plan.needs)) or "none",
        "verdict": "ok"
        if plan.ok
        else "conflicts: " + "; ".join(clean(c.message) for c in plan.conflicts),
    }


def plan_changes(a: dict[str, str], b: dict[str, str]) -> tuple[PlanChange, ...]:
    return tuple(
        PlanChange(aspect, a.get(aspect, "-"), b.get(aspect, "-"))
        for aspect in dict.fromkeys([*a, *b])
        if a.get(aspect) != b.get(aspect)
    )


# --- JSON --------------------------------------------------------------------------------------


def to_dict(comparison: Comparison) -> dict[str, Any]:
    """The public JSON form (JSON Schema: iodetect/schemas/diff.schema.json)."""
    from iodetect import recommend

    n = comparison.needs
    return {
        "kind": DIFF_KIND,
        "schema_version": SCHEMA_VERSION,
        "a": {"location": comparison.a.location, "targets": list(comparison.a.names)},
        "b": {"location": comparison.b.location, "targets": list(comparison.b.names)},
        "options": {
            "needs": sorted(n.needs),
            "connections": n.connections,
            "loop": n.loop,
            "selector": n.selector,
        },
        "how": comparison.how,
        "pairs": [
            {
                "a": p.a,
                "b": p.b,
                "error": p.error,
                "differences": [
                    {
                        "field": d.field,
                        "title": d.title,
                        "a": d.a,
                        "b": d.b,
                        "lower_on_b": d.lower_on_b,
                    }
                    for d in p.differences
                ],
                "plan_a": recommend.plan_dict(p.plan_a) if p.plan_a is not None else None,
                "plan_b": recommend.plan_dict(p.plan_b) if p.plan_b is not None else None,
                "plan_changes": [{"aspect": c.aspect, "a": c.a, "b": c.b} for c in p.plan_changes],
                "plan_differs": bool(p.plan_changes),
                "limit_lower_on_b": bool(p.lower),
                "ok": not p.failing,
            }
            for p in comparison.pairs
        ],
        "only_in_a": list(comparison.only_a),
        "only_in_b": list(comparison.only_b),
        "exit_code": comparison.exit_code,
    }


def view(comparison: Comparison) -> Any:
    """The comparison for people: the pairing, then per pair what differs, then the verdict."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    c = comparison
    parts: list[Any] = [
        Text(f"A: {c.a.location} ({_count(c.a.names)})"),
        Text(f"B: {c.b.location} ({_count(c.b.names)})"),
        Text(f"compared: {c.how}"),
    ]
    for p in c.pairs:
        parts.append(Text(""))
        head = Text(f"{clean(p.a, 40)} (A) -> {clean(p.b, 40)} (B): ", style="bold")
        if p.failing:
            head.append("; ".join(clean(r) for r in p.reasons()), style="bold red")
        else:
            head.append("same plan", style="green")
            if p.plan_b is not None:
                head.append(f" ({p.plan_b.loop_factory})")
        parts.append(head)
        if p.error:
            continue
        if not p.differences and not p.plan_changes:
            parts.append(Text("  nothing that matters to the plan differs"))
            continue
        table = Table(box=None, padding=(0, 2), header_style="bold", pad_edge=True)
        table.add_column("  what")
        table.add_column("A")
        table.add_column("B")
        table.add_column("")
        for d in p.differences:
            note = Text("lower on B", style="bold red") if d.lower_on_b else Text("")
            table.add_row(Text("  " + d.title), Text(d.a), Text(d.b), note)
        for ch in p.plan_changes:
            table.add_row(
                Text(f"  plan: {ch.aspect}"),
                Text(clean(ch.a)),
                Text(clean(ch.b)),
                Text("plan differs", style="bold red"),
            )
        parts.append(table)
    if c.only_a:
        parts.append(Text(""))
        parts.append(Text("only in A (not compared): " + ", ".join(map(clean, c.only_a))))
    if c.only_b:
        parts.append(Text(""))
        parts.append(
            Text(
                "only in B (nothing to compare with, so not verified): "
                + ", ".join(map(clean, c.only_b)),
                style="bold red",
            )
        )
    parts.append(Text(""))
    failing = [p for p in c.pairs if p.failing]
    if c.exit_code == 0:
        parts.append(
            Text(
                "OK: the same plan on B as on A, and no limit the plan needs is lower on B",
                style="bold green",
            )
        )
    else:
        text = Text("DIFFERS: ", style="bold red")
        summary = [f"{len(failing)} of {len(c.pairs)} pair(s)"]
        if c.only_b:
            summary.append(f"{len(c.only_b)} target(s) only in B")
        text.append(", ".join(summary))
        parts.append(text)
    return Group(*parts)


def _count(names: Sequence[str]) -> str:
    if len(names) == 1:
        return f"1 target: {clean(names[0], 40)}"
    return f"{len(names)} targets"
