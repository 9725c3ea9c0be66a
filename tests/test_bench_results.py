"""Bench results: JSON round trip, bad files, the plan, conclusions and recommender evidence.

All synthetic: runs are built from chosen samples, so the rules are tested, not the host.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from iodetect import model
from iodetect.bench import BenchError, evidence, load_results, stats
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
    env_from_facts,
    from_dict,
    to_dict,
    to_json,
)
from iodetect.bench.runner import Selection, plan
from iodetect.recommend import BenchEvidence

from support import HOSTS


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
    assert doc["schema_version"] == 2
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
        ('{"kind": "iodetect.bench", "schema_version": 1}', "run the bench again"),
        ('{"kind": "iodetect.bench", "schema_version": 2, "cells": []}', "missing field"),
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
    # uvloop 7 % cheaper in every pair: consistent, but under the 10 % that makes a winner.
    assert evidence(typical(uv_factor=0.93)).fastest_loop is None
    # uvloop 20 % cheaper in six pairs and 20 % dearer in three: no sign test passes.
    mixed = [
        Cell(c.variant, c.workload, samples(*(s.cpu_us * 1.5 for s in c.samples)))
        if c.variant.loop == "uvloop" and c.workload == "bulk"
        else c
        for c in typical(uv_factor=0.8).cells
    ]
    ev = evidence(dataclasses.replace(typical(), cells=tuple(mixed)))
    assert ev.fastest_loop is None and "cheaper in 6 of 9 comparisons, dearer in 3" in ev.summary
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


def test_environment_from_the_probes_facts() -> None:
    """The bench's environment is the probe's facts plus its own context, nothing probed twice."""
    facts = model.load(str(HOSTS / "linux.json"))
    e = env_from_facts(facts, {"cpu_model": "Some CPU", "load": 0.5, "can_pin": True})
    assert (e.platform, e.python, e.default_selector) == ("linux", "3.11.7", "EpollSelector")
    absent = "select.kqueue is absent on linux (macOS and the BSDs only)"
    assert e.selector_error("kqueue") == absent
    assert e.selector_error("epoll") is None
    assert e.loop_info("uvloop") == LoopInfo("uvloop", "0.23.0", None)
    assert e.loop_info("winloop") == LoopInfo("winloop", None, "not installed")
    assert (e.container, e.virtualization) == (facts.host.container, facts.host.virtualization)
    assert (e.nofile_soft, e.load_before, e.can_pin) == (20000, 0.5, True)
    unlimited = dataclasses.replace(facts, limits=dataclasses.replace(facts.limits, nofile_hard=-1))
    assert env_from_facts(unlimited, {}).nofile_hard is None
    with pytest.raises(BenchError, match="described itself oddly"):
        env_from_facts(facts, {"load": "high"})


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


def windows(*spec: tuple[int, float, bool]) -> tuple[Sample, ...]:
    """Windows from (round, server CPU us per request, ran at full speed)."""
    return tuple(
        dataclasses.replace(samples(us)[0], round=rnd, full_speed=full) for rnd, us, full in spec
    )


def test_figures_come_from_the_windows_at_full_speed() -> None:
    # Windows at full speed from five processes, five more processes slowed by a neighbour.
    fast = [(r, 10.0 + 0.1 * r, True) for r in range(1, 6)]
    slow = [(r, 15.0 + 0.1 * r, False) for r in range(6, 11)]
    cell = Cell(STD["protocol"], "pingpong", windows(*fast, *slow))
    assert len(cell.full) == 5 and len(cell.used) == 5
    assert cell.cpu is not None and cell.cpu.median == pytest.approx(10.3)
    assert cell.stable and cell.status == "ok"
    # The same windows without the speed verdict: an interval 50 % wide, unstable.
    blind = Cell(STD["protocol"], "pingpong", windows(*[(r, us, True) for r, us, _ in fast + slow]))
    assert not blind.stable and blind.cpu is not None and blind.cpu.spread > 0.3


def test_a_cell_never_at_full_speed_is_unstable_however_tight() -> None:
    cell = Cell(STD["protocol"], "pingpong", windows(*[(r, 15.0, False) for r in range(1, 8)]))
    assert cell.cpu is not None and cell.cpu.spread == 0.0
    assert cell.used == cell.samples  # too few at full speed: every window, flagged
    assert not cell.stable and cell.status == "unstable"
    # Two at full speed are still too few to compare on: every window is used.
    two = Cell(
        STD["protocol"], "pingpong", windows((1, 10.0, True), (2, 10.0, True), (3, 15.0, False))
    )
    assert len(two.used) == 3 and not two.stable


def test_full_speed_windows_must_come_from_several_processes() -> None:
    one = Cell(STD["protocol"], "pingpong", windows(*[(1, 10.0, True)] * 8))
    assert one.cpu is not None and one.cpu.spread == 0.0 and not one.stable
    four = Cell(STD["protocol"], "pingpong", windows(*[(1 + i % 4, 10.0, True) for i in range(8)]))
    assert not four.stable
    five = Cell(STD["protocol"], "pingpong", windows(*[(1 + i % 5, 10.0, True) for i in range(8)]))
    assert five.stable


def test_a_cell_is_as_steady_as_its_processes() -> None:
    # Each process steady in itself, but the processes 20 % apart: the cell is unstable.
    levels = (10.0, 12.0, 10.0, 12.0, 10.0, 12.0)
    spec = [(r, lvl, True) for r, lvl in enumerate(levels, 1) for _ in range(4)]
    cell = Cell(STD["protocol"], "pingpong", windows(*spec))
    assert cell.cpu is not None and cell.cpu.n == 6 and cell.cpu.spread == pytest.approx(2 / 11)
    assert not cell.stable
    # Six processes within 4 %: stable, the median of the processes' medians.
    near = (10.0, 10.2, 10.4, 10.1, 10.3, 10.2)
    spec = [(r, lvl, True) for r, lvl in enumerate(near, 1) for _ in range(3)]
    cell = Cell(STD["protocol"], "pingpong", windows(*spec))
    assert cell.stable and cell.cpu is not None and cell.cpu.median == pytest.approx(10.2)


def test_conclusions_say_how_much_of_the_run_was_slowed() -> None:
    run = typical()
    slowed = Cell(
        STD["protocol"],
        "bulk",
        windows(*[(r, 20.0, r <= 2) for r in range(1, 9)]),
    )
    cells = [c for c in run.cells if not (c.variant == STD["protocol"] and c.workload == "bulk")]
    text = "\n".join(conclusions(dataclasses.replace(run, cells=(*cells, slowed))))
    assert "slower than its full speed in 6 of" in text
    assert "fewer than 5 server processes with windows at full speed" in text


def test_the_standard_loop_runs_on_proactor_on_windows() -> None:
    win = dataclasses.replace(
        env(uvloop="not installed"),
        platform="win32",
        default_selector="SelectSelector",
        selectors=(
            SelectorInfo("select", None),
            SelectorInfo("poll", "not in this build of Python on win32"),
            SelectorInfo("epoll", "not in this build of Python on win32"),
            SelectorInfo("devpoll", "not in this build of Python on win32"),
            SelectorInfo("kqueue", "not in this build of Python on win32"),
        ),
    )
    assert win.standard_mechanism == "proactor"
    planned = plan(win, Selection())
    names = {(v.name, w.name) for v, w in planned.cells}
    missing = {(c.variant.name, c.workload): c.unavailable for c in planned.unavailable}
    for style in ("Protocol", "streams", "sock_*"):  # every style on the default mechanism
        assert (f"asyncio proactor {style}", "pingpong") in names
    assert ("asyncio select Protocol", "pingpong") in names
    assert ("asyncio select streams", "pingpong") not in names
    assert ("asyncio proactor Protocol", "idle10000") in names
    assert "at most 500 sockets" in (missing[("asyncio select Protocol", "idle900")] or "")
    assert "at most 500 sockets" in (missing[("selectors select", "idle10000")] or "")
    # Off Windows the proactor cells are listed with the reason.
    here = {
        (c.variant.name, c.workload): c.unavailable for c in plan(env(), Selection()).unavailable
    }
    assert here[("asyncio proactor Protocol", "pingpong")] == "IOCP: Windows only"
    # Comparisons with the standard loop use its default mechanism.
    from iodetect.bench.analysis import loop_variant

    run = dataclasses.replace(run_of([]), environment=win)
    assert loop_variant(run, "asyncio", "streams").name == "asyncio proactor streams"


def test_agreement_of_two_runs() -> None:
    from iodetect.bench.analysis import agreement

    run = typical()
    same = agreement(run, run)
    assert same.agree and same.changed == () and len(same.cells) >= 10
    # One stable cell 20 % dearer in the second run: it moved; the verdicts still hold.
    dearer = [
        Cell(c.variant, c.workload, samples(*(s.cpu_us * 1.2 for s in c.samples)))
        if c.variant == Variant("threads") and c.workload == "pingpong"
        else c
        for c in run.cells
    ]
    moved = agreement(run, dataclasses.replace(run, cells=tuple(dearer)))
    assert [(m[0], m[1]) for m in moved.moved] == [("threads", "pingpong")]
    assert not moved.agree
    # uvloop as dear as the standard loop: a conclusion changes.
    tied = agreement(run, typical(uv_factor=1.0))
    assert not tied.agree
    assert any(which == "first" and "uvloop needs #x" in line for which, line in tied.changed)


def test_compare_cli(tmp_path: Path) -> None:
    from support import run_cli

    first, second, dearer = (tmp_path / n for n in ("a.json", "b.json", "c.json"))
    first.write_text(to_json(typical()), encoding="utf-8")
    second.write_text(to_json(typical(uv_jitter=0.02)), encoding="utf-8")
    dearer.write_text(to_json(typical(uv_factor=0.6)), encoding="utf-8")
    out = run_cli("bench", "--compare", str(first), str(second))
    assert out.returncode == 0, out.stderr
    assert "agree within 10 %" in out.stdout and "The conclusions are the same" in out.stdout
    out = run_cli("bench", "--compare", str(first), str(dearer))
    assert out.returncode == 1
    assert "do not" in out.stdout and "uvloop Protocol" in out.stdout
    out = run_cli("bench", "--compare", str(first), str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "cannot read bench results" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_style_ratio_near_one_is_a_tie_and_near_the_threshold_borderline() -> None:
    from iodetect.bench.analysis import Versus, _style_mark

    assert _style_mark(Versus(1.02, 0, 3, 0)) == " (tie)"
    assert _style_mark(Versus(0.96, 1, 2, 0)) == " (tie)"
    assert _style_mark(Versus(1.40, 0, 0, 3)) == ""  # dearer by far
    assert _style_mark(Versus(1.40, 0, 3, 0)) == ""  # by far, whatever one run's intervals
    assert _style_mark(Versus(0.60, 3, 0, 0)) == ""
    # rloop sock_* against streams came out 1.07-1.18x over six runs: always the same word.
    for ratio in (1.07, 1.10, 1.13, 1.18):
        assert _style_mark(Versus(ratio, 0, 2, 1)) == " (borderline)"
    assert _style_mark(Versus(None, 0, 0, 0)) == " (tie)"


def test_a_loop_is_better_by_a_sign_test_over_its_pairs() -> None:
    from iodetect.bench.analysis import Versus

    # 0.83x, cheaper in 8 of 9 pairs, only 4 beyond the spread (a busy host): still better.
    assert Versus(0.83, 4, 5, 0, cheaper=8, dearer=1).better
    assert not Versus(0.83, 4, 5, 0, cheaper=7, dearer=2).better  # 7 of 9 passes no test
    assert not Versus(0.83, 4, 4, 1, cheaper=8, dearer=1).better  # dearer beyond the spread once
    assert not Versus(0.95, 9, 0, 0, cheaper=9, dearer=0).better  # under 10 % cheaper
    assert Versus(1.3, 0, 0, 9, cheaper=0, dearer=9).worse
    # Three pairs are too few for a sign test: all three must agree.
    assert Versus(0.6, 1, 2, 0, cheaper=3).better and not Versus(0.6, 1, 2, 0, cheaper=2).better
    assert [stats.sign_needed(n) for n in (1, 4, 5, 9, 12)] == [None, None, 5, 8, 10]


def test_a_verdict_near_its_edge_is_borderline() -> None:
    def around(median: float, width: float = 0.01) -> stats.Summary:
        return stats.Summary(median, median * (1 - width), median * (1 + width), 5)

    b = around(10.0)
    assert stats.verdict(around(5.0), b) == (-1, False)  # far below: firmly less
    assert stats.verdict(around(10.0), b) == (0, False)  # the same: firmly tied
    assert stats.verdict(around(20.0), b) == (1, False)
    # The edge is a median 10 % lower with the intervals apart: around it, on both sides,
    # the verdict is borderline, and it is the same verdict on both sides.
    for median in (8.7, 8.9, 9.0, 9.1, 9.3):
        assert stats.verdict(around(median), b) == (-1, True), median
    assert stats.verdict(around(8.4), b) == (-1, False)  # 5 % past the edge: firm again
    assert stats.verdict(around(9.6), b) == (0, False)
    # Intervals that only just overlap or only just part are borderline too.
    assert stats.verdict(stats.Summary(8.0, 7.5, 9.85, 5), b)[1]
    assert stats.verdict(stats.Summary(8.0, 7.5, 9.95, 5), b)[1]
    assert stats.near_edge(0.9, 0.9) and stats.near_edge(0.88, 0.9) and stats.near_edge(0.92, 0.9)
    assert not stats.near_edge(0.85, 0.9) and not stats.near_edge(0.95, 0.9)


def test_threads_at_the_edge_of_the_cheapest_loop_say_borderline_in_both_runs() -> None:
    """Two quick runs 2 % apart put threads just beyond and just within the edge against the
    cheapest loop: "less than" in one, "tied with" in the other. Both now say borderline."""

    def threads_line(threads_us: float) -> str:
        run = typical()
        cells = [c for c in run.cells if c.variant != Variant("threads")]
        t = threads_us
        cells.append(Cell(Variant("threads"), "pingpong", samples(t, t, t * 1.01, t * 0.99, t)))
        out = conclusions(run_of(cells))
        return next(line for line in out if line.startswith("the blocking thread"))

    cheapest = 15.0 * 0.5 * 1.01  # uvloop Protocol's upper end at ping-pong in typical()
    first, second = threads_line(cheapest * 0.89), threads_line(cheapest * 0.91)
    assert "borderline against the cheapest" in first
    assert "borderline against the cheapest" in second
    assert "less than the cheapest" in threads_line(5.0)
    assert "tied with the cheapest" in threads_line(7.5)
    assert "more than the cheapest" in threads_line(12.0)


def test_a_loop_at_the_edge_of_the_least_effect_is_borderline_and_not_chosen() -> None:
    from iodetect.bench.analysis import Versus

    assert Versus(0.89, 4, 5, 0, cheaper=9).borderline
    assert Versus(0.92, 4, 5, 0, cheaper=9).borderline
    assert Versus(1.12, 0, 5, 4, dearer=9).borderline
    assert not Versus(0.80, 4, 5, 0, cheaper=9).borderline
    assert not Versus(1.0, 0, 9, 0).borderline
    for factor, fastest in ((0.5, "uvloop"), (0.89, None), (0.91, None)):
        run = typical(uv_factor=factor)
        assert evidence(run).fastest_loop == fastest, factor
        line = next(x for x in conclusions(run) if x.startswith("uvloop needs"))
        assert ("borderline against it" in line) == (fastest is None), line


def test_two_cells_are_compared_on_one_footing() -> None:
    """A cell with windows at full speed against one slowed in every process: both are compared
    over every window, never the fast windows of one against the slow windows of the other."""
    from iodetect.bench.analysis import loop_versus, pair

    # The standard loop: 5 processes, each a window at full speed (10 us) and a slowed one
    # (15 us). uvloop: slowed in every window (14 us), as a busy host leaves some cells.
    std = windows(*[(r, 10.0, True) for r in range(1, 6)], *[(r, 15.0, False) for r in range(1, 6)])
    uv = windows(*[(r, 14.0, False) for r in range(1, 6)])
    cells = [Cell(STD["protocol"], "pingpong", std), Cell(UV["protocol"], "pingpong", uv)]
    run = run_of(cells)
    got = pair(run, UV["protocol"], STD["protocol"], "pingpong")
    assert got is not None
    assert got[0].median == pytest.approx(14.0) and got[1].median == pytest.approx(12.5)
    assert loop_versus(run, "uvloop").ratio == pytest.approx(14.0 / 12.5)
    # Both at full speed: the windows at full speed of both.
    uv_fast = windows(
        *[(r, 7.0, True) for r in range(1, 6)], *[(r, 14.0, False) for r in range(1, 6)]
    )
    run = run_of([cells[0], Cell(UV["protocol"], "pingpong", uv_fast)])
    got = pair(run, UV["protocol"], STD["protocol"], "pingpong")
    assert got is not None
    assert (got[0].median, got[1].median) == pytest.approx((7.0, 10.0))


def test_cells_of_fewer_than_min_processes_state_no_verdict() -> None:
    """Two quick runs (three processes a cell) on a quiet host: uvloop Protocol lowest in both,
    "beyond the spread" in one and "tied" with asyncio poll Protocol in the other, whose three
    processes spread 20.6-37.0 us; the thread baseline followed it. With fewer than
    MIN_PROCESSES processes a cell neither is a settled fact: both runs name the lowest median
    and the unsettled cells, and agree."""
    from iodetect.bench.analysis import agreement

    poll = Variant("asyncio", loop="asyncio", selector="poll", style="protocol")

    def quick(uv: tuple[float, ...], pl: tuple[float, ...], threads: float) -> BenchRun:
        cells = [
            Cell(UV["protocol"], "pingpong", samples(*uv)),
            Cell(poll, "pingpong", samples(*pl)),
            Cell(STD["streams"], "pingpong", samples(50.0, 53.2, 56.0)),
            Cell(Variant("threads"), "pingpong", samples(threads, threads * 1.01, threads * 0.99)),
        ]
        return run_of(cells)

    first = quick((18.5, 18.8, 19.0), (30.0, 30.9, 31.5), 17.0)
    second = quick((20.8, 21.1, 21.5), (20.6, 31.8, 37.0), 19.0)

    def best(run: BenchRun) -> tuple[str | None, tuple[str, ...]]:
        cells = [run.cell(n, "pingpong") for n in (UV["protocol"].name, poll.name)]
        got = {c.variant.name: c.cpu for c in cells if c is not None}
        return stats.best({n: f for n, f in got.items() if f is not None})

    # The tie rule alone draws opposite verdicts from the same order of medians.
    assert best(first)[0] == "uvloop Protocol" and best(second)[0] is None
    for run in (first, second):
        lines = conclusions(run)
        head = next(line for line in lines if line.startswith("ping-pong:"))
        assert "lowest median: uvloop Protocol" in head
        assert "not settled: every one of the 3 cells compared ran fewer than 5" in head
        assert "beyond the spread" not in head and "tied" not in head
        baseline = next(line for line in lines if line.startswith("the blocking thread"))
        assert "the lowest event-loop median is uvloop Protocol" in baseline
        assert "not settled" in baseline
        for word in ("tied with", "less than", "more than", "borderline"):
            assert word not in baseline
    assert agreement(first, second).changed == ()

    # One cell short of processes among stable ones: only it is named.
    five = typical()
    cells = [
        Cell(c.variant, c.workload, c.samples[:3])
        if c.variant == STD["sock"] and c.workload == "pingpong"
        else c
        for c in five.cells
    ]
    head = next(line for line in conclusions(run_of(cells)) if line.startswith("ping-pong:"))
    assert "not settled: asyncio epoll sock_* ran fewer than 5 server processes" in head
    # With MIN_PROCESSES processes a cell the verdict stands as before.
    assert "beyond the spread" in next(
        line for line in conclusions(five) if line.startswith("ping-pong:")
    )
