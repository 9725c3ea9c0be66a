"""The idioms the generated run() uses over a range of CPython versions, and the reason for them."""

from __future__ import annotations

from dataclasses import dataclass

from iodetect.catalog import cpython
from iodetect.catalog.records import IdiomRecord, Minor
from iodetect.recommend.plan import Note, PythonRange

# asyncio.run(main, loop_factory=F) is `with asyncio.Runner(loop_factory=F) as r: return
# r.run(main)` after a running-loop check that Runner.run() makes too (Lib/asyncio/runners.py,
# 3.12+). So a module that must also run on 3.11 uses Runner from 3.11 on: one branch fewer,
# and every version check in it compares with 3.11 or older.
SRC_RUN_IS_RUNNER = "cpython Lib/asyncio/runners.py (3.12+): run() is `with Runner(...)`"


@dataclass(frozen=True)
class Span:
    """One idiom of run() for CPython minors since..until (inclusive; until None: open)."""

    record: IdiomRecord
    since: Minor
    until: Minor | None


def run_idioms(py: PythonRange) -> tuple[Span, ...]:
    """The idioms run() uses on the range, oldest first."""
    versions = py.versions()
    records = [cpython.idiom(v) for v in versions]
    if py.low < (3, 12):  # Runner serves 3.12+ as well: see SRC_RUN_IS_RUNNER
        runner = cpython.idiom((3, 11))
        records = [runner if r.idiom == "run_loop_factory" else r for r in records]
    spans: list[Span] = []
    for version, record in zip(versions, records):
        if spans and spans[-1].record == record:
            spans[-1] = Span(record, spans[-1].since, version)
        else:
            spans.append(Span(record, version, version))
    if spans and py.high is None:
        spans[-1] = Span(spans[-1].record, spans[-1].since, None)
    return tuple(spans)


def idiom_note(py: PythonRange) -> Note:
    """How the generated run() drives the loop on these versions, and why not the old way."""
    spans = run_idioms(py)
    never = "no get_event_loop(), no policies"
    if len(spans) == 1:
        text = f"Python {py}: {spans[0].record.text}; {never}"
    else:
        ways = ", ".join(
            f"{s.record.text.split(' (')[0]} on {show_span(s.since, s.until)}"
            for s in reversed(spans)
        )
        text = f"Python {py}: one module that picks the idiom at run time ({ways}); {never}"
    sources = [s.record.source for s in reversed(spans)]
    if py.low < (3, 12) and any(v >= (3, 12) for v in py.versions()):
        sources.append(SRC_RUN_IS_RUNNER)
    sources.append(cpython.SRC_GET_EVENT_LOOP_RAISES)
    if any(v >= (3, 14) for v in py.versions()):
        sources.append(cpython.SET_EVENT_LOOP_POLICY.source)
    return Note(text, "; ".join(sources), "python.idiom")


def show_span(since: Minor, until: Minor | None) -> str:
    """(3, 8), (3, 10) -> "3.8-3.10"; (3, 11), None -> "3.11+"."""
    low = f"{since[0]}.{since[1]}"
    if until is None:
        return low + "+"
    return low if until == since else f"{low}-{until[0]}.{until[1]}"
