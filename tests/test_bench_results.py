"""Bench results: JSON round trip, bad files, the plan, conclusions and recommender evidence.

All synthetic: runs are built from chosen samples, so the rules are tested, not the host.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from iodetect.bench import BenchError, evidence, load_results
from iodetect.bench.analysis import conclusions
from iodetect.bench.render import render
from iodetect.bench.results import (
    BenchRun,
    Cell,
    Environment,
    LoopInfo,
    Sample,
    SelectorInfo,
    Settings,
    Variant,
    env_from_probe,
    from_dict,
    to_dict,
    to_json,
)
from iodetect.bench.runner import Selection, plan
from iodetect.recommend import BenchEvidence


def env(hard: int | None = 20000, uvloop: str | None = None) -> Environment:
    return Environment(
        platform="linux",
        kernel="6.1.0",
        os="Linux",
        machine="x86_64",
        python="3.12.1",
        python_release="3.12.1",
        implementation="cpython",
        executable="/usr/bin/python3",
        free_threaded=False,
        default_selector="EpollSelector",
        selectors=(
            SelectorInfo("select", None),
            SelectorInfo("poll", None),
            SelectorInfo("epoll", None),
            SelectorInfo("devpoll", "not in this build of Python on linux"),
            SelectorInfo("kqueue", "not in this build of Python on linux"),
        ),
        loops=(
            LoopInfo("uvloop", "0.23.0", uvloop),
            LoopInfo("rloop", None, "not installed"),
            LoopInfo("winloop", None, "not installed"),
        ),
        usable_cpus=2,
        nofile_soft=1024,
        nofile_hard=hard,
    )


def samples(*cpu_us: float) -> tuple[Sample, ...]:
    """Samples whose server CPU per request is exactly each given figure (10 000 requests)."""
    return tuple(
        Sample(
            round=i + 1,
            requests=10000,
            wall=0.5,
            server_cpu=us * 10000 / 1e6,
            load_cpu=0.2,
            p50=50e-6,
            p99=120e-6,
            other=0.05,
        )
        for i, us in enumerate(cpu_us)
    )


STD = {
    s: Variant("asyncio", loop="asyncio", selector="epoll", style=s)
    for s in ("protocol", "streams", "sock")
}
UV = {s: Variant("asyncio", loop="uvloop", style=s) for s in ("protocol", "streams", "sock")}


def run_of(cells: list[Cell]) -> BenchRun:
    return BenchRun(
        environment=env(),
        settings=Settings(
            rounds=5,
            duration=0.4,
            warmup=0.15,
            workloads=("pingpong", "concurrent", "bulk", "idle900"),
            python=None,
            seed=7,
        ),
        cells=tuple(cells),
        started="2026-01-01T00:00:00+00:00",
        seconds=200.0,
        iodetect="0.1.0",
    )


def typical(uv_factor: float = 0.5, uv_jitter: float = 0.01) -> BenchRun:
    """The known orderings: uvloop cheaper, Protocol cheaper than streams, poll grows idle."""
    cells: list[Cell] = []
    base = {"protocol": 15.0, "streams": 28.0, "sock": 24.0}
    for w in ("pingpong", "concurrent", "bulk"):
        for style, cost in base.items():
            cells.append(Cell(STD[style], w, samples(cost, cost * 1.01, cost * 0.99, cost, cost)))
            u = cost * uv_factor
            j = uv_jitter
            cells.append(Cell(UV[style], w, samples(u, u * (1 + j), u * (1 - j), u, u * (1 + j))))
    for name, idle in (("select", 330.0), ("poll", 280.0), ("epoll", 11.0)):
        v = Variant("selectors", selector=name)
        cells.append(Cell(v, "pingpong", samples(10.0, 10.1, 9.9, 10.0, 10.05)))
        cells.append(Cell(v, "idle900", samples(idle, idle * 1.01, idle * 0.99, idle, idle)))
    cells.append(Cell(Variant("threads"), "pingpong", samples(7.0, 7.1, 6.9, 7.0, 7.0)))
    cells.append(
        Cell(
            Variant("asyncio", loop="rloop", style="protocol"),
            "pingpong",
            unavailable="not installed",
        )
    )
    cells.append(
        Cell(STD["protocol"], "idle900", failures=("round 1: server crashed (exit status 3)",))
    )
    return run_of(cells)


def test_json_round_trip_keeps_everything(tmp_path: Path) -> None:
    run = typical()
    doc = to_dict(run)
    assert doc["kind"] == "iodetect.bench"
    assert doc["schema_version"] == 1
    figures = doc["cells"][0]["figures"]
    assert figures["status"] == "ok"
    assert figures["cpu_us_per_request"]["median"] == pytest.approx(15.0)
    path = tmp_path / "run.json"
    path.write_text(to_json(run), encoding="utf-8")
    assert load_results(str(path)) == run
    assert from_dict(json.loads(to_json(run, indent=None))) == run


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read bench results"),
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"kind": "iodetect.facts", "schema_version": 1}', "not iodetect bench results"),
        ('{"kind": "iodetect.bench", "schema_version": 99}', "unsupported bench schema_version"),
        ('{"kind": "iodetect.bench", "schema_version": 1, "cells": []}', "missing field"),
    ],
)
def test_bad_results_file_is_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BenchError) as info:
        load_results(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_field_type_is_reported_with_its_path(tmp_path: Path) -> None:
    doc = to_dict(typical())
    doc["cells"][0]["samples"][0]["requests"] = "many"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(BenchError, match=r"samples\[0\]\.requests"):
        load_results(str(path))


def test_evidence_names_the_measured_fastest_stable_loop() -> None:
    ev = evidence(typical())
    assert isinstance(ev, BenchEvidence)
    assert ev.fastest_loop == "uvloop"
    assert "0.50x" in ev.summary
    assert ev.style_finding is not None and "Protocol" in ev.style_finding


def test_evidence_ties_go_to_the_standard_loop() -> None:
    # uvloop 10 % cheaper but its cells jitter by 20 %: the ranges overlap, a tie everywhere.
    assert evidence(typical(uv_factor=0.9, uv_jitter=0.2)).fastest_loop is None
    # A small difference inside the spread of both is a tie too.
    cells = []
    for w in ("pingpong", "concurrent", "bulk"):
        cells.append(Cell(STD["protocol"], w, samples(15.0, 15.6, 14.4, 15.0, 15.2)))
        cells.append(Cell(UV["protocol"], w, samples(14.8, 15.4, 14.3, 14.8, 15.0)))
    ev = evidence(run_of(cells))
    assert ev.fastest_loop is None
    assert "no stable loop beats the standard loop" in ev.summary
    assert ev.style_finding is None


def test_conclusions_state_the_known_orderings() -> None:
    text = "\n".join(conclusions(typical()))
    assert "the cheapest event-loop server is uvloop Protocol, beyond the spread: 0.27x" in text
    assert "uvloop needs 0.50x" in text and "less than it" in text
    assert "API styles on asyncio (epoll), against streams: Protocol 0.54x" in text
    assert "selectors select +320 us" in text and "selectors poll +270 us" in text
    assert "selectors epoll +1.0 us" in text and "(flat)" in text
    assert "1 cells had failed rounds" in text


def test_render_shows_tables_chart_and_notes() -> None:
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None)
    render(typical(), console)
    out = console.export_text()
    assert "Server CPU per request" in out
    assert "uvloop Protocol" in out and "█" in out
    assert "not run: rloop Protocol: not installed" in out
    assert "server crashed (exit status 3)" in out


def test_plan_skips_what_the_host_cannot_run() -> None:
    planned = plan(env(uvloop="not installed"), Selection())
    names = {(v.name, w.name) for v, w in planned.cells}
    missing = {(c.variant.name, c.workload): c.unavailable for c in planned.unavailable}
    assert ("selectors epoll", "idle10000") in names
    assert ("asyncio epoll Protocol", "idle10000") in names
    assert ("asyncio poll Protocol", "idle10000") not in names
    assert ("asyncio epoll streams", "idle10000") not in names  # the idle test is per selector
    assert "1024" in (missing[("selectors select", "idle10000")] or "")
    assert missing[("uvloop Protocol", "pingpong")] == "not installed"
    assert "not in this build" in (missing[("selectors kqueue", "pingpong")] or "")
    # The standard loop: every style on its default selector, Protocol on the others.
    assert ("asyncio epoll sock_*", "pingpong") in names
    assert ("asyncio poll Protocol", "pingpong") in names
    assert ("asyncio poll streams", "pingpong") not in names
    low = plan(env(hard=4096), Selection(workloads=("idle10000",)))
    assert any("descriptor limit 4096" in (c.unavailable or "") for c in low.unavailable)


def test_selection_rejects_unknown_names() -> None:
    for bad, message in (
        (Selection(loops=("gevent",)), "unknown loop"),
        (Selection(selectors=("iocp",)), "unknown selector"),
        (Selection(styles=("callbacks",)), "unknown style"),
        (Selection(workloads=("huge",)), "unknown workload"),
        (Selection(rounds=0), "--rounds"),
        (Selection(duration=0.0), "--duration"),
        (Selection(placement="near"), "unknown placement"),
    ):
        with pytest.raises(BenchError, match=message):
            bad.validate()


def test_environment_from_the_target_answer() -> None:
    answer = {
        "platform": "linux", "kernel": "6.1", "os": "Linux", "machine": "x86_64",
        "python": "3.8.18", "python_release": "3.8.18", "implementation": "cpython",
        "executable": "/x", "free_threaded": False, "default_selector": "EpollSelector",
        "selectors": {"select": None, "kqueue": "absent"},
        "loops": {"uvloop": {"version": "0.21.0", "error": None}},
        "usable_cpus": 2, "load_before": 0.5,
    }  # fmt: skip
    e = env_from_probe(answer)
    assert e.selector_error("kqueue") == "absent"
    assert e.loop_info("uvloop") == LoopInfo("uvloop", "0.21.0", None)
    with pytest.raises(BenchError, match="described itself oddly"):
        env_from_probe({**answer, "usable_cpus": "two"})


def test_an_alpha_loop_is_reported_but_never_named_fastest() -> None:
    run = typical()
    rloop = {s: Variant("asyncio", loop="rloop", style=s) for s in ("protocol", "streams", "sock")}
    cells = [c for c in run.cells if c.variant.loop != "uvloop"]
    for c in list(cells):
        if c.variant.loop == "asyncio" and c.workload in ("pingpong", "concurrent", "bulk"):
            m = (c.cpu.median if c.cpu else 0) * 0.4
            cells.append(Cell(rloop[c.variant.style or ""], c.workload, samples(m, m, m, m, m)))
    ev = evidence(dataclasses.replace(run, cells=tuple(cells)))
    assert ev.fastest_loop is None
    assert "rloop 0.40x" in ev.summary and "never chosen automatically" in ev.summary
