"""`iodetect check` as a deploy pipeline runs it: exit codes, findings, JSON, each way to fail."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import selftest_setups as setups
from processes import Reaper, gone, read_pid

from iodetect import check
from iodetect.check import Options, run_check

import interpreters
from support import run_cli

FAKE_UVLOOP = 'raise ImportError("this uvloop build is broken (test)")\n'


def check_json(*args: str, timeout: float = 60) -> tuple[int, dict[str, Any], str]:
    done = run_cli("check", "--json", *args, timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def codes(result: dict[str, Any], level: str = "fail") -> list[str]:
    return [f["code"] for f in result["findings"] if f["level"] == level]


def finding(result: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in result["findings"] if f["code"] == code)


def setup_file(tmp_path: Path, source: str, name: str = "loop_setup.py") -> str:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return str(path)


# --- the healthy path ----------------------------------------------------------------------------


def test_default_check_passes_with_every_figure_in_json() -> None:
    code, result, stderr = check_json()
    assert code == 0, result["findings"]
    assert result["kind"] == "iodetect.check" and result["schema_version"] == check.SCHEMA_VERSION
    assert result["ok"] is True and result["exit_code"] == 0
    assert stderr == ""  # progress goes to a terminal only; stdout is only the JSON
    st = result["selftest"]
    fig = st["figures"]
    assert fig["connections_held"] == check.DEFAULT_CONNECTIONS
    assert fig["accept_rate"] > 0 and fig["tcp_seconds"] > 0
    assert fig["memory_per_connection_kib"] >= 0
    assert 0 < fig["latency_ms"]["p50"] <= fig["latency_ms"]["p99"] <= fig["latency_ms"]["max"]
    assert fig["memory_kib"]["worker_held"] >= fig["memory_kib"]["worker_before"] > 0
    assert st["fds"]["leaked"] == []
    plan = result["plan"]
    assert st["loop"].rsplit(".", 1)[-1] == plan["loop_class"]
    assert {"selftest.loop", "test.tcp4", "test.udp", "selftest.leak"} <= set(codes(result, "ok"))
    for f in result["findings"]:
        assert set(f) == {"step", "level", "code", "message", "remedy"}
        assert f["level"] in check.LEVELS


def test_readable_output_and_exit_code() -> None:
    done = run_cli("check", "--connections", "50")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    assert "50 connections held at once" in done.stdout


def test_json_schema_of_the_result(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import iodetect

    schema = json.loads(
        (Path(iodetect.__file__).parent / "schemas" / "check.schema.json").read_text("utf-8")
    )
    _, ok, _ = check_json("--connections", "20")
    _, bad, _ = check_json("--python", "/nonexistent/python3")
    docs = [ok, bad]
    if sys.platform.startswith("linux"):  # --serve: a command that exits before it serves
        _, served, _ = check_json("--connections", "20", "--serve", f"{sys.executable} -c pass")
        assert served["serve"]["started"] is False and ok["serve"] is None
        docs.append(served)
    for doc in docs:
        jsonschema.validate(doc, schema)


# --- real runs on every interpreter --------------------------------------------------------------

MATRIX = [(v, loop) for v in interpreters.VERSIONS for loop in ("asyncio", "uvloop")]


@pytest.fixture(scope="module")
def matrix_checks() -> dict[tuple[str, str], tuple[int, dict[str, Any]] | str]:
    """`iodetect check --python CMD` for each version x loop, in parallel."""

    def one(version: str, loop: str) -> tuple[int, dict[str, Any]] | str:
        interp = interpreters.find(version)
        if interp is None:
            return f"CPython {version} is not available on this machine"
        command = interp.uvloop_command() if loop == "uvloop" else interp.command()
        if command is None:
            return f"uvloop cannot be installed for CPython {version} here"
        python = " ".join(map(_quote, command))
        args = ["--python", python, "--loop", "uvloop" if loop == "uvloop" else "asyncio"]
        args += ["--connections", "150"]
        code, result, _ = check_json(*args, "--require-loop", loop, timeout=90)
        return code, result

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(one, *key) for key in MATRIX}
        return {key: f.result() for key, f in futures.items()}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@pytest.mark.targets
@pytest.mark.parametrize(("version", "loop"), MATRIX, ids=[f"{v}-{lp}" for v, lp in MATRIX])
def test_check_on_every_interpreter(
    matrix_checks: dict[tuple[str, str], tuple[int, dict[str, Any]] | str], version: str, loop: str
) -> None:
    got = matrix_checks[(version, loop)]
    if isinstance(got, str):
        pytest.skip(got)
    code, result = got
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert result["target"]["python"].startswith(version)
    st = result["selftest"]
    assert st["python"].startswith(version + ".")
    if loop == "uvloop":
        assert st["loop"] == "uvloop.Loop"
    else:
        assert st["loop"].endswith("_UnixSelectorEventLoop") and st["selector"] == "EpollSelector"
    assert st["figures"]["connections_held"] == 150
    assert st["warnings"] == []  # the generated module is clean on this version


# --- deadlines, Ctrl-C, leftovers ----------------------------------------------------------------


def test_stopped_worker_is_killed_with_its_process_group(tmp_path: Path, reaper: Reaper) -> None:
    pid_file = reaper.pid_file(tmp_path / "child.pid")
    path = setup_file(tmp_path, setups.stops(str(pid_file)))
    start = time.monotonic()
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--timeout", "4")
    assert time.monotonic() - start < 15  # the deadline (4 s) ended it, not the setup
    assert code == 1
    f = finding(result, "selftest.deadline")
    assert f["level"] == "fail" and "process group was killed" in f["message"]
    assert gone(read_pid(pid_file)), "the worker's child outlived the deadline"


def test_hanging_setup_fails_at_the_deadline(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.HANGS)
    # 8 s: the probe takes at most half, and the worker's own deadline leaves its start 2 s.
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--timeout", "8")
    assert code == 1
    assert "passed its own deadline" in finding(result, "selftest.deadline")["message"]


def test_ctrl_c_stops_everything(tmp_path: Path, reaper: Reaper) -> None:
    pid_file = reaper.pid_file(tmp_path / "child.pid")
    path = setup_file(tmp_path, setups.stops(str(pid_file)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "iodetect", "check", "--snippet", path, "--loop", "asyncio"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < end:
            time.sleep(0.05)
        assert pid_file.exists(), "the self-test never started"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    assert gone(read_pid(pid_file))


def test_no_temporary_files_left(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "check", "--connections", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stdout
    assert list(tmp.iterdir()) == []


# --- descriptor limits ---------------------------------------------------------------------------


def _check_with_limits(soft: int, hard: int, *args: str) -> tuple[int, dict[str, Any]]:
    def lowered() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "check", "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lowered,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_hard_limit_too_low_fails_with_the_remedies() -> None:
    code, result = _check_with_limits(256, 256)
    assert code == 1
    f = finding(result, "nofile.hard")
    assert f["level"] == "fail" and "hard descriptor limit 256" in f["message"]
    for remedy in ("LimitNOFILE=", "docker run --ulimit nofile=", "Kubernetes"):
        assert remedy in f["remedy"]


def test_soft_limit_too_low_and_not_raised_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.STANDARD)
    code, result = _check_with_limits(256, 4096, "--snippet", path, "--loop", "asyncio")
    assert code == 1
    f = finding(result, "nofile.soft")
    assert f["level"] == "fail" and "does not raise it" in f["message"]
    assert "ulimit -n" in f["remedy"]


def test_generated_setup_raises_the_soft_limit_and_proves_high_descriptors() -> None:
    code, result = _check_with_limits(512, 4096, "--connections", "100")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert result["plan"]["raise_nofile"] is True
    assert "nofile.raised" in codes(result, "ok")
    assert "selftest.high_fds" in codes(result, "ok")
    assert result["selftest"]["nofile_in_loop"]["soft"] == 4096


def test_select_loop_above_the_ceiling_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.SELECT)
    code, result, _ = check_json(
        "--snippet", path, "--loop", "asyncio", "--min-nofile", "2048", "--connections", "50"
    )
    assert code == 1
    f = finding(result, "selftest.high_fds")
    assert f["level"] == "fail" and "out of range" in f["message"]


# --- loops ---------------------------------------------------------------------------------------


def _python(version: str, fake_uvloop: Path | None = None) -> str:
    interp = interpreters.require(version)
    if interp.chroot:
        pytest.skip("needs a host interpreter")
    argv = interp.command()
    if fake_uvloop is not None:
        argv = ["env", f"PYTHONPATH={fake_uvloop}", *argv]
    return " ".join(map(_quote, argv))


@pytest.mark.targets
def test_required_loop_not_installed() -> None:
    code, result, _ = check_json("--python", _python("3.12"), "--require-loop", "uvloop")
    assert code == 1
    f = finding(result, "loop.missing")
    assert "not installed" in f["message"] and "pip install uvloop" in f["remedy"]


@pytest.mark.targets
def test_required_loop_broken_on_import(tmp_path: Path) -> None:
    fake = tmp_path / "site"
    (fake / "uvloop").mkdir(parents=True)
    (fake / "uvloop" / "__init__.py").write_text(FAKE_UVLOOP)
    (fake / "uvloop-0.23.0.dist-info").mkdir()
    (fake / "uvloop-0.23.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: uvloop\nVersion: 0.23.0\n"
    )
    python = _python("3.12", fake)
    code, result, _ = check_json("--python", python, "--require-loop", "uvloop")
    assert code == 1
    fails = codes(result)
    assert "loop.broken" in fails or "loop.missing" in fails, result["findings"]
    # The application's module importing it fails live, with the import error.
    path = setup_file(tmp_path, setups.UVLOOP)
    code, result, _ = check_json("--python", python, "--snippet", path, "--loop", "asyncio")
    assert code == 1
    f = finding(result, "selftest.import")
    assert "ImportError: this uvloop build is broken" in f["message"]


def test_loop_that_differs_from_the_plan_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.STANDARD)
    code, result, _ = check_json("--snippet", path, "--loop", "uvloop", "--connections", "20")
    assert code == 1
    assert "the plan expects uvloop's Loop" in finding(result, "selftest.loop")["message"]
    code, result, _ = check_json("--snippet", path, "--require-loop", "uvloop")
    assert code == 1
    assert "loop.required" in codes(result) or "selftest.loop" in codes(result)


# --- the application's setup ---------------------------------------------------------------------


def test_application_setup_raising(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.RAISES_AT_IMPORT)
    done = run_cli("check", "--snippet", path, "--loop", "asyncio")
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "the application's setup is broken (line 4)" in done.stdout


def test_application_setup_with_a_syntax_error(tmp_path: Path) -> None:
    path = setup_file(tmp_path, "def run(coro:\n")
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio")
    assert code == 1
    assert "syntax error" in finding(result, "setup.syntax")["message"]


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.DEPRECATED)
    args = ("--snippet", path, "--loop", "asyncio", "--connections", "20")
    code, result, _ = check_json(*args)
    assert code == 0 and "selftest.warning" in codes(result, "warn")
    code, result, _ = check_json(*args, "--strict")
    assert code == 1 and result["ok"] is False


def test_leaking_setup_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.LEAKY)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    assert "selftest.leak" in codes(result)


# --- the target command --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("python", "says"),
    [
        ("/nonexistent/python3", "command not found"),
        ("false", "exited with status 1"),
        ("true", "did not print an iodetect result"),
    ],
)
def test_python_command_missing_or_exiting_at_once(python: str, says: str) -> None:
    """An unreachable target is exit 2, as for every command; the JSON still says why."""
    code, result, _ = check_json("--python", python)
    assert code == 2 and result["exit_code"] == 2 and result["ok"] is False
    f = finding(result, "probe.target")
    assert says in f["message"] and "docker exec -i" in f["remedy"]


def test_unusable_loopback(tmp_path: Path) -> None:
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace without loopback here")
    python = f"{unshare} -n {_quote(sys.executable)}"
    code, result, _ = check_json("--python", python, "--connections", "20")
    assert code == 1
    f = finding(result, "test.tcp4")
    assert f["level"] == "fail" and "loopback" in (f["remedy"] or "")


# --- usage errors: exit 2, one line --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--snippet", "/nonexistent/loop_setup.py"),
        ("--require-loop", "tokio"),
        ("--needs", "teleport"),
        ("--loop", "fastest"),
        ("--python", "'unclosed"),
        ("--connections", "0"),
    ],
)
def test_usage_errors(args: tuple[str, ...]) -> None:
    done = run_cli("check", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("iodetect: error:") and "Traceback" not in done.stderr


# --- each step is isolated -----------------------------------------------------------------------


def test_a_crashing_step_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    from iodetect import recommend

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("plan table")

    monkeypatch.setattr(recommend, "recommend", boom)
    result = run_check(Options(connections=10))
    assert result.exit_code == 1
    crash = next(f for f in result.findings if f.code == "recommend.crash")
    assert "KeyError" in crash.message
    assert result.findings[0].step == "probe" and result.findings[0].level == "ok"


# --- snippet --verify ----------------------------------------------------------------------------


def test_snippet_verify_writes_the_module_that_passed(tmp_path: Path) -> None:
    out = tmp_path / "loop_setup.py"
    done = run_cli("snippet", "--verify", "--connections", "50", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "def run(" in out.read_text()
    # The check's verdict line, as `iodetect check` ends with it, on stderr: stdout stays empty.
    assert re.search(r"iodetect: verify: PASS: \d+ ok, 0 warning\(s\), 0 failed in ", done.stderr)
    assert done.stdout == ""


def test_snippet_verify_prints_the_checks_warnings(tmp_path: Path) -> None:
    """An interpreter whose start-up prints a line that imitates a result: the self-test ignores
    it and warns; --verify passes, says the warning with its code, and writes the module."""
    start = f"echo '@@iodetect@@ {{}}'; exec {_quote(sys.executable)} \"$@\""
    python = f"sh -c {_quote(start)} sh"
    out = tmp_path / "loop_setup.py"
    done = run_cli("snippet", "--verify", "--connections", "20", "--python", python, "-o", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    warning = next(line for line in lines if line.startswith("iodetect: verify: warning: "))
    assert "imitating iodetect's result" in warning and warning.endswith("[selftest.impostor]")
    assert any(
        re.match(r"iodetect: verify: PASS: \d+ ok, 1 warning\(s\), 0 failed", x) for x in lines
    )
    assert out.exists()


# --- what a module must expose, and the loop it declares ----------------------------------------

RUN_ONLY = """
import asyncio


