"""`iodetect scan` against the real interpreters: what the scan says is what the code does.

Every file of the fixture project runs on every CPython 3.8-3.15 present, under `-W error` and
again with deprecation warnings ignored: a file the scan says raises (or whose API is removed) on
that exact version must raise there, at a flagged line; one it says warns must warn there and
nothing more; one it says is fine must run clean. The scanner itself (engine.py) runs on each
interpreter and on PyPy for --deps, and real library code it flags is run too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from iodetect.scan import Options, scan
from iodetect.scan.report import to_dict

from interpreters import CACHE, SID_TOOL, VERSIONS, Interp, find, require, require_package

pytestmark = pytest.mark.targets

PROJECT = Path(__file__).parent / "scan_project"
# ignored_*.py carry an `# iodetect: ignore` comment: silenced on purpose, not run here.
FILES = sorted(p.name for p in PROJECT.glob("*.py") if not p.name.startswith("ignored_"))
BREAKS = ("raises", "removed")


def run(
    interp: Interp, code: str, *flags: str, uvloop: bool = False
) -> subprocess.CompletedProcess[str]:
    if uvloop:
        argv = require_package(interp, "uvloop", *flags)
        argv += [] if interp.chroot else ["-"]  # the chroot's hand-over already reads stdin
    else:
        argv = [*interp.command(*flags), "-"]
    return subprocess.run(
        argv,
        input=code,
        capture_output=True,
        text=True,
        timeout=120,
    )


def failure(done: subprocess.CompletedProcess[str]) -> tuple[str, frozenset[int]]:
    """(exception name, lines of the program in its traceback) of a run that failed."""
    lines = frozenset(int(n) for n in re.findall(r'File "<stdin>", line (\d+)', done.stderr))
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    name = last.split(":")[0].strip().rpartition(".")[2]
    return name, lines


def observe(interp: Interp, code: str, uvloop: bool) -> tuple[str, str, frozenset[int]]:
    """('fine' | 'warns' | 'breaks', exception name, line) of running the code."""
    lenient = run(
        interp,
        code,
        "-W",
        "ignore::DeprecationWarning",
        "-W",
        "ignore::PendingDeprecationWarning",
        uvloop=uvloop,
    )
    if lenient.returncode != 0:
        return ("breaks", *failure(lenient))
    strict = run(interp, code, "-W", "error", uvloop=uvloop)
    if strict.returncode != 0:
        return ("warns", *failure(strict))
    return "fine", "", frozenset()


def predict(findings: list[dict[str, Any]]) -> tuple[str, set[int]]:
    worst = max(
        (f["worst"] for f in findings),
        default="fine",
        key=("fine", "warns", "raises", "removed").index,
    )
    kind = "breaks" if worst in BREAKS else worst
    lines: set[int] = set()
    for f in findings:
        if f["worst"] != "fine" and (f["worst"] in BREAKS) == (kind == "breaks"):
            lines.update(range(f["line"], f["end_line"] + 1))
            if f["use"] == "decorator":  # CPython 3.8 reports the def line below it
                lines.add(f["end_line"] + 1)
    return kind, lines


@pytest.mark.parametrize("version", VERSIONS)
def test_each_fixture_does_on_the_real_interpreter_what_the_scan_says(version: str) -> None:
    interp = require(version)
    # The scan judges for the exact release of the interpreter (3.10.13, 3.14.10...).
    report = to_dict(scan(Options(paths=(str(PROJECT),), python=interp.command(), fail_on="never")))
    assert len(report["targets"]) == 1 and report["targets"][0].startswith(version + ".")
    by_file: dict[str, list[dict[str, Any]]] = {name: [] for name in FILES}
    for group in report["groups"]:
        for f in group["findings"]:
            by_file[Path(f["path"]).name].append(f)
    codes = {name: (PROJECT / name).read_text(encoding="utf-8") for name in FILES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        # uvloop_*.py run in a venv with uvloop for that interpreter
        seen = dict(
            zip(
                FILES,
                pool.map(lambda n: observe(interp, codes[n], n.startswith("uvloop_")), FILES),
            )
        )
    wrong = []
    for name in FILES:
        kind, lines = predict(by_file[name])
        got, error, where = seen[name]
        if name.startswith("fine_") and kind != "fine":
            wrong.append(f"{name}: a fine form drew {kind} on {report['targets'][0]}")
        if got != kind:
            wrong.append(f"{name}: scan says {kind} on {report['targets'][0]}, it {got} ({error})")
        elif kind != "fine" and not where & lines:
            wrong.append(
                f"{name}: {got} at lines {sorted(where)}, the scan flagged {sorted(lines)}"
            )
        if got == "warns" and "Warning" not in error:
            wrong.append(f"{name}: failed with {error} under -W error only")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("version", [*VERSIONS, "pypy3"])
def test_the_scanner_lists_and_scans_distributions_on_each_interpreter(version: str) -> None:
    """engine.py is standard library only and runs on 3.8-3.15 and PyPy, under -W error."""
    if version == "pypy3":
        if not (SID_TOOL.exists() and os.geteuid() == 0):
            pytest.skip("PyPy comes from the sid-python chroot, which is not available here")
        argv = [str(SID_TOOL), "exec", "pypy3"]
        probe = subprocess.run([*argv, "-c", "print(1)"], capture_output=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip("PyPy 3 is not installed in the sid-python chroot")
    else:
        interp = require(version)
        # the chroot's interpreters have no distributions of their own: use the uvloop venv
        argv = (
            require_package(interp, "uvloop", "-W", "error")
            if interp.chroot
            else interp.command("-W", "error")
        )
    report = scan(Options(deps=True, python=argv, targets="3.8-3.15", fail_on="never"))
    assert report.python is not None and report.python.version
    assert report.incomplete is None
    if version != "pypy3":
        assert report.groups, "no distribution found (pip or uvloop should be there)"
        assert sum(g.files for g in report.groups) > 0


def test_real_library_code_flagged_for_314_does_what_the_scan_says() -> None:
    """uvloop's own install() on 3.14 and 3.15: the scan flags its policy call; running it warns."""
    for version in ("3.14", "3.15"):
        interp = find(version)
        if interp is None:
            continue
        argv = require_package(interp, "uvloop")
        report = scan(Options(deps=True, python=argv, fail_on="never"))
        strict = require_package(interp, "uvloop", "-W", "error")
        uvloop = [g for g in report.groups if g.name.lower() == "uvloop"]
        assert uvloop, f"uvloop not found in the {version} venv"
        policy = [
            f
            for f in uvloop[0].findings
            if f.record == "set-event-loop-policy" and f.function.endswith("install")
        ]
        assert policy and policy[0].worst == "warns", [f.record for f in uvloop[0].findings]
        done = subprocess.run(
            strict,
            input="import uvloop\nuvloop.install()\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0 and "DeprecationWarning" in done.stderr, done.stderr[-500:]
    if find("3.14") is None and find("3.15") is None:
        pytest.skip("CPython 3.14 and 3.15 are not available on this machine")


# --- a real environment from PyPI --------------------------------------------------------------
DEPS = ("aiohttp", "uvicorn", "tornado", "pyzmq", "twisted", "psycopg")


def _deps_venv() -> str:
    """A cached venv (CPython 3.12) with the six libraries and their dependencies from PyPI."""
    interp = require("3.12")
    venv = CACHE / "scan-deps-3.12"
    python = venv / "bin" / "python"
    if not (venv / ".ok").exists():
        try:
            subprocess.run([interp.argv[0], "-m", "venv", str(venv)], check=True, timeout=300)
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *DEPS],
                capture_output=True,
                text=True,
                timeout=900,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"cannot build the venv with {', '.join(DEPS)}: {exc}")
        if done.returncode != 0:
            pytest.skip(f"pip cannot install {', '.join(DEPS)} here: {done.stderr.strip()[-300:]}")
        (venv / ".ok").touch()
    return str(python)


