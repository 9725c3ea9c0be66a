"""The catalog against the real interpreters and libraries here: what it says is what they do.

Each interpreter (CPython 3.8-3.15, PyPy) is probed; what the probe measured about asyncio must
match the catalog's timeline for that release. The loop-library claims that rest on a
measurement are measured again here. Interpreters and packages absent here are skipped, and
the skip says which.
"""

from __future__ import annotations

import functools
import json
import shlex
from concurrent.futures import ThreadPoolExecutor

import pytest

from iodetect import model, transport
from iodetect.catalog import apis, cpython
from iodetect.probe import remote_facts

import interpreters
from interpreters import PYPY, TARGETS
from support import run_cli

pytestmark = pytest.mark.targets


@functools.lru_cache(maxsize=1)
def all_facts() -> dict[str, model.Facts | None]:
    def one(version: str) -> model.Facts | None:
        interp = interpreters.find(version)
        return None if interp is None else remote_facts(interp.command(), 90)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(TARGETS, pool.map(one, TARGETS)))


def facts_of(version: str) -> model.Facts:
    interpreters.require(version)
    found = all_facts()[version]
    assert found is not None
    return found


@pytest.mark.parametrize("version", TARGETS)
def test_measured_asyncio_matches_the_catalog(version: str) -> None:
    """gh-93453/gh-100160/gh-126353 (get_event_loop), gh-127949 (policies), the idioms."""
    facts = facts_of(version)
    aio = facts.asyncio
    assert aio is not None and facts.errors == ()
    release = facts.interpreter.version
    assert aio.get_event_loop_without_loop == apis.get_event_loop_without_loop(release)
    assert aio.policies_deprecated == apis.policies_deprecated(release)
    idiom = cpython.idiom(facts.py).idiom
    assert aio.has_runner == (idiom != "manual")
    assert aio.run_loop_factory == (idiom == "run_loop_factory")


@pytest.mark.parametrize("version", TARGETS)
def test_select_ceiling_is_measured_at_1024(version: str) -> None:
    """select(2) FD_SETSIZE 1024 on Linux: CPython and PyPy alike refuse descriptor 1024."""
    ceiling = facts_of(version).select_ceiling
    assert ceiling is not None
    if not ceiling.verified:
        pytest.skip(f"the soft descriptor limit for {version} keeps descriptor 1024 out of reach")
    assert ceiling.limit == 1024 and "out of range" in ceiling.detail


def test_pypy_is_named_and_never_offered_uvloop() -> None:
    facts = facts_of(PYPY)
    assert facts.interpreter.implementation == "pypy"
    assert facts.interpreter.label.startswith("PyPy 3.")
    uvloop = facts.loop("uvloop")
    assert uvloop is not None and not uvloop.supported
    assert uvloop.support_note == "uvloop supports CPython only, not PyPy"


LEAK = r"""
import json, os, sys
def count():
    return len(os.listdir("/proc/self/fd"))
import rloop, asyncio, signal
before = count()
for _ in range(20):
    rloop.new_event_loop().close()
leaked = count() - before
loop = rloop.new_event_loop()
loop.add_signal_handler(signal.SIGUSR1, lambda: None)
try:
    loop.remove_signal_handler(signal.SIGUSR1)
    removed = "ok"
except Exception as exc:
    removed = type(exc).__name__
loop.close()
from importlib import metadata
print("@@iodetect@@ " + json.dumps(
    {"leaked": leaked, "removed": removed, "version": metadata.version("rloop")}
))
"""


def test_rloop_advisories_hold_for_the_installed_release() -> None:
    """rloop-fd-leak and rloop-remove-signal-handler: measured, as their sources say."""
    from iodetect.catalog import advisories
    from iodetect.catalog.records import version_tuple

    interp = interpreters.require("3.12")
    command = interpreters.require_package(interp, "rloop")
    result = transport.run_program(LEAK, command, 90).result
    version = version_tuple(result["version"])
    by_id = {a.id: a for a in advisories.ADVISORIES}
    assert version is not None
    if not by_id["rloop-fd-leak"].applies(version, (3, 12)):
        pytest.skip(f"rloop {result['version']} here is outside the advisory's range")
    assert result["leaked"] == 40
    assert result["removed"] == "AttributeError"


DETACH = r"""
import asyncio, json, socket
import uvloop

async def main():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    addr = server.sockets[0].getsockname()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, addr)
    task = asyncio.ensure_future(
        asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=sock)
    )
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    fd = sock.fileno()
    if fd != -1:
        sock.detach()  # the bug: the descriptor is already closed by libuv; do not close it again
    server.close()
    await server.wait_closed()
    return fd

fd = uvloop.new_event_loop().run_until_complete(main())
print("@@iodetect@@ " + json.dumps({"fd": fd, "version": uvloop.__version__}))
"""


def test_uvloop_645_is_fixed_in_the_release_the_catalog_names() -> None:
    """uvloop#740 (in 0.23.0): a cancelled create_connection(sock=...) detaches the socket."""
    from iodetect.catalog import advisories
    from iodetect.catalog.records import version_tuple

    interp = interpreters.require("3.12")
    command = interpreters.require_package(interp, "uvloop")
    result = transport.run_program(DETACH, command, 90).result
    version = version_tuple(result["version"])
    fixed = next(a for a in advisories.ADVISORIES if a.id == "uvloop-645").fixed_in
    assert version is not None and fixed is not None
    if version < fixed:
        assert result["fd"] != -1  # the affected releases leave it attached
    else:
        assert result["fd"] == -1


@pytest.mark.parametrize("command", ["report", "snippet", "check"])
def test_every_command_on_pypy(command: str) -> None:
    """report, snippet and check run against PyPy and name it."""
    interp = interpreters.require(PYPY)
    python = shlex.join(interp.command())
    if command == "report":
        done = run_cli("report", "--python", python, "--json", timeout=180)
        assert done.returncode == 0, done.stderr
        plan = json.loads(done.stdout)["recommendation"]
        assert plan["runtime"].startswith("PyPy 3.") and plan["loop"] == "selector"
        text = run_cli("report", "--python", python, timeout=180, env={"COLUMNS": "200"})
        assert "for PyPy 3." in text.stdout
    elif command == "snippet":
        done = run_cli("snippet", "--python", python, timeout=180)
        assert done.returncode == 0, done.stderr
        title = done.stdout.splitlines()[0]
        assert " for PyPy 3." in title and "CPython" not in title
    else:
        done = run_cli("check", "--python", python, "--connections", "100", "--json", timeout=180)
        result = json.loads(done.stdout)
        assert done.returncode == 0, [f for f in result["findings"] if f["level"] != "ok"]
        assert result["selftest"]["loop"].endswith("_UnixSelectorEventLoop")
        assert result["selftest"]["warnings"] == []