def run(main):
    return asyncio.run(main)
"""


@pytest.mark.parametrize(
    ("source", "missing", "ran"),
    [
        (setups.FACTORY_ONLY, "run(main)", "new_event_loop()"),
        (RUN_ONLY, "new_event_loop()", "run()"),
    ],
)
def test_a_module_without_an_entry_point_says_which(
    tmp_path: Path, source: str, missing: str, ran: str
) -> None:
    path = setup_file(tmp_path, source, "my_setup.py")
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    assert codes(result) == ["setup.missing"]  # the sockets all passed: only this fails
    f = finding(result, "setup.missing")
    assert f["message"].startswith(f"my_setup.py has no {missing}: ")
    assert f"the self-test ran the loop through {ran}" in f["message"]
    assert finding(result, "test.tcp4")["level"] == "ok"


def test_a_module_with_neither_entry_point_fails_saying_so(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.NEITHER)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    assert (
        "defines neither run(coro) nor new_event_loop()"
        in finding(result, "selftest.import")["message"]
    )


def test_a_declared_loop_is_judged_against_the_declaration(tmp_path: Path) -> None:
    """A module generated with --loop selector --selector poll passes `check --snippet` on a
    host whose own plan is another loop (uvloop, or epoll); --loop given to the check wins."""
    path = tmp_path / "loop_setup.py"
    done = run_cli("snippet", "--loop", "selector", "--selector", "poll", "-o", str(path))
    assert done.returncode == 0, done.stderr
    code, result, _ = check_json("--snippet", str(path), "--connections", "20")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    declared = finding(result, "setup.declared")
    assert declared["level"] == "ok"
    assert "declares `--loop selector --selector poll`" in declared["message"]
    assert result["plan"]["selector_class"] == "PollSelector"
    assert result["selftest"]["selector"] == "PollSelector"
    # The check's own --loop states the expectation: the module's poll loop then fails it.
    code, result, _ = check_json("--snippet", str(path), "--loop", "asyncio", "--connections", "20")
    assert code == 1
    assert "--loop asyncio given to the check" in finding(result, "setup.declared")["message"]
    assert (
        "the plan expects the selector EpollSelector" in finding(result, "selftest.loop")["message"]
    )
    # --require-loop still binds: the declaration does not excuse another loop.
    code, result, _ = check_json(
        "--snippet", str(path), "--require-loop", "uvloop", "--connections", "20"
    )
    assert code == 1 and "loop.required" in codes(result)


def test_a_declaration_iodetect_cannot_use_warns_and_the_plan_judges(tmp_path: Path) -> None:
    source = (
        '"""Event loop setup.\n\nMade by this command (regenerate it, don\'t edit it):\n'
        '    iodetect snippet --loop turbo > loop_setup.py\n"""\n' + setups.SELECT
    )
    path = setup_file(tmp_path, source)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    f = finding(result, "setup.declared")
    assert f["level"] == "warn" and "unknown loop 'turbo'" in f["message"]
    assert code == 1 and "selftest.loop" in codes(result)  # select(), where the plan says epoll


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("    iodetect snippet --loop uvloop > loop_setup.py", ("uvloop", None, frozenset())),
        (
            "    iodetect snippet --platform win32 --needs add_reader,pty\n    --loop=selector",
            ("selector", None, frozenset({"add_reader", "pty"})),
        ),
        ("    iodetect snippet --selector poll", (None, "poll", frozenset())),
        ("    iodetect snippet > loop_setup.py", None),  # nothing chosen: the plan judges
    ],
)
def test_the_declaration_is_read_from_the_header(
    header: str, expected: tuple[str | None, str | None, frozenset[str]] | None
) -> None:
    from iodetect.check import declared

    made = "Made by this command (regenerate it, don't edit it):"
    source = f'"""Event loop setup.\n\n{made}\n{header}\nUse run(main()).\n"""\n'
    got = declared.read(source)
    if expected is None:
        assert got is None
        return
    assert got is not None and (got.loop, got.selector, got.needs) == expected
    # Anywhere but right after the header's own line, the same words declare nothing.
    assert declared.read(source.replace("Made by this command", "Made by hand")) is None
    assert declared.read("import asyncio\n" + source) is None
    assert declared.read('"""Doc."""\n' + source) is None


