"""The catalog: every record cites a source, and the values the rules hinge on are exact."""

from __future__ import annotations

import dataclasses

import pytest

from iodetect import catalog
from iodetect.catalog import advisories, apis, cpython, libraries, loops, mechanisms, support
from iodetect.catalog.records import Range, Span, version_tuple
from iodetect.platforms import PLATFORMS, documented_facts


@pytest.mark.parametrize("record", catalog.all_records(), ids=lambda r: type(r).__name__)
def test_every_record_cites_a_source(record: object) -> None:
    assert dataclasses.is_dataclass(record)
    source = getattr(record, "source")  # noqa: B009 - every record type has one
    assert isinstance(source, str) and len(source) >= 20, record
    params = getattr(type(record), "__dataclass_params__")  # noqa: B009
    assert params.frozen


def test_records_are_many_and_of_every_kind() -> None:
    kinds = {type(r).__name__ for r in catalog.all_records()}
    assert kinds >= {
        "LoopRecord", "LoopRelease", "LoopGap", "Advisory", "SelectorRecord", "SelectCeiling",
        "SelectorCaveat", "PlatformRecord", "IdiomRecord", "ApiChange", "LibraryRule",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("family", "limit", "unit", "reserved"),
    [
        ("linux", 1024, "descriptors", 64),
        ("darwin", 1024, "descriptors", 64),
        ("freebsd", 1024, "descriptors", 64),
        ("sunos", 65536, "descriptors", 64),
        ("win32", 512, "sockets", 2),
        ("aix", 1024, "descriptors", 64),  # not in the table: the POSIX default
    ],
)
def test_select_ceilings_are_exact(family: str, limit: int, unit: str, reserved: int) -> None:
    c = mechanisms.ceiling(family)
    assert (c.limit, c.unit, c.reserved) == (limit, unit, reserved)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_documented_facts_carry_the_ceiling(platform: str) -> None:
    facts = documented_facts(platform, (3, 12))
    assert facts.select_ceiling is not None and not facts.select_ceiling.verified
    expected = {"win32": 512, "sunos": 65536}.get(platform, 1024)
    assert facts.select_ceiling.limit == expected


def test_default_selector_order() -> None:
    assert mechanisms.ORDER == ("kqueue", "epoll", "devpoll", "poll", "select")
    assert mechanisms.SELECTOR_CLASSES["devpoll"] == "DevpollSelector"


@pytest.mark.parametrize(
    ("release", "no_loop", "loop_set", "policy"),
    [
        ("3.8.18", "ok", "fine", "fine"),
        ("3.9.18", "ok", "fine", "fine"),
        ("3.10.0", "warns", "warns", "fine"),  # 3.10.0-3.10.8 warned even with a loop set
        ("3.10.8", "warns", "warns", "fine"),
        ("3.10.9", "warns", "fine", "warns"),  # gh-93453: only with none set, in the policy too
        ("3.10.10", "ok", "fine", "fine"),  # gh-100160 removed it again
        ("3.10.13", "ok", "fine", "fine"),
        ("3.11.0", "warns", "warns", "fine"),
        ("3.11.1", "warns", "fine", "warns"),
        ("3.11.2", "ok", "fine", "fine"),
        ("3.11.7", "ok", "fine", "fine"),
        ("3.12.0", "warns", "fine", "warns"),
        ("3.13.0", "warns", "fine", "warns"),
        ("3.14.0", "raises", "fine", "raises"),
        ("3.15.2", "raises", "fine", "raises"),
    ],
)
def test_get_event_loop_timeline(release: str, no_loop: str, loop_set: str, policy: str) -> None:
    """docs asyncio-eventloop notes; gh-93453 (3.10.9, 3.11.1), gh-100160, gh-126353.

    The two situations differ exactly at 3.10.9 and 3.11.1: there get_event_loop() warned only
    when no loop was set, where 3.10.0-3.10.8 and 3.11.0 warned even with a loop set.
    """
    version = version_tuple(release)
    assert version is not None
    assert apis.get_event_loop_without_loop(version) == no_loop
    assert apis.BY_ID["get-event-loop-loop-set"].verdict(version) == loop_set
    assert apis.BY_ID["policy-get-event-loop-no-loop"].verdict(version) == policy
    assert apis.BY_ID["get-event-loop-cleared"].verdict(version) == "raises"


def test_policies_and_uvloop_in_the_api_table() -> None:
    """gh-127949 (policies warn from 3.14); uvloop v0.22.1 (install() warns from 3.12, its
    EventLoopPolicy, built on asyncio.AbstractEventLoopPolicy, from 3.14)."""
    policy = apis.SET_EVENT_LOOP_POLICY
    assert policy.verdict((3, 13, 9)) == "fine" and policy.verdict((3, 14, 0)) == "warns"
    assert apis.policies_deprecated((3, 14, 0)) and not apis.policies_deprecated((3, 13, 9))
    assert "slated for removal in Python 3.16" in policy.behaviours[0].effect
    assert apis.BY_ID["uvloop-install"].verdict((3, 11, 7)) == "fine"
    assert apis.BY_ID["uvloop-install"].verdict((3, 12, 0)) == "warns"
    assert apis.BY_ID["uvloop-event-loop-policy"].verdict((3, 13, 0)) == "fine"
    assert apis.BY_ID["uvloop-event-loop-policy"].verdict((3, 14, 0)) == "warns"
    for change in apis.RECORDS:
        assert change.replacement and len(change.source) >= 20, change.id


