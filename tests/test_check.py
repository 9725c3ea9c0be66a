"""`iodetect check` as a deploy pipeline runs it: exit codes, findings, JSON, each way to fail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import selftest_setups as setups

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


def gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# --- the healthy path ---------------------------------------------------------------------------


def test_default_check_passes_with_every_figure_in_json() -> None:
    code, result, stderr = check_json()
    assert code == 0, result["findings"]
    assert result["kind"] == "iodetect.check" and result["schema_version"] == check.SCHEMA_VERSION
    assert result["ok"] is True and result["exit_code"] == 0
    assert stderr == ""  # progress goes to a terminal only; stdout is only the JSON
    st = result["selftest"]
    assert st["figures"]["connections_held"] == check.DEFAULT_CONNECTIONS
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
    schema = json.loads(
        (Path(check.__file__).parent / "schemas" / "check.schema.json").read_text("utf-8")
    )
    _, ok, _ = check_json("--connections", "20")
    _, bad, _ = check_json("--python", "/nonexistent/python3")
    for doc in (ok, bad):
        jsonschema.validate(doc, schema)


# --- real runs on every interpreter ---------------------------------------------------------------

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


# --- deadlines, Ctrl-C, leftovers -----------------------------------------------------------------


def test_stopped_worker_is_killed_with_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    path = setup_file(tmp_path, setups.stops(str(pid_file)))
    start = time.monotonic()
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--timeout", "4")
    assert time.monotonic() - start < 8
    assert code == 1
    f = finding(result, "selftest.deadline")
    assert f["level"] == "fail" and "process group was killed" in f["message"]
    assert gone(int(pid_file.read_text())), "the worker's child outlived the deadline"


def test_hanging_setup_fails_at_the_deadline(tmp_path: Path) -> None:
    path = setup_file(tmp_path, setups.HANGS)
    code, result, _ = check_json("--snippet", path, "--loop", "asyncio", "--timeout", "4")
    assert code == 1
    assert "passed its own deadline" in finding(result, "selftest.deadline")["message"]


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
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
    assert "interrupted" in err and "Traceback" not in err
    assert gone(int(pid_file.read_text()))


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
    code, result, _ = check_json("--python", python)
    assert code == 1
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


# --- usage errors: exit 2, one line ---------------------------------------------------------------


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


# --- each step is isolated ------------------------------------------------------------------------


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
    assert time.monotonic() - start < 8
    assert done.returncode == 1
    f = finding(json.loads(done.stdout), "probe.target")
    assert "gave no answer" in f["message"] and "--timeout" in f["remedy"]
