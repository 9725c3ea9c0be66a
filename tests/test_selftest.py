"""The self-test worker on real interpreters: live sockets, descriptors, deadlines, bad setups."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import selftest_setups as setups

from iodetect import target, transport

import interpreters


def work(
    source: str,
    command: Sequence[str] | None = None,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Run the worker on `command` (default: this interpreter) and return its report."""
    p = {"setup_source": source, "connections": 64, "deadline": timeout - 2.0, **params}
    outcome = transport.run_program(target.program("selftest", p), command, timeout, env=env)
    assert isinstance(outcome.result, dict)
    return outcome.result


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in report["tests"]}


def assert_clean(report: dict[str, Any]) -> None:
    assert report["error"] is None, report["error"]
    for test in report["tests"]:
        assert test["status"] in ("ok", "skip"), test
    assert report["fds"]["leaked"] == [], report["fds"]
    assert report["warnings"] == [], report["warnings"]


# --- every interpreter, standard loop and uvloop --------------------------------------------------

MATRIX = [(v, loop) for v in interpreters.VERSIONS for loop in ("asyncio", "uvloop")]


@pytest.fixture(scope="module")
def matrix_reports() -> dict[tuple[str, str], dict[str, Any] | str]:
    """All version x loop runs at once, in parallel: each is a separate interpreter."""

    def one(version: str, loop: str) -> dict[str, Any] | str:
        interp = interpreters.find(version)
        if interp is None:
            return f"CPython {version} is not available on this machine"
        if loop == "uvloop":
            command = interp.uvloop_command()
            if command is None:
                return f"uvloop cannot be installed for CPython {version} here"
            source = setups.UVLOOP
        else:
            command, source = interp.command(), setups.STANDARD
        return work(source, command, timeout=40.0, connections=200, above_fd=1024)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(one, *key) for key in MATRIX}
        return {key: f.result() for key, f in futures.items()}


@pytest.mark.targets
@pytest.mark.parametrize(("version", "loop"), MATRIX, ids=[f"{v}-{lp}" for v, lp in MATRIX])
def test_worker_on_every_interpreter(
    matrix_reports: dict[tuple[str, str], dict[str, Any] | str], version: str, loop: str
) -> None:
    report = matrix_reports[(version, loop)]
    if isinstance(report, str):
        pytest.skip(report)
    assert report["python"].startswith(version + ".")
    assert_clean(report)
    tests = by_name(report)
    assert {"tcp4", "tcp6", "unix", "udp", "fds_above_1024"} <= set(tests)
    assert tests["tcp4"]["status"] == "ok" and tests["tcp4"]["connections"] == 200
    assert tests["unix"]["status"] == "ok"
    assert tests["udp"]["status"] == "ok"
    high = tests["fds_above_1024"]
    assert high["status"] == "ok" and high["lowest_fd"] > 1024
    if loop == "uvloop":
        assert report["loop"] == "uvloop.Loop"
        assert report["selector"] is None
    else:
        assert report["loop"].endswith("._UnixSelectorEventLoop")
        assert report["selector"] == "EpollSelector"
    assert report["factory_loop"] == report["loop"]
    fig = report["figures"]
    assert fig["connections_held"] == 200
    # 1 byte and one size each, 1 MiB on four of them, plus the other families' traffic.
    assert fig["round_trips"] >= 2 * 200 + 4
    assert fig["bytes"] >= 4 * 1024 * 1024
    assert fig["latency_ms"]["p50"] <= fig["latency_ms"]["p99"] <= fig["latency_ms"]["max"]


# --- the worker's own behaviour (this interpreter) ------------------------------------------------


def test_setup_that_only_has_a_factory_is_run_through_it() -> None:
    report = work(setups.FACTORY_ONLY)
    assert_clean(report)
    assert report["ran_with"] == "new_event_loop"


def test_setup_without_run_or_factory_is_an_error() -> None:
    report = work(setups.NEITHER)
    assert report["error_stage"] == "import"
    assert "neither run(coro) nor new_event_loop()" in report["error"]


def test_setup_raising_at_import_names_the_line() -> None:
    report = work(setups.RAISES_AT_IMPORT, setup_name="my_setup.py")
    assert report["error_stage"] == "import"
    assert report["error_line"] == 4
    assert "RuntimeError: the application's setup is broken" in report["error"]
    assert "my_setup.py" in report["error"]


