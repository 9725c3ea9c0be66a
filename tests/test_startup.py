"""What the quick commands import: only what they need (benchmarks/startup.py measures the cost).

`report --json` and `snippet` run on every deploy and in editors' tasks: they import neither
rich (drawing for people), nor the other commands, nor the transport to other interpreters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Modules the machine-readable and code-writing commands must not import.
HEAVY = (
    "rich",
    "iodetect.transport",
    "iodetect.check",
    "iodetect.bench",
    "iodetect.inspect",
    "iodetect.scan",
    "iodetect.fleet",
    "iodetect.commands.check",
    "iodetect.commands.bench",
    "iodetect.commands.inspect",
    "iodetect.commands.scan",
    "iodetect.commands.fleet",
    "iodetect.commands.diff",
    "iodetect.commands.probe_script",
    "tempfile",
    "secrets",
)


DRIVER = """\
import json, sys
from iodetect import cli
code = cli.run(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump(sorted(sys.modules), fh)
sys.exit(code)
"""


def imported(tmp_path: Path, *args: str) -> set[str]:
    """Every module in sys.modules once the command line ARGS has run (as `iodetect` runs it,
    in a fresh interpreter), after it succeeded."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set(json.loads(out.read_text()))
    assert "iodetect.cli" in names  # the list is the real one
    return names


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [("report", "--json"), ("snippet",)])
def test_quick_commands_import_only_what_they_need(tmp_path: Path, args: tuple[str, ...]) -> None:
    names = imported(tmp_path, *args)
    assert heavy(names) == []
    assert f"iodetect.commands.{args[0]}" in names


def test_the_readable_report_draws_with_rich(tmp_path: Path) -> None:
    """The counterpart: the text report does import rich, so the test above can fail."""
    names = imported(tmp_path, "report")
    assert "rich" in names and "iodetect.commands.report" in names
    assert "iodetect.commands.check" not in names


def test_help_still_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for name in ("report", "snippet", "check", "bench", "inspect", "scan", "fleet", "diff"):
        assert f" {name} " in done.stdout