def test_the_checks_own_options_win_over_the_declaration() -> None:
    from iodetect.check import declared

    chosen = declared.Declared("selector", "poll", frozenset({"pty"}), "--loop selector")
    assert declared.apply(Options(), chosen).loop == "selector"
    assert declared.apply(Options(), chosen).selector == "poll"
    assert declared.apply(Options(needs=frozenset({"signals"})), chosen).needs == {"pty", "signals"}
    own = declared.apply(Options(loop="uvloop"), chosen)
    assert own.loop == "uvloop" and own.selector is None  # the declared selector was for its loop
    assert declared.apply(Options(selector="epoll"), chosen).selector == "epoll"
    assert declared.apply(Options(), None) == Options()


def test_snippet_verify_failure_writes_nothing(tmp_path: Path) -> None:
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace without loopback here")
    python = f"{unshare} -n {_quote(sys.executable)}"
    out = tmp_path / "loop_setup.py"
    for extra in (["-o", str(out)], []):
        done = run_cli("snippet", "--verify", "--python", python, *extra)
        assert done.returncode == 1
        assert done.stdout == ""
        assert "verify failed: TCP over IPv4" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_snippet_verify_needs_a_live_target() -> None:
    done = run_cli("snippet", "--verify", "--platform", "darwin")
    assert done.returncode == 2
    assert "live interpreter" in done.stderr and done.stdout == ""


