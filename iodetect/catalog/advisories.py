"""Known defects of loop-library versions that matter to a network service.

A data-integrity advisory without a condition keeps `--loop auto` off the affected versions;
every advisory that applies is shown by report and check. Affected ranges say what the sources
say: an open report on one release covers that release and later ones, since no fix is known.
"""

from __future__ import annotations

from iodetect.catalog.records import Advisory, Range

ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        id="uvloop-645",
        loop="uvloop",
        affected=Range(high=(0, 23, 0)),
        severity="data-integrity",
        summary="responses delivered to the wrong request under load: a cancelled "
        "create_connection(sock=...) leaves the socket owning a descriptor libuv already "
        "closed, and closing it later closes whichever connection reused that number",
        fixed_in=(0, 23, 0),
        source="MagicStack/uvloop#645 (reported on 0.21.0), #738; fixed by #740 (commit "
        "dc680eb, 'Fixes #645, #738'), in 0.23.0; measured here: a cancelled "
        "create_connection(sock=) leaves the socket attached on 0.22.1, detached on 0.23.0",
    ),
    Advisory(
        id="uvloop-653",
        loop="uvloop",
        affected=Range(high=(0, 23, 0)),
        severity="defect",
        summary="'File descriptor N is used by transport' on every new connection that gets "
        "a poisoned descriptor number, until the process restarts",
        fixed_in=(0, 23, 0),
        source="MagicStack/uvloop#653; aio-libs/aiohttp#10464 traces it to an exception inside "
        "uvloop's create_connection (loop.pyx, the path #740 fixes in 0.23.0)",
    ),
    Advisory(
        id="uvloop-706",
        loop="uvloop",
        affected=Range(low=(0, 22, 1)),
        severity="crash",
        summary="a segmentation fault reported on 0.22.1 under a FastAPI app in a container "
        "(reproducible there, gone with --loop asyncio)",
        source="MagicStack/uvloop#706 (open)",
    ),
    Advisory(
        id="uvloop-730",
        loop="uvloop",
        affected=Range(low=(0, 22, 1)),
        severity="crash",
        summary="asyncio debug mode crashes the process on CPython 3.13+ when an async "
        "generator is finalized (uvloop walks a stack holding non-frame objects)",
        python=Range(low=(3, 13, 0)),
        condition="PYTHONASYNCIODEBUG=1 or loop.set_debug(True)",
        source="MagicStack/uvloop#730 (3.13, 0.22.1, exit 139 with PYTHONASYNCIODEBUG=1), "
        "#715 (3.14, 0.22.1), both open",
    ),
    Advisory(
        id="uvloop-763",
        loop="uvloop",
        affected=Range(),
        severity="data-integrity",
        summary="connect_read_pipe/connect_write_pipe close their descriptor twice, which can "
        "close an unrelated descriptor that reused the number",
        condition="the service calls loop.connect_read_pipe() or loop.connect_write_pipe()",
        source="MagicStack/uvloop#763 (open), PR #764 (open); 0.23.0's pipe transport still "
        "opens the file object's own descriptor",
    ),
    Advisory(
        id="rloop-fd-leak",
        loop="rloop",
        affected=Range(low=(0, 5, 0), high=(0, 5, 1)),
        severity="leak",
        summary="every loop created and closed leaves two descriptors open",
        source="measured here: 20 rloop.new_event_loop()/close() left 40 descriptors open "
        "(rloop 0.5.0, CPython 3.12; the standard loop leaves none); "
        "tests/test_catalog_evidence.py repeats it",
    ),
    Advisory(
        id="rloop-remove-signal-handler",
        loop="rloop",
        affected=Range(low=(0, 3, 1), high=(0, 5, 1)),
        severity="defect",
        summary="loop.remove_signal_handler() raises AttributeError ('RLoop' object has no "
        "attribute '_is_main_thread'; add_signal_handler uses __is_main_thread)",
        condition="the service removes a signal handler",
        source="gi0baro/rloop rloop/loop.py at 0.3.1 (repository) and in the 0.5.0 wheel; "
        "measured here on 0.5.0",
    ),
)


def advisories_for(loop: str) -> tuple[Advisory, ...]:
    return tuple(a for a in ADVISORIES if a.loop == loop)
