"""The asyncio APIs whose meaning changes across CPython 3.8-3.15: one table, each fact sourced.

One record per API and situation (get_event_loop() with no loop, with a loop set, after
asyncio.run()...): fine outside the spans of its behaviours, warns or breaks inside them, each
behaviour with its source, and the replacement to write, in the idioms `iodetect snippet` writes
(iodetect.catalog.cpython.IDIOMS). `iodetect scan` judges each use from here; the recommender's
idiom reason, the documented facts of a platform and the probe's expectations take
get_event_loop() and the policies from here too.

Every behaviour was run on the real interpreters under `-W error` (3.8.18, 3.9.18, 3.10.13,
3.11.7, 3.12.1, 3.13.0, 3.14.10, 3.15.2: tests/test_scan_targets.py runs tests/scan_project on
each); behaviours of patch releases that cannot be run here (3.10.0-3.10.9, 3.11.0-3.11.1) come
from CPython's documentation, its changelog and the pull requests cited.
"""

from __future__ import annotations

from iodetect.catalog import cpython, mechanisms
from iodetect.catalog.records import (
    ApiChange,
    Behaviour,
    Context,
    Pattern,
    Span,
    Verdict,
    Version,
)
from iodetect.model import GetEventLoop

OLDEST = cpython.OLDEST  # the oldest CPython the records describe
NEWEST = cpython.NEWEST  # the newest CPython the records were verified on
# select()'s descriptor ceiling on Linux and macOS (the scan's select() records)
FD_SETSIZE = mechanisms.ceiling("linux").limit

