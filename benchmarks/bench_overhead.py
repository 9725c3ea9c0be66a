"""Where does `iodetect bench`'s cost beyond the server's own come from? Measured, one suspect
at a time, against iodetect's own bench server.

    python benchmarks/bench_overhead.py                         # asyncio and uvloop Protocol
    python benchmarks/bench_overhead.py --workload concurrent --rounds 9

Each round, in a shuffled order, one fresh bench server per configuration, all pinned to one CPU:
- "C load": the reference harness's C epoll load generator (benchmarks/harness/loadgen.c):
  the server's own cost with a load generator that barely touches the CPU's caches;
- "iodetect load": iodetect's load generator as `iodetect bench` runs it (speed probe on);
- "iodetect load, no probe": the same without the speed probe.
Printed: the median server CPU per request of each over the rounds, and its ratio to the C load
generator's. Then the server CPU one control mark costs (2000 marks on an idle server): each
window takes one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

import run as harness

from iodetect.bench import runner
from iodetect.bench.results import Variant, workload
from iodetect.target import MARKER, bench_load, program

CPU = "last"


def variant(loop: str) -> Variant:
    if loop == "asyncio":
        return Variant("asyncio", loop="asyncio", selector="epoll", style="protocol")
    return Variant("asyncio", loop=loop, style="protocol")


class Server:
    """iodetect's bench server in a fresh process, pinned as `iodetect bench` pins it."""

    def __init__(self, v: Variant, nofile: int) -> None:
        params = dict(v.server_params(), deadline=120, nofile=nofile, cpu=CPU)
        self.proc = subprocess.Popen(
            [sys.executable, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(program("bench_server", params, nonce=False).text.encode())
        self.proc.stdin.close()
        for raw in self.proc.stdout:
            line = raw.decode()
            if line.startswith(MARKER):
                self.info: dict[str, Any] = json.loads(line[len(MARKER) :])
                return
        raise SystemExit("bench server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def with_c_load(loadgen: Path, v: Variant, w: str, seconds: float) -> float:
    wl = workload(w)
    server = Server(v, wl.idle + wl.conns + 64)
    cpus = {sorted(os.sched_getaffinity(0))[-1]}
    try:
        argv = [str(loadgen), str(server.info["port"]), str(wl.conns), str(wl.idle), "100"]
        argv += ["0.3", str(seconds), str(server.info["pid"])]
        out = subprocess.run(
            argv,
            capture_output=True,
            check=True,
            timeout=seconds + 60,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )
        requests, _, ticks, _, hz = out.stdout.split()
        return int(ticks) / int(hz) / int(requests) * 1e6
    finally:
        server.stop()


def with_iodetect_load(v: Variant, w: str, seconds: float, probe: bool) -> float:
    original = runner.program

    def patched(name: str, params: Any = None, nonce: bool = True) -> Any:
        if name == "bench_load" and isinstance(params, dict):
            params = dict(params, probe=probe)
        return original(name, params, nonce)

    runner.program = patched  # type: ignore[assignment]
    try:
        sel = runner.Selection(duration=seconds, warmup=0.3, windows=1)
        got = runner.run_cell(v, workload(w), sel, 1)
    finally:
        runner.program = original
    return sum(s.server_cpu for s in got) / sum(s.requests for s in got) * 1e6


def mark_cost(v: Variant, marks: int = 2000) -> float:
    server = Server(v, 64)
    try:
        ctl = bench_load.Control("127.0.0.1", server.info["control"], 5.0)
        a = ctl.mark()
        for _ in range(marks):
            b = ctl.mark()
        ctl.close()
        return (b["user"] + b["system"] - a["user"] - a["system"]) / marks * 1e6
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--workload", default="pingpong", choices=("pingpong", "concurrent"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    loops = args.loops.split(",")
    configs = {
        "C load": lambda v: with_c_load(loadgen, v, args.workload, args.seconds),
        "iodetect load": lambda v: with_iodetect_load(v, args.workload, args.seconds, True),
        "iodetect load, no probe": lambda v: with_iodetect_load(
            v, args.workload, args.seconds, False
        ),
    }
    got: dict[tuple[str, str], list[float]] = {(c, lp): [] for c in configs for lp in loops}
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        loadgen, _ = harness.build(Path(tmp))
        for r in range(args.rounds):
            order = list(got)
            random.shuffle(order)
            for config, loop in order:
                print(f"round {r + 1}/{args.rounds}: {config}, {loop}", file=sys.stderr)
                got[config, loop].append(configs[config](variant(loop)))
    print(f"{args.workload}, load average {before:.2f} -> {os.getloadavg()[0]:.2f}")
    for loop in loops:
        base = statistics.median(got["C load", loop])
        for config in configs:
            xs = got[config, loop]
            med = statistics.median(xs)
            print(
                f"{loop:8} {config:24} {med:7.2f} us/req  {med / base:5.2f}x  "
                f"(rounds: {' '.join(f'{x:.1f}' for x in xs)})"
            )
        print(f"{loop:8} one control mark costs the server {mark_cost(variant(loop)):.1f} us")


if __name__ == "__main__":
    main()
