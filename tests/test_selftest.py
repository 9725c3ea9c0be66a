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
    p = {
        "setup_source": source,
        "connections": 64,
        "deadline": timeout - 2.0,
        "budget_tcp": (timeout - 2.0) * 0.6,
        "client_source": target.source("selftest_client"),
        **params,
    }
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


# --- every interpreter, standard loop and uvloop -------------------------------------------------

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
    # One message each, every size up to 1 MiB on four of them, plus the other families' traffic.
    assert fig["round_trips"] >= 200 + 4 * 5
    assert fig["bytes"] >= 4 * 1024 * 1024
    assert fig["latency_ms"]["p50"] <= fig["latency_ms"]["p99"] <= fig["latency_ms"]["max"]


# --- the worker's own behaviour (this interpreter) -----------------------------------------------


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
    warned = report["warnings"][0]
    assert "set_event_loop_policy" in warned["message"]
    assert warned["origin"] == "setup" and warned["where"].startswith("loop_setup.py:")


def test_select_loop_fails_above_the_ceiling() -> None:
    report = work(setups.SELECT, above_fd=1024)
    assert report["selector"] == "SelectSelector"
    high = by_name(report)["fds_above_1024"]
    assert high["status"] == "fail"
    assert "filedescriptor out of range" in high["detail"]
    assert report["fds"]["leaked"] == []  # the fillers were closed


def test_a_test_cut_by_the_whole_deadline_says_so() -> None:
    """The TCP test's own budget is 30 s but the run's deadline is 2 s: the failure names the
    deadline that fired, never a budget that was not waited for."""
    report = work(setups.MUTE, timeout=30.0, deadline=2.0, budget_tcp=30.0)
    tcp = by_name(report)["tcp4"]
    assert tcp["status"] == "fail" and tcp["cause"] == "timeout", tcp
    assert "whole deadline" in tcp["detail"] and "30.0" not in tcp["detail"], tcp


def test_hanging_setup_is_ended_by_the_workers_own_watchdog() -> None:
    start = time.monotonic()
    report = work(setups.HANGS, timeout=30.0, deadline=3.0)  # its watchdog at 4 s
    assert time.monotonic() - start < 20.0  # the caller's deadline (30 s) was not needed
    assert report["error_stage"] == "deadline"
    assert "passed its own deadline" in report["error"]


def _worker_with_limits(source: str, soft: int, hard: int, **params: Any) -> dict[str, Any]:
    """The worker in a child whose descriptor limits were lowered before it started."""
    return work(source, ["prlimit", f"--nofile={soft}:{hard}", sys.executable, "-"], **params)


def test_many_connections_need_only_the_services_descriptors() -> None:
    """Both ends in one process held 976 of 1500 under a soft limit of 2000 and passed: the
    clients now have a process of their own, and the worker holds all 1500."""
    report = _worker_with_limits(setups.STANDARD, 2000, 2000, connections=1500)
    assert_clean(report)
    tcp = by_name(report)["tcp4"]
    assert tcp["status"] == "ok" and tcp["held"] == 1500 and tcp["clients"] == 1
    assert report["figures"]["connections_held"] == 1500


def test_a_count_the_limit_cannot_hold_fails() -> None:
    report = _worker_with_limits(setups.STANDARD, 1000, 1000, connections=1500, above_fd=1024)
    tcp = by_name(report)["tcp4"]
    assert tcp["status"] == "fail" and tcp["cause"] == "nofile"
    assert "soft limit 1000" in tcp["detail"] and "not 1500" in tcp["detail"]
    assert report["figures"]["connections_held"] == 0
    high = by_name(report)["fds_above_1024"]
    assert high["status"] == "fail" and "soft limit 1000" in high["detail"]


def test_setup_raising_the_soft_limit_reaches_above_the_ceiling() -> None:
    report = _worker_with_limits(setups.RAISING, 256, 4096, connections=300, above_fd=1024)
    assert report["nofile_before"]["soft"] == 256
    assert report["nofile_in_loop"]["soft"] == 4096
    assert_clean(report)
    assert by_name(report)["fds_above_1024"]["lowest_fd"] > 1024


