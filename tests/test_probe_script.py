"""`iodetect probe-script`: the probe as a program an engine runs; its stdout is a facts file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iodetect import __version__
from iodetect.fleet import collected
from iodetect.target import MARKER

from interpreters import PYPY, require
from support import run_cli


def script() -> str:
    done = run_cli("probe-script")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def load(stdout: str, tmp_path: Path, name: str = "target") -> collected.Observation:
    """The output as a collected file, read as `iodetect fleet` reads it."""
    path = tmp_path / f"{name}.json"
    path.write_text(stdout, encoding="utf-8")
    (obs,) = collected.collect([path])
    assert obs.error is None, obs.error
    return obs


def check_output(done: subprocess.CompletedProcess[str], tmp_path: Path) -> collected.Observation:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing warned under -W error, nothing else printed
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith('{"kind": "iodetect.facts"'), done.stdout[:200]
    assert MARKER.strip() not in done.stdout
    return load(done.stdout, tmp_path)


def test_the_script_says_what_it_is_and_compiles() -> None:
    text = script()
    assert text.startswith("#!/usr/bin/env python3\n")
    assert f"iodetect {__version__} probe" in text
    compile(text, "probe.py", "exec")
    assert run_cli("probe-script").stdout == text  # the same every time: safe to commit


def test_run_as_a_file_and_on_stdin_it_prints_facts_alone(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(script(), encoding="utf-8")
    as_file = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    obs = check_output(as_file, tmp_path)
    assert obs.facts is not None
    assert obs.facts.interpreter.version[:2] == tuple(sys.version_info[:2])
    on_stdin = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-"],
        input=script(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check_output(on_stdin, tmp_path).facts is not None


def test_importing_it_runs_nothing(tmp_path: Path) -> None:
    (tmp_path / "iodetect_probe.py").write_text(script(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", "import iodetect_probe; print(iodetect_probe.gather()['kind'])"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "iodetect.facts\n"


@pytest.mark.targets
@pytest.mark.parametrize("version", ["3.8", "3.12", "3.15", PYPY])
def test_its_output_loads_as_facts_on_each_interpreter(version: str, tmp_path: Path) -> None:
    argv = list(require(version).command())
    # On stdin: a chroot interpreter cannot see this host's files, and an engine may pipe it too.
    done = subprocess.run(
        [*argv, "-X", "dev", "-W", "error", "-"],
        input=script(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    obs = check_output(done, tmp_path)
    facts = obs.facts
    assert facts is not None
    if version == PYPY:
        assert facts.interpreter.implementation == "pypy"
    else:
        assert facts.interpreter.implementation == "cpython"
        assert "%d.%d" % facts.py == version
    assert facts.origin == "probe" and facts.errors == ()
    assert facts.limits.nofile_soft is not None
    # And the fleet reads it, with a plan and a verdict.
    fleet = run_cli("fleet", "--json", str(tmp_path / "target.json"))
    assert fleet.returncode in (0, 1), fleet.stderr
    assert '"verdict": "' in fleet.stdout and '"plan": {' in fleet.stdout
