"""The command line as CI and terminals meet it: signals, closed pipes, full disks, hostile
strings from targets, secrets in command lines, and one exit code per kind of error."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import selftest_setups as setups
from processes import Reaper, gone, read_pid

from support import HOSTS, run_cli

HOSTILE = [sys.executable, str(Path(__file__).parent / "hostile_target.py"), sys.executable]
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "iodetect", *args]


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("iodetect: error: ") and "Traceback" not in done.stderr
    return lines[0]


# --- signals: every target process group stops, and the exit status says which signal ------------


def gil_holding_probe(tmp_path: Path) -> tuple[str, Path]:
    """A --python command whose probe hangs in an import that holds the GIL (a fake uvloop)."""
    pid_file = tmp_path / "probe.pid"
    fake = tmp_path / "site" / "uvloop"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nsum(range(10 ** 13))\n"
    )
    python = shlex.join(["env", f"PYTHONPATH={tmp_path / 'site'}", sys.executable])
    return python, pid_file


def _signalled(argv: list[str], pid_file: Path, sig: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_pid(pid_file, within=30)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize(
    ("command", "sig"),
    [
        ("report", signal.SIGINT),
        ("report", signal.SIGTERM),
        ("report", signal.SIGHUP),
        ("snippet", signal.SIGTERM),
    ],
    ids=["report-SIGINT", "report-SIGTERM", "report-SIGHUP", "snippet-SIGTERM"],
)
def test_a_signal_stops_the_probe_that_holds_the_gil(
    tmp_path: Path, reaper: Reaper, command: str, sig: int
) -> None:
    python, pid_file = gil_holding_probe(tmp_path)
    reaper.pid_file(pid_file)
    done = _signalled(cli(command, "--python", python, "--timeout", "120"), pid_file, sig)
    assert done.returncode == EXIT[sig], done.stderr
    assert f"interrupted by {signal.Signals(sig).name}" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert gone(read_pid(pid_file))


@pytest.mark.parametrize("sig", list(EXIT), ids=lambda s: signal.Signals(s).name)
def test_a_signal_stops_the_check_whose_setup_holds_the_gil(
    tmp_path: Path, reaper: Reaper, sig: int
) -> None:
    pid_file = reaper.pid_file(tmp_path / "worker.pid")
    path = tmp_path / "loop_setup.py"
    path.write_text(setups.holds_the_gil(str(pid_file)))
    argv = cli("check", "--snippet", str(path), "--loop", "asyncio", "--timeout", "120")
    done = _signalled(argv, pid_file, sig)
    assert done.returncode == EXIT[sig], done.stderr
    assert "Traceback" not in done.stderr
    assert gone(read_pid(pid_file))


# --- stdout: a closed pipe, a full disk, an encoding without the characters ----------------------

SCAN_PROJECT = str(Path(__file__).parent / "scan_project")
# scan's three formats, and inspect (text and JSON) of the test process itself: a Python process.
OTHER_PRODUCTS = [
    ("scan", SCAN_PROJECT, "--format", "json"),
    ("scan", SCAN_PROJECT, "--format", "github"),
    ("scan", SCAN_PROJECT),
    *(
        [
            ("inspect", str(os.getpid()), "--no-plan", "--json"),
            ("inspect", str(os.getpid()), "--no-plan"),
        ]
        if sys.platform == "linux"
        else []
    ),
]


@pytest.mark.parametrize(
    "args",
    [
        ("report",),
        ("report", "--json"),
        ("snippet", "--facts", str(HOSTS / "linux.json")),
        ("check", "--json", "--connections", "10"),
        ("--help",),
        *OTHER_PRODUCTS,
    ],
)
def test_a_closed_pipe_is_silent_and_exits_141(args: tuple[str, ...]) -> None:
    """As `iodetect report | head -1` when head has gone: the reader is closed before iodetect
    writes a byte, so every write meets the closed pipe."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            cli(*args), stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("report",),
        ("snippet", "--facts", str(HOSTS / "linux.json")),
        ("check", "--json", "--connections", "10"),
        *OTHER_PRODUCTS,
    ],
)
def test_a_full_disk_on_stdout_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            cli(*args), stdout=full, stderr=subprocess.PIPE, text=True, timeout=60
        )
    assert done.returncode == 2
    assert "cannot write the output: No space left on device" in one_line_error(done)


