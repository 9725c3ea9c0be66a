"""Scale of `iodetect check`: wall time, CPU time and peak memory at 1k, 10k and 50k connections.

    python benchmarks/scale.py                      # 1000, 10000, 50000 connections, 3 rounds
    python benchmarks/scale.py --counts 10000 --rounds 5

Each run is `iodetect check --connections N --json` in a child process, under
`prlimit --nofile=L:L` where L covers the count: as root, prlimit raises the hard limit too.
Where it cannot (no prlimit, not root, or a process without CAP_SYS_RESOURCE, as in some
containers: even root gets EPERM), a count the hard limit cannot hold is not run: one line says
which limit stopped it and why, and the largest count the limit allows runs in its place. The
ephemeral port range is not the limit either: the check's clients connect from 127.0.0.2,
.3, ... once a count exceeds what one address can take.

The counts are interleaved in rounds (1k, 10k, 50k, then again), after one unreported warm-up
run; the summary gives the median of each figure and its range. Modules are imported from
bytecode, as from an installed package (pip compiles it): a PYTHONDONTWRITEBYTECODE in the
environment would have every run compile iodetect from source (0.2 s here), so the runs get a
bytecode cache of their own in a temporary folder (PYTHONPYCACHEPREFIX).

What is measured, for the whole tree of processes (the CLI, the probe, the self-test worker
and its client processes):
- wall: from start to the CLI's exit;
- cpu: user + system time of the tree, from wait4() on the CLI: Linux adds to a process's
  rusage that of every descendant it and they reaped (the CLI reaps the probe and the worker,
  the worker reaps its clients);
- memory: the tree is sampled every 50 ms (through /proc/PID/task/*/children, not a scan of
  every process); for each process the last VmHWM read (the kernel's own peak of its resident
  memory) is kept, and "peak" is the sum of these per-process peaks: an upper bound of what
  the tree held at once, never below it. "at once" is the largest sum of VmRSS seen in one
  sample (a lower bound: a short peak between samples can be missed). The CPU of each process
  (utime + stime, last read) gives the split per role.
The sampler's own CPU time is printed: on 2 CPUs it competes with what it measures. So does
the machine's load average, with every figure: on a loaded machine the wall time measures the
other load too, and the CPU time and memory are the figures to compare.

Goals (issue 13): 10k connections under 2 s and 200 MB; 50k under 10 s and 1 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GOALS = {10000: (2.0, 200), 50000: (10.0, 1000)}  # seconds, MB
TICK = 0.05
HEADROOM = 64  # descriptors the check asks for beyond the connections (NOFILE_HEADROOM)
CAP_SYS_RESOURCE = 24  # capabilities(7): the bit that lets a process raise a hard limit


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
    sampler_cpu: float = 0.0


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


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float | None:
    """utime + stime in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (Linux 3.5+)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(k) for k in fh.read().split())
        except (OSError, ValueError):
            continue
    return kids


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
        total = 0
        members = [(tree.root, 0)]
        i = 0
        while i < len(members):  # parents before children
            pid, ppid = members[i]
            i += 1
            members.extend((kid, pid) for kid in _children(pid))
            cpu = _cpu(pid)
            if cpu is None:
                continue
            proc = tree.procs.get(pid)
            if proc is None:
                proc = tree.procs[pid] = Proc(pid, ppid, _role(tree, pid, ppid))
            proc.cpu = max(proc.cpu, cpu)
            mem = _status(pid)
            if mem is not None:
                proc.hwm_kib = max(proc.hwm_kib, mem[0])
                total += mem[1]
        tree.at_once_kib = max(tree.at_once_kib, total)
        tree.sampler_cpu = time.thread_time()
        stop.wait(TICK)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def run_one(count: int, args: argparse.Namespace, nofile: int) -> dict[str, Any]:
    cmd = [args.python, "-m", "iodetect", "check", "--json", "--connections", str(count)]
    cmd += ["--timeout", str(args.timeout), *args.check_args]
    prlimit = shutil.which("prlimit")
    if nofile and prlimit:
        cmd = [prlimit, f"--nofile={nofile}:{nofile}", *cmd]
    load = os.getloadavg()
    start = time.perf_counter()
    errfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed below; a pipe read late could fill
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=errfile, env=args.env, start_new_session=True
    )
    # The check keeps to its --timeout; should it not, the whole run is ended well after it.
    watchdog = threading.Timer(args.timeout + 60, _kill_group, args=(proc.pid,))
    watchdog.start()
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
    watchdog.cancel()
    errfile.seek(0)
    err = errfile.read().decode(errors="replace")
    errfile.close()
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
    tcp = next((t for t in selftest.get("tests") or [] if t.get("name") == "tcp4"), {})
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
        "sampler_cpu": round(tree.sampler_cpu, 3),
        "roles": roles,
        "clients": tcp.get("clients"),
        "figures": fig,
        "failed": [f["message"] for f in result.get("findings", []) if f.get("level") == "fail"][
            :3
        ],
    }