def test_connections_split_over_several_client_processes() -> None:
    report = work(setups.STANDARD, connections=250, client_share=100)
    assert_clean(report)
    tcp = by_name(report)["tcp4"]
    assert tcp["clients"] == 3 and tcp["held"] == 250


def test_memory_per_held_connection_stays_small() -> None:
    """Well under the old design's 100 KiB per held connection (every connection exchanged up
    to 128 KiB at once), on the service's side and on the clients'. Typically 2 KiB (worker)
    and 7 KiB (clients); one run on a heavily loaded host saw 22 KiB in the worker, so the
    bound is 40 KiB: it catches the old design, not a slow scheduler."""
    report = work(setups.STANDARD, connections=3000, timeout=60.0)
    assert_clean(report)
    mem = report["figures"]["memory_kib"]
    held = report["figures"]["connections_held"]
    assert held == 3000
    assert (mem["worker_peak"] - mem["worker_before"]) / held < 40, mem
    assert (mem["client_peak"] - mem["client_start"]) / held < 40, mem


def test_every_byte_is_compared_not_only_the_count() -> None:
    """A loop that flips one byte in each write over 100 bytes: same lengths, other bytes."""
    report = work(setups.CORRUPTING)
    tests = by_name(report)
    for name in ("tcp4", "tcp6", "unix"):  # the client process's check and the worker's own
        if tests[name]["status"] == "skip":
            continue
        assert tests[name]["status"] == "fail", tests[name]
        assert tests[name]["cause"] == "mismatch"
        assert "differs at byte" in tests[name]["detail"]


def test_every_descriptor_above_the_ceiling_is_checked() -> None:
    """A loop frees a low descriptor after the worker filled them all: one socket of the test
    takes it, below the ceiling, while the highest is still far above."""
    report = work(setups.FREES_A_LOW_FD, above_fd=1024)
    high = by_name(report)["fds_above_1024"]
    assert high["status"] == "fail" and high["cause"] == "low_fd", high
    assert high["highest_fd"] > 1024 and high["lowest_fd"] < 1024
    assert "not above 1024" in high["detail"]


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
    """uvloop refuses to connect to an abstract name: it gets sockets made by the worker, on an
    abstract address still, and nothing is written to the temporary folder."""
    interp = interpreters.find("3.12")
    command = interp.uvloop_command() if interp is not None else None
    if command is None:
        pytest.skip("needs uvloop on CPython 3.12")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    report = work(setups.UVLOOP, command, env=env)
    assert_clean(report)
    assert by_name(report)["unix"]["address"] == "abstract, sockets made by the self-test"
    assert list(tmp_path.iterdir()) == []


# --- Unix sockets: nothing on disk, and no failure the service would not have --------------------

READ_ONLY_ROOT = 'mount --make-rprivate / && mount -o bind,ro / / && exec "$@"'


def _read_only_root(command: Sequence[str]) -> list[str]:
    """`command` in a mount namespace where the root file system, /tmp and /var/tmp with it,
    is a read-only bind mount (Kubernetes' readOnlyRootFilesystem), or skip when this host
    cannot make one."""
    unshare = shutil.which("unshare")
    probe = [
        unshare or "unshare",
        "-m",
        "sh",
        "-c",
        READ_ONLY_ROOT,
        "sh",
        "sh",
        "-c",
        "! touch /tmp/x",
    ]
    if unshare is None or subprocess.run(probe, check=False, capture_output=True).returncode:
        pytest.skip("cannot make a mount namespace with a read-only root here")
    return [unshare, "-m", "sh", "-c", READ_ONLY_ROOT, "sh", *command]


def test_unix_sockets_with_uvloop_under_a_read_only_root() -> None:
    """uvloop refuses to connect to an abstract name: the worker makes the sockets itself and
    hands them over, so a read-only /tmp costs nothing."""
    pytest.importorskip("uvloop")
    command = _read_only_root([sys.executable, "-"])
    report = work(setups.UVLOOP, command, env={**os.environ, "TMPDIR": "/tmp"})
    assert_clean(report)
    assert by_name(report)["unix"]["address"] == "abstract, sockets made by the self-test"


