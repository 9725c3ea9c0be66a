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
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_servers import Spawner, gone, spawning, wait_for

from iodetect import recommend
from iodetect.inspect import analysis, procfs, runner, snapshot, sockets, syscalls
from iodetect.inspect.model import SCHEMA_VERSION, Descriptors, Epoll, Thread
from iodetect.text import clean, show_command

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
    # For people: libuv's worker threads wait on a lock, with nothing after the call.
    text = run_cli("inspect", str(server.pid), "--no-plan").stdout
    assert "libuv-worker" in text and "futex" in text
    assert not [line for line in text.splitlines() if line != line.rstrip()], text
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
    # Soft is already at the hard limit: only what starts the process can raise it.
    assert "hard limit" in near["remedy"] and "ulimit -n" not in near["remedy"], near
    hard = finding(doc, "nofile.hard")  # 100 connections need 164
    assert hard["level"] == "fail"
    # The remedy check and fleet give for the same limit, to the same round figure.
    assert hard["remedy"] == recommend.nofile_remedy("nofile.hard", 1024)
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
    # A marker of this run alone: the tox envs run in parallel and match machine-wide.
    marker = f"marker-by-match-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    server = spawn.start("epoll", marker)
    _code, doc, _ = inspect_json("--port", str(server.port))
    assert [p["pid"] for p in doc["processes"]] == [server.pid]
    _code, doc, _ = inspect_json("--match", marker)
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
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert wait_for(lambda: gone(zombie.pid))  # exited, not yet collected: a zombie
        done = run_cli("inspect", str(zombie.pid))
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert f"process {zombie.pid}" in done.stderr and "zombie" in done.stderr, done.stderr
    finally:
        zombie.wait()
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
        "epoll",
        "[red]markup[/red]",
        ":warning:",
        "evil",
        "--password=hunter2",
        "\x1b]0;owned\x07",
        script=str(tmp_path / "s.py"),
    )
    done = run_cli("inspect", str(server.pid))
    assert done.returncode in (0, 1), done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b]0;owned\\x07" in done.stdout  # escaped, not dropped: the evidence stays
    assert "hunter2" not in done.stdout and "--password=***" in done.stdout
    # Shown as the process has them: neither rich markup nor an emoji code is interpreted.
    assert "'[red]markup[/red]' :warning:" in done.stdout and "\u26a0" not in done.stdout
    _code, doc, _ = inspect_json(str(server.pid))
    assert not list(unprintable(doc))
    # Started through a link whose name holds an escape: the path it was started by is
    # what iodetect runs for the plan, and it is shown cleaned.
    link = tmp_path / "\x1b]0;owned\x07python"
    link.symlink_to(os.path.realpath(sys.executable))
    server = spawn.start("epoll", argv=[str(link)])
    _code, doc, _ = inspect_json(str(server.pid))
    assert not list(unprintable(doc))
    it = doc["processes"][0]["interpreter"]
    assert it["run_path"].endswith("\\x1b]0;owned\\x07python"), it
    assert doc["processes"][0]["plan"] is not None, doc["processes"][0]["plan_error"]


