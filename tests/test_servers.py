"""The recipes of docs/servers.md, word for word, against the real servers from PyPI.

Each recipe starts uvicorn, gunicorn, hypercorn, aiohttp or granian as a real process in a fresh
folder with a generated loop_setup.py, sends HTTP requests on loopback, and compares what the
application reads inside its running loop (loop class, selector, soft descriptor limit) with the
plan of `iodetect report --json` for the same interpreter, limits and options. Every process a
test starts runs in its own process group, which is stopped (SIGTERM, then SIGKILL) with deadlines
whatever the outcome.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iodetect.catalog.limits import SANE_MAX

import interpreters

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "servers.md"
APP = Path(__file__).with_name("servers_app.py")
BLOCK = re.compile(r"<!-- (recipe|file): (\S+) -->\n```\w*\n(.*?)```", re.S)
LOW_SOFT = 1024  # the soft descriptor limit the "poll" plan starts under, so the module raises it
START_DEADLINE = 90.0  # a loaded machine: a server's first answer may take a while
STOP_DEADLINE = 15.0

# recipe -> (modules it needs, processes that must record their loop)
RECIPES: dict[str, tuple[tuple[str, ...], int]] = {
    "uvicorn": (("uvicorn",), 1),
    "uvicorn-workers": (("uvicorn",), 2),
    "uvicorn-reload": (("uvicorn",), 1),
    "gunicorn": (("gunicorn", "uvicorn_worker"), 2),
    "hypercorn": (("hypercorn",), 1),
    "aiohttp": (("aiohttp",), 1),
    "aiohttp-runner": (("aiohttp",), 1),
    "granian-uvloop": (("granian",), 1),
    "granian-embedded": (("granian",), 1),
}
PLANS = {"auto": (), "poll": ("--loop", "selector", "--selector", "poll")}


def _doc() -> tuple[dict[str, str], dict[str, str]]:
    recipes: dict[str, str] = {}
    files: dict[str, str] = {}
    for kind, name, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        (recipes if kind == "recipe" else files)[name] = body
    return recipes, files


def test_every_recipe_in_the_docs_is_run_here() -> None:
    recipes, files = _doc()
    assert set(recipes) == set(RECIPES)
    for name, command in recipes.items():
        lines = command.strip().splitlines()
        assert len(lines) == 1, f"recipe {name}: one command line"
        words = shlex.split(lines[0])
        if words[0] == "python":
            assert words[1] in files, f"recipe {name} runs {words[1]}, which the page lacks"
    used = {w for c in recipes.values() for w in shlex.split(c)} | {"loop_worker.py"}
    assert set(files) <= used


# --- the interpreters, each with the servers installed ----------------------------------------


def _requirements() -> list[str]:
    """The `servers` extra of pyproject.toml, and uvloop for the uvloop plan."""
    import tomllib  # 3.11+: only the servers environment (3.11) and its chroot builds get here

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [*data["project"]["optional-dependencies"]["servers"], "uvloop"]


@dataclass(frozen=True)
class Host:
    """An interpreter with the servers installed: where files go and how commands run there."""

    version: str
    python: str  # the venv's python, as seen where the server runs
    bin: str  # the venv's bin folder, first on PATH for the recipes
    sid: tuple[str, ...] | None  # sid-python exec VERSION: runs inside the chroot
    chroot_root: str | None  # the chroot's folder on this host

    def argv(self, words: list[str], cwd: str) -> list[str]:
        """argv that runs `words` in `cwd` with the venv's bin first on PATH."""
        if self.sid is None:
            return words
        code = (
            "import os, sys\n"
            f"os.chdir({cwd!r})\n"
            f"os.environ['PATH'] = {self.bin!r} + ':' + os.environ.get('PATH', '/usr/bin:/bin')\n"
            f"os.execvp({words[0]!r}, {words!r})\n"
        )
        return [*self.sid, "-c", code]

    def python_command(self) -> str:
        """--python for iodetect: this venv's python, reading the program on stdin."""
        if self.sid is None:
            return shlex.quote(self.python)
        hand_over = f"import os; os.execv({self.python!r}, [{self.python!r}, '-'])"
        return shlex.join([*self.sid, "-c", hand_over])

    @contextlib.contextmanager
    def folder(self, tmp_path: Path) -> Iterator[tuple[Path, str]]:
        """A fresh folder: its path here, and as the server sees it."""
        if self.chroot_root is None:
            yield tmp_path, str(tmp_path)
            return
        inside = f"/tmp/iodetect-servers-{uuid.uuid4().hex[:12]}"
        here = Path(self.chroot_root + inside)
        here.mkdir(parents=True)
        try:
            yield here, inside
        finally:
            shutil.rmtree(here, ignore_errors=True)


_HOSTS: dict[str, Host | str] = {}


