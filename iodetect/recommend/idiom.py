"""The idiom that runs the loop on each CPython version of the range, as a reason."""

from __future__ import annotations

from iodetect.catalog import cpython
from iodetect.recommend.plan import Note, PythonRange


def idiom_note(py: PythonRange) -> Note:
    """How the generated run() drives the loop on these versions, and why not the old way."""
    records = list(dict.fromkeys(cpython.idiom(v) for v in py.versions()))
    never = "no get_event_loop(), no policies"
    if len(records) == 1:
        text = f"Python {py}: {records[0].text}; {never}"
    else:
        ways = ", ".join(
            f"{r.text.split(' (')[0]} on {_span(r.since, r.until)}" for r in reversed(records)
        )
        text = f"Python {py}: one module that picks the idiom at run time ({ways}); {never}"
    sources = [r.source for r in reversed(records)] + [cpython.SRC_GET_EVENT_LOOP_RAISES]
    if any(v >= (3, 14) for v in py.versions()):
        sources.append(cpython.SET_EVENT_LOOP_POLICY.source)
    return Note(text, "; ".join(sources), "python.idiom")


def _span(since: tuple[int, int], until: tuple[int, int] | None) -> str:
    low = f"{since[0]}.{since[1]}"
    if until is None:
        return low + "+"
    return low if until == since else f"{low}-{until[0]}.{until[1]}"
