"""Getting facts: from this interpreter in-process, another one through a command, or a file."""

from __future__ import annotations

from collections.abc import Sequence

from iodetect import model, target, transport
from iodetect.model import Facts, FactsError


def local_facts() -> Facts:
    """Facts of the interpreter running iodetect, gathered in-process (no child to start)."""
    from iodetect.target import probe

    return model.from_dict(probe.gather())


def remote_facts(command: str | Sequence[str], timeout: float = transport.DEFAULT_TIMEOUT) -> Facts:
    """Facts of the interpreter that `command` starts; the probe travels on its stdin."""
    outcome = transport.run_program(target.program("probe"), command, timeout, what="probe")
    try:
        return model.from_dict(outcome.result)
    except FactsError as exc:
        raise transport.TargetError(f"probe: the target answered with bad facts: {exc}") from None


def get_facts(
    facts_file: str | None = None,
    python: str | Sequence[str] | None = None,
    timeout: float = transport.DEFAULT_TIMEOUT,
) -> Facts:
    """The facts a command works on: a saved file, another interpreter, or this one.

    Raises FactsError or TargetError, each with a one-line message.
    """
    if facts_file is not None and python is not None:
        raise FactsError("--facts and --python cannot be used together")
    if facts_file is not None:
        return model.load(facts_file)
    if python is not None:
        return remote_facts(python, timeout)
    return local_facts()