# --- sources -------------------------------------------------------------------------------
# Short citations; docs pages are docs.python.org/3/..., issues and PRs are python/cpython's.
SRC_GEL_310 = (
    "docs library/asyncio-eventloop.html#asyncio.get_event_loop (note: 3.10.0-3.10.8 and 3.11.0 "
    "warned with no running loop even with a loop set; 3.10.9 and 3.11.1 only when none was set); "
    "gh-93453 (PRs #100059, #99949; changelog 3.11.1), gh-100160 (PRs #100412, #100970: warnings "
    "removed again in 3.10.10 and 3.11.2; changelog 3.11.2)"
)
SRC_GEL_312 = (
    "Lib/asyncio/events.py 3.12-3.13 (BaseDefaultEventLoopPolicy.get_event_loop warns when it "
    "creates the loop: gh-100160, changelog 3.12.0a5); docs asyncio-eventloop.html (deprecated "
    "3.12)"
)
# The recommender cites these two in every generated module: keep them short.
SRC_GEL_314 = "cpython gh-126353 (PR gh-126354): get_event_loop() raises from 3.14"
SRC_POLICY = "cpython gh-127949: policies deprecated in 3.14, removal in 3.16"
SRC_GEL_RUNNING = (
    "docs asyncio-eventloop.html get_event_loop(): 'When called from a coroutine or a callback "
    "[...] this function will always return the running event loop' (3.8-3.15)"
)
SRC_GEL_CLEARED = (
    "Lib/asyncio/events.py 3.8-3.15 (the policy creates a loop only while set_event_loop was "
    "never called; asyncio.run() and Runner call set_event_loop(None) when they finish)"
)
SRC_POLICY_LOOP_SET = (
    "Lib/asyncio/events.py 3.8-3.15: BaseDefaultEventLoopPolicy.get_event_loop returns the loop "
    "set for the thread and warns or raises only when none is set"
)
SRC_POLICY_FACTORY = (
    "Lib/asyncio/runners.py 3.11-3.15: Runner calls set_event_loop() only without a loop_factory "
    "(run here on 3.11.7, 3.12.1, 3.13.0, 3.14.10)"
)
SRC_IMPLICIT = (
    "PR #98440 (gh-93453: ensure_future(), shield(), gather(), Future()... call get_event_loop() "
    "implicitly); bpo-39529 (changelog 3.10.0b1: these functions warn without a running loop)"
)
SRC_POLICY_PRIVATE = (
    "gh-127949; Lib/asyncio/events.py, unix_events.py, windows_events.py 3.14 define only "
    "_AbstractEventLoopPolicy, _BaseDefaultEventLoopPolicy, _DefaultEventLoopPolicy and the "
    "_Windows*EventLoopPolicy classes; asyncio.__getattr__ keeps the public names, with a warning"
)
SRC_CHILD_312 = (
    "gh-94597 (PR #98089: child watchers deprecated in 3.12); Lib/asyncio/unix_events.py 3.12 "
    "(warnings._deprecated(..., remove=(3, 14)))"
)
SRC_CHILD_314 = (
    "gh-120804 (PRs #120805, #120818, #120893: child watcher API removed in 3.14); docs "
    "deprecations/pending-removal-in-3.14.html"
)
SRC_LOOP_ARG = (
    "bpo-36373 and bpo-34728 (loop argument deprecated in 3.8), bpo-42392 (removed in 3.10; "
    "whatsnew/3.10 'Removed'); docs asyncio-task.html deprecated-removed 3.8 3.10"
)
SRC_GATHER_38 = (
    "Lib/asyncio/tasks.py 3.8: gather() warns about loop= only when given no awaitables; 3.9 "
    "warns on every call with loop= (bpo-36373)"
)
SRC_COROUTINE = (
    "bpo-36921 (@asyncio.coroutine deprecated in 3.8), bpo-43216 (removed in 3.11); docs "
    "asyncio-task.html 'Generator-based Coroutines' (deprecated-removed 3.8 3.11)"
)
SRC_ASYNCORE = (
    "PEP 594; bpo-44498 (DeprecationWarning on import from 3.10), gh-72719 (asyncore and "
    "asynchat removed in 3.12; changelog 3.12.0a2)"
)
SRC_SMTPD = (
    "PEP 594; bpo-44498 (DeprecationWarning on import from 3.10), gh-93243 (smtpd removed in "
    "3.12; changelog 3.12.0a1)"
)
SRC_ISCORO = (
    "gh-122858 (PR gh-122875: asyncio.iscoroutinefunction deprecated in 3.14, removal in 3.16); "
    "Lib/asyncio/coroutines.py 3.14"
)
SRC_TASK_CLASSMETHODS = (
    "bpo-40967 (PR #21272: Task.current_task() and Task.all_tasks() removed in 3.9; "
    "deprecated since 3.7)"
)
SRC_REUSE_ADDRESS = (
    "bpo-37228 (3.8.1: reuse_address=True refused with ValueError, other values warn), "
    "bpo-45129 (removed in 3.11); docs asyncio-eventloop.html create_datagram_endpoint"
)
SRC_UVLOOP_INSTALL = (
    "MagicStack/uvloop uvloop/__init__.py v0.18.0-v0.22.1 (install() warns on CPython 3.12+; "
    "removed for 3.16), plus asyncio.set_event_loop_policy's own warning on 3.14+"
)
SRC_UVLOOP_POLICY = (
    "MagicStack/uvloop uvloop/__init__.py v0.22.0 (EventLoopPolicy is created on first access "
    "from asyncio.AbstractEventLoopPolicy, which warns on 3.14+; removed for 3.16)"
)
SRC_SELECT = (
    f"select(2): FD_SETSIZE {FD_SETSIZE}; CPython Modules/selectmodule.c (ValueError: "
    "filedescriptor out of range in select()); run here on 3.8-3.15 with descriptor 1500"
)

# --- replacements: the idioms `iodetect snippet` writes (iodetect/snippet.py, _run) -----------
RUN_IDIOM = (
    "asyncio.run(main()), or for a chosen loop run(main()) from `iodetect snippet > "
    f"loop_setup.py` ({cpython.idioms_text()})"
)
GEL_REPLACEMENT = (
    "asyncio.get_running_loop() inside coroutines; start the program with " + RUN_IDIOM
)
POLICY_REPLACEMENT = (
    f"no policy: pass a loop factory instead ({cpython.idioms_text(cpython.IDIOMS[1:])}; "
    "`iodetect snippet` writes the module for every version from 3.8)"
)
CHILD_REPLACEMENT = (
    "nothing: asyncio.create_subprocess_exec/_shell pick a watcher themselves (pidfd or a "
    "thread) on every version from 3.8"
)
LOOP_ARG_REPLACEMENT = (
    "drop the loop argument: these functions use the running loop; create the objects inside a "
    "coroutine"
)


