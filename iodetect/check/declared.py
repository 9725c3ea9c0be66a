"""The loop a module declares: the options of the command in a generated module's header.

A module made with `iodetect snippet --loop selector --selector poll` chose its loop on purpose,
and says so in its header. `check --snippet FILE` judges such a module against that choice, not
against what this host would pick by default; a `--loop` or `--selector` given to the check
states the expectation itself and wins. Needs in the header are added to the check's own: on
Windows they decide the loop. A module without the header (hand-written) declares nothing, and
the plan is the expectation, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from iodetect.check.options import Options
from iodetect.model import LOOP_CHOICES, NEED_NAMES, SELECTOR_NAMES

SHAPING = ("--loop", "--selector", "--needs")  # the options that decide which loop runs


@dataclass(frozen=True)
class Declared:
    """What the header's command says about the loop; `problem` when part of it is unusable."""

    loop: str | None = None
    selector: str | None = None
    needs: frozenset[str] = frozenset()
    shown: str = ""  # the shaping options as written, for the finding
    problem: str | None = None


def read(source: str) -> Declared | None:
    """The module's declared choice; None when its header names no loop, selector or needs."""
    from iodetect.snippet import declared_command

    words = declared_command(source)
    values: dict[str, str] = {}
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        if name in SHAPING and name not in values:
            if eq:
                values[name] = value
            elif i + 1 < len(words):
                values[name] = words[i + 1]
    if not values:
        return None
    shown = " ".join(f"{k} {values[k]}" for k in SHAPING if k in values)[:200]
    loop = values.get("--loop")
    selector = values.get("--selector")
    needs = frozenset(n.strip() for n in values.get("--needs", "").split(",") if n.strip())
    bad = [
        f"{what} {value!r}"
        for what, value, allowed in (
            ("loop", loop, LOOP_CHOICES),
            ("selector", selector, SELECTOR_NAMES),
            *(("need", n, NEED_NAMES) for n in sorted(needs)),
        )
        if value is not None and value not in allowed
    ]
    if bad:
        return Declared(shown=shown, problem="unknown " + ", ".join(bad))
    return Declared(loop, selector, needs, shown)


def apply(options: Options, declared: Declared | None) -> Options:
    """The options the check plans with: its own where given, the module's declaration else."""
    if declared is None or declared.problem is not None:
        return options
    own_loop = options.loop != "auto"
    loop = options.loop if own_loop else (declared.loop or options.loop)
    selector = options.selector
    if selector is None and not own_loop:
        selector = declared.selector
    return replace(options, loop=loop, selector=selector, needs=options.needs | declared.needs)


def message(options: Options, declared: Declared, name: str) -> tuple[str, str]:
    """The setup step's note on the declaration: (level, message)."""
    if declared.problem is not None:
        return "warn", (
            f"{name} declares `{declared.shown}` in its header, which this iodetect cannot use "
            f"({declared.problem}): judged against this host's plan instead"
        )
    if options.loop != "auto" and declared.loop not in (None, options.loop):
        return "ok", (
            f"{name} declares `{declared.shown}` in its header; --loop {options.loop} given to "
            "the check is the expectation"
        )
    return "ok", (
        f"{name} declares `{declared.shown}` in its header: the loop that runs is judged "
        "against that choice (pass --loop to expect another)"
    )
