"""`report` and `check` over several targets: --python repeated, --targets FILE, --jobs.

The targets are real: this interpreter, the same under `prlimit` with lower descriptor limits,
a command that does not exist and one that never answers. The scheduler's own backstop (a
target whose work overstays its deadline although the transport bounds every process) cannot
be reached with a real target, so it is driven with work that blocks, and said to be.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iodetect import model
from iodetect.errors import InputError
from iodetect.fleet.document import Observation, Source
from iodetect.fleet.runner import STRAGGLER_GRACE, reach_all
from iodetect.fleet.targets import TargetSpec, combined, from_commands, parse

from support import run_cli

SCHEMAS = Path(model.__file__).parent / "schemas"
FLEET_SCHEMA = json.loads((SCHEMAS / "fleet.schema.json").read_text(encoding="utf-8"))
FACTS_SCHEMA = json.loads((SCHEMAS / "facts.schema.json").read_text(encoding="utf-8"))
SELFTEST_SCHEMA = json.loads((SCHEMAS / "check.schema.json").read_text(encoding="utf-8"))[
    "properties"
]["selftest"]
HERE = shlex.quote(sys.executable)


def prlimit(nofile: str) -> str:
    """This interpreter with its descriptor limits lowered, or a skip that says why not."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    return f"prlimit --nofile={nofile} {HERE}"


def fleet_json(*args: str, timeout: float = 300) -> tuple[int, dict[str, Any], float]:
    """A multi-target command's JSON, validated; its exit code and wall time."""
    start = time.monotonic()
    done = run_cli(*args, "--json", timeout=timeout)
    took = time.monotonic() - start
    assert done.returncode in (0, 1), done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(data, FLEET_SCHEMA)
    for target in data["targets"]:
        if target["facts"] is not None:
            jsonschema.validate(target["facts"], FACTS_SCHEMA)
        if target["check"] is not None and target["check"]["selftest"] is not None:
            jsonschema.validate(target["check"]["selftest"], SELFTEST_SCHEMA)
    assert data["exit_code"] == done.returncode
    return done.returncode, data, took


def verdicts(data: dict[str, Any]) -> dict[str, str | None]:
    return {t["name"]: t["verdict"] for t in data["targets"]}


def marked(data: dict[str, Any]) -> set[tuple[str, str]]:
    return {(d["column"], n["name"]) for d in data["drift"] for n in d["differs"]}


# --- the targets file ---------------------------------------------------------------------------


