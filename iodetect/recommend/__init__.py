"""The recommender: which event loop and selector a service should use, from facts and needs alone.

Pure by design (no sys, os, select or I/O): that is what lets tests on one Linux host cover
macOS, Windows, the BSDs and illumos from fixture facts. Its steps are modules: needs (what
the user and the installed libraries ask), loop, selector, limits (the descriptor-limit rule,
which `iodetect check` uses too), idiom, and core, the short orchestrator. Every choice carries
a reason citing the catalog's source; anything the facts cannot satisfy is a conflict with a
remedy and a stable code, never a silently weaker setup.
"""

from __future__ import annotations

from iodetect.catalog.platforms import family as platform_family
from iodetect.catalog.records import version_tuple
from iodetect.model import LOOP_CHOICES, NEED_NAMES, PLAN_LOOPS
from iodetect.recommend.core import recommend
from iodetect.recommend.limits import FAILING as NOFILE_FAILING
from iodetect.recommend.limits import (
    NofileVerdict,
    assess_nofile,
    nofile_remedy,
    soft_remedy,
    suggest_nofile,
)
from iodetect.recommend.needs import parse_needs, parse_python
from iodetect.recommend.plan import (
    HEADROOM,
    NEWEST,
    OLDEST,
    SELECTOR_CLASSES,
    SELECTOR_ORDER,
    STANDARD_LOOPS,
    BenchEvidence,
    Conflict,
    DerivedNeed,
    Expectation,
    Needs,
    NeedsError,
    NofilePlan,
    Note,
    Plan,
    PythonRange,
    plan_dict,
)

__all__ = [
    "HEADROOM",
    "LOOP_CHOICES",
    "NEED_NAMES",
    "NEWEST",
    "NOFILE_FAILING",
    "OLDEST",
    "PLAN_LOOPS",
    "SELECTOR_CLASSES",
    "SELECTOR_ORDER",
    "STANDARD_LOOPS",
    "BenchEvidence",
    "Conflict",
    "DerivedNeed",
    "Expectation",
    "Needs",
    "NeedsError",
    "NofilePlan",
    "NofileVerdict",
    "Note",
    "Plan",
    "PythonRange",
    "assess_nofile",
    "nofile_remedy",
    "parse_needs",
    "parse_python",
    "plan_dict",
    "platform_family",
    "recommend",
    "soft_remedy",
    "suggest_nofile",
    "version_tuple",
]