def test_a_real_venv_from_pypi_is_scanned_and_its_findings_hold_on_314() -> None:
    python = _deps_venv()
    report = scan(Options(deps=True, python=python, targets="3.12-3.15", timeout=120))
    names = {g.name.lower() for g in report.groups}
    for dist in DEPS:
        assert dist in names, f"{dist} not among {sorted(names)}"
    assert report.incomplete is None
    files = sum(g.files for g in report.groups)
    print(
        f"\nscanned {files} files, {sum(g.lines for g in report.groups)} lines in "
        f"{report.seconds:.2f} s",
        file=sys.stderr,
    )
    found = {(g.name.lower(), f.record) for g in report.groups for f in g.findings}
    # aiohttp's gunicorn worker installs uvloop's policy: a warning from 3.14 on
    assert ("aiohttp", "set-event-loop-policy") in found
    # psycopg falls back to select() where the selector is select: possible above 1024
    assert ("psycopg", "select-select") in found
    # every record the real scan reports is one the fixture project proves on each interpreter
    fixture = scan(Options(paths=(str(PROJECT),), targets="3.8-3.15", fail_on="never"))
    exercised = {f.record for f in fixture.findings}
    # Windows-only names cannot run here (no Windows interpreter): their records are the
    # documented ones, cited in iodetect/catalog/apis.py.
    windows = {r for _, r in found if "windows" in r}
    missing = {record for _, record in found} - exercised - windows
    assert not missing, f"records found in the venv with no fixture that runs them: {missing}"