def test_loop_without_unix_sockets_warns_unless_they_are_needed() -> None:
    pytest.importorskip("rloop")
    code, result, _ = check_json("--loop", "rloop", "--connections", "20")
    assert finding(result, "test.unix")["level"] == "warn"
    assert "does not support" in finding(result, "test.unix")["message"]
    # rloop leaves its loops' descriptors open on close: the check sees it.
    assert code == 1 and "selftest.leak" in codes(result)


def test_hanging_probe_is_killed_at_the_deadline(tmp_path: Path) -> None:
    fake = tmp_path / "site" / "uvloop"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import time\ntime.sleep(100)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "check", "--json", "--timeout", "4"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert time.monotonic() - start < 15  # the deadline (4 s) ended it, not the import
    assert done.returncode == 2
    f = finding(json.loads(done.stdout), "probe.deadline")
    assert "gave no answer" in f["message"] and "--timeout" in f["remedy"]
    assert "process group was killed" in f["message"]


# --- a gate the suite would notice breaking: each test fails on one realistic bug ----------------


def test_strict_fails_on_failures_too(tmp_path: Path) -> None:
    """--strict adds warnings to what fails; it must not let the failures through."""
    path = setup_file(tmp_path, setups.LEAKY)
    code, result, _ = check_json(
        "--snippet", path, "--loop", "asyncio", "--connections", "20", "--strict"
    )
    assert code == 1 and result["ok"] is False
    assert "selftest.leak" in codes(result)


