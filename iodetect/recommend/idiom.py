"""The idiom that runs the loop on each CPython version of the range, as a reason and as spans."""

from __future__ import annotations

from iodetect.catalog import apis, cpython
from iodetect.catalog.records import IdiomRecord, Minor
from iodetect.recommend.plan import Note, PythonRange
from iodetect.record import frozen


@frozen
class Span:
    """One idiom of run() for CPython minors since..until (inclusive; until None: open)."""

    record: IdiomRecord
    since: Minor
    until: Minor | None


def run_idioms(py: PythonRange) -> tuple[Span, ...]:
    """The catalog's idioms (cpython.idiom) on the range, oldest first, cut to the range."""
    versions = py.versions()
    spans: list[Span] = []
    for version in versions:
        record = cpython.idiom(version)
        if spans and spans[-1].record == record:
            spans[-1] = Span(record, spans[-1].since, version)
        else:
            spans.append(Span(record, version, version))
    if spans and py.high is None:
        spans[-1] = Span(spans[-1].record, spans[-1].since, None)
    return tuple(spans)


def idiom_note(py: PythonRange) -> Note:
    """How the generated run() drives the loop on these versions, and why not the old way."""
    records = list(dict.fromkeys(cpython.idiom(v) for v in py.versions()))
    never = "no get_event_loop(), no policies"
    if len(records) == 1:
        text = f"Python {py}: {records[0].text}; {never}"
    else:
        ways = cpython.idioms_text(tuple(records))
        text = f"Python {py}: one module that picks the idiom at run time ({ways}); {never}"
    # Why never get_event_loop() or a policy: where each breaks, from the catalog's API table.
    sources = [r.source for r in reversed(records)]
    sources.append(apis.GET_EVENT_LOOP_RAISES.source)
    policies = [v for v in py.versions() if apis.policies_deprecated((*v, 0))]
    if policies:
        sources.append(apis.source_of(apis.SET_EVENT_LOOP_POLICY, (*policies[0], 0)))
    return Note(text, "; ".join(sources), "python.idiom")
