"""The transport against targets that misbehave: real processes that flood, hang, detach, forge."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from processes import Reaper, alive, gone, read_pid

from iodetect import target, transport
from iodetect.transport import TargetError, run_program

PROGRAM = target.program("probe")  # any program: the fake targets below only want its marker

# Reads the program from stdin and finds this run's marker in it, as a hostile target could.
PRELUDE = (
    "import os, re, sys, time\n"
    "src = sys.stdin.read()\n"
    "marker = re.search(r\"MARKER = '(@@iodetect@@ [0-9a-f]+ )'\", src).group(1)\n"
    "def answer(text):\n"
    "    sys.stdout.write(marker + text + '\\n')\n"
    "    sys.stdout.flush()\n"
)


def fake(code: str) -> list[str]:
    """A target: this interpreter running PRELUDE then `code`."""
    return [sys.executable, "-c", PRELUDE + code]


def fails(command: list[str], timeout: float = 10.0) -> TargetError:
    with pytest.raises(TargetError) as info:
        run_program(PROGRAM, command, timeout)
    return info.value


# --- bounded in size -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["yes"],  # lines without end
        ["sh", "-c", "yes | tr -d '\\n'"],  # one line without end
        ["sh", "-c", "yes >&2"],  # on stderr
    ],
    ids=["lines", "one-line", "stderr"],
)
def test_a_flooding_target_is_killed_at_the_cap(command: list[str]) -> None:
    start = time.monotonic()
    err = fails(command, timeout=60)
    assert time.monotonic() - start < 30  # the cap, not the deadline, ended it
    assert err.cause == "flood"
    assert "printed more than 16 MiB" in str(err) and "its process group was killed" in str(err)


def test_the_cap_can_be_lowered() -> None:
    with pytest.raises(TargetError) as info:
        run_program(PROGRAM, fake("print('x' * 100000)"), 10, cap=50_000)
    assert info.value.cause == "flood"


# --- bounded in time -----------------------------------------------------------------------------


def test_no_answer_is_killed_at_the_deadline() -> None:
    start = time.monotonic()
    err = fails(fake("time.sleep(100)"), timeout=1.5)
    assert 1.4 < time.monotonic() - start < 8
    assert err.cause == "deadline"
    assert "gave no answer within 1.5 s; its process group was killed" in str(err)


def test_a_detached_process_holding_stdout_does_not_hold_the_answer(
    tmp_path: Path, reaper: Reaper
) -> None:
    """The target answers and exits, but a child in a session of its own keeps its stdout: the
    answer is taken shortly after the target's exit, not when the child lets go."""
    pid_file = reaper.pid_file(tmp_path / "daemon.pid")
    code = (
        "import subprocess\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "answer('{\"ok\": 1}')\n"
    )
    start = time.monotonic()
    outcome = run_program(PROGRAM, fake(code), 60)
    assert time.monotonic() - start < 30  # not the daemon's 60 s, nor the deadline
    assert outcome.result == {"ok": 1} and outcome.lingering
    assert alive(read_pid(pid_file))  # outside the group: not ours to kill, and said so


def test_a_detached_process_does_not_stretch_a_failure(tmp_path: Path, reaper: Reaper) -> None:
    pid_file = reaper.pid_file(tmp_path / "daemon.pid")
    code = (
        "import subprocess\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "sys.exit(3)\n"
    )
    start = time.monotonic()
    err = fails(fake(code), timeout=60)
    assert time.monotonic() - start < 30
    assert err.cause == "exit" and "exited with status 3" in str(err)


def test_what_the_target_left_in_its_group_is_killed(tmp_path: Path, reaper: Reaper) -> None:
    pid_file = reaper.pid_file(tmp_path / "child.pid")
    code = (
        "import subprocess\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " stdout=subprocess.DEVNULL)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "answer('{\"ok\": 1}')\n"
    )
    assert run_program(PROGRAM, fake(code), 30).result == {"ok": 1}
    assert gone(read_pid(pid_file))


def test_an_answer_then_no_exit_is_a_hang_with_the_answer_kept() -> None:
    start = time.monotonic()
    with pytest.raises(TargetError) as info:
        run_program(PROGRAM, fake("answer('{\"ok\": 1}')\ntime.sleep(100)\n"), 30, result_grace=1)
    err = info.value
    assert time.monotonic() - start < 20  # the grace, not the deadline (30 s)
    assert err.cause == "hang" and err.result == {"ok": 1}
    assert "printed its result but had not exited" in str(err)


def test_a_target_that_reads_no_program_does_not_block_the_write() -> None:
    """The program is larger than a pipe holds and the target never reads it."""
    big = target.Program("#" * (4 * 1024 * 1024) + "\n", target.MARKER)
    start = time.monotonic()
    with pytest.raises(TargetError) as info:
        run_program(big, ["sh", "-c", "echo hello; sleep 0.3"], 60)
    assert time.monotonic() - start < 30
    assert info.value.cause == "silent" and "hello" in str(info.value)


# --- honest about what it read -------------------------------------------------------------------


def test_a_line_without_the_runs_nonce_is_not_a_result() -> None:
    code = "print('@@iodetect@@ {\"forged\": 1}')\nanswer('{\"real\": 1}')\n"
    outcome = run_program(PROGRAM, fake(code), 10)
    assert outcome.result == {"real": 1} and outcome.impostors == 1
    err = fails(fake("print('@@iodetect@@ {\"forged\": 1}')\n"))
    assert err.cause == "silent" and "lack this run's nonce" in str(err)


def test_two_results_in_one_run_are_none() -> None:
    err = fails(fake("answer('{\"a\": 1}')\nanswer('{\"b\": 2}')\n"))
    assert err.cause == "duplicate"


def test_a_bad_exit_after_the_result_is_not_a_success() -> None:
    err = fails(fake("answer('{\"ok\": 1}')\nsys.exit(3)\n"))
    assert err.cause == "exit" and err.result == {"ok": 1}
    assert "exited with status 3 after printing its result" in str(err)


def test_a_target_killed_by_a_signal_says_which() -> None:
    err = fails(fake("import signal; os.kill(os.getpid(), signal.SIGSEGV)\n"))
    assert err.cause == "exit" and "was killed by SIGSEGV" in str(err)


@pytest.mark.parametrize(
    "payload",
    ["{", '{"n": ' + "9" * 5000 + "}", '{"n": NaN}', '{"n": 1e999}', "[" * 100000],
    ids=["truncated", "5000-digit-int", "nan", "infinite", "deep"],
)
def test_a_malformed_result_is_one_line(payload: str) -> None:
    err = fails(fake(f"answer({payload!r})\n"))
    assert err.cause == "malformed" and "\n" not in str(err) and len(str(err)) < 600


def test_secrets_in_the_command_line_are_not_shown() -> None:
    err = fails(["env", "TOKEN=hunter2", "sh", "-c", "exit 4", "--password", "swordfish"])
    assert "exited with status 4" in str(err)
    assert "hunter2" not in str(err) and "swordfish" not in str(err)
    assert "TOKEN=***" in str(err)
    with pytest.raises(TargetError) as info:
        transport.split_command("env TOKEN=hunter2 'unbalanced")
    assert "hunter2" not in str(info.value)


def test_control_characters_from_the_target_are_not_shown() -> None:
    err = fails(
        fake("sys.stderr.write('\\x1b]0;owned\\x07\\x1b[2J\\nsecond line\\n'); sys.exit(2)")
    )
    assert "\x1b" not in str(err) and "\x07" not in str(err)
