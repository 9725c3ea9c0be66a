"""Start-up cost of `iodetect report --json` and `iodetect snippet` against the bare imports.

    python benchmarks/startup.py            # 21 rounds
    python benchmarks/startup.py --rounds 31

The baseline is `python -c "import asyncio, typer"`: what any typer CLI for asyncio pays
before it does anything. Each round runs every command once, in a shuffled order (interleaved,
so a change of the machine's load touches all of them alike); the figure is the CPU time of
the child and everything it waited for (user + system, from wait4()), which a loaded machine
inflates far less than wall time. Printed: the median per command, its spread (interquartile
range over the median), and the median of the per-round ratios to the baseline.
The goal (issue 13): both commands at 1.2x the baseline or less.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys

COMMANDS = {
    "baseline": ["-c", "import asyncio, typer"],
    "report --json": ["-m", "iodetect", "report", "--json"],
    "snippet": ["-m", "iodetect", "snippet"],
}


# As users run it: with the bytecode cache (a PYTHONDONTWRITEBYTECODE of the shell would make
# every run compile iodetect's modules again, while the libraries' caches came with pip).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_of(argv: list[str]) -> float:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    ratios: dict[str, list[float]] = {name: [] for name in COMMANDS if name != "baseline"}
    load = os.getloadavg()
    for rest in COMMANDS.values():  # a first run of each, not counted: caches, .pyc
        cpu_of([args.python, *rest])
    for _ in range(args.rounds):
        order = list(COMMANDS)
        random.shuffle(order)
        got = {name: cpu_of([args.python, *COMMANDS[name]]) for name in order}
        for name, value in got.items():
            times[name].append(value)
        for name in ratios:
            ratios[name].append(got[name] / got["baseline"])
    after = os.getloadavg()
    print(f"# {args.rounds} rounds, load average {load[0]:.2f} before, {after[0]:.2f} after")
    for name, values in times.items():
        med = statistics.median(values)
        q = statistics.quantiles(values, n=4)
        line = f"{name:>14}: cpu median {med * 1000:6.1f} ms, spread {(q[2] - q[0]) / med:5.1%}"
        if name in ratios:
            line += f", {statistics.median(ratios[name]):.2f}x the baseline (median of rounds)"
        print(line)


if __name__ == "__main__":
    main()