def _verdict(r: dict[str, Any], wall: float, mib: float) -> str:
    goal = GOALS.get(r["connections"])
    if not goal:
        return ""
    return "  goal %s s/%s MB: wall %s, memory %s" % (
        goal[0],
        goal[1],
        "met" if wall < goal[0] else "MISSED",
        "met" if mib * 1.048576 < goal[1] else "MISSED",
    )


def show(r: dict[str, Any]) -> str:
    fig = r["figures"]
    lat = fig.get("latency_ms") or {}
    roles = ", ".join(
        f"{k} {v['cpu']:.2f} s/{v['hwm_mib']:.0f} MiB" + (f" x{v['n']}" if v["n"] > 1 else "")
        for k, v in sorted(r["roles"].items())
    )
    verdict = _verdict(r, r["wall"], r["peak_mib"]) if r["ok"] else ""
    lines = [
        f"{r['connections']:>6} connections: {'ok' if r['ok'] else 'FAILED'} (exit {r['exit']}), "
        f"wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s, peak {r['peak_mib']:.0f} MiB "
        f"(at once {r['at_once_mib']:.0f} MiB), load {r['load'][0]}" + verdict,
        f"        per process (cpu/peak): {roles}; sampler {r['sampler_cpu']:.2f} s",
        f"        check's figures: accepted {fig.get('accept_rate')} conn/s, "
        f"{fig.get('memory_per_connection_kib')} KiB per held connection in the worker, "
        f"round trip p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms, "
        f"tcp test {fig.get('tcp_seconds')} s, {r['clients']} client process(es)",
    ]
    if r["failed"]:
        lines.append("        failed: " + " | ".join(r["failed"]))
    return "\n".join(lines)


def summary(runs: list[dict[str, Any]]) -> str:
    """Medians and ranges per count, over the rounds."""
    lines = []
    for count in sorted({r["connections"] for r in runs}):
        rs = [r for r in runs if r["connections"] == count]
        ok = [r for r in rs if r["ok"]]
        if not ok:
            lines.append(f"{count:>6} connections: every run failed")
            continue

        def med(vals: list[float]) -> str:
            return f"{statistics.median(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})"

        roles = sorted({k for r in ok for k in r["roles"]})
        split = ", ".join(
            f"{k} {statistics.median(r['roles'].get(k, {}).get('cpu', 0.0) for r in ok):.2f}"
            for k in roles
        )
        figs = [r["figures"] for r in ok]
        per = [float(f.get("memory_per_connection_kib") or 0) for f in figs]
        p99 = [float((f.get("latency_ms") or {}).get("p99") or 0) for f in figs]
        wall = statistics.median(r["wall"] for r in ok)
        mib = statistics.median(r["peak_mib"] for r in ok)
        loads = [r["load"][0] for r in rs]
        lines.append(
            f"{count:>6} connections, {len(ok)} of {len(rs)} runs ok: "
            f"wall {med([r['wall'] for r in ok])} s, cpu {med([r['cpu'] for r in ok])} s, "
            f"peak {med([r['peak_mib'] for r in ok])} MiB, load {min(loads)}-{max(loads)}"
            + _verdict(ok[0], wall, mib)
        )
        lines.append(
            f"        median cpu per role (s): {split}; "
            f"{med(per)} KiB per held connection; round trip p99 {med(p99)} ms"
        )
    return "\n".join(lines)


