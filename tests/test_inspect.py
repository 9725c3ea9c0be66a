"""`iodetect inspect` on real running processes: each loop, selector and server model, limits,
load, leaks, processes that exit or hide, and the JSON contract."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_servers import Spawner, gone, spawning, wait_for

from iodetect.inspect import procfs, runner, snapshot, sockets, syscalls
from iodetect.inspect.model import SCHEMA_VERSION

from support import run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
SCHEMA = Path(__file__).parent.parent / "iodetect" / "schemas" / "inspect.schema.json"
BOUND = 20.0  # seconds: a generous bound on one inspection on a loaded machine


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    with spawning() as spawner:
        yield spawner


def inspect_json(*args: str, timeout: float = 90) -> tuple[int, dict[str, Any], str]:
    done = run_cli("inspect", "--json", *args, timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text("utf-8")))
    return done.returncode, doc, done.stderr


def codes(doc: dict[str, Any], level: str | None = None) -> set[str]:
    return {f["code"] for f in doc["findings"] if level is None or f["level"] == level}


def finding(doc: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in doc["findings"] if f["code"] == code)


# --- each loop and mechanism, identified from outside ---------------------------------------


@pytest.mark.parametrize(
    ("kind", "calls", "selector"),
    [
        ("select", {"select", "pselect6"}, "SelectSelector"),
        ("poll", {"poll", "ppoll"}, "PollSelector"),
        ("epoll", {"epoll_wait", "epoll_pwait"}, "EpollSelector"),
    ],
)
def test_asyncio_on_each_selector(
    spawn: Spawner, kind: str, calls: set[str], selector: str
) -> None:
    server = spawn.start(kind)
    start = time.monotonic()
    code, doc, _ = inspect_json(str(server.pid))
    assert time.monotonic() - start < BOUND
    proc = doc["processes"][0]
    loop = proc["loop"]
    assert loop["model"] == "event loop"
    assert loop["running"] == "asyncio" and loop["library"] is None
    assert loop["selector"] == selector
    assert loop["call"] in calls
    assert loop["thread"] == server.pid
    if kind == "epoll":
        # The selector's epoll instance: its self-pipe, the listener, both ends of 3 connections.
        assert loop["registered"] == 8
        assert proc["descriptors"]["epolls"][0]["registered"] == 8
    if kind == "poll":
        assert loop["registered"] == 8
    d = proc["descriptors"]
    assert d["established"] == 6  # three connections, both ends in the same process
    assert d["listening"] == [f"127.0.0.1:{server.port} (tcp)"]
    assert proc["interpreter"]["implementation"] == "cpython"
    assert proc["interpreter"]["release"] == ".".join(map(str, sys.version_info[:3]))
    # uvloop is installed in the test environment, so the plan names it: a warning, exit 0.
    assert proc["plan"]["loop_package"] == "uvloop"
    assert finding(doc, "plan.loop")["level"] == "warn"
    assert code == 0
    if kind == "select":
        assert finding(doc, "select.ceiling")["level"] == "warn"  # soft limit above 1024


def test_uvloop_is_recognised_by_its_map_and_its_wakeup(spawn: Spawner) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed in this environment")
    server = spawn.start("uvloop")
    code, doc, _ = inspect_json(str(server.pid))
    proc = doc["processes"][0]
    loop = proc["loop"]
    assert loop["library"] == "uvloop" and loop["running"] == "uvloop"
    assert loop["mechanism"] == "epoll" and loop["call"] in ("epoll_pwait", "epoll_wait")
    assert "uvloop" in proc["libraries"] and "/uvloop/loop." in proc["libraries"]["uvloop"]
    assert proc["descriptors"]["by_kind"].get("eventpoll") == 1
    assert "eventfd" in proc["descriptors"]["epolls"][0]["kinds"]
    assert finding(doc, "plan.loop")["level"] == "ok"
    assert code == 0
    # The same loop judged against an explicit plan for the standard loop: a failure.
    code, doc, _ = inspect_json(str(server.pid), "--loop", "asyncio")
    assert code == 1 and finding(doc, "plan.loop")["level"] == "fail"


def test_thread_per_connection_server(spawn: Spawner) -> None:
    server = spawn.start("threads")
    assert wait_for(lambda: len(os.listdir(f"/proc/{server.pid}/task")) >= 4)
    code, doc, _ = inspect_json(str(server.pid))
    proc = doc["processes"][0]
    assert proc["loop"]["model"] == "thread per connection"
    assert proc["loop"]["running"] is None
    kinds = [t["kind"] for t in proc["threads"]]
    assert kinds.count("accept") == 1 and kinds.count("recv") + kinds.count("read") >= 3
    assert finding(doc, "loop.threads")["level"] == "ok"
    assert code == 0


def test_most_of_a_small_descriptor_limit_fails(spawn: Spawner) -> None:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("prlimit (util-linux) is not installed")
    server = spawn.start("epoll", "open", "60", prefix=[prlimit, "--nofile=64:64", "--"])
    code, doc, _ = inspect_json(str(server.pid), "--connections", "100")
    proc = doc["processes"][0]
    assert proc["limits"] == {"nofile_soft": 64, "nofile_hard": 64}
    assert proc["descriptors"]["open"] >= 58
    near = finding(doc, "nofile.near")
    assert near["level"] == "fail" and "EMFILE" in near["message"]
    assert finding(doc, "nofile.hard")["level"] == "fail"  # 100 connections need 164
    assert code == 1


def test_busy_loop_is_saturated_under_watch(spawn: Spawner) -> None:
    server = spawn.start("busy")
    start = time.monotonic()
    code, doc, stderr = inspect_json(str(server.pid), "--watch", "3", "--interval", "0.05")
    assert time.monotonic() - start < BOUND + 3
    w = doc["processes"][0]["watch"]
    assert w["loop_thread"] == server.pid
    assert w["samples"] >= 20
    assert w["loop_busy"] >= 0.9
    assert finding(doc, "loop.saturated")["level"] == "fail"
    assert code == 1
    assert "watch" in stderr  # the progress line


def test_idle_loop_under_watch_and_the_chart(spawn: Spawner) -> None:
    server = spawn.start("epoll")
    done = run_cli("inspect", str(server.pid), "--watch", "2", "--interval", "0.05")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loop busy" in done.stdout and "descriptors" in done.stdout
    assert any(ch in done.stdout for ch in "▁▂▃▄▅▆▇█")
    assert "watch" in done.stderr and "watch" not in done.stdout.split("\n")[0]


def test_descriptor_leak_is_seen_under_watch(spawn: Spawner) -> None:
    server = spawn.start("leak")
    _code, doc, _ = inspect_json(str(server.pid), "--watch", "5")
    w = doc["processes"][0]["watch"]
    series = [p["fds"] for p in w["points"] if p["fds"] is not None]
    assert series[-1] > series[0] + 30
    assert w["fd_growth"] is not None and w["fd_growth"] > 100
    assert finding(doc, "nofile.growth")["level"] == "warn"
    assert w["peak_fds"] == max(series)


def test_process_that_exits_during_watch(spawn: Spawner) -> None:
    server = spawn.start("epoll")
    proc = subprocess.Popen(
        [sys.executable, "-m", "iodetect", "inspect", "--json", str(server.pid), "--watch", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the first progress line: the watch has begun
        assert line.startswith("watch"), line
        os.kill(server.pid, signal.SIGTERM)
        killed = time.monotonic()
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - killed < BOUND  # the watch ends when its process does
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, err
    doc = json.loads(out)
    w = doc["processes"][0]["watch"]
    assert w["exited_at"] is not None and w["exited_at"] < 50
    exited = finding(doc, "process.exited")
    assert exited["level"] == "fail" and "exited" in exited["message"]


# --- choosing processes ------------------------------------------------------------------------


def test_by_port_and_by_match(spawn: Spawner) -> None:
    server = spawn.start("epoll", "marker-by-match-4711")
    _code, doc, _ = inspect_json("--port", str(server.port))
    assert [p["pid"] for p in doc["processes"]] == [server.pid]
    _code, doc, _ = inspect_json("--match", "marker-by-match-4711")
    assert [p["pid"] for p in doc["processes"]] == [server.pid]  # not iodetect itself


def test_what_cannot_be_inspected_is_one_line_with_exit_2(spawn: Spawner) -> None:
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        done = run_cli("inspect", str(sleeper.pid))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "is not Python" in done.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
    done = run_cli("inspect", str(sleeper.pid))  # reaped: no such process now
    assert done.returncode == 2 and f"no process with PID {sleeper.pid}" in done.stderr
    pytest.importorskip("uvloop", reason="uvloop is not installed in this environment")
    server = spawn.start("uvloop")
    tids = [int(t) for t in os.listdir(f"/proc/{server.pid}/task") if int(t) != server.pid]
    done = run_cli("inspect", str(tids[0]))
    assert done.returncode == 2 and f"a thread of process {server.pid}" in done.stderr
    for args in ([], ["1", "--port", "80"], ["--workers", "2", "1"], ["1", "--loop", "fast"]):
        done = run_cli("inspect", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_permission_denied_is_one_clear_line(spawn: Spawner) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process another user may not read")
    server = spawn.start("epoll")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        message = "no exception"
        try:
            os.setgid(65534)
            os.setuid(65534)
            snapshot.take(server.pid)
        except procfs.AccessDenied as exc:
            message = "denied: " + str(exc)
        except BaseException as exc:
            message = "other: " + repr(exc)
        finally:
            os.write(write, message.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read, "rb") as f:
        message = f.read().decode()
    assert message.startswith("denied: permission denied reading"), message
    assert "\n" not in message and f"process {server.pid}" in message


def test_non_linux_is_a_usage_error() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.platform = 'darwin'; from iodetect.cli import main; main()",
            "inspect",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Linux only (this is darwin)" in done.stderr


def test_hostile_names_are_cleaned_and_secrets_hidden(spawn: Spawner, tmp_path: Path) -> None:
    server = spawn.start(
        "epoll", "evil", "--password=hunter2", "\x1b]0;owned\x07", script=str(tmp_path / "s.py")
    )
    done = run_cli("inspect", str(server.pid))
    assert done.returncode in (0, 1), done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "hunter2" not in done.stdout and "--password=***" in done.stdout
    _code, doc, _ = inspect_json(str(server.pid))
    assert "\x1b" not in json.dumps(doc, ensure_ascii=False)


# --- the parts, on fixture input ---------------------------------------------------------------


def test_syscall_lines_per_architecture() -> None:
    # Lines as /proc/PID/task/TID/syscall prints them (proc_pid_syscall(5)).
    x = syscalls.parse("232 0x3 0x7f 0x2 0x36ee80 0x0 0x0 0x7ffc 0x7ff7", "x86_64")
    assert (x.name, x.kind, x.fd) == ("epoll_wait", "epoll", 3)
    p = syscalls.parse("7 0x7f79 0x2 0x36ee80 0x0 0x0 0x0 0x7ffc 0x7f79", "x86_64")
    assert (p.name, p.kind, p.count) == ("poll", "poll", 2)
    s = syscalls.parse("270 0x6 0x7ffc 0x0 0x0 0x7ffc 0x0 0x7ffc 0x7fb8", "x86_64")
    assert (s.name, s.kind, s.count) == ("pselect6", "select", 6)
    # aarch64 has no poll, select nor epoll_wait: ppoll 73, pselect6 72, epoll_pwait 22.
    a = syscalls.parse("22 0x4 0xffff 0x400 0xffffffff 0x0 0x8 0xffff 0xffff", "aarch64")
    assert (a.name, a.kind, a.fd) == ("epoll_pwait", "epoll", 4)
    assert syscalls.parse("73 0xaaaa 0x2 0x0 0x0 0x8 0x0 0xffff 0xffff", "aarch64").kind == "poll"
    assert syscalls.parse("72 0x7 0x0 0x0 0x0 0x0 0x0 0xffff 0xffff", "aarch64").kind == "select"
    assert syscalls.parse("242 0x3 0x0 0x0 0x80800 0 0 0 0", "aarch64").kind == "accept"
    assert syscalls.parse("running", "x86_64").state == "running"
    assert syscalls.parse("-1 0x7ffc 0x7f00", "x86_64").state == "blocked"
    assert syscalls.parse("232 0x3", "riscv64").name == "syscall 232"  # no table: no guess
    assert syscalls.from_wchan("do_epoll_wait").kind == "epoll"
    assert syscalls.from_wchan("poll_schedule_timeout.constprop.0").kind == "poll/select"
    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 11
    assert syscalls.elf_machine(elf + (62).to_bytes(2, "little")) == "x86_64"
    assert syscalls.elf_machine(elf + (183).to_bytes(2, "little")) == "aarch64"
    assert syscalls.elf_machine(b"#!/bin/sh\n" + b"\0" * 20) is None


def test_interpreters_recognised_from_maps() -> None:
    # No free-threaded build can be had here: its maps are written from CPython's naming
    # (the t ABI flag in libpython3.13t.so and in the extension suffix cpython-313t).
    ft = snapshot.recognise(
        "/usr/bin/python3.13t",
        [
            "/usr/lib/x86_64-linux-gnu/libpython3.13t.so.1.0",
            "/usr/lib/python3.13t/lib-dynload/_asyncio.cpython-313t-x86_64-linux-gnu.so",
        ],
        [],
        None,
    )
    assert (ft.implementation, ft.version, ft.free_threaded) == ("cpython", "3.13", True)
    std = snapshot.recognise(
        "/usr/local/bin/python3.12",
        ["/usr/local/lib/python3.12/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so"],
        [],
        None,
    )
    assert (std.version, std.free_threaded, std.embedded) == ("3.12", False, False)
    uwsgi = snapshot.recognise("/usr/bin/uwsgi", ["/usr/lib/libpython3.11.so.1.0"], [], None)
    assert uwsgi.embedded and uwsgi.version == "3.11"
    pypy = snapshot.recognise("/usr/bin/pypy3", ["/usr/lib/pypy3.10/libpypy3.10-c.so"], [], None)
    assert pypy.implementation == "pypy"
    with pytest.raises(procfs.NotPython):
        snapshot.recognise("/usr/sbin/nginx", ["/usr/lib/libssl.so.3"], [], None)


def test_sockets_addresses_and_cleaning() -> None:
    assert sockets._address("0100007F:1F90") == ("127.0.0.1", 8080)
    assert sockets._address("00000000000000000000000001000000:0050") == ("[::1]", 80)
    assert sockets.loopback("[::1]:80") and not sockets.loopback("0.0.0.0:80")
    assert procfs.clean("a\x1b[31mb\u202e\n") == "a\\x1b[31mb\\u202e\\x0a".replace(
        "\\u202e", "\\x202e"
    )
    assert procfs.redact_command(["app", "--token", "s3cret", "postgres://u:pw@db/x"]) == (
        "app --token *** postgres://***@db/x"
    )


def test_asyncio_ps_table_is_summarised() -> None:
    header = (
        f"{'tid':<10} {'task id':<20} {'task name':<20} {'coroutine stack':<50} "
        f"{'awaiter chain':<50} {'awaiter name':<15} {'awaiter id':<15}"
    )
    rows = [
        f"{7:<10} {'0x1':<20} {'Task-1':<20} {'main':<50} {'':<50} {'':<15} {'0x0':<15}",
        f"{7:<10} {'0x2':<20} {'w0':<20} {'sleep -> worker':<50} {'main':<50} {'Task-1':<15} 0x1",
        f"{7:<10} {'0x3':<20} {'w1':<20} {'sleep -> worker':<50} {'main':<50} {'Task-1':<15} 0x1",
        f"{7:<10} {'0x4':<20} {'a task name that is too long':<20} {'x':<50} {'':<50}",
    ]
    tasks = runner.summarise([header, "-" * 180, *rows])
    assert tasks.available and tasks.count == 4 and tasks.threads == 1
    assert tasks.top[0] == ("sleep -> worker", 2)


def test_json_contract(spawn: Spawner) -> None:
    server = spawn.start("epoll")
    code, doc, _ = inspect_json(str(server.pid), "--no-plan")
    assert doc["kind"] == "iodetect.inspect" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["exit_code"] == code == 0 and doc["ok"] is True
    proc = doc["processes"][0]
    assert proc["plan"] is None and proc["tasks"] is None
    assert proc["own_root"] and proc["own_mount_ns"] and proc["ns_pid"] == server.pid
    assert not gone(server.pid)
