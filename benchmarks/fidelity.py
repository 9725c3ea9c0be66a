"""Is `iodetect bench` faithful? Its ratios side by side with the independent harness's.

    python benchmarks/fidelity.py                  # harness (5 rounds), then iodetect bench --quick
    python benchmarks/fidelity.py --full           # ... then the default iodetect bench (~5 min)
    python benchmarks/fidelity.py --twice          # two quick iodetect runs in a row, compared
    python benchmarks/fidelity.py --harness h.json --bench b.json   # saved runs, no measuring

The harness (benchmarks/harness/) shares no code with iodetect: a C epoll load generator, a
fresh server process per variant, interleaved rounds. Both measure server CPU per request at
100-byte ping-pong; the table compares what a user reads from iodetect, its ratios, with the
harness's, each with its deviation against the goal (every ratio within 10 %, the idle penalty
within 15 %), and whether the load generator was the limit at 50 connections. The issue's
reference figures (a quiet host, the same kind of VM) are shown too. Exit 0 when every goal is
met, 1 otherwise. --twice runs `iodetect bench --quick` twice in a row and reports every cell
stable in both and every conclusion that differs (iodetect bench --compare's rule), exit 1 when
they disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "harness"))

import run as harness  # noqa: E402

RATIO_GOAL = 0.10
IDLE_GOAL = 0.15
# (label, (harness numerator, denominator), (iodetect numerator, denominator), reference)
# The reference is the issue's independent figures on a quiet host of this kind.
RATIOS = (
    (
        "uvloop Protocol / asyncio Protocol",
        ("uvloop-protocol@pingpong", "asyncio-protocol@pingpong"),
        (("uvloop Protocol", "pingpong"), ("asyncio epoll Protocol", "pingpong")),
        3.0 / 4.6,
    ),
    (
        "uvloop Protocol / uvloop streams",
        ("uvloop-protocol@pingpong", "uvloop-streams@pingpong"),
        (("uvloop Protocol", "pingpong"), ("uvloop streams", "pingpong")),
        3.0 / 5.3,
    ),
    (
        "asyncio Protocol / asyncio streams",
        ("asyncio-protocol@pingpong", "asyncio-streams@pingpong"),
        (("asyncio epoll Protocol", "pingpong"), ("asyncio epoll streams", "pingpong")),
        4.6 / 8.2,
    ),
    (
        "threads / asyncio Protocol",
        ("threads@pingpong", "asyncio-protocol@pingpong"),
        (("threads", "pingpong"), ("asyncio epoll Protocol", "pingpong")),
        2.7 / 4.6,
    ),
    (
        "uvloop / asyncio at 50 connections",
        ("uvloop-protocol@concurrent", "asyncio-protocol@concurrent"),
        (("uvloop Protocol", "concurrent"), ("asyncio epoll Protocol", "concurrent")),
        2.1 / 3.3,
    ),
)
IDLE = (("poll", 104.0), ("select", 121.0))
FIFTY = ("uvloop Protocol", "asyncio epoll Protocol", "asyncio epoll streams")


def iodetect_argv() -> list[str]:
    return [sys.executable, "-m", "iodetect", "bench"]


def run_bench(extra: list[str], out: Path) -> None:
    argv = [*iodetect_argv(), *extra, "--save", str(out)]
    print("$ " + " ".join(argv[1:]), file=sys.stderr)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=1800)


def load_bench(path: Path):  # type: ignore[no-untyped-def]
    from iodetect.bench import load_results

    return load_results(str(path))


def bench_median(run, variant: str, workload: str) -> float | None:  # type: ignore[no-untyped-def]
    cell = run.cell(variant, workload)
    cpu = cell.cpu if cell is not None else None
    return cpu.median if cpu is not None else None


def bench_pair(run, a: str, b: str, workload: str) -> tuple[float, float] | None:  # type: ignore[no-untyped-def]
    """Two cells' medians on the footing the bench's own comparisons use (analysis.pair)."""
    from iodetect.bench.analysis import pair

    named = {v.name: v for v in run.variants()}
    if a not in named or b not in named:
        return None
    got = pair(run, named[a], named[b], workload)
    return (got[0].median, got[1].median) if got is not None else None


def deviation(got: float | None, want: float | None) -> float | None:
    if got is None or want is None or want == 0:
        return None
    return got / want - 1


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def table(h: dict, run) -> bool:  # type: ignore[no-untyped-def]
    """Print the side-by-side table; True when every goal is met."""
    cells = h["cells"]
    ok = True
    print(
        f"harness: {h['placement']}, {h['rounds']} rounds of {h['seconds']} s, load average "
        f"{h['load_before']:.2f} -> {h['load_after']:.2f}"
    )
    env = run.environment
    print(
        f"iodetect bench: {run.started}, {run.seconds:.0f} s, placement "
        f"{run.settings.placement}, load average {env.load_before} -> {env.load_after}"
    )
    print()
    head = f"{'ratio':38} {'reference':>9} {'harness':>8} {'iodetect':>8} {'deviation':>9}  goal"
    print(head)
    for label, (hn, hd), ((bn, bw), (bd, _)), ref in RATIOS:
        hr = cells[hn]["us"] / cells[hd]["us"] if hn in cells and hd in cells else None
        got = bench_pair(run, bn, bd, bw)
        br = got[0] / got[1] if got is not None and got[1] else None
        dev = deviation(br, hr)
        met = dev is not None and abs(dev) <= RATIO_GOAL
        ok = ok and met
        print(
            f"{label:38} {ref:9.3f} {fmt(hr):>8} {fmt(br):>8} "
            f"{fmt(None if dev is None else dev * 100, '+.1f'):>8}%  "
            f"{'met' if met else 'NOT met'} (10 %)"
        )
    hp = harness.idle_penalties(cells)
    for sel, ref in IDLE:
        got = bench_pair(run, f"asyncio {sel} Protocol", "asyncio epoll Protocol", "idle900")
        bp = got[0] - got[1] if got is not None else None
        dev = deviation(bp, hp.get(sel))
        met = dev is not None and abs(dev) <= IDLE_GOAL
        ok = ok and met
        print(
            f"{'idle penalty ' + sel + ' over epoll (us)':38} {ref:9.0f} "
            f"{fmt(hp.get(sel), '.0f'):>8} {fmt(bp, '.0f'):>8} "
            f"{fmt(None if dev is None else dev * 100, '+.1f'):>8}%  "
            f"{'met' if met else 'NOT met'} (15 %)"
        )
    print()
    print("server CPU per request (us), median: harness | iodetect")
    pairs = [(k, v) for _, k, v, _ in RATIOS]
    seen = set()
    for hkeys, bkeys in pairs:
        for hk, (bn, bw) in zip(hkeys, bkeys):
            if hk in seen:
                continue
            seen.add(hk)
            hv = cells.get(hk, {}).get("us")
            print(f"  {hk:34} {fmt(hv, '6.2f')} | {fmt(bench_median(run, bn, bw), '6.2f')}")
    print()
    for name in FIFTY:
        cell = run.cell(name, "concurrent")
        if cell is None or cell.cpu is None:
            continue
        limited = cell.saturated
        ok = ok and not (limited and name != "asyncio epoll streams")
        print(
            f"50 connections, {name}: load generator "
            f"{'WAS' if limited else 'was not'} the limit (iodetect)"
        )
    for key in ("uvloop-protocol@concurrent", "asyncio-protocol@concurrent"):
        if key in cells:
            c = cells[key]
            print(
                f"50 connections, {key}: harness load generator busy "
                f"{c['load_share'] * 100:.0f} %{' (the limit)' if c['load_limited'] else ''}"
            )
    return ok


def twice(extra: list[str], keep: Path | None) -> int:
    """Two quick runs in a row; every cell stable in both and every conclusion compared."""
    from iodetect.bench.analysis import agreement

    with tempfile.TemporaryDirectory() as tmp:
        where = keep or Path(tmp)
        first, second = where / "first.json", where / "second.json"
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        run_bench(["--quick", *extra], first)
        run_bench(["--quick", *extra], second)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        a, b = load_bench(first), load_bench(second)
    agree = agreement(a, b)
    print(f"cells stable in both runs: {len(agree.cells)}")
    worst = 0.0
    for variant, workload, x, y in agree.cells:
        change = y / x - 1 if x else float("inf")
        worst = max(worst, abs(change))
        print(f"  {variant:28} {workload:11} {x:7.2f} {y:7.2f}  {change * 100:+5.1f} %")
    print(f"largest change of a stable cell: {worst * 100:.1f} %")
    print(f"conclusions that differ: {len(agree.changed)} (numbers masked)")
    for which, text in agree.changed:
        print(f"  {which}: {text}")
    print("the two runs agree" if agree.agree else "the two runs DO NOT agree")
    return 0 if agree.agree else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="the default iodetect bench, not --quick")
    ap.add_argument("--twice", action="store_true", help="two quick iodetect runs, compared")
    ap.add_argument("--rounds", type=int, default=5, help="harness rounds")
    ap.add_argument("--seconds", type=float, default=2.0, help="harness seconds per round")
    ap.add_argument("--placement", default="same", choices=("same", "split"), help="harness")
    ap.add_argument("--harness", metavar="FILE", help="a saved harness run (run.py --json)")
    ap.add_argument("--bench", metavar="FILE", help="a saved iodetect bench run")
    ap.add_argument("--keep", metavar="DIR", help="keep the runs' JSON files in DIR")
    ap.add_argument("bench_args", nargs="*", help="more iodetect bench options (after --)")
    args = ap.parse_args()
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    if args.twice:
        sys.exit(twice(args.bench_args, keep))
    with tempfile.TemporaryDirectory() as tmp:
        where = keep or Path(tmp)
        if args.harness:
            h = json.loads(Path(args.harness).read_text())
        else:
            t = time.time()
            h = harness.measure(args.rounds, args.seconds, placement=args.placement)
            print(f"harness: {time.time() - t:.0f} s", file=sys.stderr)
            (where / "harness.json").write_text(json.dumps(h, indent=1))
        if args.bench:
            path = Path(args.bench)
        else:
            path = where / "bench.json"
            run_bench(([] if args.full else ["--quick"]) + args.bench_args, path)
        run = load_bench(path)
    sys.exit(0 if table(h, run) else 1)


if __name__ == "__main__":
    main()