def test_a_selector_other_than_the_plans_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.SELECT)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    f = finding(result, "selftest.loop")
    assert f["level"] == "fail" and "the plan expects the selector EpollSelector" in f["message"]


def test_unix_sockets_unsupported_fail_only_when_the_service_needs_them(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.NO_UNIX)
    args = ("--snippet", path, "--loop", "asyncio", "--connections", "20")
    code, result, _ = check_json(*args)
    assert code == 0 and finding(result, "test.unix")["level"] == "warn"
    code, result, _ = check_json(*args, "--needs", "unix_sockets")
    assert code == 1
    f = finding(result, "test.unix")
    assert f["level"] == "fail" and "does not support" in f["message"]


def test_unlimited_descriptors_are_not_a_limit_of_minus_one(tmp_path: Path) -> None:
    """RLIM_INFINITY travels as -1: it is the largest limit, not the smallest."""
    path = setup_file(tmp_path, setups.UNLIMITED)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert result["selftest"]["nofile_in_loop"] == {"soft": -1, "hard": -1}
    assert "nofile.soft" not in codes(result)
    # The same from the facts: the limits step says unlimited, not "below the need".
    from iodetect import model

    data = json.loads((Path(__file__).parent / "hosts" / "linux.json").read_text("utf-8"))
    data["limits"]["nofile_soft"] = data["limits"]["nofile_hard"] = -1
    facts = model.from_dict(data)
    got = run_check(Options(connections=20, timeout=20), facts=facts)
    limits = next(f for f in got.findings if f.step == "limits")
    assert limits.code == "nofile" and "soft unlimited / hard unlimited" in limits.message


