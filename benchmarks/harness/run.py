"""Independent reference harness: server CPU per request, measured without iodetect.

    python benchmarks/harness/run.py                    # 5 rounds of 2 s, both on one CPU
    python benchmarks/harness/run.py --placement split  # server and load on CPUs of their own
    python benchmarks/harness/run.py --rounds 1 --seconds 0.2 --only c-epoll@pingpong

A C epoll load generator (loadgen.c, preallocated buffers, 100-byte ping-pong on N connections
for a fixed time) drives a fresh server process per variant: a C epoll echo (echo.c), or one of
the Python servers of servers.py (blocking threads; asyncio and uvloop, Protocol and streams;
asyncio Protocol on poll and select for the idle penalty). Both C programs are compiled with gcc
into a temporary directory at run time. The load generator opens and closes one throwaway
connection first, then the idle connections, then warms up; it reads the server's utime+stime
(/proc/PID/stat) at both ends of the window in which it counts requests. Variants run in
`--rounds` interleaved rounds, shuffled each round. Placement "same" (the default) pins the
server and the load generator to one CPU, as the reference figures were measured; "split" pins
each to a CPU of its own (on a 2-vCPU VM every ping-pong request then pays a cross-CPU wake-up:
measured here, the C echo at 27 us per request against 11 us on one CPU, and 2-4x wider spreads);
"free" pins nothing. Where sched_setaffinity is missing nothing is pinned, and where one CPU is
allowed both share it; the output says which. Printed: per cell the median over rounds of us
per request, its spread ((max - min) / median) and whether the load generator was the limit;
--json FILE writes every figure.
Nothing here imports iodetect.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = 100
LIMIT_SHARE = 0.9  # the load generator busy this share of its window: it was the limit


@dataclass(frozen=True)
class Case:
    """One cell: a server variant under a workload."""

    variant: str  # c-epoll, threads, asyncio-protocol, uvloop-streams...
    workload: str  # pingpong, concurrent, idle900
    selector: str = "epoll"

    @property
    def key(self) -> str:
        name = self.variant if self.selector == "epoll" else f"{self.variant}/{self.selector}"
        return f"{name}@{self.workload}"

    @property
    def conns(self) -> int:
        return 50 if self.workload == "concurrent" else 1

    @property
    def idle(self) -> int:
        return 900 if self.workload == "idle900" else 0


CASES = (
    *(
        Case(v, "pingpong")
        for v in (
            "c-epoll",
            "threads",
            "uvloop-protocol",
            "asyncio-protocol",
            "uvloop-streams",
            "asyncio-streams",
        )
    ),
    *(Case(v, "concurrent") for v in ("uvloop-protocol", "asyncio-protocol", "asyncio-streams")),
    *(Case("asyncio-protocol", "idle900", s) for s in ("epoll", "poll", "select")),
)


def placement_cpus(placement: str) -> tuple[set[int] | None, set[int] | None, str]:
    """CPU sets for (server, load generator) and what was done; no pinning where impossible."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None or not hasattr(os, "sched_setaffinity"):
        return None, None, "not pinned (no sched_setaffinity here)"
    allowed = sorted(getaffinity(0))
    if placement == "free":
        return None, None, "not pinned (free)"
    if placement == "same" or len(allowed) < 2:
        why = "" if placement == "same" else " (one CPU allowed)"
        return {allowed[-1]}, {allowed[-1]}, f"both on CPU {allowed[-1]}{why}"
    return {allowed[-1]}, {allowed[0]}, f"server on CPU {allowed[-1]}, load on CPU {allowed[0]}"


def build(out: Path) -> tuple[Path, Path]:
    gcc = shutil.which("gcc") or "/usr/bin/gcc"
    built = []
    for name in ("loadgen", "echo"):
        exe = out / name
        subprocess.run(
            [gcc, "-O2", "-Wall", "-o", str(exe), str(HERE / f"{name}.c")],
            check=True,
            capture_output=True,
            timeout=120,
        )
        built.append(exe)
    return built[0], built[1]


def pinned(cpus: set[int] | None):  # type: ignore[no-untyped-def]
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def server_argv(case: Case, echo: Path, python: str) -> list[str]:
    if case.variant == "c-epoll":
        return [str(echo)]
    return [python, str(HERE / "servers.py"), case.variant, "--selector", case.selector]