def _v(v: tuple[int, ...]) -> Version:
    """(3, 12) -> (3, 12, 0): records are written with minors where a minor is meant."""
    return (v[0], v[1] if len(v) > 1 else 0, v[2] if len(v) > 2 else 0)


def _s(since: tuple[int, ...], until: tuple[int, ...] | None = None) -> Span:
    return Span(_v(since), None if until is None else _v(until))


EVERY = (_s((3, 8)),)
NO_LOOP_ERROR = "RuntimeError: There is no current event loop in thread 'MainThread'"
NO_LOOP_WARNING = "DeprecationWarning: There is no current event loop"

# 3.14 took the implicit loop out: the breaking change every generated module avoids.
GET_EVENT_LOOP_RAISES = Behaviour(
    "raises", (_s((3, 14)),), NO_LOOP_ERROR, "RuntimeError", SRC_GEL_314
)
# What happens to a call that needs the current loop when none runs and none was set (the
# main thread): the loop is created silently on 3.8-3.9, with a warning on 3.10.0-3.10.9 and
# 3.11.0-3.11.1 (gh-100160 took it out again), with a warning on 3.12-3.13; 3.14 raises.
_NO_LOOP = (
    Behaviour(
        "warns",
        (_s((3, 10), (3, 10, 10)), _s((3, 11), (3, 11, 2))),
        NO_LOOP_WARNING,
        None,
        SRC_GEL_310,
    ),
    Behaviour("warns", (_s((3, 12), (3, 14)),), NO_LOOP_WARNING, None, SRC_GEL_312),
    GET_EVENT_LOOP_RAISES,
)
# With a loop set by set_event_loop() and none running: only 3.10.0-3.10.8 and 3.11.0 warned.
_LOOP_SET = (
    Behaviour(
        "warns",
        (_s((3, 10), (3, 10, 9)), _s((3, 11), (3, 11, 1))),
        "DeprecationWarning: There is no current event loop (even with a loop set)",
        None,
        SRC_GEL_310,
    ),
)
# After set_event_loop(None) or asyncio.run(): the policy no longer creates a loop, on any version.
_CLEARED = (Behaviour("raises", EVERY, NO_LOOP_ERROR, "RuntimeError", SRC_GEL_CLEARED),)

GET_EVENT_LOOP = Pattern(
    ("asyncio.get_event_loop", "asyncio.events.get_event_loop"), loop_sensitive=True
)
POLICY_GET_EVENT_LOOP = Pattern(
    form="method",
    method="get_event_loop",
    receiver=("asyncio.get_event_loop_policy", "asyncio.events.get_event_loop_policy"),
    loop_sensitive=True,
)


def _implicit(
    name: str, display: str, extra: tuple[str, ...] = (), coroutine_arg: bool = False
) -> tuple[ApiChange, ...]:
    """The functions that call get_event_loop() themselves when no loop runs (PR #98440)."""
    pattern = Pattern(
        (f"asyncio.{name}", *extra),
        without_keyword="loop",
        loop_sensitive=True,
        coroutine_arg=coroutine_arg,
    )
    key = name.lower()
    return (
        ApiChange(
            f"{key}-no-loop",
            display,
            pattern,
            _NO_LOOP,
            "call it inside a coroutine (it then uses the running loop) or pass loop=; start "
            "the program with " + RUN_IDIOM,
            "no_loop",
            "with no event loop running or set: it asks get_event_loop() for one",
            source_note(SRC_IMPLICIT),
        ),
        ApiChange(
            f"{key}-loop-set",
            display,
            pattern,
            _LOOP_SET,
            "call it inside a coroutine, or pass loop= explicitly",
            "loop_set",
            "after set_event_loop(loop), with no loop running",
        ),
        ApiChange(
            f"{key}-cleared",
            display,
            pattern,
            _CLEARED,
            "call it inside a coroutine, or pass loop= explicitly",
            "cleared",
            "after asyncio.run() or set_event_loop(None): no current loop is left",
        ),
    )


def source_note(source: str) -> str:
    """A record's note citing the primary source of its pattern list."""
    return "the functions that call get_event_loop() implicitly: " + source