def test_the_descriptor_headroom_is_counted() -> None:
    """1000 connections need 1064 descriptors with the headroom: a hard limit of 1030 fails."""
    code, result = _check_with_limits(1030, 1030, "--connections", "1000")
    assert code == 1
    f = finding(result, "nofile.hard")
    assert "1064" in f["message"] and "1000 connections + 64 headroom" in f["message"]


def test_a_worker_that_exits_badly_after_its_report_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.EXITS_3_AFTER_REPORT)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    f = finding(result, "selftest.exit")
    assert f["level"] == "fail" and "exited with status 3 after printing its result" in f["message"]
    assert finding(result, "test.tcp4")["level"] == "ok"  # the report itself is still judged


def test_a_resource_warning_fails_the_check(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.UNCLOSED)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    f = finding(result, "selftest.resource")
    assert f["level"] == "fail" and "unclosed event loop" in f["message"]


def test_an_echo_with_other_bytes_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.CORRUPTING)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1
    f = finding(result, "test.tcp4")
    assert f["level"] == "fail" and "differs at byte" in f["message"]
    assert "alters data" in f["remedy"]


def test_one_descriptor_below_the_ceiling_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.FREES_A_LOW_FD)
    code, result, _ = check_json(
        "--snippet", path, "--loop", "asyncio", "--min-nofile", "2048", "--connections", "20"
    )
    assert code == 1
    f = finding(result, "selftest.high_fds")
    assert f["level"] == "fail" and "not above 1024" in f["message"]


# --- honest verdicts -----------------------------------------------------------------------------


def test_a_forged_result_line_is_not_a_verdict(tmp_path: Path) -> None:
    """The setup prints a result of its own and exits before any socket test."""
    path = setup_file(tmp_path, setups.FORGED_RESULT)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert code == 1 and result["selftest"] is None
    f = finding(result, "selftest.target")
    assert "did not print an iodetect result" in f["message"] and "nonce" in f["message"]


def test_a_forged_line_beside_a_real_run_is_ignored_and_said(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.PRINTS_A_FORGERY)
    args = ("--snippet", path, "--loop", "asyncio", "--connections", "20")
    code, result, _ = check_json(*args)
    assert code == 0 and finding(result, "selftest.impostor")["level"] == "warn"
    assert result["selftest"]["tests"]  # the real report, not the forged one
    code, _, _ = check_json(*args, "--strict")
    assert code == 1


def test_a_report_without_a_test_the_plan_calls_for_fails(tmp_path: Path) -> None:
    """A setup that reaches into the worker and drops the test above the select() ceiling."""
    source = (
        "import __main__\nimport asyncio\n\n"
        "async def _skip(self, ceiling, stats):\n    pass\n\n"
        "__main__.Worker.high_fds = _skip\n" + setups.STANDARD
    )
    path = setup_file(tmp_path, source)
    code, result, _ = check_json(
        "--snippet", path, "--loop", "asyncio", "--min-nofile", "2048", "--connections", "20"
    )
    assert code == 1
    f = finding(result, "selftest.missing")
    assert "fds_above_1024" in f["message"]


def test_fewer_connections_than_asked_fail(tmp_path: Path) -> None:
    """A setup that makes the worker test half the connections: the judge counts them."""
    source = (
        "import __main__\n\n_held = __main__.held_test\n\n"
        "def _half(worker, count, budget):\n    return _held(worker, count // 2, budget)\n\n"
        "__main__.held_test = _half\n" + setups.STANDARD
    )
    path = setup_file(tmp_path, source)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--connections", "40")
    assert code == 1
    assert "held 20 of the 40 connections" in finding(result, "selftest.count")["message"]


def test_connections_the_soft_limit_allows_only_in_one_process_pass() -> None:
    """1500 connections under a soft limit of 2000: the service's side needs 1500 descriptors,
    not 3000 (the clients have a process of their own), and all 1500 are held."""
    code, result = _check_with_limits(2000, 2000, "--connections", "1500", "--timeout", "60")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert result["selftest"]["figures"]["connections_held"] == 1500


def test_a_count_that_was_not_reached_fails(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.STANDARD)
    code, result = _check_with_limits(
        1000, 4096, "--snippet", path, "--loop", "asyncio", "--connections", "1500"
    )
    assert code == 1
    f = finding(result, "test.tcp4")
    assert f["level"] == "fail" and "not 1500" in f["message"] and "ulimit -n" in f["remedy"]
    assert "nofile.soft" in codes(result)


def _namespace(script: str) -> str:
    """A --python command: this interpreter in a new network namespace set up by `script`."""
    import shutil

    unshare = shutil.which("unshare")
    ok = (
        unshare and subprocess.run([unshare, "-n", "sh", "-c", script], check=False).returncode == 0
    )
    if not ok:
        pytest.skip("cannot make a network namespace here")
    return " ".join(
        map(_quote, [unshare, "-n", "sh", "-c", script + ' && exec "$@"', "sh", sys.executable])
    )


