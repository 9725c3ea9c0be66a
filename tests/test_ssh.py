"""A real ssh target: report, snippet and check through `--python 'ssh ... python3'`, and drift.

The server is Debian's OpenSSH on 127.0.0.1 (the `sshd` fixture); the targets are this host's
interpreters reached through it, one of them with its descriptor limits lowered by `prlimit`
in the remote command and one another CPython. Where sshd cannot be had, these tests skip and
say why.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from iodetect import fleet, model, transport
from iodetect.fleet.live import observe
from iodetect.fleet.render import table

from interpreters import ROOT, find
from sshd_server import Sshd
from support import run_cli

pytestmark = pytest.mark.fleet

DRIVER = (ROOT / "tests" / "snippet_driver.py").read_text(encoding="utf-8")
LOW = "prlimit --nofile=256:256 python3"  # soft and hard 256: below the 364 of 300 connections
SOFT = "prlimit --nofile=256: python3"  # the soft limit alone: the hard one allows raising it


def remote(sshd: Sshd, code: str) -> str:
    """What `python3 -c CODE` prints on the server."""
    done = subprocess.run(
        [*sshd.argv(), "python3 -c " + shlex.quote(code)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def report(sshd: Sshd, remote_python: str = "python3") -> dict[str, Any]:
    done = run_cli("report", "--json", "--python", sshd.command(remote_python))
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def py38(sshd: Sshd) -> str:
    interp = find("3.8")
    if interp is None or interp.chroot:
        pytest.skip("CPython 3.8 is not available on this machine")
    return interp.argv[0]


def test_report_over_ssh_probes_the_remote_interpreter(sshd: Sshd) -> None:
    data = report(sshd)
    facts = model.from_dict(data)
    assert facts.interpreter.release == remote(
        sshd, "import platform; print(platform.python_version())"
    )
    assert facts.interpreter.executable == remote(sshd, "import sys; print(sys.executable)")
    assert data["recommendation"]["ok"]
    text = run_cli("report", "--python", sshd.command())
    assert text.returncode == 0, text.stderr
    assert "Recommendation:" in text.stdout and facts.interpreter.release in text.stdout


def test_snippet_over_ssh_runs_clean_there(sshd: Sshd) -> None:
    done = run_cli("snippet", "--python", sshd.command())
    assert done.returncode == 0, done.stderr
    source = done.stdout
    compile(source, "loop_setup.py", "exec")
    # The module runs on the interpreter it was made for, through ssh, warnings as errors.
    program = DRIVER + f"\nmain(json.loads({json.dumps(json.dumps({'source': source}))}))\n"
    result = transport.run_program(
        program, sshd.command("python3 -X dev -W error -"), timeout=120
    ).result
    assert result["echo_ok"] and result["bytes"] == 1 << 20
    # What ran there is what the plan for that interpreter expects (the module carries no
    # constants for tests: the plan is the record).
    planned = run_cli("report", "--json", "--python", sshd.command())
    assert planned.returncode == 0, planned.stderr
    expect = json.loads(planned.stdout)["recommendation"]["expect"]
    assert (result["loop_class"], result["loop_package"], result["selector_class"]) == (
        expect["loop_class"],
        expect["loop_package"],
        expect["selector_class"],
    )
    assert result["factory_class"] == expect["loop_class"]


def test_check_over_ssh_passes_with_the_live_self_test(sshd: Sshd) -> None:
    done = run_cli("check", "--json", "--python", sshd.command(), "--timeout", "90")
    data = json.loads(done.stdout)
    assert done.returncode == 0, [f for f in data["findings"] if f["level"] != "ok"]
    assert data["ok"] and data["selftest"]["figures"]["connections_held"] == 300
    codes = {f["code"] for f in data["findings"]}
    assert {"test.tcp4", "selftest.loop", "selftest.leak"} <= codes


def test_check_over_ssh_fails_where_the_limit_was_lowered(sshd: Sshd) -> None:
    done = run_cli("check", "--json", "--python", sshd.command(LOW), "--timeout", "90")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["target"]["nofile_soft"] == 256 and data["target"]["nofile_hard"] == 256
    failed = [f["code"] for f in data["findings"] if f["level"] == "fail"]
    assert "nofile.hard" in failed
    # With fewer connections the same host passes, self-test included.
    done = run_cli(
        "check", "--python", sshd.command(LOW), "--connections", "100", "--timeout", "90"
    )
    assert done.returncode == 0, done.stdout


def test_another_interpreter_behind_the_same_host(sshd: Sshd) -> None:
    data = report(sshd, py38(sshd))
    assert data["interpreter"]["version"][:2] == [3, 8]
    assert data["recommendation"]["python"] == "3.8"


def test_live_targets_and_their_saved_facts_give_the_same_fleet(sshd: Sshd, tmp_path: Path) -> None:
    targets = {"ssh-py3": "python3", "ssh-low": LOW, "ssh-py38": py38(sshd), "ssh-soft": SOFT}
    live = [observe(name, sshd.command(cmd), timeout=60) for name, cmd in targets.items()]
    assert all(o.facts is not None for o in live), [o.error for o in live]
    built = fleet.build(live, fleet.Options())
    # The same targets, saved with `report --json` and read as collected files.
    for name, cmd in targets.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(report(sshd, cmd)), encoding="utf-8")
    paths = [str(tmp_path / f"{name}.json") for name in targets]
    done = run_cli("fleet", "--json", *paths)
    assert done.returncode == built.exit_code == 1
    saved = json.loads(done.stdout)
    mine = fleet.to_dict(built)
    keep = ("name", "row", "verdict")
    assert [{k: t[k] for k in keep} for t in saved["targets"]] == [
        {k: t[k] for k in keep} for t in mine["targets"]
    ]
    assert saved["drift"] == mine["drift"]
    assert saved["summary"] == mine["summary"]
    # The drift: the lowered limits and the other interpreter are marked.
    marked = {(d["column"], n["name"]) for d in mine["drift"] for n in d["differs"]}
    assert {
        ("nofile_soft", "ssh-low"),
        ("nofile_hard", "ssh-low"),
        ("python", "ssh-py38"),
        ("nofile_soft", "ssh-soft"),
    } <= marked
    assert ("nofile_hard", "ssh-soft") not in marked
    # A lower soft limit alone passes: the generated module raises it to the hard one.
    assert [(t["name"], t["verdict"]) for t in mine["targets"]] == [
        ("ssh-py3", "pass"),
        ("ssh-low", "fail"),
        ("ssh-py38", "pass"),
        ("ssh-soft", "pass"),
    ]
    assert mine["summary"]["failed"][0]["name"] == "ssh-low"
    # Live targets say how they were reached.
    assert mine["targets"][1]["source"] == {"kind": "command", "location": sshd.command(LOW)}
    assert mine["targets"][1]["seconds"] > 0
    from rich.console import Console

    console = Console(width=200, no_color=True)
    with console.capture() as cap:
        console.print(table(built))
    assert "256*" in cap.get()


def test_diff_catches_the_drift_from_saved_facts(sshd: Sshd, tmp_path: Path) -> None:
    a = tmp_path / "ci.json"
    b = tmp_path / "prod.json"
    a.write_text(json.dumps(report(sshd)), encoding="utf-8")
    b.write_text(json.dumps(report(sshd, LOW)), encoding="utf-8")
    done = run_cli("diff", "--json", str(a), str(b))
    assert done.returncode == 1, done.stderr
    (pair,) = json.loads(done.stdout)["pairs"]
    lower = {d["field"] for d in pair["differences"] if d["lower_on_b"]}
    assert lower == {"limits.nofile_soft", "limits.nofile_hard"}
    assert run_cli("diff", str(a), str(a)).returncode == 0
    c = tmp_path / "py38.json"
    c.write_text(json.dumps(report(sshd, py38(sshd))), encoding="utf-8")
    done = run_cli("diff", "--json", str(a), str(c))
    assert done.returncode == 1
    (pair,) = json.loads(done.stdout)["pairs"]
    assert "idiom" in {ch["aspect"] for ch in pair["plan_changes"]}
    # The soft limit alone lower on B: the module raises it where it runs, so the plan is the
    # same on both, and the lower limit alone makes the difference (exit 1).
    d = tmp_path / "soft.json"
    d.write_text(json.dumps(report(sshd, SOFT)), encoding="utf-8")
    done = run_cli("diff", "--json", str(a), str(d))
    assert done.returncode == 1
    (pair,) = json.loads(done.stdout)["pairs"]
    assert [x["field"] for x in pair["differences"] if x["lower_on_b"]] == ["limits.nofile_soft"]
    assert pair["plan_changes"] == []


def test_secrets_in_the_command_are_masked_even_when_it_fails(sshd: Sshd) -> None:
    ok = observe("web1", sshd.command("env API_TOKEN=sekrit python3"), timeout=60)
    assert ok.facts is not None
    assert "API_TOKEN=***" in ok.source.location
    assert "sekrit" not in json.dumps(fleet.to_dict(fleet.build([ok], fleet.Options())))
    # A target that cannot be reached is an error for it, with the command masked too.
    argv = sshd.argv()
    argv[argv.index(str(sshd.port))] = "1"  # nothing listens on port 1
    dead = observe("dead", shlex.join(argv) + " env API_TOKEN=sekrit python3", timeout=60)
    assert dead.facts is None and dead.error is not None
    assert "sekrit" not in dead.error and "sekrit" not in dead.source.location
    built = fleet.build([ok, dead], fleet.Options())
    assert [t.verdict for t in built.targets] == ["pass", "error"]
    assert built.exit_code == 1
