"""`iodetect check --serve CMD`: the launch command started, its workers held to the plan, and
everything it started stopped, whatever happens: a command that exits at once, one that never
listens, one that cannot start, a stop signal. Real processes; the ones that need uvicorn or
gunicorn from PyPI are marked `servers` (tox -e servers)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from processes import gone, wait_for

import iodetect
from iodetect.check.options import Options
from iodetect.check.steps_serve import Choice, Launch, _module_choice, launch_of, loop_remedy

from support import run_cli

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="--serve reads /proc")

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
# A plan no server picks by itself: only a launch command that builds its loop with the
# module runs it.
POLL_PLAN = ("--loop", "selector", "--selector", "poll")
STOP_GRACE = 12.0  # SIGTERM, then SIGKILL 5 s later, then 5 s for the SIGKILL to land


def check_json(*args: str, timeout: float = 240) -> tuple[int, dict[str, Any], float]:
    start = time.monotonic()
    done = run_cli("check", "--json", "--connections", "20", *args, timeout=timeout)
    seconds = time.monotonic() - start
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout), seconds


def serve_findings(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        if f["step"] == "serve":
            out.setdefault(f["code"], []).append(f)
    return out


CHECK = (sys.executable, "-m", "iodetect", "check", "--connections", "20")


def with_marker(marker: str) -> list[int]:
    """Processes whose arguments hold `marker`, iodetect itself left out: a scan of /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
            with open(f"/proc/{name}/stat") as fh:
                state = fh.read().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if state != "Z" and marker.encode() in args and b"iodetect" not in args:
            found.append(int(name))
    return found


def validate(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    path = Path(iodetect.__file__).parent / "schemas" / "check.schema.json"
    jsonschema.validate(doc, json.loads(path.read_text("utf-8")))


def python_command(code: str, *args: str) -> str:
    return shlex.join([sys.executable, "-c", code, *args])


# A command that never listens: it forks a child that ignores SIGTERM, so stopping it needs
# SIGKILL, and both sleep far past any deadline.
NEVER_LISTENS = """
import os, signal, sys, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(600)
"""


# --- the launch command, read without running it ------------------------------------------------


def test_which_server_a_command_starts_and_its_loop_option() -> None:
    assert launch_of(["uvicorn", "app:app", "--loop", "asyncio"]) == Launch("uvicorn", "asyncio")
    assert launch_of(["/v/bin/python", "-m", "uvicorn", "a:b", "--loop=uvloop"]).loop == "uvloop"
    assert launch_of(["gunicorn", "a:b", "-k", "uvicorn_worker.UvicornWorker"]) == Launch(
        "gunicorn", worker="uvicorn_worker.UvicornWorker"
    )
    assert launch_of(["sh", "-c", "ulimit -n 4096; exec hypercorn -k uvloop a:b"]) == Launch(
        "hypercorn", worker="uvloop"
    )
    assert launch_of(["/srv/.venv/bin/granian", "--interface", "asgi", "a:b"]).server == "granian"
    assert launch_of(["fastapi", "run", "main.py"]).server == "fastapi"
    assert launch_of(["python", "serve.py"]) == Launch(None)


def test_each_server_gets_its_own_remedy() -> None:
    uv = Choice("uvloop", None, "the plan")
    poll = Choice("asyncio", "PollSelector", "the plan")
    text = loop_remedy(launch_of(["uvicorn", "a:b"]), poll)
    assert "without --loop" in text and "--loop loop_setup:new_event_loop" in text
    assert "--loop asyncio chooses" in loop_remedy(
        launch_of(["uvicorn", "--loop", "asyncio"]), poll
    )
    gunicorn = loop_remedy(launch_of(["gunicorn", "-k", "uvicorn_worker.UvicornWorker"]), poll)
    assert "CONFIG_KWARGS" in gunicorn and "event-loop policy" in gunicorn
    assert "-k uvloop" in loop_remedy(launch_of(["hypercorn", "a:b"]), uv)
    assert "run()" in loop_remedy(launch_of(["hypercorn", "a:b"]), poll)
    assert "--loop uvloop" in loop_remedy(launch_of(["granian", "a:b"]), uv)
    assert "pass no loop" in loop_remedy(launch_of(["fastapi", "run"]), uv)
    assert "loop_setup.run(main())" in loop_remedy(launch_of(["python", "serve.py"]), uv)


def test_the_loop_a_module_declares_is_read_from_its_header() -> None:
    done = run_cli("snippet", *POLL_PLAN)
    assert done.returncode == 0, done.stderr
    module = Options(setup_source=done.stdout, setup_name="loop_setup.py")
    choice = _module_choice(module, None)
    assert choice == Choice(
        "asyncio", "PollSelector", "loop_setup.py (the loop its header declares)"
    )
    # A hand-written module declares nothing, and without a self-test report nothing is known.
    plain = Options(setup_source="import os\nos.system('false')\n")
    assert _module_choice(plain, None) is None
    assert _module_choice(Options(setup_source="def broken(:\n"), None) is None


# --- commands that do not serve: failing findings, in time, nothing left ------------------------


@linux
def test_a_command_that_exits_at_once_fails() -> None:
    marker = f"iodetect-test-{uuid.uuid4().hex}"
    command = python_command("import sys; print('boom'); sys.exit(3)", marker)
    code, doc, seconds = check_json("--serve", command, "--timeout", "60")
    assert code == 1
    got = serve_findings(doc)
    exited = got["serve.exited"][0]
    assert exited["level"] == "fail" and "status 3" in exited["message"]
    assert "boom" in exited["message"]
    assert got["serve.stopped"][0]["level"] == "ok"
    s = doc["serve"]
    assert s["started"] is False and s["workers"] == [] and s["output_tail"] == ["boom"]
    assert s["stopped"] is True and s["left_running"] == []
    assert with_marker(marker) == []
    assert seconds < 60 + STOP_GRACE
    validate(doc)


@linux
def test_a_command_that_never_listens_fails_within_the_deadline() -> None:
    marker = f"iodetect-test-{uuid.uuid4().hex}"
    try:
        code, doc, seconds = check_json(
            "--serve", python_command(NEVER_LISTENS, marker), "--timeout", "20"
        )
        assert code == 1
        got = serve_findings(doc)
        assert got["serve.timeout"][0]["level"] == "fail", doc["findings"]
        assert "--timeout" in got["serve.timeout"][0]["remedy"]
        # Both processes were seen, and stopped: the one that ignores SIGTERM by SIGKILL.
        stopped = got["serve.stopped"][0]
        assert stopped["level"] == "ok" and "(2 process(es))" in stopped["message"], stopped
        assert doc["serve"]["stopped"] is True
        assert with_marker(marker) == []
        # The check's deadline, then the stop's grace: nothing waits past them.
        assert seconds < 20 + STOP_GRACE + 10, seconds
        validate(doc)
    finally:
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)


