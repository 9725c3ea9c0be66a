"""The pre-deploy check: probe, limits and plan, setup, a live self-test, judged into findings;
with --serve, the launch command's workers held to the same plan.

The parts, in the order the check runs them:
  options   what the check is asked to prove (Options) and must observe (Expectation)
  findings  Finding, the recorder that runs each step isolated, the shared Deadline
  steps     probe, plan (with limits), setup, self-test: each step's own function
  limits    the descriptor-limit judgement, the recommender's rule
  report    the worker's report as a typed record, read strictly
  judge     the report held against the plan and the options
  steps_serve  the serve step: the launch command started, its workers compared, all stopped
  result    Result, its exit code and its JSON form
  engine    run_check and verify_setup: the steps in order
  render    the findings for people
"""

from __future__ import annotations

from iodetect.check.engine import run_check, verify_setup
from iodetect.check.findings import LEVELS, STEPS, Finding
from iodetect.check.options import (
    DEFAULT_CONNECTIONS,
    DEFAULT_TIMEOUT,
    NOFILE_HEADROOM,
    Expectation,
    Options,
    needed_nofile,
)
from iodetect.check.report import Report, parse_report
from iodetect.check.result import CHECK_KIND, SCHEMA_VERSION, Result, to_dict
from iodetect.errors import UsageError

__all__ = [
    "CHECK_KIND",
    "DEFAULT_CONNECTIONS",
    "DEFAULT_TIMEOUT",
    "LEVELS",
    "NOFILE_HEADROOM",
    "SCHEMA_VERSION",
    "STEPS",
    "Expectation",
    "Finding",
    "Options",
    "Report",
    "Result",
    "UsageError",
    "needed_nofile",
    "parse_report",
    "run_check",
    "to_dict",
    "verify_setup",
]
