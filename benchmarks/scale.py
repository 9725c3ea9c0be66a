"""Scale of `iodetect check`: wall time, CPU time and peak memory at 1k, 10k and 50k connections.

    python benchmarks/scale.py                      # 1000, 10000, 50000 connections
    python benchmarks/scale.py --counts 10000 --rounds 3

Each run is `iodetect check --connections N --json` in a child process, under
`prlimit --nofile=L:L` (as root, so the hard limit can be raised; --nofile) so that descriptors
are not the limit. The ephemeral port range is not the limit either: the check's clients
connect from 127.0.0.2, .3, ... once a count exceeds what one address can take.

What is measured, for the whole tree of processes (the CLI, the probe, the self-test worker
and its client processes):
- wall: from start to the CLI's exit;
- cpu: user + system time of the tree, from wait4() on the CLI: Linux adds to a process's
  rusage that of every descendant it and they reaped (the CLI reaps the probe and the worker,
  the worker reaps its clients);
- memory: /proc is sampled every 10 ms; for each process of the tree the last VmHWM read (the
  kernel's own peak of its resident memory) is kept, and "peak" is the sum of these per-process
  peaks: an upper bound of what the tree held at once, never below it. "at once" is the
  largest sum of VmRSS seen in one sample (a lower bound: a short peak between samples can be
  missed). The CPU of each process (utime + stime, last read) gives the split per role.
The machine's load average is printed with every figure: on a loaded machine the wall time
measures the other load, and only the CPU time and memory mean something.

Goals (issue 13): 10k connections under 2 s and 200 MB; 50k under 10 s and 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GOALS = {10000: (2.0, 200), 50000: (10.0, 1000)}  # seconds, MB
TICK = 0.01


@dataclass
class Proc:
    pid: int
    ppid: int
    role: str
    hwm_kib: int = 0
    cpu: float = 0.0  # utime + stime, seconds


@dataclass
class Tree:
    """What the sampler saw of the processes under one root."""

    root: int
    procs: dict[int, Proc] = field(default_factory=dict)
    at_once_kib: int = 0


def _status(pid: int) -> tuple[int, int] | None:
    """(VmHWM, VmRSS) in KiB, None for a process gone or without memory (a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            text = fh.read()
    except OSError:
        return None
    hwm = rss = None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return (hwm, rss) if hwm is not None and rss is not None else None


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime in seconds)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def _role(tree: Tree, pid: int, ppid: int) -> str:
    if pid == tree.root:
        return "cli"
    parent = tree.procs.get(ppid)
    if parent is None:
        return "other"
    if parent.role == "cli":
        # The CLI starts the probe, then the self-test worker (prlimit execs into the CLI).
        seen = [p for p in tree.procs.values() if p.ppid == tree.root]
        return "probe" if not seen else "worker"
    if parent.role == "worker":
        return "client"
    return parent.role + "-child"