@linux
def test_a_command_that_cannot_start_or_be_parsed() -> None:
    code, doc, _ = check_json("--serve", "no-such-command-iodetect --port 1")
    assert code == 1
    failed = serve_findings(doc)["serve.command"][0]
    assert failed["level"] == "fail" and "command not found" in failed["message"]
    assert doc["serve"]["started"] is False
    validate(doc)
    done = run_cli("check", "--serve", "'unbalanced")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "cannot parse the --serve command" in done.stderr
    done = run_cli("check", "--serve", "  ")
    assert done.returncode == 2 and "empty" in done.stderr


def test_serve_off_linux_is_a_usage_error() -> None:
    code = "import sys; sys.platform = 'darwin'; from iodetect.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "check", "--serve", "uvicorn app:app"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "Linux only (this is darwin)" in done.stderr and "Traceback" not in done.stderr


@linux
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_stops_the_command_first(signum: int, status: int) -> None:
    marker = f"iodetect-test-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [*CHECK, "--timeout", "120", "--serve", python_command(NEVER_LISTENS, marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(with_marker(marker)) == 2, 90), "the command never started"
        seen = with_marker(marker)
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == status, err
        assert "Traceback" not in err and "interrupted" in err
        assert with_marker(marker) == [], seen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)


# --- real servers -------------------------------------------------------------------------------


