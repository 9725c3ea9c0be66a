"""The pipeline examples of docs/ci.md: their YAML parses and their commands exit as documented.

No GitHub runner, Docker engine or Kubernetes cluster runs here: the commands those run do, on
this machine, with the installed iodetect (the `packaging` environment installs it).
"""

from __future__ import annotations

import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import HOSTS

pytestmark = pytest.mark.packaging

DOC = Path(__file__).resolve().parent.parent / "docs" / "ci.md"
BLOCK = re.compile(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", re.S)


def _examples() -> dict[str, str]:
    return dict(BLOCK.findall(DOC.read_text(encoding="utf-8")))


def _yaml(name: str) -> Any:
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the examples: tox -e packaging")
    return yaml.safe_load(_examples()[name])


def _iodetect() -> str:
    found = shutil.which("iodetect", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("iodetect is not installed beside this Python: run `tox -e packaging`")
    return str(Path(found).parent)


def _shell(command: str, cwd: Path, hard: int | None = None, **env: str):  # type: ignore[no-untyped-def]
    """Run a command of an example as its runner would: sh -c, iodetect on PATH."""

    def limit() -> None:
        if hard is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    return subprocess.run(
        ["sh", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PATH": f"{_iodetect()}:{os.environ['PATH']}", **env},
        preexec_fn=limit,
    )


def _project(tmp_path: Path) -> Path:
    """A service's checkout: deploy/facts.json and the loop_setup.py generated from it."""
    (tmp_path / "deploy").mkdir()
    shutil.copy(HOSTS / "linux.json", tmp_path / "deploy" / "facts.json")
    made = _shell("iodetect snippet --facts deploy/facts.json -o loop_setup.py", tmp_path)
    assert made.returncode == 0, made.stderr
    return tmp_path


def test_github_actions_job_steps_exit_as_documented(tmp_path: Path) -> None:
    job = _yaml("github-actions")
    steps = job["jobs"]["loop-setup"]["steps"]
    runs = [s["run"] for s in steps if "run" in s and s["run"].startswith("iodetect")]
    assert len(runs) == 2
    project = _project(tmp_path)
    for command in runs:  # current module, a host that carries 2000 connections
        done = _shell(command, project)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    report = (project / "check.json").read_text(encoding="utf-8")
    assert '"kind": "iodetect.check"' in report
    with open(project / "loop_setup.py", "a", encoding="utf-8") as fh:
        fh.write("# edited by hand\n")
    stale = _shell(runs[0], project)
    assert stale.returncode == 1
    assert "+++ loop_setup.py (iodetect snippet now)" in stale.stdout
    assert any(s.get("if") == "always()" for s in steps), "check.json is kept even on failure"


def test_annotations_and_junit_jobs_run_as_documented(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    job = _yaml("github-actions-annotations")
    steps = job["jobs"]["check"]["steps"]
    (gha,) = [s["run"] for s in steps if "run" in s and s["run"].startswith("iodetect")]
    assert "--format github" in gha and "--junit check.xml" in gha
    assert any(s.get("if") == "always()" for s in steps), "check.xml is kept even on failure"
    gitlab = _yaml("gitlab-ci")["iodetect-check"]
    assert gitlab["artifacts"]["reports"]["junit"] == "check.xml"
    (glc,) = [c for c in gitlab["script"] if c.startswith("iodetect")]
    project = _project(tmp_path)
    for command in (gha, glc):
        done = _shell(command, project)
        assert done.returncode == 0, f"{command}: {done.stdout} {done.stderr}"
        root = ET.parse(project / "check.xml").getroot()
        assert root.tag == "testsuites" and root.get("failures") == "0"
        (project / "check.xml").unlink()
    done = _shell(gha, project)
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith("::") for line in lines)
    failing = _shell(glc, project, hard=256)  # a hard limit below the 2000 connections
    assert failing.returncode == 1
    root = ET.parse(project / "check.xml").getroot()
    assert int(root.get("failures", "0")) >= 1


def test_dockerfile_runs_the_check_and_gates_the_entrypoint(tmp_path: Path) -> None:
    lines = _examples()["dockerfile"].splitlines()
    runs = [ln.removeprefix("RUN ") for ln in lines if ln.startswith("RUN iodetect")]
    assert runs == ["iodetect check --snippet loop_setup.py --connections 2000"]
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in lines
    project = _project(tmp_path)
    done = _shell(runs[0], project)
    assert done.returncode == 0, done.stdout + done.stderr


def _entrypoint(tmp_path: Path) -> Path:
    script = tmp_path / "docker-entrypoint.sh"
    script.write_text(_examples()["docker-entrypoint.sh"], encoding="utf-8")
    script.chmod(0o755)
    return script


def test_entrypoint_starts_the_service_when_the_check_passes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    script = _entrypoint(tmp_path)
    done = _shell(
        f"{script} echo service started", project, LOOP_SETUP=str(project / "loop_setup.py")
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "service started\n"
    assert "PASS" in done.stderr  # the findings go to the log, not to the service's stdout


def test_entrypoint_refuses_to_start_under_a_low_hard_limit(tmp_path: Path) -> None:
    project = _project(tmp_path)
    script = _entrypoint(tmp_path)
    done = _shell(
        f"{script} echo service started",
        project,
        hard=1024,
        LOOP_SETUP=str(project / "loop_setup.py"),
        MAX_CONNECTIONS="4000",
    )
    assert done.returncode == 1, done.stderr
    assert "service started" not in done.stdout
    assert "iodetect check exited 1; not starting" in done.stderr


def test_entrypoint_exits_2_when_the_module_is_missing(tmp_path: Path) -> None:
    script = _entrypoint(tmp_path)
    done = _shell(
        f"{script} echo service started", tmp_path, LOOP_SETUP=str(tmp_path / "missing.py")
    )
    assert done.returncode == 2
    assert "service started" not in done.stdout


def test_kubernetes_init_container_command_exits_as_documented(tmp_path: Path) -> None:
    deployment = _yaml("kubernetes")
    spec = deployment["spec"]["template"]["spec"]
    init = spec["initContainers"][0]
    app = spec["containers"][0]
    assert init["image"] == app["image"], "the check runs on the service's own image"
    project = _project(tmp_path)
    command = [w.replace("/app/", f"{project}/") for w in init["command"]]
    done = _shell(shlex.join(command), project)
    assert done.returncode == 0, done.stdout + done.stderr
    low = _shell(shlex.join([*command[:-1], "4000"]), project, hard=1024)
    assert low.returncode == 1


def test_pre_commit_example_names_the_hook_of_this_repository() -> None:
    hooks = _yaml("pre-commit")["repos"][0]["hooks"]
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((DOC.parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == [h["id"] for h in manifest]
