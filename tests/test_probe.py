"""The probe on this host agrees with ground truth computed independently here."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import select
import selectors
import socket
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from iodetect import catalog, model, target
from iodetect.probe import complete

from support import run_cli


@pytest.fixture(scope="module")
def facts() -> model.Facts:
    """This host's facts, through the CLI as a user gets them."""
    done = run_cli("report", "--json")
    assert done.returncode == 0, done.stderr
    return model.from_json(done.stdout)


def _read_int(path: str) -> int:
    with open(path) as fh:
        return int(fh.read().split()[0])


def test_interpreter(facts: model.Facts) -> None:
    assert facts.origin == "probe"
    assert facts.errors == ()
    assert facts.interpreter.version == tuple(sys.version_info[:3])
    assert facts.interpreter.implementation == sys.implementation.name
    assert facts.host.platform == sys.platform
    assert facts.host.cpu_count == os.cpu_count()
    assert facts.host.usable_cpus == len(os.sched_getaffinity(0))


def test_selectors(facts: model.Facts) -> None:
    default = selectors.DefaultSelector.__name__.replace("Selector", "").lower()
    assert facts.default_selector == default
    for name in model.SELECTOR_NAMES:
        entry = facts.selector(name)
        assert entry is not None
        assert entry.available == hasattr(select, name), name
        if not entry.available:
            assert entry.reason and name in entry.reason


def test_asyncio_default(facts: model.Facts) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        assert facts.asyncio is not None
        assert facts.asyncio.default_loop == type(loop).__name__
        assert facts.asyncio.default_selector == type(loop._selector).__name__  # type: ignore[attr-defined]
    finally:
        loop.close()
    assert facts.asyncio.has_runner == hasattr(asyncio, "Runner")
    assert facts.asyncio.policies_deprecated == (sys.version_info >= (3, 14))


def test_limits(facts: model.Facts) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    assert facts.limits.nofile_soft == (-1 if soft == inf else soft)
    assert facts.limits.nofile_hard == (-1 if hard == inf else hard)
    assert facts.limits.nr_open == _read_int("/proc/sys/fs/nr_open")
    assert facts.limits.file_max == _read_int("/proc/sys/fs/file-max")
    assert facts.limits.open_fds is not None and 3 <= facts.limits.open_fds < 64


def test_kernel(facts: model.Facts) -> None:
    assert facts.kernel is not None
    assert facts.kernel.somaxconn == _read_int("/proc/sys/net/core/somaxconn")
    assert facts.kernel.tcp_max_syn_backlog == _read_int("/proc/sys/net/ipv4/tcp_max_syn_backlog")
    with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
        low, high = (int(x) for x in fh.read().split())
    assert facts.kernel.ip_local_port_range == (low, high)


def test_select_ceiling_matches_an_experiment(facts: model.Facts) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert facts.select_ceiling is not None
    if soft <= 1024:
        assert not facts.select_ceiling.verified
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 1024)
        try:
            with pytest.raises(ValueError, match="filedescriptor out of range"):
                select.select([high], [], [], 0)
        finally:
            os.close(high)
    assert facts.select_ceiling.verified
    assert facts.select_ceiling.limit == 1024


def test_loops_match_package_metadata(facts: model.Facts) -> None:
    for name in model.LOOP_NAMES:
        try:
            version: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        entry = facts.loop(name)
        assert entry is not None
        assert entry.installed == version, name
        assert entry.importable == (None if version is None else True)
    uvloop = facts.loop("uvloop")
    assert uvloop is not None and uvloop.supported  # Linux, CPython 3.10+
    winloop = facts.loop("winloop")
    assert winloop is not None and not winloop.supported


def test_constraining_libraries_found_without_import(tmp_path: Path) -> None:
    """A library is found from its metadata alone: the package itself is never imported."""
    site = tmp_path / "site"
    (site / "psycopg").mkdir(parents=True)
    (site / "psycopg" / "__init__.py").write_text("raise SystemExit('imported!')\n")
    dist = site / "psycopg-3.2.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: psycopg\nVersion: 3.2.1\n")
    facts = _probe_with(site)
    assert facts.library("psycopg") == model.Library("psycopg", "3.2.1")


def _probe_with(site: Path, prelude: str = "") -> model.Facts:
    env = {**os.environ, "PYTHONPATH": str(site)}
    # The prelude runs after the probe's definitions, just before its main().
    request = json.dumps(json.dumps(catalog.probe_request()))
    program = target.source("probe") + prelude + f"\nmain(json.loads({request}))\n"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-"],
        input=program,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(target.MARKER))
    return complete(model.from_dict(json.loads(line[len(target.MARKER) :])))


def test_broken_loop_is_reported_with_its_import_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "uvloop").mkdir(parents=True)
    (site / "uvloop" / "__init__.py").write_text("raise ImportError('broken build of uvloop')\n")
    dist = site / "uvloop-0.99.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: uvloop\nVersion: 0.99.0\n")
    facts = _probe_with(site)
    uvloop = facts.loop("uvloop")
    assert uvloop is not None
    assert uvloop.installed == "0.99.0"
    assert uvloop.importable is False
    assert uvloop.import_error == "ImportError: broken build of uvloop"
    assert not uvloop.usable