def need(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed here: run `tox -e servers`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An app and the module `iodetect snippet` generates for the poll plan."""
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    done = run_cli("snippet", *POLL_PLAN, "-o", str(tmp_path / "loop_setup.py"))
    assert done.returncode == 0, done.stderr
    return tmp_path


def uvicorn(app_dir: Path, *extra: str) -> list[str]:
    base = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(app_dir)]
    return [*base, "--host", "127.0.0.1", "--port", str(free_port()), *extra]


def check_serve(command: list[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, doc, _ = check_json(*POLL_PLAN, "--timeout", "120", "--serve", shlex.join(command), *args)
    s = doc["serve"]
    assert s["stopped"] is True and s["left_running"] == [], s
    for pid in (*[w["pid"] for w in s["workers"]], *s["supervisors"]):
        assert gone(pid), pid  # nothing left behind
    validate(doc)
    return code, doc


@linux
@pytest.mark.servers
def test_uvicorn_with_the_generated_module_passes(app_dir: Path) -> None:
    need("uvicorn")
    command = uvicorn(app_dir, "--loop", "loop_setup:new_event_loop", "--workers", "2")
    code, doc = check_serve(command, "--snippet", str(app_dir / "loop_setup.py"))
    assert code == 0, [f for f in doc["findings"] if f["level"] != "ok"]
    assert [f for f in doc["findings"] if f["step"] == "serve" and f["level"] != "ok"] == []
    workers = doc["serve"]["workers"]
    assert len(workers) == 2
    assert {(w["loop"], w["selector"]) for w in workers} == {("asyncio", "PollSelector")}
    loop = serve_findings(doc)["serve.loop"]
    assert [f["level"] for f in loop] == ["ok"]  # both workers, one finding
    assert "the plan and loop_setup.py (the loop its header declares) say" in loop[0]["message"]
    assert serve_findings(doc)["serve.nofile"][0]["level"] == "ok"
    assert doc["serve"]["expected"]["module"]["selector_class"] == "PollSelector"
    assert with_marker(str(app_dir)) == []


@linux
@pytest.mark.servers
def test_uvicorn_without_the_loop_option_is_a_mismatch(app_dir: Path) -> None:
    need("uvicorn")
    need("uvloop")
    code, doc = check_serve(uvicorn(app_dir))
    assert code == 1
    assert [w["loop"] for w in doc["serve"]["workers"]] == ["uvloop"]
    failed = serve_findings(doc)["serve.loop"][0]
    assert failed["level"] == "fail"
    assert "runs uvloop" in failed["message"] and "PollSelector" in failed["message"]
    assert "without --loop" in failed["remedy"]
    assert "--loop loop_setup:new_event_loop" in failed["remedy"]
    # The self-test passed: only the launch command is off the plan.
    assert [f["code"] for f in doc["findings"] if f["level"] == "fail"] == ["serve.loop"]


@linux
@pytest.mark.servers
def test_uvicorn_on_its_own_asyncio_loop_has_another_selector(app_dir: Path) -> None:
    need("uvicorn")
    code, doc = check_serve(uvicorn(app_dir, "--loop", "asyncio"))
    assert code == 1
    assert [(w["loop"], w["selector"]) for w in doc["serve"]["workers"]] == [
        ("asyncio", "EpollSelector")
    ]
    failed = serve_findings(doc)["serve.selector"][0]
    assert failed["level"] == "fail" and "--loop asyncio chooses" in failed["remedy"]


@linux
@pytest.mark.servers
def test_a_soft_limit_below_the_need_fails(app_dir: Path) -> None:
    need("uvicorn")
    inner = shlex.join(uvicorn(app_dir, "--loop", "loop_setup:new_event_loop"))
    command = ["sh", "-c", f"ulimit -n 256 && exec {inner}"]
    code, doc = check_serve(command, "--connections", "300")
    assert code == 1
    assert [w["nofile_soft"] for w in doc["serve"]["workers"]] == [256]
    failed = serve_findings(doc)["serve.nofile"][0]
    assert failed["level"] == "fail" and "below the 364 needed" in failed["message"]
    assert serve_findings(doc)["serve.loop"][0]["level"] == "ok"


@linux
@pytest.mark.servers
def test_gunicorn_uvicorn_worker_takes_its_own_loop(app_dir: Path) -> None:
    need("gunicorn")
    need("uvicorn_worker")
    need("uvloop")
    command = [sys.executable, "-m", "gunicorn", "app:app", "--chdir", str(app_dir)]
    command += ["-w", "2", "-b", f"127.0.0.1:{free_port()}", "-k", "uvicorn_worker.UvicornWorker"]
    code, doc = check_serve(command)
    assert code == 1
    assert [w["loop"] for w in doc["serve"]["workers"]] == ["uvloop", "uvloop"]
    failed = serve_findings(doc)["serve.loop"][0]
    assert failed["message"].startswith("workers ") and "CONFIG_KWARGS" in failed["remedy"]