def test_a_targets_file_with_names_comments_and_blank_lines() -> None:
    text = (
        "# CI and production\n"
        "\n"
        "ci   = python3\n"
        "web1 = ssh web1 python3          # the first web host\n"
        "   ssh -p 2222 web2 'prlimit --nofile=1024:1024 python3'\r\n"
        "env-web3 = env API_TOKEN=sekrit python3\n"
    )
    specs = parse(text, "targets.txt")
    assert [(s.name, s.argv) for s in specs] == [
        ("ci", ("python3",)),
        ("web1", ("ssh", "web1", "python3")),
        (
            "ssh -p 2222 web2 'prlimit --nofile=1024:1024 python3'",
            ("ssh", "-p", "2222", "web2", "prlimit --nofile=1024:1024 python3"),
        ),
        ("env-web3", ("env", "API_TOKEN=sekrit", "python3")),
    ]
    assert specs[1].origin == "targets.txt line 4"
    assert "sekrit" not in specs[3].shown and "API_TOKEN=***" in specs[3].shown
    # An unnamed target is named by its command line, with the secrets masked.
    (unnamed,) = parse("env API_TOKEN=sekrit python3\n", "t")
    assert unnamed.name == "env 'API_TOKEN=***' python3"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("web1 =", "a name needs a command after ` = `"),
        ("web1 = # nothing", "no command for web1"),
        ("web1=ssh web1 python3", "is not a command: name a target with spaces around"),
        ("web1 = ssh 'web1 python3", "cannot parse the command: No closing quotation"),
        ("w\x1b[2Jeb = python3", "control characters are not allowed"),
        ("x" * 81 + " = python3", "a target's name is one word"),
        ("we;b = python3", "a target's name is one word"),
    ],
)
def test_a_bad_line_is_named_by_its_number(line: str, why: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(f"# targets\n\npython3\n{line}\n", "targets.txt")
    message = str(caught.value)
    assert message.startswith("targets.txt line 4: ") and why in message, message
    assert "\x1b" not in message and "\n" not in message


def test_a_name_given_twice_is_refused_and_unnamed_duplicates_are_told_apart() -> None:
    with pytest.raises(InputError, match=r"line 3: the name web1 is already given on line 1"):
        parse("web1 = python3\nweb2 = python3\nweb1 = python3.12\n", "t")
    specs = combined([*from_commands(["python3", "python3"]), *parse("python3\n", "t")])
    assert [s.name for s in specs] == ["python3", "python3 (2)", "python3 (3)"]
    with pytest.raises(InputError, match=r"^t: no targets in it"):
        parse("# only a comment\n\n", "t")


def test_the_cli_refuses_a_bad_targets_file_in_one_line_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "targets.txt"
    bad.write_text(f"ok = {HERE}\nbroken = {HERE} 'unclosed\n", encoding="utf-8")
    big = tmp_path / "big.txt"
    big.write_text(f"{HERE}\n" * (1 << 17), encoding="utf-8")  # over 1 MiB
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for command in ("check", "report"):
        for path, words in (
            (bad, f"--targets file {bad} line 2: cannot parse the command"),
            (tmp_path / "missing.txt", "cannot read --targets file"),
            (big, "more than the 1.0 MiB iodetect reads"),
            (fifo, "not a regular file"),
        ):
            done = run_cli(command, "--targets", str(path), timeout=60)
            assert done.returncode == 2, (command, path, done.stdout, done.stderr)
            assert done.stdout == ""
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and words in lines[0], (command, lines)
    # Unparseable repeated --python: exit 2 before anything runs, as with a single one.
    done = run_cli("check", "--python", HERE, "--python", "python3 'unclosed", timeout=60)
    assert done.returncode == 2 and "cannot parse --python command" in done.stderr


def test_options_that_fit_one_target_only_are_usage_errors(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(run_cli("report", "--json").stdout, encoding="utf-8")
    two = ("--python", HERE, "--python", HERE)
    done = run_cli("report", *two, "--facts", str(facts), timeout=60)
    assert done.returncode == 2 and "iodetect fleet" in done.stderr
    done = run_cli("report", *two, "--bench", str(facts), timeout=60)
    assert done.returncode == 2 and "--bench" in done.stderr
    done = run_cli("check", *two, "--loop", "nosuchloop", timeout=60)
    assert done.returncode == 2 and "unknown loop 'nosuchloop'" in done.stderr
    assert done.stdout == ""


# --- real runs ------------------------------------------------------------------------------------


def test_report_on_several_targets_marks_the_drift() -> None:
    low = prlimit("256:256")
    code, data, _ = fleet_json(
        "report", "--python", HERE, "--python", low, "--python", HERE, "--connections", "300"
    )
    assert data["kind"] == "iodetect.fleet" and data["options"]["check"] == "rules"
    names = [t["name"] for t in data["targets"]]
    assert names == [sys.executable, low.replace(HERE, sys.executable), f"{sys.executable} (2)"]
    assert all(t["source"]["kind"] == "command" for t in data["targets"])
    # The same interpreter twice, and once with limits of 256: those are the drift, and fail.
    assert marked(data) == {("nofile_soft", names[1]), ("nofile_hard", names[1])}
    assert verdicts(data) == {names[0]: "pass", names[1]: "fail", names[2]: "pass"}
    assert code == 1
    (failed,) = data["summary"]["failed"]
    assert failed["name"] == names[1] and "hard descriptor limit 256" in failed["reason"]
    # Report plans as a single `report` does: with no --connections, no limit is judged.
    code, data, _ = fleet_json("report", "--python", HERE, "--python", low)
    assert code == 0 and set(verdicts(data).values()) == {"pass"}


def test_check_on_several_targets_table_and_exit_code(tmp_path: Path) -> None:
    soft = prlimit("256:")  # the soft limit alone: the generated module raises it
    low = prlimit("256:256")
    targets = tmp_path / "targets.txt"
    targets.write_text(
        f"# two good, one that can be raised, one that cannot\nhere = {HERE}\n"
        f"again = {HERE}\nsoft = {soft}\nlow = {low}\n",
        encoding="utf-8",
    )
    done = run_cli("check", "--targets", str(targets), "--timeout", "90", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    table = {}
    for line in done.stdout.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            table[cells[0]] = cells[1:]
    assert list(table) == ["here", "again", "soft", "low"]
    assert [table[n][-1] for n in table] == ["pass", "pass", "pass", "FAIL"]
    assert table["soft"][3] == "256*" and table["soft"][4] != "256*"
    assert table["low"][3:5] == ["256*", "256*"]
    assert "4 targets (live check): 3 pass, 0 warn, 1 fail, 0 could not be examined" in (
        done.stdout
    )
    assert "FAIL  low: hard descriptor limit 256 is below the 364" in done.stdout
    assert done.stderr == ""  # no progress lines when stderr is not a terminal


def test_check_json_carries_each_targets_live_self_test() -> None:
    code, data, _ = fleet_json(
        "check", "--python", HERE, "--python", prlimit("512:512"), "--connections", "100"
    )
    assert code == 0, data["summary"]
    assert data["options"]["check"] == "live" and data["options"]["connections"] == 100
    for target in data["targets"]:
        check = target["check"]
        assert check["mode"] == "live" and target["verdict"] == "pass"
        codes = {f["code"] for f in check["findings"] if f["level"] == "ok"}
        assert {"probe", "recommend.plan", "test.tcp4", "selftest.leak"} <= codes
        assert check["selftest"]["figures"]["connections_held"] == 100
    assert data["targets"][1]["facts"]["limits"]["nofile_soft"] == 512


def test_a_dead_and_a_hanging_target_are_findings_not_a_stall() -> None:
    timeout = 8.0
    code, data, took = fleet_json(
        "check",
        "--python",
        HERE,
        "--python",
        "/nonexistent/python3",
        "--python",
        "sleep 600",
        "--timeout",
        str(timeout),
        "--connections",
        "50",
    )
    assert code == 1
    assert list(verdicts(data).values()) == ["pass", "error", "error"]
    dead, hang = data["targets"][1:]
    assert "command not found" in dead["error"]
    assert "gave no answer within" in hang["error"] and "process group was killed" in hang["error"]
    assert data["summary"]["error"] == 2
    assert [f["name"] for f in data["summary"]["failed"]] == ["/nonexistent/python3", "sleep 600"]
    # The run ends with its slowest target: a generous bound, far below the hang's 600 s.
    assert took < timeout + STRAGGLER_GRACE + 60
    # An unreachable target is the same finding for report (exit 1, as `fleet` has it).
    code, data, _ = fleet_json("report", "--python", HERE, "--python", "/nonexistent/python3")
    assert code == 1 and list(verdicts(data).values()) == ["pass", "error"]


def test_a_single_python_keeps_the_single_target_output() -> None:
    done = run_cli("check", "--json", "--python", HERE, "--connections", "20")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "iodetect.check"
    done = run_cli("check", "--json", "--python", "/nonexistent/python3")
    assert done.returncode == 2  # the single-target exit code for an unreachable target
    assert json.loads(done.stdout)["kind"] == "iodetect.check"
    done = run_cli("report", "--json", "--python", HERE)
    assert done.returncode == 0 and json.loads(done.stdout)["kind"] == "iodetect.facts"
    done = run_cli("report", "--python", HERE)
    assert done.returncode == 0 and "Recommendation:" in done.stdout
    assert "verdict" not in done.stdout


def test_secrets_in_target_commands_never_reach_the_output(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(
        f"env API_TOKEN=sekrit {HERE}\nenv API_TOKEN=sekrit /nonexistent/python3\n",
        encoding="utf-8",
    )
    code, data, _ = fleet_json("report", "--targets", str(targets))
    assert code == 1
    assert "sekrit" not in json.dumps(data)
    assert data["targets"][0]["name"] == f"env 'API_TOKEN=***' {sys.executable}"


# --- the scheduler ------------------------------------------------------------------------------


def _specs(n: int) -> list[TargetSpec]:
    return [TargetSpec(f"t{i}", ("python3",), "--python") for i in range(n)]


def test_at_most_jobs_targets_run_at_once_and_order_is_kept() -> None:
    lock = threading.Lock()
    now = peak = 0

    def reach(spec: TargetSpec, timeout: float, live: object) -> Observation:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(0.05 * (10 - int(spec.name[1:]) % 10))  # later targets finish first
        with lock:
            now -= 1
        return Observation(spec.name, Source("command", spec.shown), error="ok")

    got = reach_all(_specs(12), timeout=30, jobs=3, reach=reach)
    assert [o.name for o in got] == [f"t{i}" for i in range(12)]
    assert 1 <= peak <= 3


def test_work_that_overstays_its_deadline_is_left_behind() -> None:
    # Not reachable with a real target (the transport kills every process at its deadline):
    # work that blocks stands for a bug that would.
    release = threading.Event()

    def reach(spec: TargetSpec, timeout: float, live: object) -> Observation:
        if spec.name == "t1":
            release.wait(60)
        if spec.name == "t2":
            raise RuntimeError("a step crashed\nwith detail")
        return Observation(spec.name, Source("command", spec.shown), error="reached")

    try:
        start = time.monotonic()
        got = reach_all(_specs(3), timeout=0.5, jobs=3, reach=reach, grace=0.5)
        assert time.monotonic() - start < 30
    finally:
        release.set()
    assert got[0].error == "reached"
    assert got[1].facts is None and "did not finish within its 0.5 s deadline" in str(got[1].error)
    assert got[2].error == "internal error: RuntimeError: with detail"


# --- collected files: report and check read a folder or several files -------------------------

HOSTS = Path(__file__).parent / "hosts"


def test_report_and_check_read_a_folder_or_several_collected_files(tmp_path: Path) -> None:
    """What an engine collected, judged by the rules alone: the fleet document and table."""
    folder = tmp_path / "collected"
    folder.mkdir()
    shutil.copy(HOSTS / "linux.json", folder / "web1.json")
    shutil.copy(HOSTS / "pypy.json", folder / "web2.json")
    code, data, _ = fleet_json("report", "--facts", str(folder))
    assert code == 0 and verdicts(data) == {"web1": "pass", "web2": "pass"}
    assert ("loop", "web2") in marked(data)  # PyPy has no uvloop: drift
    files = ["--facts", str(folder / "web1.json"), "--facts", str(folder / "web2.json")]
    code, data, _ = fleet_json("check", *files)
    assert code == 0 and data["options"]["check"] == "rules"
    code, data, _ = fleet_json("check", *files, "--connections", "30000")  # hard limit 20000
    assert code == 1 and verdicts(data) == {"web1": "fail", "web2": "fail"}
    # A live part cannot be given with saved facts: a usage error before anything runs.
    done = run_cli("check", "--facts", str(folder), "--python", sys.executable)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    # A single file to report stays the one-host report it always was.
    done = run_cli("report", "--facts", str(HOSTS / "linux.json"))
    assert done.returncode == 0 and "Host" in done.stdout