def unprintable(value: Any, where: str = "") -> Iterator[str]:
    """Where a JSON document holds a character a terminal acts on (json.dumps would escape it
    in the document, but `jq -r` prints it raw)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from unprintable(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from unprintable(v, f"{where}[{i}]")
    elif isinstance(value, str) and any(
        ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u2066" for c in value
    ):
        yield f"{where}: {value!r}"


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
    # Evidence keeps what the process holds visible, escaped: nothing of it acts on a terminal.
    assert clean("a\x1b[31mb\u202e\n", 200, controls="escape") == "a\\x1b[31mb\\u202e\\x0a"
    assert clean("\udcff.py", 200, controls="escape") == "\\xff.py"  # a byte that was not UTF-8
    shown = show_command(
        ["app", "--token", "s3cret", "postgres://u:pw@db/x"], 400, controls="escape"
    )
    assert shown == "app --token '***' 'postgres://***@db/x'"
    # Deep paths (a CI checkout, a tox env) do not push the options out of what is shown.
    deep = ["/" + "d" * 60 + "/.tox/py311/bin/python", "/tmp/" + "p" * 80 + "/s.py", "--password=x"]
    assert show_command(deep, 400, controls="escape").endswith("'--password=***'")


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


def _thread(tid: int, name: str, call: str, fd: int, waits: int = 8) -> Thread:
    kind = syscalls.KINDS[call]
    return Thread(tid, name, "S", call, kind, fd, None, None, "eventpoll", 8, waits, 0)


def _descriptors(*epolls: Epoll) -> Descriptors:
    return Descriptors(40, 40, {"tcp": 31, "eventpoll": len(epolls)}, (), 30, epolls)


def test_a_native_runtime_beside_the_python_loop_is_not_taken_for_it() -> None:
    # granian --loop asyncio, as /proc showed it: the Python loop on the main thread waits in
    # epoll_wait on the standard loop's instance (its self-pipe only), while tokio's worker
    # thread waits on an instance of its own that holds the connections and mio's eventfd.
    # granian imports uvloop either way, so uvloop is mapped.
    desc = _descriptors(
        Epoll(11, 1, (12,), ("unix",)),
        Epoll(15, 33, (16, 17), ("eventfd", "tcp")),
    )
    threads = (
        _thread(100, "granian", "epoll_wait", 11),
        _thread(102, "tokio-rt-worker", "epoll_wait", 15),
    )
    libraries = {"uvloop": "/venv/lib/python3.12/site-packages/uvloop/loop.cpython-312.so"}
    loop = analysis.loop_of(100, threads, desc, libraries)
    assert (loop.running, loop.thread, loop.registered) == ("asyncio", 100, 1)
    assert loop.selector == "EpollSelector"
    assert any("102" in e and "tokio-rt-worker" in e for e in loop.evidence), loop.evidence
    # The same process on uvloop: libuv's instance on the main thread has the eventfd.
    desc = _descriptors(
        Epoll(11, 3, (12, 13, 14), ("eventfd", "tcp", "unix")),
        Epoll(15, 33, (16, 17), ("eventfd", "tcp")),
    )
    threads = (
        _thread(100, "granian", "epoll_pwait", 11),
        _thread(102, "tokio-rt-worker", "epoll_wait", 15),
    )
    loop = analysis.loop_of(100, threads, desc, libraries)
    assert (loop.running, loop.thread) == ("uvloop", 100)
    assert loop.evidence[0] == "maps uvloop/loop.cpython-312.so"  # which library, said so
    assert "libuv's wake-up" in loop.evidence[1]
    # rloop (mio underneath) wakes through an eventfd too, and it is not libuv.
    rloop = {"rloop": "/venv/lib/python3.12/site-packages/rloop/_rloop.cpython-312.so"}
    loop = analysis.loop_of(100, threads, desc, rloop)
    assert loop.running == "rloop" and "libuv" not in " ".join(loop.evidence), loop.evidence
    # A loop in a worker thread, the main thread blocked elsewhere: the busiest wait wins.
    threads = (
        _thread(100, "python", "futex", 0, waits=0),
        _thread(101, "loop", "epoll_wait", 11),
        _thread(102, "other", "epoll_wait", 15),
    )
    desc = _descriptors(Epoll(11, 3, (), ("unix",)), Epoll(15, 9, (), ("tcp",)))
    assert analysis.loop_of(100, threads, desc, {}).thread == 102


def test_a_busy_process_with_several_epoll_instances_is_not_guessed() -> None:
    # No thread caught in its wait: one epoll instance says which loop it is; several do not.
    busy = (_thread(100, "granian", "futex", 0, waits=0),)
    one = _descriptors(Epoll(11, 4, (), ("eventfd", "tcp")))
    libraries = {"uvloop": "/site-packages/uvloop/loop.cpython-312.so"}
    assert analysis.loop_of(100, busy, one, libraries).running == "uvloop"
    several = _descriptors(Epoll(11, 1, (), ("unix",)), Epoll(15, 33, (), ("eventfd", "tcp")))
    loop = analysis.loop_of(100, busy, several, libraries)
    assert loop.running is None and loop.mechanism == "epoll"
    assert any("2 epoll instances" in e for e in loop.evidence), loop.evidence


def test_epoll_registrations_are_counted_past_the_first_megabyte(
    spawn: Spawner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /proc/PID/fdinfo of an epoll instance has one line per registration (about 80 bytes):
    # 13 000 connections make a megabyte. Counted in chunks, the count stays exact; past the
    # bound it is a lower bound, and the snapshot says so.
    server = spawn.start("epoll")
    monkeypatch.setattr(snapshot, "FDINFO_CHUNK", 100)  # a few lines per read
    snap = snapshot.take(server.pid, samples=2, spacing=0.01)
    assert snap.loop.registered == 8 and snap.descriptors.epolls[0].registered == 8
    assert not snap.descriptors.epolls[0].truncated and not snap.descriptors.truncated
    monkeypatch.setattr(snapshot, "FDINFO_LIMIT", 300)
    snap = snapshot.take(server.pid, samples=2, spacing=0.01)
    epoll = snap.descriptors.epolls[0]
    assert epoll.truncated and 0 < epoll.registered < 8
    assert snap.descriptors.truncated
    assert any("lower bound" in n for n in snap.notes)


PLAIN_SELECTOR_SERVER = r"""
import os, selectors, socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
srv.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
print("READY %d %d" % (os.getpid(), srv.getsockname()[1]), flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = srv.accept()
        conn.close()
"""


def test_a_selector_loop_without_asyncio_is_not_called_asyncio(spawn: Spawner) -> None:
    # gunicorn's gthread worker and plain selectors servers wait in epoll like asyncio's loop;
    # a process that never imported asyncio does not map its C module _asyncio.
    if "_asyncio" in sys.builtin_module_names:
        pytest.skip("this interpreter has _asyncio built in: its import does not show in maps")
    server = spawn.start("plain", argv=[sys.executable, "-c", PLAIN_SELECTOR_SERVER])
    _code, doc, _ = inspect_json(str(server.pid))
    loop = doc["processes"][0]["loop"]
    assert (loop["model"], loop["mechanism"], loop["thread"]) == ("event loop", "epoll", server.pid)
    assert loop["running"] is None and loop["selector"] is None
    assert loop["asyncio_imported"] is False
    assert any("asyncio is not imported" in e for e in loop["evidence"]), loop["evidence"]
    plan = finding(doc, "plan.loop")
    assert plan["level"] == "ok" and "no loop iodetect recognises" in plan["message"]
    # And an asyncio server maps it.
    server = spawn.start("epoll")
    _code, doc, _ = inspect_json(str(server.pid), "--no-plan")
    assert doc["processes"][0]["loop"]["asyncio_imported"] is True


def test_unknown_asyncio_import_keeps_the_selector_reading() -> None:
    # Debian builds _asyncio into the interpreter: nothing in maps says either way.
    threads = (_thread(100, "python3", "epoll_wait", 3),)
    desc = _descriptors(Epoll(3, 2, (), ("tcp", "unix")))
    assert analysis.loop_of(100, threads, desc, {}, None).running == "asyncio"
    assert analysis.loop_of(100, threads, desc, {}, True).running == "asyncio"
    loop = analysis.loop_of(100, threads, desc, {}, False)
    assert loop.running is None and loop.selector is None and loop.mechanism == "epoll"
    # An epoll instance past the 32 that are read: what is registered in it is unknown, so
    # whether uvloop's wake-up is there is too.
    libraries = {"uvloop": "/site-packages/uvloop/loop.cpython-312.so"}
    loop = analysis.loop_of(100, (_thread(100, "python3", "epoll_pwait", 40),), desc, libraries)
    assert loop.running is None and loop.mechanism == "epoll", loop
    assert any("fd 40" in e and "not read" in e for e in loop.evidence)


def test_a_memory_map_past_its_bound_is_said_to_be_partial(
    spawn: Spawner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the bound, a library (uvloop, _asyncio) may be mapped unseen: the snapshot says
    # so, and an unseen _asyncio is not read as "asyncio was not imported".
    server = spawn.start("epoll")
    full = snapshot.take(server.pid, samples=2, spacing=0.01)
    assert full.loop.asyncio_imported in (True, None) and not full.notes
    monkeypatch.setattr(procfs, "MAPS_LIMIT", 2048)
    cut = snapshot.take(server.pid, samples=2, spacing=0.01)
    assert any("memory map" in n for n in cut.notes), cut.notes
    assert cut.loop.asyncio_imported in (True, None)


def test_inspect_pids_keeps_to_a_deadline_its_caller_passes(spawn: Spawner) -> None:
    """--serve hands the reading what its start left of --timeout: a deadline already spent
    skips every worker with the reason, instead of a fresh --timeout of its own."""
    from iodetect.inspect import inspector

    pid = spawn.start("asyncio").pid
    options = inspector.Options(timeout=60, plan=False, tasks=False)
    spent = procfs.Deadline(0)
    inspections, _found, skipped, _errors = inspector.inspect_pids([pid], options, deadline=spent)
    assert inspections == []
    assert skipped == [f"process {pid}: not inspected, the --timeout ran out"]
    inspections, _found, skipped, _errors = inspector.inspect_pids([pid], options)
    assert [i.snapshot.pid for i in inspections] == [pid] and skipped == []
