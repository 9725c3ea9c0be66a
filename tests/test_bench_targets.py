"""The bench workers on every CPython 3.8-3.15 present: each server variant starts, echoes
verified bytes through the load generator and is stopped. Tiny windows; no speed checks."""

from __future__ import annotations

import shlex

import pytest

from iodetect.bench.runner import Selection, run

from interpreters import VERSIONS, require, require_package

pytestmark = pytest.mark.targets

TINY = {"rounds": 1, "duration": 0.02, "warmup": 0.01, "stall": 3.0}


@pytest.mark.parametrize("version", VERSIONS)
def test_stdlib_variants_on_each_version(version: str) -> None:
    interp = require(version)
    sel = Selection(
        python=shlex.join(interp.command()),
        loops=("selectors", "asyncio", "threads"),
        selectors=("epoll", "poll"),
        # Large messages (partial sends) on the oldest and the newest; the rest ping-pong.
        workloads=("pingpong", "bulk") if version in ("3.8", "3.15") else ("pingpong",),
        **TINY,
    )
    result = run(sel)
    assert result.environment.python.startswith(version + ".")
    measured = [c for c in result.cells if c.unavailable is None]
    assert {"selectors epoll", "asyncio epoll streams", "threads"} <= {
        c.variant.name for c in measured
    }
    for cell in measured:
        assert cell.failures == (), (version, cell.variant.name, cell.workload, cell.failures)
        assert cell.samples[0].requests > 0


@pytest.mark.parametrize(
    ("version", "package"),
    [("3.8", "uvloop"), ("3.10", "rloop"), ("3.14", "uvloop")],
)
def test_alternative_loops(version: str, package: str) -> None:
    interp = require(version)
    argv = require_package(interp, package)
    sel = Selection(python=shlex.join(argv), loops=(package,), workloads=("pingpong",), **TINY)
    result = run(sel)
    info = result.environment.loop_info(package)
    assert info is not None and info.error is None and info.version
    for cell in result.cells:
        assert cell.unavailable is None and cell.failures == (), (cell.variant.name, cell.failures)
        assert cell.samples[0].requests > 0