def _host(version: str) -> Host:
    """The interpreter for `version` with the servers, or skip and say why."""
    if version not in _HOSTS:
        _HOSTS[version] = _make_host(version)
    found = _HOSTS[version]
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _make_host(version: str) -> Host | str:
    running = "%d.%d" % sys.version_info[:2]
    if version == running:
        missing = [m for m in ("uvicorn", "uvicorn_worker", "gunicorn", "hypercorn", "aiohttp",
                               "granian", "uvloop") if not _importable(m)]  # fmt: skip
        if missing:
            return (
                f"{', '.join(missing)} not installed for this CPython {running}: run "
                "`tox -e servers` (the `servers` extra installs them)"
            )
        bindir = str(Path(sys.executable).parent)
        return Host(version, sys.executable, bindir, None, None)
    interp = interpreters.find(version)
    if interp is None:
        return f"CPython {version} is not available on this machine"
    if interp.chroot:
        return _chroot_host(interp)
    venv = interpreters.CACHE / f"servers-{version}"
    python = venv / "bin" / "python"
    if not _fresh(venv / ".ok"):
        shutil.rmtree(venv, ignore_errors=True)
        made = _run([interp.argv[0], "-m", "venv", str(venv)], 300)
        if made.returncode == 0:
            made = _run([str(python), "-m", "pip", "install", "-q", *_requirements()], 900)
        if made.returncode != 0:
            return f"the servers cannot be installed for CPython {version}: {_last(made)}"
        (venv / ".ok").touch()
    return Host(version, str(python), str(venv / "bin"), None, None)


def _chroot_host(interp: interpreters.Interp) -> Host | str:
    """A venv inside the sid chroot: the host downloads the wheels (the chroot cannot reach the
    index through this host's TLS proxy), the chroot installs them with --no-index."""
    version = interp.version
    root = _run([str(interpreters.SID_TOOL), "path"], 30).stdout.strip()
    if not root:
        return "the sid-python chroot has no folder"
    venv = f"{interpreters.SID_VENVS}/servers-{version}"
    wheels = f"{interpreters.SID_VENVS}/wheels-servers-{version}"
    if not _fresh(Path(root + venv) / ".ok"):
        Path(root + wheels).mkdir(parents=True, exist_ok=True)
        platforms = [
            f"--platform={p}"
            for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                      "manylinux_2_5_x86_64", "manylinux1_x86_64")
        ]  # fmt: skip
        got = _run(
            [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
             f"--python-version={version}", *platforms, "-d", root + wheels, *_requirements()],
            900,
        )  # fmt: skip
        if got.returncode != 0:
            return f"no wheels of the servers for CPython {version}: {_last(got)}"
        script = (
            "import shutil, subprocess, sys\n"
            f"shutil.rmtree({venv!r}, ignore_errors=True)\n"
            f"subprocess.run([sys.executable, '-m', 'venv', {venv!r}], check=True)\n"
            f"subprocess.run([{venv + '/bin/python'!r}, '-m', 'pip', 'install', '-q',"
            f" '--disable-pip-version-check', '--no-index', '--find-links', {wheels!r},"
            f" *{_requirements()!r}], check=True)\n"
            f"open({venv + '/.ok'!r}, 'w').close()\n"
        )
        made = _run([*interp.argv, "-c", script], 900)
        if made.returncode != 0:
            return f"the servers cannot be installed for CPython {version}: {_last(made)}"
    return Host(version, f"{venv}/bin/python", f"{venv}/bin", tuple(interp.argv), root)


def _fresh(marker: Path) -> bool:
    """A cached venv is rebuilt after a week, so the servers stay the current releases."""
    return marker.exists() and time.time() - marker.stat().st_mtime < 7 * 86400


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 1, "", f"timed out after {timeout:.0f} s")


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"exit {done.returncode}"


def _newest(chroot: bool) -> str:
    """The newest CPython present: on this host (pyenv), or also in the sid chroot."""
    for version in reversed(interpreters.VERSIONS):
        interp = interpreters.find(version)
        if interp is not None and (chroot or not interp.chroot):
            return version
    return "3.13"  # absent: its tests skip and say so


# The running CPython (3.11 in tox), the newest on this host and the newest of all.
VERSIONS = sorted(
    {"%d.%d" % sys.version_info[:2], _newest(chroot=False), _newest(chroot=True)},
    key=lambda v: int(v[2:]),
)


# --- one server, started, asked and stopped ------------------------------------------------


def _limits(soft: int | None) -> Any:
    """preexec_fn: the soft descriptor limit the server (and the probe) start with."""

    def apply() -> None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        want = hard if soft is None else soft
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    return apply


