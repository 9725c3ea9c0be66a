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

TINY = {"rounds": 1, "windows": 1, "duration": 0.03, "warmup": 0.01, "stall": 2.0, "budget": None}


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
        # One window, or up to MORE_WINDOWS once the run has a speed reference and the
        # window was measured while the CPU ran slow.
        assert 1 <= len(cell.samples) <= runner.MORE_WINDOWS
        for s in cell.samples:
            assert s.requests > 0 and s.server_cpu >= 0 and s.wall > 0
            assert s.probe is not None and s.probe_high is not None and 0 < s.probe <= s.probe_high
            assert s.shared  # default placement: server and load generator on one CPU
    for cell in result.cells:
        if cell.unavailable is not None:
            assert cell.variant.loop in ("uvloop", "rloop", "winloop") or cell.variant.selector in (
                "devpoll",
                "kqueue",
                "proactor",
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
        "--rounds", "1", "--windows", "2", "--duration", "0.05", "--budget", "0", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "iodetect.bench" and doc["schema_version"] == 2
    (measured,) = [c for c in doc["cells"] if c["samples"]]
    assert measured["figures"]["windows"] == 2  # no top-up round with --budget 0
    assert [w["window"] for w in measured["samples"]] == [1, 2]
    assert all(w["probe"] > 0 for w in measured["samples"])
    assert doc["speed_reference"] > 0
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
        (("--windows", "0"), "--windows must be"),
        (("--budget", "-1"), "--budget must be"),
        (("--selectors", "iocp"), "unknown selector 'iocp'"),
        (("--compare", "/nonexistent/a.json", "/nonexistent/b.json"), "cannot read bench"),
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

    def fake(variant: Any, w: Any, sel: Any, round_no: int, *args: Any) -> list[Sample]:
        return [Sample(round_no, 100, 0.1, 0.001, 0.01, other=next(others))]

    monkeypatch.setattr(runner, "run_cell", fake)
    monkeypatch.setattr(runner, "REPEAT_BUDGET", 10.0)  # no limit here
    sel = Selection(loops=("selectors",), selectors=("epoll",), workloads=("pingpong", "bulk"))
    result = run(dataclasses.replace(sel, rounds=1, seed=3, budget=None))
    cells = [c for c in result.cells if c.samples]
    assert sorted(c.repeated for c in cells) == [2, 2]
    assert sorted(c.samples[0].other or 0 for c in cells) == [0.0, 0.9]
    assert any("measured again" in line for line in conclusions(result))


def test_terminating_the_cli_stops_every_process() -> None:
    import contextlib
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
        assert proc.returncode == 143
        assert "interrupted by SIGTERM; every target process was stopped" in err.decode()
        # Killed processes leave /proc a moment later: wait for it, within a deadline.
        end = time.monotonic() + 10
        while marked() and time.monotonic() < end:
            time.sleep(0.05)
        assert marked() == []
    finally:
        proc.kill()
        proc.wait()
        for pid in marked():  # a failing run must not leave its servers behind
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)


def test_repeats_stop_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(variant: Any, w: Any, sel: Any, round_no: int, *args: Any) -> list[Sample]:
        return [Sample(round_no, 100, 0.1, 0.001, 0.01, other=0.9)]  # always disturbed

    monkeypatch.setattr(runner, "run_cell", fake)
    sel = Selection(loops=("selectors",), selectors=("epoll",), workloads=("pingpong",))
    result = run(dataclasses.replace(sel, rounds=20, seed=3, budget=None))
    assert sum(c.repeated for c in result.cells) == 3  # 15 % of 20 windows


def test_the_load_generator_measures_more_windows_while_the_cpu_is_slow(audit: list[int]) -> None:
    sel = Selection(**{**TINY, "windows": 2})
    v, w = Variant("selectors", selector="epoll"), workload("pingpong")
    # No reference yet: exactly the windows asked for.
    assert len(run_cell(v, w, sel, 1)) == 2
    # A reference no probe can meet: the CPU never runs at full speed, so it stops at the cap.
    slow = run_cell(v, w, sel, 1, reference=1e-12)
    assert len(slow) == 2 * runner.MORE_WINDOWS
    assert [s.window for s in slow] == list(range(1, 2 * runner.MORE_WINDOWS + 1))
    # A reference every probe meets: two windows again.
    assert len(run_cell(v, w, sel, 1, reference=10.0)) == 2


def fake_speed(slow_cells: set[str], calls: list[tuple[str, int]]) -> Any:
    """A run_cell stand-in: cells named in slow_cells always probe 1.5x slower."""

    def fake(variant: Any, w: Any, sel: Any, round_no: int, *args: Any) -> list[Sample]:
        calls.append((variant.name, round_no))
        probe = 1.5e-5 if variant.name in slow_cells else 1e-5
        return [
            Sample(round_no, 100, 0.05, 0.001, 0.01, window=k, probe=probe, probe_high=probe)
            for k in (1, 2)
        ]

    return fake


def test_unsettled_cells_get_top_up_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(runner, "run_cell", fake_speed({"selectors poll"}, calls))
    sel = Selection(
        loops=("selectors",), selectors=("poll", "epoll"), workloads=("pingpong",), rounds=5, seed=1
    )
    result = run(sel)
    poll = [r for name, r in calls if name == "selectors poll"]
    epoll = [r for name, r in calls if name == "selectors epoll"]
    assert epoll == [1, 2, 3, 4, 5]  # five processes at full speed, steady: no top-up
    assert poll == list(range(1, 11))  # never at full speed: top-up rounds, at most `rounds`
    cells = {c.variant.name: c for c in result.cells if c.samples}
    assert all(s.full_speed for s in cells["selectors epoll"].samples)
    assert not any(s.full_speed for s in cells["selectors poll"].samples)
    assert cells["selectors epoll"].status == "ok" and cells["selectors poll"].status == "unstable"
    assert result.speed_reference == pytest.approx(1e-5)
    # No budget, no top-up.
    calls.clear()
    run(dataclasses.replace(sel, budget=None))
    assert len(calls) == 10


def test_the_budget_bounds_the_top_up(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(runner, "run_cell", fake_speed({"selectors poll"}, calls))
    sel = Selection(
        loops=("selectors",), selectors=("poll",), workloads=("pingpong",), rounds=3, seed=1
    )
    run(dataclasses.replace(sel, budget=0.0))  # a top-up round would end past the budget
    assert [r for _, r in calls] == [1, 2, 3]


def test_proactor_is_windows_only(audit: list[int]) -> None:
    v = Variant("asyncio", loop="asyncio", selector="proactor", style="protocol")
    with pytest.raises(Unavailable, match="Windows only"):
        run_cell(v, workload("pingpong"), Selection(**TINY), 1)
