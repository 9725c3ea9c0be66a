"""The distributions as a user gets them: built, installed in a fresh venv, run; the hook.

Building needs setuptools from PyPI (build isolation), installing needs typer and rich: these
tests run in `tox -e packaging`, which brings build, pre-commit and PyYAML.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import interpreters
from support import HOSTS

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 600):  # type: ignore[no-untyped-def]
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built as a release would be (the wheel from the sdist)."""
    pytest.importorskip("build", reason="python -m build: run `tox -e packaging`")
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_sdist_carries_the_license_and_docs_and_leaves_tests_out(dist: Path) -> None:
    with tarfile.open(_one(dist, "*.tar.gz")) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", "docs/servers.md", "docs/ci.md"} <= names
    assert "iodetect/target/probe.py" in names and "iodetect/schemas/facts.schema.json" in names
    assert "docs/fleet.md" in names and "iodetect/schemas/fleet.schema.json" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_wheel_metadata(dist: Path) -> None:
    with zipfile.ZipFile(_one(dist, "*.whl")) as whl:
        meta_name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = whl.read(meta_name).decode()
        names = whl.namelist()
    assert "License-Expression: MIT" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Requires-Python: >=3.10" in meta
    classifiers = [ln.split(": ", 1)[1] for ln in meta.splitlines() if ln.startswith("Classifier")]
    trove = pytest.importorskip("trove_classifiers")
    assert classifiers and set(classifiers) <= trove.classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression
    assert not [n for n in names if n.startswith("tests/")]


def test_wheel_installs_in_a_fresh_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    wheel = _one(dist, "*.whl")
    done = _run([str(python), "-m", "pip", "install", "-q", str(wheel)])
    assert done.returncode == 0, done.stderr[-2000:]
    work = tmp_path / "elsewhere"  # not the source tree: the installed package must be used
    work.mkdir()
    where = _run([str(python), "-c", "import iodetect; print(iodetect.__file__)"], cwd=work)
    assert str(venv) in where.stdout, where.stdout + where.stderr
    report = _run([str(venv / "bin" / "iodetect"), "report", "--json"], cwd=work, timeout=120)
    assert report.returncode == 0, report.stderr
    facts = json.loads(report.stdout)
    assert facts["kind"] == "iodetect.facts" and facts["recommendation"]["ok"]
    # no uvloop in this venv: the plan and the module use the standard loop
    assert facts["recommendation"]["loop_factory"].startswith("asyncio.")
    snippet = _run([str(venv / "bin" / "iodetect"), "snippet"], cwd=work, timeout=120)
    assert snippet.returncode == 0, snippet.stderr
    compile(snippet.stdout, "loop_setup.py", "exec")
    assert "def new_event_loop() -> asyncio.AbstractEventLoop:" in snippet.stdout
    (work / "loop_setup.py").write_text(snippet.stdout, encoding="utf-8")
    check = _run([str(venv / "bin" / "iodetect"), "snippet", "--check", "loop_setup.py"], work)
    assert check.returncode == 0, check.stdout + check.stderr
    # The probe script and the fleet's schemas travel in the wheel too.
    probe = _run([str(venv / "bin" / "iodetect"), "probe-script"], work)
    assert probe.returncode == 0 and probe.stdout.startswith("#!/usr/bin/env python3")
    (work / "probe.py").write_text(probe.stdout, encoding="utf-8")
    (work / "host.json").write_text(_run([str(python), "probe.py"], work).stdout, encoding="utf-8")
    fleet = _run([str(venv / "bin" / "iodetect"), "fleet", "--json", "host.json"], work)
    assert fleet.returncode == 0, fleet.stdout + fleet.stderr
    assert json.loads(fleet.stdout)["targets"][0]["verdict"] == "pass"


@pytest.mark.parametrize("version", ["3.8", "3.9"])
def test_old_python_gets_a_clear_refusal(dist: Path, version: str, tmp_path: Path) -> None:
    interp = interpreters.require(version)
    if interp.chroot:
        pytest.skip(f"CPython {version} is in the chroot, where the wheel is not visible")
    venv = tmp_path / "venv"
    assert _run([interp.argv[0], "-m", "venv", str(venv)]).returncode == 0
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index"]
    done = _run([*pip, str(_one(dist, "*.whl"))])
    assert done.returncode != 0
    assert f"requires a different Python: {version}." in done.stderr, done.stderr
    done = _run([*pip, "--find-links", str(dist), "iodetect"])
    assert done.returncode != 0
    said = done.stdout + done.stderr  # an index says "Requires-Python", a link "requires ..."
    assert "requires a different Python" in said or "Requires-Python >=3.10" in said, said


def test_pre_commit_hook_runs_snippet_check(tmp_path: Path) -> None:
    """The hook definition, installed by pre-commit from a git repository of this source."""
    if shutil.which("pre-commit", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("pre-commit is not installed beside this Python: run `tox -e packaging`")
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    source = tmp_path / "iodetect-src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tox", "*_cache", "__pycache__", "build", "dist", "*.egg-info"
        ),
    )
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "source"]):
        assert _run([*git, *argv], cwd=source).returncode == 0
    rev = _run(["git", "rev-parse", "HEAD"], cwd=source).stdout.strip()

    project = tmp_path / "service"
    (project / "deploy").mkdir(parents=True)
    shutil.copy(HOSTS / "linux.json", project / "deploy" / "facts.json")
    made = _run(
        [sys.executable, "-m", "iodetect", "snippet", "--facts", "deploy/facts.json", "-o",
         "loop_setup.py"],
        cwd=project,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {source}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: iodetect-snippet-check\n"
        "        args: [--check, loop_setup.py, --facts, deploy/facts.json]\n",
        encoding="utf-8",
    )
    assert _run([*git, "init", "-q"], cwd=project).returncode == 0
    assert _run([*git, "add", "-A"], cwd=project).returncode == 0
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def run_hooks() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit, "run", "--all-files"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
            env=env,
        )

    passed = run_hooks()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
    with open(project / "loop_setup.py", "a", encoding="utf-8") as fh:
        fh.write("# edited by hand\n")
    failed = run_hooks()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "-# edited by hand" in failed.stdout
    assert "iodetect snippet --facts deploy/facts.json -o loop_setup.py" in failed.stdout