def test_a_terminal_encoding_without_the_characters_is_no_traceback() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    for args in (("report",), ("report", "--python", shlex.join(HOSTILE))):
        done = subprocess.run(cli(*args), capture_output=True, env=env, timeout=60)
        err = done.stderr.decode("cp1252", "replace")
        assert done.returncode == 0, err
        assert "Traceback" not in err
        assert b"Recommendation: " in done.stdout


# --- options that look like numbers --------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "1e308"])
@pytest.mark.parametrize("command", ["report", "snippet", "check"])
def test_a_timeout_that_is_not_a_deadline_is_refused(command: str, value: str) -> None:
    done = run_cli(command, "--timeout", value, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    assert "--timeout" in one_line_error(done)


# --- strings from a hostile target ---------------------------------------------------------------


def _assert_clean_terminal_text(text: str) -> None:
    for bad in ("\x1b", "\x07", "\x9b", "\udc80"):
        assert bad not in text, repr(bad)
    for line in text.splitlines():
        assert not line.startswith("iodetect: error: forged"), line


@pytest.mark.parametrize(
    "args",
    [
        ("report",),
        ("check", "--connections", "20"),
        ("check", "--connections", "20", "--strict"),
    ],
)
def test_hostile_strings_from_the_target_are_shown_as_text(args: tuple[str, ...]) -> None:
    done = run_cli(*args, "--python", shlex.join(HOSTILE), timeout=90)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    _assert_clean_terminal_text(done.stdout + done.stderr)
    if args[0] == "check":
        assert "on linux in [/]" in done.stdout  # markup shown as written, not a MarkupError
        assert "[bold red]x" in done.stdout


def test_hostile_strings_in_json_stay_data() -> None:
    done = run_cli("report", "--json", "--python", shlex.join(HOSTILE), timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["host"]["container"].startswith("[/]\x1b]0;owned")  # data, escaped by JSON
    assert "\x1b" not in done.stdout  # JSON escapes it: \u001b


def test_hostile_strings_in_a_bench_file_are_shown_as_text(tmp_path: Path) -> None:
    done = run_cli(
        "bench",
        "--loops",
        "selectors",
        "--selectors",
        "epoll",
        "--workloads",
        "pingpong",
        "--rounds",
        "1",
        "--duration",
        "0.05",
        "--windows",
        "1",
        "--budget",
        "0",
        "--json",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    data["environment"]["cpu_model"] = "[/]\x1b]0;owned\x07" + "\nforged"
    data["environment"]["kernel"] = "[bold]k\x9b31m"
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    shown = run_cli("bench", "--show", str(path), timeout=60)
    assert shown.returncode == 0, shown.stderr
    _assert_clean_terminal_text(shown.stdout)
    assert "[/]" in shown.stdout and "[bold]k" in shown.stdout


# --- secrets in --python, and the exit code of an unreachable target -----------------------------


def test_secrets_in_the_python_command_are_never_echoed() -> None:
    python = f"env API_TOKEN=hunter2 {shlex.quote(sys.executable)}"
    done = run_cli("check", "--json", "--connections", "10", "--python", python, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    failing = "env API_TOKEN=hunter2 /nonexistent/python3"
    for command in ("report", "snippet", "check"):
        done = run_cli(command, "--python", failing, timeout=60)
        assert done.returncode == 2
        assert "hunter2" not in done.stdout + done.stderr
        assert "API_TOKEN=***" in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["report", "snippet", "check", "bench"])
def test_an_unreachable_target_is_exit_2_for_every_command(command: str) -> None:
    done = run_cli(command, "--python", "/nonexistent/python3", timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "command not found: /nonexistent/python3" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["report", "check"])
def test_a_flooding_target_meets_the_cap_not_the_memory(command: str) -> None:
    """`--python yes` printed without end and grew iodetect to gigabytes."""
    code = (
        "import resource, sys\n"
        "from iodetect.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    sys.stderr.write('\\nmaxrss_kib=%d\\n' % peak)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, command, "--python", "yes", "--timeout", "20"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "printed more than 16 MiB" in done.stdout + done.stderr
    peak = int(done.stderr.rsplit("maxrss_kib=", 1)[1])
    assert peak < 300 * 1024, peak


def test_a_huge_value_is_cut_in_the_usage_error() -> None:
    """click repeats a refused value in its message: the line stays one short line."""
    huge = "9" * 5000
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "report", "--json", f"--connections={huge}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and len(done.stderr) < 500
    assert done.stderr.startswith("iodetect: error: Invalid value for '--connections'")
