"""One `check` over a fleet of real targets: CPython 3.8, 3.12 and 3.15, PyPy, and an ssh host
whose descriptor limits were lowered, plus one target that never answers.

The interpreters are this machine's (pyenv, and the sid-python chroot for 3.15 and PyPy); the
ssh host is Debian's OpenSSH on 127.0.0.1 (the `sshd` fixture) with `prlimit` in the remote
command. A test skips only when an interpreter or sshd is absent, and says which.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iodetect import model

from interpreters import PYPY, require
from sshd_server import Sshd
from support import run_cli

pytestmark = pytest.mark.fleet

SCHEMAS = Path(model.__file__).parent / "schemas"
FLEET_SCHEMA = json.loads((SCHEMAS / "fleet.schema.json").read_text(encoding="utf-8"))
DIFF_SCHEMA = json.loads((SCHEMAS / "diff.schema.json").read_text(encoding="utf-8"))
LOW = "prlimit --nofile=256:256 python3"  # below the 364 that 300 connections need
DEADLINE = 120.0  # each target's; the machine is shared, so generous


def targets_file(folder: Path, sshd: Sshd) -> Path:
    lines = ["# the fleet: four interpreters here, one ssh host with lowered limits, one dead"]
    for name, version in (("py38", "3.8"), ("py312", "3.12"), ("py315", "3.15"), ("pypy", PYPY)):
        lines.append(f"{name} = {shlex.join(require(version).command())}")
    lines.append(f"ssh-low = {sshd.command(LOW)}")
    lines.append("stuck = sleep 600   # starts, reads nothing, never answers")
    path = folder / "targets.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_check_over_five_real_targets_marks_the_drift_and_fails_the_low_limit(
    sshd: Sshd, tmp_path: Path
) -> None:
    path = targets_file(tmp_path, sshd)
    start = time.monotonic()
    done = run_cli(
        "check", "--json", "--targets", str(path), "--timeout", f"{DEADLINE:g}", timeout=600
    )
    took = time.monotonic() - start
    assert done.returncode == 1, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(data, FLEET_SCHEMA)
    # Every target ran at once, each within its own deadline: the run ends with the slowest.
    assert took < DEADLINE + 30, took
    by_name = {t["name"]: t for t in data["targets"]}
    assert {n: t["verdict"] for n, t in by_name.items()} == {
        "py38": "pass",
        "py312": "pass",
        "py315": "pass",
        "pypy": "pass",
        "ssh-low": "fail",
        "stuck": "error",
    }, {n: t["check"] and t["check"]["findings"] for n, t in by_name.items()}
    versions = {n: by_name[n]["facts"]["interpreter"] for n in ("py38", "py312", "py315", "pypy")}
    assert [versions[n]["version"][:2] for n in ("py38", "py312", "py315")] == [
        [3, 8],
        [3, 12],
        [3, 15],
    ]
    assert versions["pypy"]["implementation"] == "pypy"
    # Each target that passed held the 300 connections live, in its own interpreter.
    for name in ("py38", "py312", "py315", "pypy"):
        check = by_name[name]["check"]
        assert check["mode"] == "live"
        assert check["selftest"]["figures"]["connections_held"] == 300, name
    low = by_name["ssh-low"]
    assert low["source"]["location"] == sshd.command(LOW)
    assert (low["row"]["nofile_soft"], low["row"]["nofile_hard"]) == ("256", "256")
    assert "nofile.hard" in {f["code"] for f in low["check"]["findings"] if f["level"] == "fail"}
    assert "gave no answer within" in by_name["stuck"]["error"]
    # The drift: the lowered limits, and the interpreters that differ from the first's.
    marked = {(d["column"], n["name"]) for d in data["drift"] for n in d["differs"]}
    assert {("nofile_soft", "ssh-low"), ("nofile_hard", "ssh-low")} <= marked
    assert {("python", n) for n in ("py312", "py315", "pypy")} <= marked
    assert not {c for c, n in marked if n != "ssh-low" and c.startswith("nofile")}
    assert [(f["name"], f["verdict"]) for f in data["summary"]["failed"]] == [
        ("ssh-low", "fail"),
        ("stuck", "error"),
    ]

    # Saved, the run is a fleet document: its table shows the same verdicts and marks.
    saved = tmp_path / "fleet.json"
    saved.write_text(done.stdout, encoding="utf-8")
    table = run_cli("fleet", str(saved))
    assert table.returncode == 1, table.stderr
    rows = {
        cells[0]: cells[1:]
        for line in table.stdout.splitlines()
        if line.startswith("│")
        for cells in [[c.strip() for c in line.strip("│").split("│")]]
    }
    assert rows["ssh-low"][3:] == ["256*", "256*", "FAIL"]
    assert rows["py312"][0] == "CPython " + ".".join(map(str, versions["py312"]["version"])) + "*"
    assert rows["stuck"][-1] == "ERROR"
    # (`fleet` reads with its own options, so its summary says "rules only"; the verdicts
    # it shows are the live checks the document kept.)
    assert "6 targets (rules only): 4 pass, 0 warn, 1 fail, 1 could not be examined" in (
        table.stdout
    )

    # diff catches the same drift from saved facts: 3.12's facts against the whole fleet.
    ci = tmp_path / "ci.json"
    ci.write_text(json.dumps(by_name["py312"]["facts"]), encoding="utf-8")
    compared = run_cli("diff", "--json", str(ci), str(saved))
    assert compared.returncode == 1, compared.stderr
    result = json.loads(compared.stdout)
    jsonschema.validate(result, DIFF_SCHEMA)
    pairs = {p["b"]: p for p in result["pairs"]}
    lower = {d["field"] for d in pairs["ssh-low"]["differences"] if d["lower_on_b"]}
    assert lower == {"limits.nofile_soft", "limits.nofile_hard"}
    assert pairs["py312"]["differences"] == [] and pairs["py312"]["plan_changes"] == []
    assert "idiom" in {c["aspect"] for c in pairs["py38"]["plan_changes"]}
    # And the ssh host's own saved facts, as `report --json` writes them, diff the same way.
    prod = tmp_path / "prod.json"
    prod.write_text(json.dumps(low["facts"]), encoding="utf-8")
    compared = run_cli("diff", "--json", str(ci), str(prod))
    assert compared.returncode == 1
    (pair,) = json.loads(compared.stdout)["pairs"]
    assert {d["field"] for d in pair["differences"] if d["lower_on_b"]} == lower