def test_run_raising_is_reported() -> None:
    report = work(setups.RUN_RAISES)
    assert report["error_stage"] == "run"
    assert "OSError: cannot configure the loop" in report["error"]
    assert report["warnings"] == []  # the coroutine was closed, not left unawaited


def test_unclosed_loop_is_a_descriptor_leak() -> None:
    report = work(setups.LEAKY)
    assert report["error"] is None
    leaked = report["fds"]["leaked"]
    assert leaked, report["fds"]
    assert any("eventpoll" in d["target"] or "socket" in d["target"] for d in leaked)


def test_unclosed_loop_is_a_resource_warning() -> None:
    report = work(setups.UNCLOSED)
    assert report["error"] is None
    assert "ResourceWarning" in [w["category"] for w in report["warnings"]]


def test_deprecation_warnings_are_recorded() -> None:
    report = work(setups.DEPRECATED)
    assert report["error"] is None
    assert [w["category"] for w in report["warnings"]] == ["DeprecationWarning"]
    assert "set_event_loop_policy" in report["warnings"][0]["message"]


def test_select_loop_fails_above_the_ceiling() -> None:
    report = work(setups.SELECT, above_fd=1024)
    assert report["selector"] == "SelectSelector"
    high = by_name(report)["fds_above_1024"]
    assert high["status"] == "fail"
    assert "filedescriptor out of range" in high["detail"]
    assert report["fds"]["leaked"] == []  # the fillers were closed


def test_hanging_setup_is_ended_by_the_workers_own_watchdog() -> None:
    start = time.monotonic()
    report = work(setups.HANGS, timeout=5.0)  # worker deadline 3 s, watchdog at 4 s
    assert time.monotonic() - start < 5.0
    assert report["error_stage"] == "deadline"
    assert "passed its own deadline" in report["error"]


def _lowered(soft: int, hard: int) -> Any:
    def preexec() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return preexec


def _worker_with_limits(source: str, soft: int, hard: int, **params: Any) -> dict[str, Any]:
    """The worker in a child whose descriptor limits were lowered before it started."""
    import json

    p = {"setup_source": source, "connections": 300, "deadline": 20.0, **params}
    done = subprocess.run(
        [sys.executable, "-"],
        input=target.program("selftest", p),
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_lowered(soft, hard),
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(target.MARKER))
    result: dict[str, Any] = json.loads(line[len(target.MARKER) :])
    return result


def test_low_soft_limit_holds_fewer_connections_and_says_so() -> None:
    report = _worker_with_limits(setups.STANDARD, 256, 256, above_fd=1024)
    assert report["error"] is None
    tcp = by_name(report)["tcp4"]
    assert tcp["status"] == "warn"
    assert tcp["connections"] < 300
    assert "held" in tcp["detail"] and "soft limit 256" in tcp["detail"]
    high = by_name(report)["fds_above_1024"]
    assert high["status"] == "fail" and "soft limit 256" in high["detail"]


def test_setup_raising_the_soft_limit_reaches_above_the_ceiling() -> None:
    report = _worker_with_limits(setups.RAISING, 256, 4096, above_fd=1024)
    assert report["nofile_before"]["soft"] == 256
    assert report["nofile_in_loop"]["soft"] == 4096
    assert_clean(report)
    assert by_name(report)["fds_above_1024"]["lowest_fd"] > 1024


def test_unusable_loopback_fails_the_socket_tests() -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace without loopback here")
    report = work(setups.STANDARD, [unshare, "-n", sys.executable, "-"])
    tests = by_name(report)
    assert tests["tcp4"]["status"] == "fail"
    assert tests["udp"]["status"] == "fail"
    assert tests["tcp6"]["status"] in ("skip", "fail")


@pytest.mark.targets
def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    interp = interpreters.find("3.12")
    command = interp.uvloop_command() if interp is not None else None
    if command is None:
        pytest.skip("needs uvloop on CPython 3.12 (its Unix sockets use a temporary directory)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    report = work(setups.UVLOOP, command, env=env)
    assert_clean(report)
    assert by_name(report)["unix"]["address"] == "path"
    assert list(tmp_path.iterdir()) == []