def test_citations_that_were_wrong_stay_right() -> None:
    """Each source supports its sentence: the numbers a review found mixed up."""
    sources = " ".join(r.source for r in apis.RECORDS)
    assert "bpo-34790" not in sources  # that is coroutines passed to wait(), not loop=
    assert "bpo-36373" in apis.BY_ID["loop-arg-sleep"].source
    assert "bpo-28533" not in sources  # the import warning of asyncore/asynchat/smtpd: bpo-44498
    assert "bpo-44498" in apis.BY_ID["module-smtpd"].source
    iscoro = apis.BY_ID["asyncio-iscoroutinefunction"].source
    assert iscoro.startswith("gh-122858 (PR gh-122875")  # the issue, then its PR


def test_gather_loop_argument_warns_from_39() -> None:
    """Lib/asyncio/tasks.py 3.8: gather(coro, loop=loop) warns only without awaitables."""
    gather = apis.BY_ID["loop-arg-gather"]
    assert [gather.verdict((3, m, 0)) for m in (8, 9, 10)] == ["fine", "warns", "removed"]
    assert apis.BY_ID["loop-arg-sleep"].verdict((3, 8, 0)) == "warns"


def test_idiom_per_version() -> None:
    assert [cpython.idiom((3, m)).idiom for m in range(8, 17)] == [
        "manual", "manual", "manual", "runner", "run_loop_factory", "run_loop_factory",
        "run_loop_factory", "run_loop_factory", "run_loop_factory",
    ]  # fmt: skip


def test_uvloop_releases_grow_with_python() -> None:
    firsts = [loops.first_release("uvloop", (3, m)) for m in range(8, 16)]
    assert all(r is not None for r in firsts)
    versions = [r.first for r in firsts if r is not None]
    assert versions == sorted(versions)
    assert [f"{v[0]}.{v[1]}" for v in versions] == [
        "0.14", "0.15", "0.16", "0.17", "0.18", "0.21", "0.22", "0.23",
    ]  # fmt: skip
    assert loops.first_release("uvloop", (3, 13), free_threaded=True) is None
    ft = loops.first_release("uvloop", (3, 14), free_threaded=True)
    assert ft is not None and ft.first == (0, 22, 0)


@pytest.mark.parametrize(
    ("name", "family", "impl", "minor", "ok", "code"),
    [
        ("uvloop", "linux", "cpython", 13, True, "loop.ok"),
        ("uvloop", "win32", "cpython", 13, False, "loop.platform"),
        ("uvloop", "linux", "pypy", 11, False, "loop.implementation"),
        ("winloop", "linux", "cpython", 13, False, "loop.platform"),
        ("winloop", "win32", "cpython", 13, True, "loop.ok"),
        ("rloop", "darwin", "pypy", 11, True, "loop.ok"),
        ("rloop", "linux", "cpython", 8, False, "loop.python"),
    ],
)
def test_loop_support(name: str, family: str, impl: str, minor: int, ok: bool, code: str) -> None:
    found = support.loop_support(name, None, family, impl, ((3, minor),))
    assert (found.ok, found.code) == (ok, code)
    assert found.source


def test_rloop_on_39_is_supported_by_older_releases_only() -> None:
    found = support.loop_support("rloop", None, "linux", "cpython", ((3, 9),))
    assert found.ok and found.warning and "only older ones support 3.9" in found.warning


def test_advisory_ranges() -> None:
    by_id = {a.id: a for a in advisories.ADVISORIES}
    assert by_id["uvloop-645"].applies((0, 22, 1), (3, 12))
    assert not by_id["uvloop-645"].applies((0, 23, 0), (3, 12))
    assert by_id["uvloop-645"].fixed_in == (0, 23, 0)
    assert by_id["uvloop-706"].applies((0, 23, 0), (3, 12))  # open: later releases too
    assert not by_id["uvloop-706"].applies((0, 22, 0), (3, 12))
    assert by_id["uvloop-730"].applies((0, 22, 1), (3, 13))
    assert not by_id["uvloop-730"].applies((0, 22, 1), (3, 12))  # reported on 3.13+
    assert by_id["rloop-fd-leak"].applies((0, 5, 0), (3, 12))


def test_library_rules_and_what_the_probe_looks_for() -> None:
    request = catalog.probe_request()
    assert request["loops"] == ["uvloop", "winloop", "rloop"]
    assert ["epoll", "EpollSelector"] in request["selectors"]  # type: ignore[operator]
    dists = set(request["libraries"])  # type: ignore[call-overload]
    for dist in ("psycopg", "aiodns", "pycares", "tornado", "pyzmq", "curl-cffi", "aiomqtt"):
        assert dist in dists
    assert libraries.normalize("Curl_CFFI") == "curl-cffi"
    for rule in libraries.RULES:
        assert rule.effect in ("needs", "prefers", "warns", "none")
        assert (rule.need is None) == (rule.effect in ("warns", "none")), rule


def test_range_and_span() -> None:
    r = Range((0, 5, 0), (0, 5, 1))
    assert (0, 5, 0) in r and (0, 5, 1) not in r and (0, 4, 9) not in r
    assert str(Range(high=(0, 23, 0))) == "<0.23"
    span = Span((3, 10, 0), (3, 10, 10))  # 3.10.0 up to, not including, 3.10.10
    assert (3, 10, 9) in span and (3, 10, 10) not in span and (3, 9, 18) not in span
    assert (3, 99, 0) in Span((3, 14, 0)) and "3.14" not in Span((3, 14, 0))
    assert version_tuple("3.2.1rc1") == (3, 2, 1) and version_tuple("x") is None
