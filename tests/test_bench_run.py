"""Bench mechanics with real processes and tiny windows: every variant starts, echoes verified
bytes and is stopped; failures are reported per cell; nothing is left behind. No speed checks."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iodetect.bench import runner
from iodetect.bench.analysis import conclusions
from iodetect.bench.results import Sample, Variant, to_json, workload
from iodetect.bench.runner import Selection, Unavailable, run, run_cell

from support import run_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to audit leftovers")

TINY = {"rounds": 1, "duration": 0.03, "warmup": 0.01, "stall": 2.0}


def children() -> list[int]:
    """Processes whose parent is this test process."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(entry))
    return found


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Records each server's pid; afterwards no server, group, child or descriptor remains."""
    pids: list[int] = []
    original = runner._Server.__init__

    def record(self: runner._Server, argv: Any, params: Any) -> None:
        original(self, argv, params)
        pids.append(self.proc.pid)

    monkeypatch.setattr(runner._Server, "__init__", record)
    fds = set(os.listdir("/proc/self/fd"))
    yield pids
    assert children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    leaked = set(os.listdir("/proc/self/fd")) - fds
    assert not leaked, f"descriptors left open: {sorted(leaked)}"


def test_every_variant_starts_echoes_and_stops(audit: list[int]) -> None:
    # Small and large messages (partial sends) on every variant; many connections on a few.
    result = run(Selection(workloads=("pingpong", "bulk"), seed=1, **TINY))
    many = Selection(
        loops=("selectors", "asyncio", "threads"),
        selectors=("select",),
        workloads=("concurrent", "idle900"),
        **TINY,
    )
    measured = [c for r in (result, run(many)) for c in r.cells if c.unavailable is None]
    names = {c.variant.name for c in measured}
    for expected in (
        "selectors select", "selectors poll", "selectors epoll", "threads",
        "asyncio epoll Protocol", "asyncio epoll streams", "asyncio epoll sock_*",
        "asyncio select Protocol", "asyncio poll Protocol",
    ):  # fmt: skip
        assert expected in names
    for cell in measured:
        assert cell.failures == (), (cell.variant.name, cell.workload, cell.failures)
        assert len(cell.samples) == 1
        s = cell.samples[0]
        assert s.requests > 0 and s.server_cpu >= 0 and s.wall > 0
        assert s.shared  # default placement: server and load generator on one CPU
    for cell in result.cells:
        if cell.unavailable is not None:
            assert cell.variant.loop in ("uvloop", "rloop", "winloop") or cell.variant.selector in (
                "devpoll",
                "kqueue",
            )
    # One fresh server per cell and round, and per window measured again.
    assert len(audit) == len(measured) + sum(c.repeated for c in measured)


def test_ten_thousand_idle_connections(audit: list[int]) -> None:
    sel = Selection(loops=("selectors",), selectors=("epoll",), workloads=("idle10000",), **TINY)
    (cell,) = [c for c in run(sel).cells if c.unavailable is None]
    assert cell.failures == () and cell.samples[0].requests > 0


def test_crash_and_hang_are_reported_and_the_run_goes_on(audit: list[int]) -> None:
    sel = Selection(
        loops=("selectors", "threads"),
        selectors=("poll", "epoll"),
        workloads=("pingpong",),
        faults=(("selectors epoll", "crash"), ("selectors poll", "hang")),
        **{**TINY, "stall": 0.5},
    )
    cells = {c.variant.name: c for c in run(sel).cells}
    crash, hang, ok = cells["selectors epoll"], cells["selectors poll"], cells["threads"]
    assert crash.status == "failed" and "server crashed (exit status 3)" in crash.failures[0]
    assert hang.status == "failed" and "stopped answering" in hang.failures[0]
    assert ok.failures == () and ok.samples


def test_a_loop_that_is_not_installed_is_unavailable(audit: list[int]) -> None:
    sel = Selection(**TINY)
    with pytest.raises(Unavailable, match="not installed"):
        run_cell(Variant("asyncio", loop="winloop", style="protocol"), workload("pingpong"), sel, 1)
    result = run(Selection(loops=("winloop",), workloads=("pingpong",), **TINY))
    assert {c.unavailable for c in result.cells} == {"not installed"}