def _removed_ref(
    id_: str,
    name: str,
    since: tuple[int, ...],
    source: str,
    replacement: str,
    warns: tuple[Behaviour, ...] = (),
    extra: tuple[str, ...] = (),
    note: str = "",
) -> ApiChange:
    """An attribute that is gone from `since`: AttributeError on access, ImportError on import."""
    short = name.rpartition(".")[2]
    return ApiChange(
        id_,
        name,
        Pattern((name, *extra), form="ref"),
        (
            *warns,
            Behaviour(
                "removed",
                (_s(since),),
                f"AttributeError: module {name.rpartition('.')[0]!r} has no attribute {short!r}",
                "AttributeError",
                source,
            ),
        ),
        replacement,
        note=note,
    )


def _loop_arg(
    name: str,
    extra: tuple[str, ...] = (),
    warn_since: tuple[int, ...] = (3, 8),
    note: str = "",
    cite: str = "",
) -> ApiChange:
    """A high-level asyncio function or class whose loop argument went away in 3.10."""
    return ApiChange(
        f"loop-arg-{name.lower()}",
        f"asyncio.{name}(..., loop=...)",
        Pattern((f"asyncio.{name}", *extra), keyword="loop"),
        (
            Behaviour(
                "warns",
                (_s(warn_since, (3, 10)),),
                "DeprecationWarning: The loop argument is deprecated since Python 3.8, and "
                "scheduled for removal in Python 3.10.",
                None,
                SRC_LOOP_ARG,
            ),
            Behaviour(
                "removed",
                (_s((3, 10)),),
                "TypeError: unexpected keyword argument 'loop'",
                "TypeError",
                SRC_LOOP_ARG,
            ),
        ),
        LOOP_ARG_REPLACEMENT,
        note=note,
        cite=cite,
    )


_POLICY_WARNS = Behaviour(
    "warns",
    (_s((3, 14)),),
    "DeprecationWarning: deprecated and slated for removal in Python 3.16",
    None,
    SRC_POLICY,
)
_CHILD_CALL_WARNS = Behaviour(
    "warns",
    (_s((3, 12), (3, 14)),),
    "DeprecationWarning: deprecated as of Python 3.12 and will be removed in Python 3.14",
    None,
    SRC_CHILD_312,
    uses=("call",),
)
_CHILD_SUBCLASS_WARNS = Behaviour(
    "warns",
    (_s((3, 12), (3, 14)),),
    "DeprecationWarning: 'AbstractChildWatcher' is deprecated as of Python 3.12",
    None,
    SRC_CHILD_312,
    uses=("subclass",),
)