def test_used_up_ephemeral_ports_are_not_blamed_on_loopback() -> None:
    ports = "echo '40000 40099' > /proc/sys/net/ipv4/ip_local_port_range"
    python = _namespace(f"ip link set lo up && {ports}")
    code, result, _ = check_json("--python", python, "--connections", "300", "--loop", "asyncio")
    assert code == 1
    f = finding(result, "test.tcp4")
    assert f["level"] == "fail" and "Cannot assign requested address" in f["message"]
    assert "ip_local_port_range" in f["remedy"] and "ip link set lo up" not in f["remedy"]
    assert result["selftest"]["tests"][0]["cause"] == "ports"


def test_clients_beyond_the_port_range_connect_from_more_loopback_addresses() -> None:
    """2000 ephemeral ports, 2500 connections: one address could not open them all, so the
    clients connect from 127.0.0.2, .3, ... as a service's clients come from many."""
    ports = "echo '40000 41999' > /proc/sys/net/ipv4/ip_local_port_range"
    python = _namespace(f"ip link set lo up && {ports}")
    code, result, _ = check_json("--python", python, "--connections", "2500", "--loop", "asyncio")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    tcp = result["selftest"]["tests"][0]
    assert tcp["name"] == "tcp4" and tcp["held"] == 2500 and tcp["clients"] == 3