def test_a_loop_refusing_abstract_addresses_with_no_writable_tmp_is_a_note() -> None:
    command = _read_only_root([sys.executable, "-"])
    report = work(setups.NO_ABSTRACT, command, env={**os.environ, "TMPDIR": "/tmp"})
    unix = by_name(report)["unix"]
    assert unix["status"] == "skip" and unix["cause"] == "no_tmp", unix
    assert "no writable temporary folder" in unix["detail"]
    assert report["warnings"] == [] and report["fds"]["leaked"] == []


def test_a_loop_refusing_abstract_addresses_gets_a_folder_that_is_removed(tmp_path: Path) -> None:
    report = work(setups.NO_ABSTRACT, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert_clean(report)
    assert by_name(report)["unix"]["address"] == "path"
    assert list(tmp_path.iterdir()) == []


def test_the_watchdog_removes_the_socket_folder(tmp_path: Path) -> None:
    """The worker stuck inside the Unix-socket test (the loop blocks in it): its watchdog ends
    it, and removes the folder first."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    # The worker's own deadline of 4 s, its watchdog a second later; the caller's far beyond.
    report = work(setups.NO_ABSTRACT_HANGS, env=env, timeout=30.0, deadline=4.0, connections=8)
    assert report["error_stage"] == "deadline" and "during unix" in report["error"]
    assert list(tmp_path.iterdir()) == []


def test_a_failed_udp_test_explains_uvlooops_leftover_transport() -> None:
    """With loopback down, uvloop leaves its UDP transport open when the endpoint fails: the
    warning is recorded in the phase of that test, so it is not blamed on the setup."""
    pytest.importorskip("uvloop")
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace without loopback here")
    report = work(setups.UVLOOP, [unshare, "-n", sys.executable, "-"])
    assert by_name(report)["udp"]["status"] == "fail"
    leftovers = [w for w in report["warnings"] if w["category"] == "ResourceWarning"]
    assert all(w["phase"] in ("udp", "tcp4", "tcp6") for w in leftovers), leftovers


# --- the result line -----------------------------------------------------------------------------


def test_the_result_line_carries_the_runs_nonce() -> None:
    params = {
        "setup_source": setups.PRINTS_A_FORGERY,
        "connections": 8,
        "deadline": 20.0,
        "client_source": target.source("selftest_client"),
    }
    program = target.program("selftest", params)
    assert program.marker != target.MARKER and program.marker.startswith(target.MARKER)
    done = subprocess.run(
        [sys.executable, "-"], input=program.text, capture_output=True, text=True, timeout=30
    )
    marked = [ln for ln in done.stdout.splitlines() if ln.startswith(target.MARKER)]
    ours = [ln for ln in marked if ln.startswith(program.marker)]
    assert len(ours) == 1 and len(marked) == 2  # the setup's forgery is the other one
    outcome = transport.run_program(program, None, 30)
    assert outcome.impostors == 1


def test_the_setup_is_compiled_without_the_workers_future_imports() -> None:
    """The worker's `from __future__ import annotations` must not change the setup's meaning."""
    source = "def f(x: int) -> None:\n    pass\n\nassert f.__annotations__['x'] is int\n"
    report = work(source + setups.STANDARD)
    assert_clean(report)


@pytest.mark.targets
def test_no_warning_of_the_workers_own_on_315_in_dev_mode() -> None:
    """CPython 3.15 in dev mode warned about the worker's synthetic module (no
    __spec__.loader) whenever the setup's code warned: the setup has a real spec now."""
    interp = interpreters.require("3.15")
    report = work(setups.DEPRECATED, interp.command("-X", "dev"), timeout=60.0)
    assert [w["category"] for w in report["warnings"]] == ["DeprecationWarning"], report
    assert report["warnings"][0]["origin"] == "setup"


@pytest.mark.targets
def test_worker_and_client_on_pypy() -> None:
    """The worker and its client process are standard library only: PyPy 3 runs them too."""
    tool = interpreters.SID_TOOL
    if not tool.exists() or os.geteuid() != 0:
        pytest.skip("PyPy 3 comes from the sid-python chroot, which is not available here")
    versions = subprocess.run(
        [str(tool), "versions"], capture_output=True, text=True, timeout=60, check=False
    ).stdout.split()
    if "pypy3" not in versions:
        pytest.skip("the sid-python chroot has no PyPy 3")
    report = work(
        setups.STANDARD,
        [str(tool), "exec", "pypy3", "-"],
        timeout=60.0,
        connections=200,
        above_fd=1024,
    )
    assert report["implementation"] == "pypy"
    assert_clean(report)
    assert by_name(report)["tcp4"]["held"] == 200
    assert by_name(report)["fds_above_1024"]["status"] == "ok"