def _cap_sys_resource() -> bool | None:
    """Whether this process may raise a hard limit (CAP_SYS_RESOURCE in CapEff); None where
    it cannot be read."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    except (OSError, ValueError):
        return None
    return None


def nofile_for(want: int) -> tuple[int, str | None]:
    """The descriptor limit the runs get: `want` where prlimit can set it (as root, the hard
    limit too), else the hard limit as it is and the one line that says why."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and want <= hard:
        return want, None
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return hard, f"no prlimit here to raise the hard descriptor limit {hard}"
    tried = subprocess.run(
        [prlimit, f"--nofile={want}:{want}", "true"], capture_output=True, text=True, check=False
    )
    if tried.returncode == 0:
        return want, None
    said = (tried.stderr.strip().splitlines() or ["failed"])[-1]
    if os.geteuid() != 0:
        why = "only root may raise a hard limit"
    elif _cap_sys_resource() is False:
        why = (
            "this process lacks CAP_SYS_RESOURCE (bit 24 of CapEff in /proc/self/status), "
            "so even root cannot raise a hard limit (a container without that capability)"
        )
    else:
        why = "fs.nr_open or the container may cap it"
    return hard, f"the hard descriptor limit {hard} cannot be raised to {want} ({said}): {why}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1000,10000,50000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", default=sys.executable, help="interpreter running iodetect")
    ap.add_argument(
        "--nofile",
        type=int,
        default=0,
        help="soft and hard limit (default: the largest count + 64)",
    )
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--no-warmup", action="store_true", help="no unreported first run")
    ap.add_argument("--pycache", help="a bytecode cache folder to keep (default: a temporary one)")
    ap.add_argument("--json", action="store_true", help="one JSON line per run")
    ap.add_argument("check_args", nargs="*", help="more options for `iodetect check`")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    nofile, stopped = nofile_for(args.nofile or max(counts) + HEADROOM)
    runnable: list[int] = []
    for count in counts:
        if count + HEADROOM <= nofile:
            runnable.append(count)
            continue
        largest = (nofile - HEADROOM) // 100 * 100  # a round count, a little below the limit
        print(
            f"# {count} connections not run: {stopped}; the largest count it allows, "
            f"{largest}, runs in its place",
            file=sys.stderr,
        )
        if largest > 0 and largest not in runnable:
            runnable.append(largest)
    cache = args.pycache or tempfile.mkdtemp(prefix="iodetect-scale-pycache-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    args.env = env
    print(
        f"# {os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
        f"nofile {nofile}, counts {','.join(map(str, runnable))}, {args.rounds} round(s)",
        file=sys.stderr,
    )
    runs: list[dict[str, Any]] = []
    try:
        if not args.no_warmup:
            run_one(min([*runnable, 300]), args, nofile)  # bytecode cache, page cache
        for rnd in range(args.rounds):
            for count in runnable:
                r = run_one(count, args, nofile)
                r["round"] = rnd
                runs.append(r)
                print(json.dumps(r) if args.json else show(r), flush=True)
    finally:
        if not args.pycache:
            shutil.rmtree(cache, ignore_errors=True)
    if not args.json and args.rounds > 1:
        print("# medians (range) over the rounds:")
        print(summary(runs))


if __name__ == "__main__":
    main()
