"""`iodetect inspect --serve` with real servers from PyPI: uvicorn with two workers and gunicorn
with uvicorn workers, each once configured as the plan says and once not; everything they
start is stopped, also when iodetect itself is interrupted."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from inspect_servers import gone, wait_for

from support import run_cli

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]
APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
BOUND = 60.0


def need(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed here: run `tox -e servers`")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    return tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_json(command: list[str], *args: str) -> tuple[int, dict[str, Any]]:
    start = time.monotonic()
    done = run_cli("inspect", "--json", "--serve", shlex.join(command), *args, timeout=180)
    assert time.monotonic() - start < BOUND
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    s = doc["serve"]
    for pid in (*s["workers"], *s["supervisors"]):  # nothing left behind
        assert gone(pid), pid
    assert s["stopped"] is True and s["left_running"] == []
    return done.returncode, doc


def loops(doc: dict[str, Any]) -> list[str | None]:
    return [p["loop"]["running"] for p in doc["processes"]]


def plan_levels(doc: dict[str, Any]) -> list[str]:
    return [f["level"] for f in doc["findings"] if f["code"] == "plan.loop"]


def uvicorn(app_dir: Path, loop: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "app:app",
        "--app-dir",
        str(app_dir),
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        "--loop",
        loop,
    ]


def test_uvicorn_two_workers_on_the_planned_loop(app_dir: Path) -> None:
    need("uvicorn")
    need("uvloop")
    code, doc = serve_json(uvicorn(app_dir, "uvloop"))
    assert code == 0, doc["findings"]
    assert len(doc["serve"]["workers"]) == 2 and len(doc["serve"]["supervisors"]) == 1
    assert loops(doc) == ["uvloop", "uvloop"]
    assert plan_levels(doc) == ["ok", "ok"]
    assert {p["role"] for p in doc["processes"]} == {"worker"}


def test_uvicorn_two_workers_off_the_plan_fails(app_dir: Path) -> None:
    need("uvicorn")
    need("uvloop")
    code, doc = serve_json(uvicorn(app_dir, "asyncio"))
    assert code == 1
    assert loops(doc) == ["asyncio", "asyncio"]
    assert plan_levels(doc) == ["fail", "fail"]


def gunicorn(app_dir: Path, worker: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "app:app",
        "--chdir",
        str(app_dir),
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{free_port()}",
        "-k",
        worker,
    ]


def test_gunicorn_with_uvicorn_workers(app_dir: Path) -> None:
    need("gunicorn")
    need("uvicorn_worker")
    need("uvloop")
    # UvicornWorker takes uvloop when it is installed: as the plan says.
    code, doc = serve_json(gunicorn(app_dir, "uvicorn_worker.UvicornWorker"))
    assert code == 0, doc["findings"]
    assert loops(doc) == ["uvloop", "uvloop"]
    # UvicornH11Worker runs the standard loop: a mismatch.
    code, doc = serve_json(gunicorn(app_dir, "uvicorn_worker.UvicornH11Worker"))
    assert code == 1
    assert loops(doc) == ["asyncio", "asyncio"]
    assert plan_levels(doc) == ["fail", "fail"]


def test_a_command_that_exits_or_cannot_start(tmp_path: Path) -> None:
    code, doc = serve_json([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    assert code == 1
    exited = next(f for f in doc["findings"] if f["code"] == "serve.exited")
    assert "status 3" in exited["message"] and doc["serve"]["output_tail"] == ["boom"]
    done = run_cli("inspect", "--serve", "no-such-command-iodetect --port 1")
    assert done.returncode == 2 and "command not found" in done.stderr
    assert done.stderr.count("\n") == 1


def test_interrupted_inspection_stops_everything(app_dir: Path) -> None:
    need("uvicorn")
    marker = str(free_port())
    command = uvicorn(app_dir, "asyncio")
    command[command.index("--port") + 1] = marker
    proc = subprocess.Popen(
        [sys.executable, "-m", "iodetect", "inspect", "--serve", shlex.join(command)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen: list[int] = []

    def started() -> bool:
        """The uvicorn supervisor (its command line has the port) and at least two children."""
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == proc.pid:
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    data = f.read()
            except (OSError, ValueError, IndexError):
                continue
            if marker.encode() in data and b"uvicorn" in data and int(name) not in seen:
                seen.append(int(name))
        children = [pid for pid, ppid in parents.items() if ppid in seen and pid not in seen]
        seen.extend(children)
        return len(seen) >= 3

    try:
        assert wait_for(started, 60)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert wait_for(lambda: all(gone(pid) for pid in seen), 15), seen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in seen:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_granian_python_loop_is_told_from_its_tokio_threads(app_dir: Path) -> None:
    # granian serves connections from tokio threads that wait in epoll instances of their own
    # (with mio's eventfd); the Python loop runs on the main thread. It imports uvloop whatever
    # --loop says, so only the main thread's wait tells which loop runs.
    need("granian")
    need("uvloop")
    base = [sys.executable, "-m", "granian", "--interface", "asgi", "app:app"]
    base += ["--working-dir", str(app_dir), "--host", "127.0.0.1"]
    code, doc = serve_json([*base, "--port", str(free_port()), "--loop", "asyncio"])
    assert loops(doc) == ["asyncio"], [p["loop"] for p in doc["processes"]]
    assert plan_levels(doc) == ["fail"] and code == 1
    assert doc["processes"][0]["loop"]["thread"] == doc["processes"][0]["pid"]
    code, doc = serve_json([*base, "--port", str(free_port()), "--loop", "uvloop"])
    assert loops(doc) == ["uvloop"] and code == 0, doc["findings"]
