"""Getting facts: from this interpreter in-process, another one through a command, or a file.

The target-side probe reports raw facts; `complete` adds what iodetect decides from its catalog
(whether each loop is supported there, why a selector is absent, what get_event_loop() does
where the probe could not measure it), so every source of facts gets the same answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from iodetect import catalog, model
from iodetect.catalog import apis, mechanisms, platforms, support
from iodetect.model import Facts, FactsError


def local_facts() -> Facts:
    """Facts of the interpreter running iodetect, gathered in-process (no child to start)."""
    from iodetect.target import probe

    return complete(model.from_dict(fill_in(probe.gather(catalog.probe_request()))))


def remote_facts(command: str | Sequence[str], timeout: float | None = None) -> Facts:
    """Facts of the interpreter that `command` starts; the probe travels on its stdin (within
    `timeout` seconds, transport.DEFAULT_TIMEOUT when None)."""
    from iodetect import target, transport  # only for another interpreter: not for `report`

    if timeout is None:
        timeout = transport.DEFAULT_TIMEOUT
    program = target.program("probe", catalog.probe_request())
    outcome = transport.run_program(program, command, timeout, what="probe")
    try:
        return complete(model.from_dict(fill_in(outcome.result)))
    except FactsError as exc:
        raise transport.TargetError(f"probe: the target answered with bad facts: {exc}") from None


def get_facts(
    facts_file: str | None = None,
    python: str | Sequence[str] | None = None,
    timeout: float | None = None,
) -> Facts:
    """The facts a command works on: a saved file, another interpreter, or this one.

    Raises FactsError or TargetError, each with a one-line message.
    """
    if facts_file is not None and python is not None:
        raise FactsError("--facts and --python cannot be used together")
    if facts_file is not None:
        return complete(model.load(facts_file))
    if python is not None:
        return remote_facts(python, timeout)
    return local_facts()


def fill_in(data: Any) -> Any:
    """A raw probe answer with what the probe could not measure filled in from the catalog.

    Only a well-formed gap is filled: anything odd is left for the model to refuse.
    """
    if not isinstance(data, dict):
        return data
    aio, interp = data.get("asyncio"), data.get("interpreter")
    if isinstance(aio, dict) and aio.get("get_event_loop_without_loop", "") is None:
        version = interp.get("version") if isinstance(interp, dict) else None
        if isinstance(version, list) and len(version) == 3 and all(type(v) is int for v in version):
            behaviour = apis.get_event_loop_without_loop((version[0], version[1], version[2]))
            data = {**data, "asyncio": {**aio, "get_event_loop_without_loop": behaviour}}
    return data


def complete(facts: Facts) -> Facts:
    """The facts with iodetect's own decisions filled in from the catalog (see module doc)."""
    family = platforms.family(facts.host.platform)
    loops = tuple(_assess_loop(facts, lp, family) for lp in facts.loops)
    selectors = tuple(_explain_selector(s) for s in facts.selectors)
    return dataclasses.replace(facts, loops=loops, selectors=selectors)


def _assess_loop(facts: Facts, lp: model.Loop, family: str) -> model.Loop:
    found = support.loop_support(
        lp.name,
        lp.installed,
        family,
        facts.interpreter.implementation,
        (facts.py,),
        facts.interpreter.free_threaded,
    )
    note: str | None = found.why or found.warning
    if found.ok and lp.installed is None:
        note = "not installed"
    elif found.ok and lp.importable is False:
        note = "installed but does not import"
    return dataclasses.replace(lp, supported=found.ok, support_note=note)


def _explain_selector(sel: model.Selector) -> model.Selector:
    """An absent selector's reason says where the mechanism exists."""
    record = mechanisms.selector(sel.name)
    if sel.available or record is None or not sel.reason or "absent" not in sel.reason:
        return sel
    if record.home in sel.reason:
        return sel
    return dataclasses.replace(sel, reason=f"{sel.reason} ({record.home})")
