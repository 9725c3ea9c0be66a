"""One target reached live: its facts through a --python command, as an observation.

Running many of them at once, each with its own deadline, is the caller's business; this is
the single step, so a fleet of live targets and a fleet of collected files share everything
after it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from iodetect.fleet.document import Observation, Source
from iodetect.fleet.text import clean, show_command


def observe(name: str, command: str | Sequence[str], timeout: float) -> Observation:
    """Probe the interpreter `command` starts; a target that fails is an error, not a raise."""
    import shlex

    from iodetect import probe, transport

    shown = show_command(command)
    start = time.monotonic()
    try:
        facts = probe.remote_facts(command, timeout)
    except transport.TargetError as exc:
        message = str(exc)
        # The transport's message names the command as given: show it with its secrets masked.
        try:
            argv = transport.split_command(command)
            message = message.replace(shlex.join(argv), shown)
        except transport.TargetError:
            pass
        return Observation(
            clean(name), Source("command", shown), error=clean(message), seconds=_since(start)
        )
    return Observation(clean(name), Source("command", shown), facts=facts, seconds=_since(start))


def _since(start: float) -> float:
    return round(time.monotonic() - start, 3)
