"""The independent reference harness (benchmarks/harness/) builds with gcc and runs a tiny
round of each kind of cell: a real C load generator against real servers. No speed checks."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "benchmarks" / "harness" / "run.py"

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="the harness is Linux only (epoll, /proc)"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc to build the harness"),
]


def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("harness_run", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness_run"] = module
    spec.loader.exec_module(module)
    return module


def test_a_tiny_round_of_each_kind_of_cell() -> None:
    h = harness()
    only = (
        "c-epoll@pingpong",
        "threads@pingpong",
        "asyncio-streams@pingpong",
        "asyncio-protocol@concurrent",
        "asyncio-protocol@idle900",
        "asyncio-protocol/select@idle900",
    )
    got = h.measure(rounds=1, seconds=0.2, warmup=0.05, only=only, seed=1, progress=False)
    assert set(got["cells"]) == set(only)
    for key, cell in got["cells"].items():
        assert cell["us"] > 0 and cell["rps"] > 0, key
        assert len(cell["rounds"]) == 1 and 0 <= cell["load_share"] < 2, key
    assert set(h.idle_penalties(got["cells"])) == {"select"}
    assert got["placement"]


def test_a_server_that_fails_is_reported_not_hung(tmp_path: Path) -> None:
    h = harness()
    bad = h.Case("no-such-variant", "pingpong")
    tools = h.build(tmp_path)
    with pytest.raises(RuntimeError, match="server did not start"):
        h.run_case(bad, tools, sys.executable, (None, None), 0.05, 0.1)


def test_placement_falls_back_without_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert h.placement_cpus("same")[:2] == ({1}, {1})
    assert h.placement_cpus("split")[:2] == ({1}, {0})
    assert h.placement_cpus("free")[:2] == (None, None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})
    server, load, words = h.placement_cpus("split")
    assert server == load == {5} and "one CPU" in words
    monkeypatch.delattr(os, "sched_setaffinity")
    assert h.placement_cpus("split") == (None, None, "not pinned (no sched_setaffinity here)")
