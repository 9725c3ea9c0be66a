"""`iodetect inspect` on processes of other CPython versions: 3.8 from pyenv, and 3.14/3.15 in
the sid chroot, whose processes the host sees in /proc with their own root and mount
namespace (so their interpreter is run through nsenter, and `asyncio ps` is available)."""

from __future__ import annotations

import json
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