def _iodetect(args: list[str], soft: int | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iodetect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limits(soft),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int) -> dict[str, Any] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read(65536)
        if response.status != 200:
            return None
        data: dict[str, Any] = json.loads(body)
        return data
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-25:])

    def answer(self, want: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first answer (matching `want`) before the deadline, or fail with the log."""
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            info = _get(self.port)
            if info is not None and all(info.get(k) == v for k, v in (want or {}).items()):
                return info
            time.sleep(0.2)
        pytest.fail(f"no answer{f' with {want}' if want else ''} in {START_DEADLINE} s:\n"
                    f"{self.tail()}")  # fmt: skip


@contextlib.contextmanager
def _serve(argv: list[str], cwd: Path, host: Host, env: dict[str, str], soft: int | None,
           port: int) -> Iterator[Server]:  # fmt: skip
    log = cwd / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd if host.sid is None else None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers and reloaders go with it
            preexec_fn=_limits(soft),
        )
    try:
        yield Server(proc, port, log)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL what is left after the deadline, reap the leader."""
    group = proc.pid
    for sig, wait in ((signal.SIGTERM, STOP_DEADLINE), (signal.SIGKILL, STOP_DEADLINE)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
            if proc.returncode is not None and not _group_alive(group):
                return
    proc.wait(timeout=STOP_DEADLINE)


def _group_alive(group: int) -> bool:
    """Whether a process of the group is still running (zombies awaiting their parent are not)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields and fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("plan_name", list(PLANS))
@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("version", VERSIONS)
def test_recipe_runs_the_planned_loop(
    version: str, recipe: str, plan_name: str, tmp_path: Path
) -> None:
    host = _host(version)
    recipes, files = _doc()
    _, processes = RECIPES[recipe]
    options = list(PLANS[plan_name])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = None if plan_name == "auto" else LOW_SOFT  # None: soft = hard, nothing to raise

    with host.folder(tmp_path) as (here, there):
        shutil.copy(APP, here / "app.py")
        for name, text in files.items():
            (here / name).write_text(text, encoding="utf-8")
        python = host.python_command()
        made = _iodetect(
            ["snippet", "--python", python, *options, "-o", str(here / "loop_setup.py")], soft
        )
        assert made.returncode == 0, made.stderr
        report = _iodetect(["report", "--json", "--python", python, *options], soft)
        assert report.returncode == 0, report.stderr
        plan = json.loads(report.stdout)["recommendation"]
        expect = plan["expect"]
        launch_soft = hard if soft is None or hard == resource.RLIM_INFINITY else min(soft, hard)
        want_soft = launch_soft
        if plan["nofile"]:  # new_event_loop() raises it, reading the hard limit where it runs
            target = plan["nofile"]["target"]
            cap = max(plan["nofile"]["need"] or 0, SANE_MAX) if target is None else target
            want_soft = max(launch_soft, min(cap, hard))
        if soft is not None and hard > LOW_SOFT:
            assert plan["nofile"], "a soft limit below the hard one must be raised"
        if recipe == "granian-uvloop" and (plan["loop"] != "uvloop" or want_soft != launch_soft):
            pytest.skip(
                f"the plan is {plan['loop_factory']}"
                + (" with a descriptor-limit raise" if want_soft != launch_soft else "")
                + ": granian --loop uvloop does not run it (granian-embedded does)"
            )

        port = _free_port()
        words = [w.replace("8000", str(port)) for w in shlex.split(recipes[recipe])]
        env = {
            "PATH": f"{host.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp_path),
            "PORT": str(port),
            "PYTHONDEVMODE": "1",
            "PYTHONUNBUFFERED": "1",
            # what the module itself may not do; the servers' own warnings are theirs
            "PYTHONWARNINGS": ",".join(
                f"error::{w}:loop_setup" for w in ("DeprecationWarning", "ResourceWarning")
            ),
        }  # fmt: skip
        with _serve(host.argv(words, there), here, host, env, soft, port) as server:
            first = server.answer()
            infos = [first]
            if recipe == "uvicorn-reload":
                text = (here / "app.py").read_text(encoding="utf-8")
                (here / "app.py").write_text(
                    text.replace('MARKER = "first"', 'MARKER = "second"'), encoding="utf-8"
                )
                second = server.answer({"marker": "second"})
                assert second["pid"] != first["pid"], "the reloaded server is a new process"
                infos.append(second)
            records = _records(here / "records", processes, server)
            log = server.tail()
        for info in infos + records:
            seen = {k: info[k] for k in ("loop_class", "loop_package", "selector_class")}
            assert seen == expect, f"{recipe} ran {seen}, the plan is {expect}\n{log}"
            assert info["python"] == version
            assert info["nofile_soft"] == want_soft, (
                f"soft descriptor limit {info['nofile_soft']}, planned {want_soft} "
                f"(started with {launch_soft}, hard {hard})"
            )
        assert "loop_setup.py" not in log, f"the module warned or failed:\n{log}"


def _records(folder: Path, count: int, server: Server) -> list[dict[str, Any]]:
    """What `count` processes recorded at start-up, each from inside its own loop."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        found = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if len(found) >= count:
            return [json.loads(p.read_text(encoding="utf-8")) for p in found]
        time.sleep(0.2)
    pytest.fail(f"{count} processes should have recorded their loop:\n{server.tail()}")


def test_a_stopped_server_leaves_no_process(tmp_path: Path) -> None:
    """The clean-up itself: a server whose workers ignore SIGTERM is killed with its group."""
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "if os.fork() == 0:\n"
        "    time.sleep(600)\n"
        "time.sleep(600)\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], start_new_session=True, stdin=subprocess.DEVNULL
    )
    time.sleep(0.5)
    assert _group_alive(proc.pid)
    started = time.monotonic()
    _stop(proc)
    assert not _group_alive(proc.pid)
    assert time.monotonic() - started < 2 * STOP_DEADLINE + 5
