"""Many targets at once: the fleet document, facts collected by other engines, drift between them.

The parts, in the order data flows through them:
  collected   files an engine gathered (one per host) read as observations, bounded and sanitised
  live        one target reached through a --python command, as an observation
  document    Observation, Target, Fleet: the versioned document (kind iodetect.fleet) and JSON
  builder     observations -> Fleet: each target's plan, rules verdict, table row; the drift
  rules       the rules-only verdict: descriptor limits, plan conflicts, --require-loop
  render      the table for people, drift marked, and the summary
  comparison  two facts or fleet documents compared: what matters to the plan, and the plan
  script      the target-side probe as a self-contained program for an engine to run
  text        strings from outside made safe to show; command lines with secrets masked
"""

from __future__ import annotations

from iodetect.fleet.builder import build
from iodetect.fleet.document import (
    FLEET_KIND,
    SCHEMA_VERSION,
    Fleet,
    FleetError,
    Observation,
    Options,
    Source,
    Target,
    TargetCheck,
    observations_from_dict,
    to_dict,
)

__all__ = [
    "FLEET_KIND",
    "SCHEMA_VERSION",
    "Fleet",
    "FleetError",
    "Observation",
    "Options",
    "Source",
    "Target",
    "TargetCheck",
    "build",
    "observations_from_dict",
    "to_dict",
]