# --- the client process on its own ----------------------------------------------------------------


def _client(params: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Run the test client as the worker does and return its "done" event."""
    import json

    from iodetect.target import selftest

    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", selftest.CLIENT_BOOT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    first = {"source": target.source("selftest_client"), "params": {"deadline": 20, **params}}
    proc.stdin.write((json.dumps(first) + "\n").encode())
    proc.stdin.flush()
    try:
        done: dict[str, Any] = {}
        while done.get("event") != "done":
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""  # type: ignore[union-attr]
            done = json.loads(line)
        proc.stdin.write(b"close\n")
        proc.stdin.close()
        proc.wait(timeout=timeout)
        return done
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


class _EchoServer:
    """A plain echo server in threads: the client tested against something that is not the
    worker's loop."""

    def __init__(self) -> None:
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: Any) -> None:
        with conn:
            try:
                while data := conn.recv(262144):
                    conn.sendall(data)
            except OSError:
                pass  # the client ends every connection with a reset

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("portable", [False, True], ids=["epoll", "selectors"])
def test_the_client_verifies_every_echo_with_either_selector(portable: bool) -> None:
    """Linux uses epoll with one-shot registrations; macOS and Windows the selectors module:
    both open, echo and verify every connection (four of them every size up to 1 MiB)."""
    server = _EchoServer()
    try:
        done = _client(
            {
                "host": "127.0.0.1",
                "port": server.port,
                "count": 300,
                "batch": 16,
                "portable": portable,
            }
        )
    finally:
        server.close()
    assert done["ok"] is True, done
    assert done["connections"] == 300 and done["round_trips"] == 300 + 4 * 5, done


def test_a_refused_connection_is_a_loopback_failure() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once it is closed
    done = _client({"host": "127.0.0.1", "port": port, "count": 10})
    assert done["ok"] is False and done["cause"] == "loopback", done
    assert "connection 1 of 10" in done["detail"] and "refused" in done["detail"], done
    assert done["connected"] == 0


def test_connections_never_accepted_are_a_timeout_that_says_so() -> None:
    """A server that stopped accepting: its listen queue fills, the handshakes of the rest
    never complete; the client gives up after 5 s without progress and says why."""
    import socket

    with socket.create_server(("127.0.0.1", 0), backlog=1) as listener:
        start = time.monotonic()
        done = _client({"host": "127.0.0.1", "port": listener.getsockname()[1], "count": 50})
    assert time.monotonic() - start < 25.0
    assert done["ok"] is False and done["cause"] == "timeout", done
    assert "not accepted within 5 s" in done["detail"], done


def test_clients_started_early_are_ended_when_the_setup_fails() -> None:
    """The clients start with the worker, before the setup is imported: a setup that fails
    leaves none of them running. The worker runs in a session of its own, so that what is
    left of it can be told from any other process."""
    params = {
        "setup_source": "raise RuntimeError('no loop today')\n",
        "connections": 500,
        "deadline": 20.0,
        "budget_tcp": 12.0,
        "client_source": target.source("selftest_client"),
    }
    program = target.program("selftest", params)
    worker = subprocess.Popen(
        [sys.executable, "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    out, _ = worker.communicate(program.text.encode(), timeout=60)
    assert b"importing loop_setup.py failed" in out, out[-500:]
    left = _in_session(worker.pid)
    for pid in left:
        os.kill(pid, 9)
    assert left == [], "test clients outlived the worker"


def _in_session(sid: int) -> list[int]:
    """Processes of session `sid` still running, after a moment for them to exit."""
    end = time.monotonic() + 5.0
    while True:
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.getsid(int(name)) == sid and not _zombie(int(name)):
                        pids.append(int(name))
                except OSError:
                    continue
        if not pids or time.monotonic() > end:
            return pids
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