def run_case(
    case: Case,
    tools: tuple[Path, Path],
    python: str,
    cpus: tuple[set[int] | None, set[int] | None],
    warmup: float,
    seconds: float,
) -> dict[str, float]:
    """One fresh server process, one load generator run: the figures of that window."""
    loadgen, echo = tools
    server = subprocess.Popen(
        server_argv(case, echo, python),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=pinned(cpus[0]),
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 20)
        line = server.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            err = server.stderr.read(2000) if server.poll() is not None and server.stderr else b""
            raise RuntimeError(f"{case.key}: server did not start: {err.decode(errors='replace')}")
        argv = [str(loadgen), line.decode().strip(), str(case.conns), str(case.idle), str(SIZE)]
        argv += [str(warmup), str(seconds), str(server.pid)]
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=warmup + seconds + 60,
            preexec_fn=pinned(cpus[1]),
        )
        if done.returncode:
            raise RuntimeError(f"{case.key}: {done.stderr.decode(errors='replace').strip()}")
        requests, wall, ticks, load_cpu, hz = done.stdout.split()
        n = int(requests)
        if n == 0:
            raise RuntimeError(f"{case.key}: no request completed in {seconds:g} s")
        return {
            "us": int(ticks) / int(hz) / n * 1e6,
            "rps": n / float(wall),
            "load_share": float(load_cpu) / float(wall),
            "requests": n,
        }
    finally:
        server.kill()
        server.wait(timeout=10)
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()


def measure(
    rounds: int = 5,
    seconds: float = 2.0,
    warmup: float = 0.5,
    placement: str = "same",
    python: str = sys.executable,
    only: tuple[str, ...] = (),
    seed: int | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Every case, `rounds` times, interleaved; the per-round figures and the medians."""
    cases = [c for c in CASES if not only or c.key in only]
    if not cases:
        raise SystemExit("no case selected")
    server_cpus, load_cpus, where = placement_cpus(placement)
    rng = random.Random(seed)
    runs: dict[str, list[dict[str, float]]] = {c.key: [] for c in cases}
    load_before = os.getloadavg()[0]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="iodetect-harness-") as tmp:
        tools = build(Path(tmp))
        for r in range(rounds):
            order = list(cases)
            rng.shuffle(order)
            for case in order:
                if progress:
                    print(f"round {r + 1}/{rounds}: {case.key}", file=sys.stderr)
                runs[case.key].append(
                    run_case(case, tools, python, (server_cpus, load_cpus), warmup, seconds)
                )
    cells = {}
    for key, got in runs.items():
        us = [g["us"] for g in got]
        med = statistics.median(us)
        cells[key] = {
            "us": med,
            "spread": (max(us) - min(us)) / med if med else 0.0,
            "rounds": us,
            "rps": statistics.median(g["rps"] for g in got),
            "load_share": statistics.median(g["load_share"] for g in got),
            "load_limited": statistics.median(g["load_share"] for g in got) >= LIMIT_SHARE,
        }
    return {
        "placement": where,
        "rounds": rounds,
        "seconds": seconds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "wall": time.time() - started,
        "cells": cells,
    }


def idle_penalties(cells: dict[str, dict[str, float]]) -> dict[str, float]:
    """Extra server CPU per request with 900 idle connections, poll and select over epoll."""
    base = cells.get("asyncio-protocol@idle900")
    out = {}
    for s in ("poll", "select"):
        got = cells.get(f"asyncio-protocol/{s}@idle900")
        if base and got:
            out[s] = got["us"] - base["us"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--placement", choices=("same", "split", "free"), default="same")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the Python servers")
    ap.add_argument("--only", default="", help="comma list of cells (variant@workload)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    args = ap.parse_args()
    only = tuple(x for x in args.only.split(",") if x)
    result = measure(
        args.rounds, args.seconds, args.warmup, args.placement, args.python, only, args.seed
    )
    print(
        f"placement: {result['placement']}; {result['rounds']} rounds of {result['seconds']} s; "
        f"load average {result['load_before']:.2f} before, {result['load_after']:.2f} after"
    )
    cells = result["cells"]
    assert isinstance(cells, dict)
    for key, c in cells.items():
        limit = "  load generator was the limit" if c["load_limited"] else ""
        print(
            f"{key:34} {c['us']:7.2f} us/req  spread {c['spread'] * 100:4.1f} %  "
            f"{c['rps']:9.0f} req/s  load {c['load_share'] * 100:3.0f} %{limit}"
        )
    for s, extra in idle_penalties(cells).items():
        print(f"900 idle: {s} +{extra:.0f} us per request over epoll")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
