"""Many targets reached at once: each probed (and for a check, self-tested) within its own deadline.

At most `jobs` targets run at a time, each in a thread of its own that waits on its target's
processes; the transport bounds every one of them in time and output and kills its process
group. A target's deadline starts when it starts, not when the run does, so a long queue does
not eat into it. Whatever one target does (no answer, a hang, a crash of a step) is an error or
a finding for that target: the run goes on with the others, and still returns if a target's
thread overstays its deadline by STRAGGLER_GRACE (the thread is left behind, its processes are
killed when the command ends).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from iodetect.errors import UsageError
from iodetect.fleet import rules
from iodetect.fleet.builder import build
from iodetect.fleet.document import Fleet, Observation, Options, Source, TargetCheck
from iodetect.fleet.live import observe
from iodetect.fleet.targets import TargetSpec
from iodetect.text import clean

if TYPE_CHECKING:
    from iodetect import check
    from iodetect.model import Facts

DEFAULT_JOBS = 8  # targets reached at once; Ansible's default is 5 forks, pdsh's fanout 32
MAX_JOBS = 256
# After a target's deadline, how long its thread may take to come back: the transport's wait
# after a kill (5 s) and after an exit (1 s), the self-test's least deadline (2 s), and slack.
STRAGGLER_GRACE = 15.0
PROBE_SHARE = (0.5, 1.0, 15.0)  # a live check's probe: half its deadline, within [1 s, 15 s]

Progress = Callable[[Observation, int, int], None]  # a finished target, how many done, of how many


def run(
    specs: Sequence[TargetSpec],
    options: Options,
    *,
    timeout: float,
    jobs: int = DEFAULT_JOBS,
    live: check.Options | None = None,
    progress: Progress | None = None,
) -> Fleet:
    """Reach every target, at most `jobs` at once, each within `timeout` seconds, and build
    the fleet. `live`: the check to run on each reached target (its `python` and `timeout` are
    set per target); None: the facts alone, judged by the rules when `options.check` says so.

    Raises recommend.NeedsError for options that cannot be used, before any target is reached.
    """
    from iodetect.recommend.needs import validate

    validate(rules.needs_for(options))
    observations = reach_all(specs, timeout=timeout, jobs=jobs, live=live, progress=progress)
    return build(observations, options)


def reach_all(
    specs: Sequence[TargetSpec],
    *,
    timeout: float,
    jobs: int = DEFAULT_JOBS,
    live: check.Options | None = None,
    progress: Progress | None = None,
    reach: Callable[[TargetSpec, float, check.Options | None], Observation] | None = None,
    grace: float = STRAGGLER_GRACE,
) -> list[Observation]:
    """One observation per target, in their order. `reach` is the work done for one target
    (reach_one unless given); it must not raise, and one that does is that target's error.
    A target not back `grace` seconds after its deadline is an error, and left behind."""
    work = reach or reach_one
    jobs = max(1, min(jobs, MAX_JOBS))
    finished: queue.Queue[tuple[int, Observation | Exception]] = queue.Queue()
    pending = deque(enumerate(specs))
    running: dict[int, float] = {}  # target index -> by when its thread must have come back
    results: dict[int, Observation] = {}

    def worker(index: int, spec: TargetSpec) -> None:
        try:
            finished.put((index, work(spec, timeout, live)))
        except Exception as exc:  # a bug in one target's work: that target's error
            finished.put((index, exc))

    def record(index: int, obs: Observation) -> None:
        results[index] = obs
        if progress is not None:
            progress(obs, len(results), len(specs))

    while pending or running:
        while pending and len(running) < jobs:
            index, spec = pending.popleft()
            running[index] = time.monotonic() + timeout + grace
            threading.Thread(
                target=worker, args=(index, spec), name=f"iodetect-target-{index}", daemon=True
            ).start()
        wait = min(running.values()) - time.monotonic()
        try:
            index, got = finished.get(timeout=max(0.05, wait))
        except queue.Empty:
            now = time.monotonic()
            for index, by in list(running.items()):
                if now >= by:
                    del running[index]
                    spec = specs[index]
                    record(
                        index,
                        Observation(
                            spec.name,
                            Source("command", spec.shown),
                            error=f"did not finish within its {timeout:g} s deadline (and "
                            f"{grace:g} s more); left behind",
                            seconds=round(timeout + grace, 3),
                        ),
                    )
            continue
        if running.pop(index, None) is None:
            continue  # already given up on: its late answer is not used
        if isinstance(got, UsageError):
            raise got
        if isinstance(got, Exception):
            spec = specs[index]
            text = str(got).strip().splitlines()
            detail = f"{type(got).__name__}: {text[-1]}" if text else type(got).__name__
            got = Observation(
                spec.name, Source("command", spec.shown), error=f"internal error: {clean(detail)}"
            )
        record(index, got)
    return [results[i] for i in range(len(specs))]


def reach_one(spec: TargetSpec, timeout: float, live: check.Options | None) -> Observation:
    """One target: its facts within `timeout`; with `live`, then the check on what is left of it."""
    start = time.monotonic()
    if live is None:
        return observe(spec.name, spec.argv, timeout)
    share, low, high = PROBE_SHARE
    obs = observe(spec.name, spec.argv, round(max(low, min(high, timeout * share)), 1))
    if obs.facts is None:
        return obs
    from iodetect.check import run_check
    from iodetect.check.report import report_dict

    left = max(1.0, timeout - (time.monotonic() - start))
    result = run_check(replace(live, python=spec.argv, timeout=left), facts=obs.facts)
    checked = TargetCheck(
        "live",
        (*_probe_findings(obs.facts), *result.findings),
        strict=live.strict,
        seconds=round(result.seconds, 3),
        selftest=report_dict(result.selftest) if result.selftest is not None else None,
    )
    return replace(obs, seconds=round(time.monotonic() - start, 3), check=checked)


def _probe_findings(facts: Facts) -> tuple[check.Finding, ...]:
    """What the check's own probe step says of a target it reached (run_check is handed the
    facts, so it has no probe step of its own)."""
    from iodetect.check import Finding

    iv = facts.interpreter
    where = f" ({clean(iv.executable, 200)})" if iv.executable else ""
    found = [
        Finding(
            "probe",
            "ok",
            f"{clean(iv.implementation, 40)} {clean(iv.release, 40)} on "
            f"{clean(facts.host.platform, 40)}{where}",
            None,
            "probe",
        )
    ]
    found.extend(
        Finding(
            "probe",
            "warn",
            f"could not read {clean(err.probe, 60)}: {clean(err.error)}",
            None,
            "probe.partial",
        )
        for err in facts.errors
    )
    return tuple(found)