def test_one_failing_probe_does_not_sink_the_others(tmp_path: Path) -> None:
    prelude = textwrap.dedent(
        """
        import platform, resource
        def _broken(*args):
            raise OSError(5, "simulated failure")
        platform.uname = _broken
        resource.getrlimit = _broken
        """
    )
    facts = _probe_with(tmp_path, prelude)
    failed = {e.probe: e.error for e in facts.errors}
    assert failed["host.uname"] == "OSError: [Errno 5] simulated failure"
    assert "limits.rlimit_nofile" in failed
    assert facts.host.os_name is None and facts.limits.nofile_soft is None
    # Everything else is still there.
    assert facts.default_selector == "epoll"
    assert facts.limits.nr_open is not None
    assert facts.kernel is not None and facts.kernel.somaxconn is not None


def _probe_raw(argv: list[str], request: object = None) -> dict[str, object]:
    """The probe's own answer (before iodetect completes it) from a real child interpreter."""
    request = catalog.probe_request() if request is None else request
    program = target.program("probe", request)
    done = subprocess.run(
        [*argv, "-X", "dev", "-W", "error", "-"],
        input=program.text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(program.marker))
    data: dict[str, object] = json.loads(line[len(program.marker) :])
    return data


def _ulimit(soft: int) -> list[str]:
    return ["sh", "-c", f'ulimit -Sn {soft} && exec "$@"', "sh", sys.executable]


def test_select_experiment_at_a_soft_limit_of_exactly_1024() -> None:
    """Descriptor 1024 needs a soft limit of 1025: at 1024 the ceiling is assumed, untried."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1025:
        pytest.skip("the hard descriptor limit here is below 1025")
    at = _probe_raw(_ulimit(1024))
    assert at["select_ceiling"] == {
        "limit": 1024,
        "verified": False,
        "detail": "FD_SETSIZE 1024 assumed: the soft descriptor limit (1024) keeps descriptor 1024 "
        "out of reach, so it cannot be tried",
    }
    assert at["errors"] == []
    above = _probe_raw(_ulimit(1025))
    ceiling = above["select_ceiling"]
    assert isinstance(ceiling, dict) and ceiling["verified"] is True and ceiling["limit"] == 1024
    assert "descriptor 1024 raised ValueError" in ceiling["detail"]


def test_probe_reports_raw_facts_and_asks_the_catalog_for_nothing() -> None:
    raw = _probe_raw([sys.executable])
    loops = raw["loops"]
    assert isinstance(loops, list)
    for entry in loops:
        assert set(entry) == {"name", "installed", "importable", "import_error"}
    # Only what it is asked for.
    narrow = _probe_raw([sys.executable], {"selectors": [["poll", "PollSelector"]], "loops": []})
    assert narrow["loops"] == [] and narrow["libraries"] == []
    assert narrow["selectors"] == [{"name": "poll", "available": True, "reason": None}]


def test_support_is_decided_host_side() -> None:
    facts = complete(model.from_dict(_probe_raw([sys.executable])))
    uvloop = facts.loop("uvloop")
    assert uvloop is not None and uvloop.supported  # CPython on Linux
    winloop = facts.loop("winloop")
    assert winloop is not None and winloop.support_note == "winloop supports Windows only"
    absent = facts.selector("kqueue")
    assert (
        absent is not None
        and absent.reason == "select.kqueue is absent on linux (macOS and the BSDs only)"
    )


def test_asyncio_behaviour_is_measured() -> None:
    """get_event_loop() and the policy warning are measured in the probed interpreter."""
    raw = _probe_raw([sys.executable])
    aio = raw["asyncio"]
    assert isinstance(aio, dict)
    from iodetect.catalog import apis

    assert aio["get_event_loop_without_loop"] == apis.get_event_loop_without_loop(
        tuple(sys.version_info[:3])  # type: ignore[arg-type]
    )
    assert aio["policies_deprecated"] is (sys.version_info >= (3, 14))
    assert aio["run_loop_factory"] is (sys.version_info >= (3, 12))


def _string_constants(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def test_probe_and_bench_carry_no_loop_or_selector_tables() -> None:
    """The names live in the catalog only: the target scripts are told what to look for."""
    # "select" is also the select() function the ceiling experiment calls: not a table entry.
    names = (set(model.SELECTOR_NAMES) - {"select"}) | set(model.LOOP_NAMES)
    names |= {s.cls for s in catalog.mechanisms.SELECTORS}
    names |= set(catalog.libraries.DISTRIBUTIONS) - {"gevent"}  # a word, not a table
    root = Path(target.__file__).parent
    for script in ("probe.py", "bench_load.py", "bench_server.py"):
        leaked = names & _string_constants(root / script)
        assert not leaked, f"{script} names {sorted(leaked)}"
    # The bench's host side takes the loop list from the catalog.
    from iodetect.bench import analysis, results

    assert ("asyncio", *(lp.name for lp in catalog.loops.LOOPS)) == results.LOOPS
    assert analysis.STABLE_LOOPS == ("uvloop",)
