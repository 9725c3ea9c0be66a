"""CPython versions: the idiom to run a loop on each, and the asyncio APIs that changed.

The API timeline is shaped for `iodetect scan` too: each record says when an API is fine,
which releases warn (backports to older branches included), when it raises or is removed,
and what replaces it.
"""

from __future__ import annotations

from iodetect.catalog.records import ApiChange, IdiomRecord, Minor, Span, Version

OLDEST: Minor = (3, 8)  # generated code runs on CPython 3.8+
NEWEST: Minor = (3, 15)  # newest CPython the catalog is verified against
SRC_OLDEST = (
    "asyncio.all_tasks(), shutdown_asyncgens() and the other calls of the manual lifecycle "
    "exist from CPython 3.7; iodetect tests every generated module on 3.8-3.15"
)
SRC_NEWEST = "iodetect's targets tests run the generated modules on CPython 3.8-3.15 and PyPy"

SRC_RUNNER = "docs asyncio-runner.html: asyncio.Runner(loop_factory=), 3.11 (bpo-47062)"
SRC_RUN_FACTORY = "cpython gh-99388: asyncio.run(loop_factory=), 3.12"
SRC_MANUAL = "cpython Lib/asyncio/runners.py 3.8-3.10: asyncio.run() written out"
SRC_GET_EVENT_LOOP = (
    "docs asyncio-eventloop get_event_loop() notes; cpython gh-93453 (3.10.9 and 3.11.1 "
    "backports, PRs #100059, #99949), gh-100160 (warnings removed again in 3.10.10 and 3.11.2, "
    "PRs #100412, #100970), gh-126353 (PR gh-126354: raises from 3.14)"
)
SRC_GET_EVENT_LOOP_RAISES = "cpython gh-126353 (PR gh-126354): get_event_loop() raises from 3.14"
SRC_POLICIES = "cpython gh-127949: policies deprecated in 3.14, removal in 3.16"
SRC_UVLOOP_INSTALL = (
    "MagicStack/uvloop v0.22.1 uvloop/__init__.py: install() warns DeprecationWarning from "
    "3.12; install and EventLoopPolicy are removed on 3.16"
)

IDIOMS: tuple[IdiomRecord, ...] = (
    IdiomRecord(
        "manual",
        (3, 8),
        (3, 10),
        "manual loop lifecycle (new loop, run_until_complete, shut down async generators and "
        "the executor, close)",
        SRC_MANUAL,
    ),
    IdiomRecord("runner", (3, 11), (3, 11), "asyncio.Runner(loop_factory=...)", SRC_RUNNER),
    IdiomRecord(
        "run_loop_factory", (3, 12), None, "asyncio.run(main, loop_factory=...)", SRC_RUN_FACTORY
    ),
)

GET_EVENT_LOOP = ApiChange(
    api="asyncio.get_event_loop()",
    condition="with no current event loop, outside a coroutine",
    warns=(Span("3.10.0", "3.10.9"), Span("3.11.0", "3.11.1"), Span("3.12.0")),
    raises_from="3.14.0",
    removed_from=None,
    replacement="asyncio.run(main, loop_factory=...), asyncio.Runner, or a loop you create",
    backports=("3.10.9", "3.11.1"),
    source=SRC_GET_EVENT_LOOP,
)
SET_EVENT_LOOP_POLICY = ApiChange(
    api="asyncio.set_event_loop_policy(), get_event_loop_policy() and the *EventLoopPolicy classes",
    condition="any call",
    warns=(Span("3.14.0"),),
    raises_from=None,
    removed_from="3.16.0",
    replacement="asyncio.run(main, loop_factory=...)",
    source=SRC_POLICIES,
)
UVLOOP_INSTALL = ApiChange(
    api="uvloop.install() / uvloop.EventLoopPolicy",
    condition="any call",
    warns=(Span("3.12.0"),),
    raises_from=None,
    removed_from="3.16.0",
    replacement="uvloop.new_event_loop as the loop factory",
    source=SRC_UVLOOP_INSTALL,
)
API_CHANGES: tuple[ApiChange, ...] = (GET_EVENT_LOOP, SET_EVENT_LOOP_POLICY, UVLOOP_INSTALL)


def idiom(minor: Minor) -> IdiomRecord:
    """The idiom for one CPython minor (minors past NEWEST use the newest idiom)."""
    for record in IDIOMS:
        if record.since <= minor and (record.until is None or minor <= record.until):
            return record
    return IDIOMS[0] if minor < IDIOMS[0].since else IDIOMS[-1]


def policies_deprecated(version: Version) -> bool:
    return SET_EVENT_LOOP_POLICY.behaviour(version) != "ok"
