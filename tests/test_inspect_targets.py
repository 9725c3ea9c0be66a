"""`iodetect inspect` on processes of other CPython versions: 3.8 from pyenv, and 3.14/3.15 in
the sid chroot, whose processes the host sees in /proc with their own root and mount
namespace (so their interpreter is run through nsenter, and `asyncio ps` is available)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from inspect_servers import Spawner, spawning

import interpreters
from support import run_cli

pytestmark = [
    pytest.mark.targets,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]
BOUND = 30.0


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    with spawning() as spawner:
        yield spawner


def inspect_json(*args: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("inspect", "--json", *args, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_cpython_38_process(spawn: Spawner) -> None:
    interp = interpreters.require("3.8")
    assert not interp.chroot
    server = spawn.start("epoll", argv=interp.command())
    start = time.monotonic()
    _code, doc = inspect_json(str(server.pid))
    assert time.monotonic() - start < BOUND
    proc = doc["processes"][0]
    it = proc["interpreter"]
    assert it["version"] == "3.8" and it["release"].startswith("3.8.")
    assert proc["loop"]["running"] == "asyncio" and proc["loop"]["selector"] == "EpollSelector"
    assert proc["plan"] is not None, proc["plan_error"]  # the probe ran on 3.8 itself
    assert proc["tasks"]["available"] is False and "3.14" in proc["tasks"]["reason"]


@pytest.mark.parametrize("version", ["3.14", "3.15"])
def test_chroot_process_with_its_tasks(spawn: Spawner, version: str) -> None:
    interp = interpreters.require(version)
    assert interp.chroot
    server = spawn.start("tasks", argv=interp.command(), stdin_program=True)
    start = time.monotonic()
    _code, doc = inspect_json(str(server.pid))
    assert time.monotonic() - start < BOUND
    proc = doc["processes"][0]
    # What /proc shows of a chroot process from the host: its own root and mount namespace,
    # paths inside the root; the same PID namespace.
    assert proc["own_root"] is False and proc["own_mount_ns"] is False
    assert proc["root"].endswith("sid-python") and proc["own_pid_ns"] is True
    it = proc["interpreter"]
    assert it["executable"] == f"/usr/bin/python{version}"
    assert it["release"].startswith(version + ".")  # probed inside the chroot (nsenter)
    assert proc["loop"]["running"] == "asyncio" and proc["loop"]["mechanism"] == "epoll"
    tasks = proc["tasks"]
    assert tasks["available"] is True, tasks["reason"]
    assert tasks["count"] == 6  # main and its five workers
    stack, count = tasks["top"][0]  # "sleep -> main.<locals>.worker" (qualnames on 3.14+)
    assert count == 5 and stack.startswith("sleep -> ") and stack.endswith("worker")


def test_chroot_uvloop_in_a_venv(spawn: Spawner) -> None:
    interp = interpreters.require("3.15")
    interpreters.require_package(interp, "uvloop")  # skips, saying why, when it cannot be had
    python = interpreters._package_env(interp, "uvloop")
    # Only /usr/bin/python3.X can be started by the tool: it hands over to the venv's python,
    # with the server's arguments.
    hand_over = f"import os, sys; os.execv({python!r}, [{python!r}, *sys.argv[1:]])"
    server = spawn.start("uvloop", argv=[*interp.argv, "-c", hand_over], stdin_program=True)
    _code, doc = inspect_json(str(server.pid))
    proc = doc["processes"][0]
    assert proc["loop"]["running"] == "uvloop"
    assert proc["interpreter"]["venv"] == "/opt/iodetect-tests/uvloop-3.15"
    assert proc["plan"]["loop_package"] == "uvloop"  # the venv's packages count


def _host_pid(launcher: int, ns_pid: int) -> int | None:
    """The host PID of the descendant of `launcher` whose PID in its own namespace is ns_pid."""
    status: dict[int, dict[str, str]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status") as f:
                    status[int(name)] = dict(ln.split(":", 1) for ln in f if ":" in ln)
            except OSError:
                continue
    for pid, fields in status.items():
        nspid = fields.get("NSpid", "").split()
        if len(nspid) < 2 or nspid[-1] != str(ns_pid):
            continue
        up, seen = pid, set()
        while up in status and up not in seen:
            seen.add(up)
            if up == launcher:
                return pid
            up = int(status[up].get("PPid", "0").strip() or 0)
    return None


def test_container_shaped_process_seen_from_the_host(spawn: Spawner) -> None:
    # What a container is to /proc: its own PID, network and mount namespaces and its own
    # root. Sockets come from its namespace (loopback there is not the host's), `asyncio ps`
    # runs in its PID namespace with the PID it has there.
    interp = interpreters.require("3.15")
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if os.geteuid() != 0 or unshare is None or ip is None:
        pytest.skip("needs root, unshare and ip (util-linux, iproute2) to build namespaces")
    prefix = [unshare, "--pid", "--net", "--fork", "sh", "-c", f'{ip} link set lo up; exec "$@"']
    server = spawn.start("tasks", argv=interp.command(), stdin_program=True, prefix=[*prefix, "sh"])
    pid = _host_pid(server.proc.pid, server.pid)
    assert pid is not None and pid != server.pid
    _code, doc = inspect_json(str(pid))
    proc = doc["processes"][0]
    assert (proc["own_pid_ns"], proc["own_net_ns"], proc["own_mount_ns"]) == (False, False, False)
    assert proc["ns_pid"] == server.pid
    assert proc["descriptors"]["listening"] == [f"127.0.0.1:{server.port} (tcp)"]
    assert proc["descriptors"]["established"] == 6
    assert proc["loop"]["running"] == "asyncio"
    assert proc["tasks"]["available"] is True and proc["tasks"]["count"] == 6, proc["tasks"]
    # The host's namespace has no such listener: --port says where to look instead.
    done = run_cli("inspect", "--port", str(server.port))
    if done.returncode == 2:  # (unless the host happens to use the same port)
        assert "docker top" in done.stderr
