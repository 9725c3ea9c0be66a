"""`iodetect report` as a user runs it: rendering, JSON, other interpreters, bad input."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from iodetect import model

from interpreters import VERSIONS, find
from support import HOSTS, run_cli

SCHEMA = json.loads(
    (Path(model.__file__).parent / "schemas" / "facts.schema.json").read_text(encoding="utf-8")
)


def test_report_renders_each_fixture_host(host_file: Path) -> None:
    facts = model.load(str(host_file))
    done = run_cli("report", "--facts", str(host_file))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in ("Host", "Interpreter", "Selectors", "asyncio", "Alternative event loops"):
        assert heading in out
    assert facts.interpreter.release in out
    for sel in facts.selectors:
        if not sel.available:
            assert sel.reason is not None
            assert sel.reason.split()[0] in out  # the reason is shown, not only a mark
    if facts.origin == "documented":
        assert "documented" in out


def test_report_json_round_trips_a_facts_file(host_file: Path) -> None:
    done = run_cli("report", "--facts", str(host_file), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data.pop("recommendation") is not None
    assert data == json.loads(host_file.read_text(encoding="utf-8"))


def test_report_json_carries_the_recommendation_and_reads_back(tmp_path: Path) -> None:
    done = run_cli("report", "--json", "--needs", "add_reader")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, SCHEMA)
    plan = data["recommendation"]
    assert plan["ok"] and "add_reader" in plan["needs"]
    assert plan["reasons"] and all(r["source"] for r in plan["reasons"])
    saved = tmp_path / "report.json"
    saved.write_text(done.stdout)
    again = run_cli("report", "--json", "--facts", str(saved), "--needs", "add_reader")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == data


def test_report_shows_the_recommendation_and_conflicts() -> None:
    done = run_cli("report")
    assert done.returncode == 0, done.stderr
    assert "Recommendation: " in done.stdout
    assert "iodetect snippet > loop_setup.py" in done.stdout
    win = run_cli(
        "report", "--facts", str(HOSTS / "win32.json"), "--needs", "add_reader,subprocess"
    )
    assert win.returncode == 0, win.stderr
    assert "Conflicts" in win.stdout and "ProactorEventLoop" in win.stdout


def test_facts_strings_are_never_rich_markup(tmp_path: Path) -> None:
    data = json.loads((HOSTS / "linux.json").read_text(encoding="utf-8"))
    data["selectors"][3]["reason"] = "[bold red]devpoll[/bold red] [link=http://x]y[/link]"
    data["loops"][1]["import_error"] = "[blink]note[/blink]"  # support_note is recomputed
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    done = run_cli("report", "--facts", str(path), env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert "[bold red]devpoll[/bold red] [link=http://x]y[/link]" in done.stdout
    assert "[blink]note[/blink]" in done.stdout


def test_version_and_module_entry_point() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("iodetect ")


@pytest.mark.targets
def test_python_option_probes_every_interpreter_here() -> None:
    """--python returns that interpreter's own facts, under -W error, for 3.8 to 3.15."""

    def one(version: str) -> tuple[str, str | None, model.Facts | None]:
        interp = find(version)
        if interp is None:
            return version, f"CPython {version} is not available on this machine", None
        command = shlex.join(interp.command("-X", "dev", "-W", "error"))
        done = run_cli("report", "--json", "--python", command)
        assert done.returncode == 0, f"{version}: {done.stderr}"
        return version, None, model.from_json(done.stdout)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, VERSIONS))
    skipped = [why for _, why, _ in results if why]
    probed = 0
    for version, _, facts in results:
        if facts is None:
            continue
        probed += 1
        major, minor = (int(x) for x in version.split("."))
        assert facts.py == (major, minor)
        assert facts.errors == ()
        assert facts.default_selector == "epoll"
        assert facts.asyncio is not None
        assert facts.asyncio.policies_deprecated == ((major, minor) >= (3, 14))
        expected = "raises" if minor >= 14 else "warns" if minor >= 12 else "ok"
        assert facts.asyncio.get_event_loop_without_loop == expected
        assert facts.asyncio.run_loop_factory == (minor >= 12)
    assert probed >= 1
    if skipped:
        print("skipped: " + "; ".join(skipped))


def answering(payload: str) -> str:
    """A --python command that answers with `payload` on this run's marker line (its nonce)."""
    code = (
        "import re, sys; src = sys.stdin.read(); "
        "m = re.search(r\"MARKER = '(@@iodetect@@ [0-9a-f]+ )'\", src); "
        f"print(m.group(1) + {payload!r})"
    )
    return shlex.join([sys.executable, "-c", code])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--bogus"], "No such option: --bogus"),
        (["report", "--python", "/nonexistent/python3"], "command not found"),
        (["report", "--python", f"{sys.executable} -c 'raise SystemExit(3)'"], "status 3"),
        (["report", "--python", "echo not facts"], "did not print an iodetect result"),
        (["report", "--python", answering("{")], "malformed"),
        (["report", "--python", answering('{"kind": 1}')], "bad facts"),
        # A result line without this run's nonce (a forgery, a copy) is not a result.
        (["report", "--python", "printf '@@iodetect@@ {\"kind\": 1}\\n' #"], "lack this run's"),
        (["report", "--python", "'unbalanced"], "cannot parse --python command"),
        (["report", "--facts", "/nonexistent.json"], "cannot read facts file"),
        (["report", "--timeout", "soon"], "Invalid value for '--timeout'"),
        (["nosuch"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_cli(*args, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("iodetect: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"kind": "iodetect.facts", "schema_version": 7}', "unsupported facts schema_version 7"),
        ("[]", "must be a JSON object"),
    ],
)
def test_bad_facts_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "facts.json"
    path.write_text(content)
    done = run_cli("report", "--facts", str(path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


def test_a_hanging_target_is_killed_at_the_deadline(tmp_path: Path) -> None:
    """The whole process group goes: a grandchild that would outlive its parent is killed too."""
    pidfile = tmp_path / "grandchild.pid"
    script = tmp_path / "hang.sh"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nwait\n")
    script.chmod(0o755)
    start = time.monotonic()
    done = run_cli("report", "--python", str(script), "--timeout", "1")
    elapsed = time.monotonic() - start
    assert done.returncode == 2
    assert "gave no answer within 1 s; its process group was killed" in done.stderr
    assert elapsed < 20
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie awaiting its reaper counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
