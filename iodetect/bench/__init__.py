"""iodetect bench: measured costs of selectors, event loops and API styles on one target.

The public API for other commands: `load_results(path)` reads a saved `iodetect bench --json`
(schema version checked, any problem a one-line BenchError) and `evidence(run)` reduces it to the
recommender's BenchEvidence: the measured-fastest stable loop and the API-style finding.
"""

from __future__ import annotations

from iodetect.bench.analysis import evidence
from iodetect.bench.results import (
    BENCH_KIND,
    BENCH_SCHEMA_VERSION,
    BenchError,
    BenchRun,
    load_results,
)

__all__ = [
    "BENCH_KIND",
    "BENCH_SCHEMA_VERSION",
    "BenchError",
    "BenchRun",
    "evidence",
    "load_results",
]