RECORDS: tuple[ApiChange, ...] = (
    # --- asyncio.get_event_loop() ------------------------------------------------------------
    ApiChange(
        "get-event-loop-running",
        "asyncio.get_event_loop()",
        GET_EVENT_LOOP,
        (),
        "asyncio.get_running_loop() says the same and fails loudly outside a coroutine",
        "running",
        "inside a coroutine: it returns the running loop",
        cite=SRC_GEL_RUNNING,
    ),
    ApiChange(
        "get-event-loop-no-loop",
        "asyncio.get_event_loop()",
        GET_EVENT_LOOP,
        _NO_LOOP,
        GEL_REPLACEMENT,
        "no_loop",
        "with no event loop running or set",
        "in a thread other than the main one it raises RuntimeError on every version",
    ),
    ApiChange(
        "get-event-loop-loop-set",
        "asyncio.get_event_loop()",
        GET_EVENT_LOOP,
        _LOOP_SET,
        "keep the loop in a variable and use it, or asyncio.get_running_loop() in coroutines",
        "loop_set",
        "after set_event_loop(loop), with no loop running",
    ),
    ApiChange(
        "get-event-loop-cleared",
        "asyncio.get_event_loop()",
        GET_EVENT_LOOP,
        _CLEARED,
        GEL_REPLACEMENT,
        "cleared",
        "after asyncio.run() or set_event_loop(None): no current loop is left",
    ),
    ApiChange(
        "policy-get-event-loop-no-loop",
        "asyncio.get_event_loop_policy().get_event_loop()",
        POLICY_GET_EVENT_LOOP,
        (
            Behaviour(
                "warns",
                (_s((3, 10, 9), (3, 10, 10)), _s((3, 11, 1), (3, 11, 2))),
                NO_LOOP_WARNING,
                None,
                "gh-100160 (3.10.9 and 3.11.1 warned here too; removed again in 3.10.10, 3.11.2)",
            ),
            *_NO_LOOP[1:],
        ),
        GEL_REPLACEMENT,
        "no_loop",
        "with no event loop running or set",
    ),
    ApiChange(
        "policy-get-event-loop-running",
        "asyncio.get_event_loop_policy().get_event_loop()",
        POLICY_GET_EVENT_LOOP,
        (),
        "asyncio.get_running_loop()",
        "running",
        "inside a coroutine: the loop set for this thread (usually the running one)",
        "a loop started with loop_factory= (asyncio.Runner from 3.11, asyncio.run from 3.12, as "
        "the run() of `iodetect snippet` and uvloop.run() do) is not set for the thread: there "
        "this call returns another loop it creates (3.11), warns (3.12-3.13) or raises "
        "RuntimeError (3.14+)",
        cite=f"{SRC_POLICY_LOOP_SET}; {SRC_POLICY_FACTORY}",
    ),
    ApiChange(
        "policy-get-event-loop-loop-set",
        "asyncio.get_event_loop_policy().get_event_loop()",
        POLICY_GET_EVENT_LOOP,
        (),
        "keep the loop in a variable and use it",
        "loop_set",
        "after set_event_loop(loop)",
        cite=SRC_POLICY_LOOP_SET,
    ),
    ApiChange(
        "policy-get-event-loop-cleared",
        "asyncio.get_event_loop_policy().get_event_loop()",
        POLICY_GET_EVENT_LOOP,
        _CLEARED,
        GEL_REPLACEMENT,
        "cleared",
        "after asyncio.run() or set_event_loop(None): no current loop is left",
    ),
    # --- functions that call get_event_loop() implicitly ---------------------------------------
    *_implicit(
        "ensure_future", "asyncio.ensure_future(coro)", ("asyncio.tasks.ensure_future",), True
    ),
    *_implicit("gather", "asyncio.gather(coro, ...)", ("asyncio.tasks.gather",), True),
    *_implicit("shield", "asyncio.shield(coro)", ("asyncio.tasks.shield",), True),
    *_implicit("as_completed", "asyncio.as_completed(...)", ("asyncio.tasks.as_completed",)),
    *_implicit("wrap_future", "asyncio.wrap_future(...)", ("asyncio.futures.wrap_future",)),
    *_implicit("Future", "asyncio.Future()", ("asyncio.futures.Future",)),
    # --- the policy system (3.14: deprecated, removal in 3.16) ---------------------------------
    ApiChange(
        "set-event-loop-policy",
        "asyncio.set_event_loop_policy()",
        Pattern(("asyncio.set_event_loop_policy", "asyncio.events.set_event_loop_policy")),
        (_POLICY_WARNS,),
        POLICY_REPLACEMENT,
    ),
    ApiChange(
        "get-event-loop-policy",
        "asyncio.get_event_loop_policy()",
        Pattern(("asyncio.get_event_loop_policy", "asyncio.events.get_event_loop_policy")),
        (_POLICY_WARNS,),
        POLICY_REPLACEMENT,
    ),
    *(
        ApiChange(
            f"policy-class-{cls.lower()}",
            f"asyncio.{cls}",
            Pattern((f"asyncio.{cls}",), form="ref"),
            (_POLICY_WARNS,),
            POLICY_REPLACEMENT,
            note=(
                "Windows only: an AttributeError elsewhere on every version"
                if cls.startswith("Windows")
                else ""
            ),
        )
        for cls in (
            "AbstractEventLoopPolicy",
            "DefaultEventLoopPolicy",
            "WindowsSelectorEventLoopPolicy",
            "WindowsProactorEventLoopPolicy",
        )
    ),
    *(
        _removed_ref(
            f"policy-module-{name.lower().replace('.', '-')}",
            f"asyncio.{name}",
            (3, 14),
            SRC_POLICY_PRIVATE,
            POLICY_REPLACEMENT,
        )
        for name in (
            "events.AbstractEventLoopPolicy",
            "events.BaseDefaultEventLoopPolicy",
            "unix_events.DefaultEventLoopPolicy",
            "windows_events.DefaultEventLoopPolicy",
            "windows_events.WindowsSelectorEventLoopPolicy",
            "windows_events.WindowsProactorEventLoopPolicy",
        )
    ),
    ApiChange(
        "uvloop-install",
        "uvloop.install()",
        Pattern(("uvloop.install",)),
        (
            Behaviour(
                "warns",
                (_s((3, 12)),),
                "DeprecationWarning: uvloop.install() is deprecated in favor of uvloop.run() "
                "starting with Python 3.12",
                None,
                SRC_UVLOOP_INSTALL,
            ),
        ),
        "uvloop.run(main()), or asyncio.run(main(), loop_factory=uvloop.new_event_loop) on "
        "3.12+ (`iodetect snippet --loop uvloop` writes it for every version)",
        note="with uvloop 0.22+, a later get_event_loop() with no loop set raises RuntimeError "
        "on every version",
    ),
    ApiChange(
        "uvloop-event-loop-policy",
        "uvloop.EventLoopPolicy",
        Pattern(("uvloop.EventLoopPolicy",), form="ref"),
        (
            Behaviour(
                "warns",
                (_s((3, 14)),),
                "DeprecationWarning: 'asyncio.AbstractEventLoopPolicy' is deprecated",
                None,
                SRC_UVLOOP_POLICY,
            ),
        ),
        "uvloop.new_event_loop as the loop factory: asyncio.run(main(), "
        "loop_factory=uvloop.new_event_loop) on 3.12+ (`iodetect snippet --loop uvloop`)",
    ),
    # --- child watchers (deprecated 3.12, removed 3.14) ----------------------------------------
    *(
        _removed_ref(
            f"child-{name.lower()}",
            f"asyncio.{name}",
            (3, 14),
            SRC_CHILD_314,
            CHILD_REPLACEMENT,
            warns=(
                Behaviour(
                    "warns",
                    (_s((3, 12), (3, 14)),),
                    f"DeprecationWarning: {name!r} is deprecated as of Python 3.12",
                    None,
                    SRC_CHILD_312,
                ),
            ),
            extra=(f"asyncio.unix_events.{name}",),
        )
        for name in ("get_child_watcher", "set_child_watcher")
    ),
    *(
        _removed_ref(
            f"child-{name.lower()}",
            f"asyncio.{name}",
            (3, 14),
            SRC_CHILD_314,
            CHILD_REPLACEMENT,
            warns=(_CHILD_CALL_WARNS,),
            extra=(f"asyncio.unix_events.{name}",),
        )
        for name in ("SafeChildWatcher", "FastChildWatcher", "MultiLoopChildWatcher")
    ),
    _removed_ref(
        "child-threadedchildwatcher",
        "asyncio.ThreadedChildWatcher",
        (3, 14),
        SRC_CHILD_314,
        CHILD_REPLACEMENT,
        extra=("asyncio.unix_events.ThreadedChildWatcher",),
    ),
    _removed_ref(
        "child-pidfdchildwatcher",
        "asyncio.PidfdChildWatcher",
        (3, 14),
        SRC_CHILD_314,
        CHILD_REPLACEMENT,
        warns=(
            Behaviour(
                "removed",
                (_s((3, 8), (3, 9)),),
                "AttributeError: PidfdChildWatcher was added in 3.9",
                "AttributeError",
                "docs asyncio-policy.html (PidfdChildWatcher: new in 3.9)",
            ),
        ),
        extra=("asyncio.unix_events.PidfdChildWatcher",),
    ),
    _removed_ref(
        "child-abstractchildwatcher",
        "asyncio.AbstractChildWatcher",
        (3, 14),
        SRC_CHILD_314,
        CHILD_REPLACEMENT,
        warns=(_CHILD_SUBCLASS_WARNS,),
        extra=("asyncio.unix_events.AbstractChildWatcher",),
    ),
    # --- the loop argument (deprecated 3.8, removed 3.10) --------------------------------------
    _loop_arg("sleep", ("asyncio.tasks.sleep",)),
    _loop_arg(
        "gather",
        ("asyncio.tasks.gather",),
        warn_since=(3, 9),
        note="on 3.8 it warns only when given no awaitables: gather(loop=loop)",
        cite=SRC_GATHER_38,
    ),
    _loop_arg("shield", ("asyncio.tasks.shield",)),
    _loop_arg("wait_for", ("asyncio.tasks.wait_for",)),
    _loop_arg("wait", ("asyncio.tasks.wait",)),
    _loop_arg("as_completed", ("asyncio.tasks.as_completed",)),
    _loop_arg("Queue", ("asyncio.queues.Queue",)),
    _loop_arg("LifoQueue", ("asyncio.queues.LifoQueue",)),
    _loop_arg("PriorityQueue", ("asyncio.queues.PriorityQueue",)),
    _loop_arg("Lock", ("asyncio.locks.Lock",)),
    _loop_arg("Event", ("asyncio.locks.Event",)),
    _loop_arg("Condition", ("asyncio.locks.Condition",)),
    _loop_arg("Semaphore", ("asyncio.locks.Semaphore",)),
    _loop_arg("BoundedSemaphore", ("asyncio.locks.BoundedSemaphore",)),
    _loop_arg("open_connection", ("asyncio.streams.open_connection",)),
    _loop_arg("start_server", ("asyncio.streams.start_server",)),
    _loop_arg("open_unix_connection", ("asyncio.streams.open_unix_connection",)),
    _loop_arg("start_unix_server", ("asyncio.streams.start_unix_server",)),
    _loop_arg("create_subprocess_exec", ("asyncio.subprocess.create_subprocess_exec",)),
    _loop_arg("create_subprocess_shell", ("asyncio.subprocess.create_subprocess_shell",)),
    # --- generator-based coroutines --------------------------------------------------------------
    ApiChange(
        "asyncio-coroutine",
        "@asyncio.coroutine",
        Pattern(("asyncio.coroutine", "asyncio.coroutines.coroutine"), form="ref"),
        (
            Behaviour(
                "warns",
                (_s((3, 8), (3, 11)),),
                'DeprecationWarning: "@coroutine" decorator is deprecated since Python 3.8, use '
                '"async def" instead',
                None,
                SRC_COROUTINE,
                uses=("decorator", "call"),
            ),
            Behaviour(
                "removed",
                (_s((3, 11)),),
                "AttributeError: module 'asyncio' has no attribute 'coroutine'",
                "AttributeError",
                SRC_COROUTINE,
            ),
        ),
        "async def, and await instead of yield from",
    ),
    ApiChange(
        "asyncio-iscoroutinefunction",
        "asyncio.iscoroutinefunction()",
        Pattern(("asyncio.iscoroutinefunction", "asyncio.coroutines.iscoroutinefunction")),
        (
            Behaviour(
                "warns",
                (_s((3, 14)),),
                "DeprecationWarning: 'asyncio.iscoroutinefunction' is deprecated and slated for "
                "removal in Python 3.16; use inspect.iscoroutinefunction() instead",
                None,
                SRC_ISCORO,
            ),
        ),
        "inspect.iscoroutinefunction()",
    ),
    *(
        ApiChange(
            f"task-{meth.replace('_', '-')}",
            f"asyncio.Task.{meth}()",
            Pattern((f"asyncio.Task.{meth}", f"asyncio.tasks.Task.{meth}"), form="ref"),
            (
                Behaviour(
                    "warns",
                    (_s((3, 8), (3, 9)),),
                    f"DeprecationWarning: Task.{meth}() is deprecated",
                    None,
                    SRC_TASK_CLASSMETHODS,
                    uses=("call",),
                ),
                Behaviour(
                    "removed",
                    (_s((3, 9)),),
                    f"AttributeError: type object '_asyncio.Task' has no attribute {meth!r}",
                    "AttributeError",
                    SRC_TASK_CLASSMETHODS,
                ),
            ),
            f"asyncio.{meth}()",
        )
        for meth in ("current_task", "all_tasks")
    ),
    ApiChange(
        "create-datagram-endpoint-reuse-address",
        "loop.create_datagram_endpoint(..., reuse_address=...)",
        Pattern(form="method", method="create_datagram_endpoint", keyword="reuse_address"),
        (
            Behaviour(
                "warns",
                (_s((3, 8, 1), (3, 11)),),
                "DeprecationWarning: The *reuse_address* parameter has been deprecated "
                "(reuse_address=True: ValueError)",
                None,
                SRC_REUSE_ADDRESS,
            ),
            Behaviour(
                "removed",
                (_s((3, 11)),),
                "TypeError: create_datagram_endpoint() got an unexpected keyword argument "
                "'reuse_address'",
                "TypeError",
                SRC_REUSE_ADDRESS,
            ),
        ),
        "drop reuse_address (SO_REUSEADDR on UDP lets other processes steal datagrams); "
        "reuse_port=True where several sockets must share the port",
    ),
    # --- modules removed in 3.12 -----------------------------------------------------------------
    *(
        ApiChange(
            f"module-{mod}",
            f"import {mod}",
            Pattern((mod,), form="import"),
            (
                Behaviour(
                    "warns",
                    (_s((3, 10), (3, 12)),),
                    f"DeprecationWarning: The {'asyncore' if mod != 'smtpd' else mod} module is "
                    "deprecated and will be removed in Python 3.12",
                    None,
                    SRC_SMTPD if mod == "smtpd" else SRC_ASYNCORE,
                ),
                Behaviour(
                    "removed",
                    (_s((3, 12)),),
                    f"ModuleNotFoundError: No module named {mod!r}",
                    "ModuleNotFoundError",
                    SRC_SMTPD if mod == "smtpd" else SRC_ASYNCORE,
                ),
            ),
            "aiosmtpd (asyncio)"
            if mod == "smtpd"
            else "asyncio (Protocol or streams); pyasyncore on PyPI keeps the old module",
        )
        for mod in ("asyncore", "asynchat", "smtpd")
    ),
    # --- select() and descriptors above FD_SETSIZE -----------------------------------------------
    ApiChange(
        "select-select",
        "select.select()",
        Pattern(("select.select",)),
        (
            Behaviour(
                "raises",
                EVERY,
                "ValueError: filedescriptor out of range in select() (descriptor 1024 or above)",
                "ValueError",
                SRC_SELECT,
            ),
        ),
        "selectors.DefaultSelector() (epoll, kqueue or poll: no descriptor ceiling), or "
        "select.poll()",
        fd_ceiling=True,
        when="breaks once a descriptor numbered 1024 or above reaches it, if this code path "
        "runs (libraries often call select() only where poll() is missing)",
    ),
    ApiChange(
        "selectors-selectselector",
        "selectors.SelectSelector",
        Pattern(("selectors.SelectSelector",), form="ref"),
        (
            Behaviour(
                "raises",
                EVERY,
                "ValueError: filedescriptor out of range in select() (descriptor 1024 or above)",
                "ValueError",
                SRC_SELECT,
            ),
        ),
        "selectors.DefaultSelector()",
        fd_ceiling=True,
        when="breaks once a descriptor numbered 1024 or above is registered, if this code path "
        "runs",
    ),
)