def test_cli_json_and_show(tmp_path: Path) -> None:
    out = run_cli(
        "bench", "--loops", "selectors", "--selectors", "epoll", "--workloads", "pingpong",
        "--rounds", "1", "--duration", "0.05", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "iodetect.bench" and doc["schema_version"] == 1
    path = tmp_path / "run.json"
    path.write_text(out.stdout, encoding="utf-8")
    shown = run_cli("bench", "--show", str(path))
    assert shown.returncode == 0 and "selectors epoll" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--loops", "gevent"), "unknown loop 'gevent'"),
        (("--workloads", "huge"), "unknown workload 'huge'"),
        (("--rounds", "0"), "--rounds must be"),
        (("--show", "/nonexistent/run.json"), "cannot read bench results"),
        (("--python", "/nonexistent/python"), "command not found"),
    ],
)
def test_cli_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    out = run_cli("bench", *args, "--rounds" if "--rounds" not in args else "--seed", "1")
    assert out.returncode in (1, 2)
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize("placement", ["split", "free"])
def test_other_placements(placement: str) -> None:
    sel = Selection(loops=("threads",), workloads=("pingpong",), placement=placement, **TINY)
    result = run(sel)
    assert result.settings.placement == placement
    assert not result.cells[0].samples[0].shared
    doc = json.loads(to_json(result))
    assert doc["cells"][0]["figures"]["requests_per_second"] > 0


def test_snippet_takes_its_loop_from_a_saved_run(tmp_path: Path) -> None:
    from test_bench_results import typical

    path = tmp_path / "run.json"
    path.write_text(to_json(typical()), encoding="utf-8")
    out = run_cli("snippet", "--bench", str(path), "--loop", "auto")
    assert out.returncode == 0, out.stderr
    assert "measured" in out.stderr and "Protocol (create_server) needs 0.54x" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "iodetect.bench", "schema_version": 99}', encoding="utf-8")
    out = run_cli("snippet", "--bench", str(bad))
    assert out.returncode == 2 and "unsupported bench schema_version 99" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_report_takes_the_evidence_of_a_saved_run(tmp_path: Path) -> None:
    from test_bench_results import typical

    path = tmp_path / "run.json"
    path.write_text(to_json(typical()), encoding="utf-8")
    out = run_cli("report", "--json", "--bench", str(path))
    assert out.returncode == 0, out.stderr
    bench = json.loads(out.stdout)["bench"]
    assert bench["fastest_loop"] == "uvloop" and "0.50x" in bench["summary"]
    out = run_cli("report", "--bench", str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "cannot read bench results" in out.stderr


def test_a_disturbed_window_is_measured_again(monkeypatch: pytest.MonkeyPatch) -> None:
    others = iter([0.5, 0.3, 0.0, 0.9, 0.9, 0.9])  # cell 1: two repeats; cell 2: gives up

    def fake(variant: Any, w: Any, sel: Any, round_no: int, fault: Any = None) -> Sample:
        return Sample(round_no, 100, 0.1, 0.001, 0.01, other=next(others))

    monkeypatch.setattr(runner, "run_cell", fake)
    monkeypatch.setattr(runner, "REPEAT_BUDGET", 10.0)  # no limit here
    sel = Selection(loops=("selectors",), selectors=("epoll",), workloads=("pingpong", "bulk"))
    result = run(dataclasses.replace(sel, rounds=1, seed=3))
    cells = [c for c in result.cells if c.samples]
    assert sorted(c.repeated for c in cells) == [2, 2]
    assert sorted(c.samples[0].other or 0 for c in cells) == [0.0, 0.9]
    assert any("measured again" in line for line in conclusions(result))


def test_terminating_the_cli_stops_every_process() -> None:
    import signal
    import subprocess
    import time
    import uuid

    mark = f"IODETECT_TEST_MARK={uuid.uuid4().hex}".encode()
    env = {**os.environ, "IODETECT_TEST_MARK": mark.split(b"=")[1].decode()}
    argv = [sys.executable, "-m", "iodetect", "bench", "--loops", "selectors", "--selectors",
            "epoll", "--workloads", "pingpong", "--rounds", "100", "--duration", "0.2"]  # fmt: skip
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    def marked() -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if mark in fh.read().split(b"\0") and int(entry) != proc.pid:
                        found.append(entry)
            except (OSError, ValueError):
                continue
        return found

    try:
        for _ in range(100):  # until a server or load generator runs, at most 10 s
            if marked():
                break
            time.sleep(0.1)
        time.sleep(1.0)  # past the target probe: cells are running
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert "interrupted; every server and load generator was stopped" in err.decode()
    assert marked() == []


def test_repeats_stop_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(variant: Any, w: Any, sel: Any, round_no: int, fault: Any = None) -> Sample:
        return Sample(round_no, 100, 0.1, 0.001, 0.01, other=0.9)  # always disturbed

    monkeypatch.setattr(runner, "run_cell", fake)
    sel = Selection(loops=("selectors",), selectors=("epoll",), workloads=("pingpong",))
    result = run(dataclasses.replace(sel, rounds=20, seed=3))
    assert sum(c.repeated for c in result.cells) == 3  # 15 % of 20 windows