def sample(tree: Tree, stop: threading.Event) -> None:
    while not stop.is_set():
        parents: dict[int, tuple[int, float]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(int(name))
                if st is not None:
                    parents[int(name)] = st
        # Walk down from the root, parents before children.
        members = [tree.root]
        total = 0
        i = 0
        while i < len(members):
            pid = members[i]
            i += 1
            members.extend(p for p, (pp, _) in parents.items() if pp == pid)
            if pid not in parents:
                continue
            ppid, cpu = parents[pid]
            mem = _status(pid)
            proc = tree.procs.get(pid)
            if proc is None:
                proc = tree.procs[pid] = Proc(pid, ppid, _role(tree, pid, ppid))
            proc.cpu = max(proc.cpu, cpu)
            if mem is not None:
                proc.hwm_kib = max(proc.hwm_kib, mem[0])
                total += mem[1]
        tree.at_once_kib = max(tree.at_once_kib, total)
        stop.wait(TICK)


def run_one(count: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [args.python, "-m", "iodetect", "check", "--json", "--connections", str(count)]
    cmd += ["--timeout", str(args.timeout), *args.check_args]
    prlimit = shutil.which("prlimit")
    if args.nofile and prlimit:
        cmd = [prlimit, f"--nofile={args.nofile}:{args.nofile}", *cmd]
    load = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tree = Tree(proc.pid)
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(tree, stop), daemon=True)
    sampler.start()
    out_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    reader.join()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        result = json.loads(b"".join(out_chunks))
    except ValueError:
        result = {"ok": False, "findings": [{"level": "fail", "message": err.strip()[-300:]}]}
    roles: dict[str, dict[str, float]] = {}
    for p in tree.procs.values():
        r = roles.setdefault(p.role, {"n": 0, "cpu": 0.0, "hwm_mib": 0.0})
        r["n"] += 1
        r["cpu"] += p.cpu
        r["hwm_mib"] += p.hwm_kib / 1024
    selftest = result.get("selftest") or {}
    fig = selftest.get("figures") or {}
    return {
        "connections": count,
        "ok": bool(result.get("ok")),
        "exit": proc.returncode,
        "load": [round(x, 2) for x in load],
        "wall": round(wall, 3),
        "cpu": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_mib": round(sum(p.hwm_kib for p in tree.procs.values()) / 1024, 1),
        "at_once_mib": round(tree.at_once_kib / 1024, 1),
        "largest_process_mib": round(usage.ru_maxrss / 1024, 1),
        "roles": roles,
        "figures": fig,
        "failed": [f["message"] for f in result.get("findings", []) if f.get("level") == "fail"][
            :3
        ],
    }


def show(r: dict[str, Any]) -> str:
    fig = r["figures"]
    lat = fig.get("latency_ms") or {}
    roles = ", ".join(
        f"{k} {v['cpu']:.2f} s/{v['hwm_mib']:.0f} MiB" + (f" x{v['n']}" if v["n"] > 1 else "")
        for k, v in sorted(r["roles"].items())
    )
    goal = GOALS.get(r["connections"])
    verdict = ""
    if goal and r["ok"]:
        verdict = "  goal %s s/%s MB: wall %s, memory %s" % (
            goal[0],
            goal[1],
            "met" if r["wall"] < goal[0] else "MISSED",
            "met" if r["peak_mib"] * 1.048576 < goal[1] else "MISSED",
        )
    lines = [
        f"{r['connections']:>6} connections: {'ok' if r['ok'] else 'FAILED'} (exit {r['exit']}), "
        f"wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s, peak {r['peak_mib']:.0f} MiB "
        f"(at once {r['at_once_mib']:.0f} MiB), load {r['load'][0]}" + verdict,
        f"        per process (cpu/peak): {roles}",
        f"        check's figures: accepted {fig.get('accept_rate')} conn/s, "
        f"{fig.get('memory_per_connection_kib')} KiB per held connection in the worker, "
        f"round trip p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms, "
        f"tcp test {fig.get('tcp_seconds')} s",
    ]
    if r["failed"]:
        lines.append("        failed: " + " | ".join(r["failed"]))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1000,10000,50000")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--python", default=sys.executable, help="interpreter running iodetect")
    ap.add_argument("--nofile", type=int, default=120000, help="soft and hard limit (0: as is)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", action="store_true", help="one JSON line per run")
    ap.add_argument("check_args", nargs="*", help="more options for `iodetect check`")
    args = ap.parse_args()
    if args.nofile:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        prlimit = shutil.which("prlimit")
        tried = prlimit and subprocess.run(
            [prlimit, f"--nofile={args.nofile}:{args.nofile}", "true"], capture_output=True
        )
        if not tried or tried.returncode:
            # Raising a hard limit takes CAP_SYS_RESOURCE (root outside a restricted container).
            why = tried.stderr.decode(errors="replace").strip() if tried else "no prlimit"
            print(
                f"# cannot raise the hard limit to {args.nofile} ({why}): it stays {hard}",
                file=sys.stderr,
            )
            args.nofile = 0
    counts = [int(c) for c in args.counts.split(",")]
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(
        f"# {os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
        f"nofile {args.nofile or limits}",
        file=sys.stderr,
    )
    for rnd in range(args.rounds):
        for count in counts:
            r = run_one(count, args)
            r["round"] = rnd
            print(json.dumps(r) if args.json else show(r), flush=True)


if __name__ == "__main__":
    main()