# The loop state a loop-sensitive call sees, as the scanner derives it from where the call is.
LOOP_CONTEXTS: tuple[Context, ...] = ("running", "no_loop", "loop_set", "cleared")
# What changes that state (SRC_GEL_CLEARED): set_event_loop(loop) sets a loop, set_event_loop(None)
# clears it; asyncio.run() without loop_factory clears it when it returns.
LOOP_SETTERS = ("asyncio.set_event_loop", "asyncio.events.set_event_loop")
LOOP_RUNNERS = ("asyncio.run", "asyncio.runners.run")
BY_ID: dict[str, ApiChange] = {r.id: r for r in RECORDS}
GET_EVENT_LOOP_NO_LOOP = BY_ID["get-event-loop-no-loop"]
GET_EVENT_LOOP_POLICY = BY_ID["get-event-loop-policy"]
SET_EVENT_LOOP_POLICY = BY_ID["set-event-loop-policy"]
_AS_PROBED: dict[Verdict, GetEventLoop] = {"fine": "ok", "warns": "warns"}


def get_event_loop_without_loop(release: Version) -> GetEventLoop:
    """What asyncio.get_event_loop() does in the main thread when no loop was ever set: what
    the probe measures (asyncio.get_event_loop_without_loop in the facts)."""
    return _AS_PROBED.get(GET_EVENT_LOOP_NO_LOOP.verdict(release), "raises")


def policies_deprecated(release: Version) -> bool:
    """Does asyncio.get_event_loop_policy() warn on this release (what the probe measures)?"""
    return GET_EVENT_LOOP_POLICY.verdict(release) != "fine"


def source_of(record: ApiChange, release: Version) -> str:
    """The source of what the record's API does on this release ('' where it is fine)."""
    found = record.behaviour(release)
    return "" if found is None else found.source