def test_a_second_check_right_after_the_first_finds_its_ports() -> None:
    """The clients from 127.0.0.2 and up bind only the address and leave the port to connect()
    (IP_BIND_ADDRESS_NO_PORT): a port bind() picks stays the process's alone through TIME_WAIT,
    so the second of two checks in a row ran out of ports (EADDRINUSE) before."""
    import shutil

    unshare = shutil.which("unshare")
    ports = "echo '40000 41999' > /proc/sys/net/ipv4/ip_local_port_range"
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace here")
    one = f"{_quote(sys.executable)} -m iodetect check --connections 2500 --loop asyncio --json"
    script = f"ip link set lo up && {ports} && {one} >/dev/null && {one} >/dev/null && {one}"
    done = subprocess.run(
        [unshare, "-n", "sh", "-c", script], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["selftest"]["tests"][0]["held"] == 2500


def test_the_clients_leave_no_time_wait_behind() -> None:
    """The clients end every connection with a reset: 3000 connections leave their ports free
    at once for the next check (a closing handshake would leave 3000 sockets in TIME_WAIT for
    a minute); what is left comes from the few small tests that close gracefully."""
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace here")
    one = f"{_quote(sys.executable)} -m iodetect check --connections 3000 --loop asyncio --json"
    script = f"ip link set lo up && {one} && ss -Htan state time-wait | wc -l >&2"
    done = subprocess.run(
        [unshare, "-n", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(done.stdout)["selftest"]["figures"]["connections_held"] == 3000
    assert int(done.stderr.split()[-1]) < 300, done.stderr[-500:]


def test_a_small_listen_backlog_is_not_overrun() -> None:
    """somaxconn 8: the clients open 8 connections at a time and each batch is echoed before
    the next, so no connection waits for the kernel's SYN retry (a second each)."""
    python = _namespace("ip link set lo up && echo 8 > /proc/sys/net/core/somaxconn")
    code, result, _ = check_json("--python", python, "--connections", "400", "--loop", "asyncio")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert result["selftest"]["figures"]["connections_held"] == 400
    # 50 SYN retries would take 50 s; a generous bound that no loaded machine reaches.
    assert result["selftest"]["figures"]["tcp_seconds"] < 25


def test_uvloops_leftover_udp_transport_is_not_blamed_on_the_setup() -> None:
    pytest.importorskip("uvloop")
    python = _namespace("true")
    code, result, _ = check_json("--python", python, "--loop", "uvloop", "--connections", "20")
    assert code == 1
    assert finding(result, "test.udp")["level"] == "fail"
    assert "selftest.resource" not in codes(result)
    assert "LOOPBACK" not in json.dumps(result)  # nothing odd: the loopback remedy is given
    assert "lo" in (finding(result, "test.udp")["remedy"] or "")


def test_uvloop_passes_on_a_read_only_root() -> None:
    pytest.importorskip("uvloop")
    import shutil

    unshare = shutil.which("unshare")
    script = 'mount --make-rprivate / && mount -o bind,ro / / && exec "$@"'
    if (
        unshare is None
        or subprocess.run([unshare, "-m", "sh", "-c", script, "sh", "true"], check=False).returncode
    ):
        pytest.skip("cannot make a mount namespace here")
    python = " ".join(map(_quote, [unshare, "-m", "sh", "-c", script, "sh", sys.executable]))
    code, result, _ = check_json("--python", python, "--loop", "uvloop", "--connections", "20")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert finding(result, "test.unix")["level"] == "ok"


@pytest.mark.parametrize("variant", ["bom", "latin-1"])
def test_a_bom_or_a_coding_line_is_valid_python(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "loop_setup.py"
    if variant == "bom":
        path.write_bytes(setups.WITH_BOM.encode("utf-8"))
    else:
        path.write_bytes(setups.LATIN1.encode("latin-1"))
    code, result, _ = check_json("--snippet", str(path), "--loop", "asyncio", "--connections", "20")
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]


def test_a_daemon_holding_the_workers_output_does_not_hang_the_check(
    tmp_path: Path, reaper: Reaper
) -> None:
    pid_file = reaper.pid_file(tmp_path / "daemon.pid")
    path = setup_file(tmp_path, setups.starts_a_daemon(str(pid_file)))
    start = time.monotonic()
    code, result, _ = check_json(
        "--snippet", path, "--loop", "asyncio", "--connections", "20", "--timeout", "60"
    )
    # It used to wait for the daemon (120 s), past any deadline: now not even for the deadline.
    assert time.monotonic() - start < 45
    assert code == 0, [f for f in result["findings"] if f["level"] != "ok"]
    assert finding(result, "selftest.lingering")["level"] == "warn"


def test_a_setup_that_floods_its_output_is_stopped(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.FLOODS)
    start = time.monotonic()
    done = _run_measured(
        "check",
        "--json",
        "--snippet",
        path,
        "--loop",
        "asyncio",
        "--connections",
        "20",
        "--timeout",
        "20",
    )
    assert time.monotonic() - start < 60
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    f = finding(result, "selftest.flood")
    assert "printed more than 16 MiB" in f["message"] and "process group was killed" in f["message"]
    assert _maxrss_mib(done) < 300


def test_a_setup_holding_the_gil_is_killed_at_the_deadline(tmp_path: Path, reaper: Reaper) -> None:
    pid_file = reaper.pid_file(tmp_path / "worker.pid")
    path = setup_file(tmp_path, setups.holds_the_gil(str(pid_file)))
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--timeout", "4")
    assert code == 1
    f = finding(result, "selftest.deadline")
    assert "gave no answer within" in f["message"] and "process group was killed" in f["message"]
    assert gone(read_pid(pid_file))


def _run_measured(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child that reports its own peak memory on stderr when it ends."""
    code = (
        "import resource, sys\n"
        "from iodetect.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    sys.stderr.write('\\nmaxrss_kib=%d\\n' % peak)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def _maxrss_mib(done: subprocess.CompletedProcess[str]) -> float:
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("maxrss_kib="))
    return int(line.split("=")[1]) / 1024


# --- progress ------------------------------------------------------------------------------------


def test_a_long_self_test_says_it_is_still_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, a line after the first second and every few after (no line without a
    terminal: test_default_check_passes_with_every_figure_in_json)."""
    from iodetect.check import steps

    monkeypatch.setattr(steps, "PROGRESS_AFTER", 0.01)
    monkeypatch.setattr(steps, "PROGRESS_EVERY", 0.01)
    lines: list[str] = []
    stop = steps.ticking(lines.append, "self-test of 9 connections", 30.0)
    assert stop is not None
    deadline = time.monotonic() + 20
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    assert lines[0].startswith("self-test of 9 connections: still running, ")
    assert lines[0].endswith(" s of 30")
    assert steps.ticking(None, "x", 1.0) is None


@pytest.mark.parametrize("cause", ["timeout", "memory", "ports"])
def test_a_slow_or_starved_high_descriptor_test_is_not_blamed_on_select(cause: str) -> None:
    """The select() remedy is for a selector that cannot go above its ceiling; a test cut by
    the deadline or starved of memory or ports gets the remedy of what stopped it."""
    from iodetect.check.findings import Deadline, Recorder
    from iodetect.check.judge import _judge_high_fds
    from iodetect.check.report import Test

    rec = Recorder(Deadline(10.0))
    test = Test("fds_above_1024", "fail", "did not finish within 4.0 s", cause=cause)
    _judge_high_fds(rec, Options(), test)
    (f,) = rec.findings
    assert f.level == "fail" and f.remedy is not None
    assert "not select()" not in f.remedy, f.remedy
    other = Test("fds_above_1024", "fail", "filedescriptor out of range in select()", cause=None)
    _judge_high_fds(rec, Options(), other)
    assert rec.findings[-1].remedy is not None and "not select()" in rec.findings[-1].remedy
