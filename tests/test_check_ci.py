"""`iodetect check` in a CI log: GitHub annotations, JUnit XML, --fail-on and --ignore, and text
that fits the width it is given. Every run is the real CLI in a child process, on real sockets."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import selftest_setups as setups

from support import HOSTS, run_cli

ROOT = Path(__file__).resolve().parent.parent
ANNOTATION = re.compile(r"^::(error|warning|notice) title=([^:,\r\n]+)::([^\r\n]*)$")


def _setup(tmp_path: Path, source: str) -> str:
    path = tmp_path / "loop_setup.py"
    path.write_text(source, encoding="utf-8")
    return str(path)


def _check(*args: str, hard: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`iodetect check ARGS` as a CI job runs it: no terminal, optionally a low hard limit."""

    def lowered() -> None:
        if hard is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**base, **env},
        preexec_fn=lowered,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


# --- GitHub annotations ------------------------------------------------------------------------


def test_workflow_command_escaping() -> None:
    from iodetect.workflow import command, escape_data, escape_property

    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a: b, c%") == "a%3A b%2C c%25"
    line = command("error", "limit: 256, not\n4096", {"title": "nofile.hard", "file": "a,b:c"})
    assert line == "::error title=nofile.hard,file=a%2Cb%3Ac::limit: 256, not%0A4096"
    assert "\n" not in line
    with pytest.raises(ValueError):
        command("fatal", "x")


def test_github_format_passing_check_is_one_notice(tmp_path: Path) -> None:
    done = _check("--format", "github", "--connections", "20")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and ANNOTATION.match(lines[0]), lines
    assert lines[0].startswith("::notice title=iodetect check::PASS: ")
    assert "selftest" in done.stderr  # the findings for people go to the log, on stderr


def test_github_format_failure_is_an_error_annotation_titled_with_its_code() -> None:
    done = _check("--format", "github", "--connections", "1000", hard=256)
    assert done.returncode == 1
    found = [ANNOTATION.match(line) for line in done.stdout.splitlines()]
    assert all(found), done.stdout
    errors = [m for m in found if m and m.group(1) == "error"]
    assert any(m.group(2) == "nofile.hard" for m in errors)
    hard = next(m for m in errors if m.group(2) == "nofile.hard")
    assert "hard descriptor limit 256" in hard.group(3) and "%0Afix%3A" not in hard.group(3)
    assert "%0Afix: " in hard.group(3)  # the remedy on a line of its own in the annotation
    assert found[-1] and found[-1].group(1) == "notice" and "FAIL" in found[-1].group(3)


def test_json_wins_over_format() -> None:
    done = run_cli("check", "--json", "--format", "github", "--connections", "20")
    assert done.returncode == 0 and json.loads(done.stdout)["kind"] == "iodetect.check"


# --- --fail-on and --ignore --------------------------------------------------------------------


def test_fail_on_warn_and_an_ignored_warning(tmp_path: Path) -> None:
    path = _setup(tmp_path, setups.DEPRECATED)
    args = ("--snippet", path, "--loop", "asyncio", "--connections", "20")
    assert _check(*args).returncode == 0
    strict = _check(*args, "--fail-on", "warn", "--json")
    assert strict.returncode == 1
    data = json.loads(strict.stdout)
    assert data["fail_on"] == "warn" and data["ok"] is False and data["ignore"] == []
    accepted = _check(*args, "--fail-on", "warn", "--ignore", "selftest.warning", "--json")
    assert accepted.returncode == 0, accepted.stdout
    data = json.loads(accepted.stdout)
    warned = [f for f in data["findings"] if f["code"] == "selftest.warning"]
    assert warned and all(f["level"] == "warn" for f in warned)  # still there, as warnings
    assert data["ignore"] == ["selftest.warning"] and data["ok"] is True
    text = _check(*args, "--fail-on", "warn", "--ignore", "selftest.warning")
    assert text.returncode == 0
    assert "(ignored: --ignore selftest.warning)" in text.stdout
    assert "1 warning(s) (1 ignored)" in text.stdout
    github = _check(*args, "--strict", "--ignore", "selftest.warning", "--format", "github")
    assert github.returncode == 0
    assert "::notice title=selftest.warning::" in github.stdout


def test_ignore_never_hides_a_failure() -> None:
    done = _check("--json", "--connections", "1000", "--ignore", "selftest.warning", hard=256)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["ok"] is False and "nofile.hard" in [f["code"] for f in data["findings"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ignore", "nofile.typo"), "unknown finding code 'nofile.typo'"),
        (("--ignore", "nofile.hard"), "a failure cannot be ignored"),
        (("--fail-on", "ok"), "--fail-on must be one of warn, fail"),
        (("--format", "xml"), "--format must be one of text, json, github"),
        (("--junit", ""), "--junit: the file name is empty"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    done = run_cli("check", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("iodetect: error:") and message in done.stderr


# --- JUnit XML ---------------------------------------------------------------------------------


def _suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    for name in ("tests", "failures", "errors", "skipped"):
        assert root.get(name) == suite.get(name)
    assert int(suite.get("tests", "-1")) == len(cases)
    for kind, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        assert int(suite.get(attr, "-1")) == sum(1 for c in cases if c.find(kind) is not None)
    return suite


def _junitparser(path: Path) -> Any:
    junitparser = pytest.importorskip("junitparser", reason="the test extra installs junitparser")
    return junitparser.JUnitXml.fromfile(str(path))


def test_junit_of_a_passing_check(tmp_path: Path) -> None:
    out = tmp_path / "check.xml"
    done = _check("--connections", "20", "--junit", str(out))
    assert done.returncode == 0 and "PASS" in done.stdout  # the text output is unchanged
    suite = _suite(out)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    names = [c.get("name") for c in suite.findall("testcase")]
    assert "test.tcp4" in names and "selftest.figures" in names
    assert len(names) == len(set(names))  # stable and unique, for trends across runs
    parsed = _junitparser(out)
    assert parsed.tests == len(names) and parsed.failures == 0


def test_junit_of_a_failing_check(tmp_path: Path) -> None:
    out = tmp_path / "check.xml"
    done = _check("--connections", "1000", "--json", "--junit", str(out), hard=256)
    assert done.returncode == 1
    suite = _suite(out)
    failed = {
        c.get("name"): c.find("failure")
        for c in suite.findall("testcase")
        if c.find("failure") is not None
    }
    assert "nofile.hard" in failed
    node = failed["nofile.hard"]
    assert node is not None and node.get("type") == "nofile.hard"
    assert "hard descriptor limit 256" in (node.get("message") or "")
    assert "fix: " in (node.text or "")
    result = json.loads(done.stdout)
    fails = [f for f in result["findings"] if f["level"] == "fail"]
    assert int(suite.get("failures", "0")) + int(suite.get("errors", "0")) == len(fails)
    parsed = _junitparser(out)
    assert parsed.failures + parsed.errors == len(fails)


def test_junit_of_an_unreachable_target_errors_and_skips_the_steps(tmp_path: Path) -> None:
    out = tmp_path / "check.xml"
    done = _check("--python", "/nonexistent/python3", "--junit", str(out))
    assert done.returncode == 2
    suite = _suite(out)
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["probe.target"].find("error") is not None
    for step in ("limits", "recommend", "setup", "selftest"):
        assert cases[step].find("skipped") is not None
    _junitparser(out)


def test_junit_write_failure_is_one_line_exit_2(tmp_path: Path) -> None:
    done = _check("--connections", "20", "--junit", str(tmp_path / "missing" / "check.xml"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "cannot write" in done.stderr


# --- the finding codes: one list, documented, and every emitted code in it ----------------------


def _emitted_codes() -> set[str]:
    """Every code the check's sources can give a finding: the constant code arguments of
    Recorder.add calls, and the constants they are picked from (a table, a conditional)."""
    found: set[str] = set()
    pattern = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)?$")
    prefix = re.compile(r"^(probe|selftest|setup|nofile|loop|recommend|test)\.[a-z0-9_]+$")
    for path in sorted((ROOT / "iodetect" / "check").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add":
                code = next((k.value for k in node.keywords if k.arg == "code"), None)
                if code is None and len(node.args) >= 5:
                    code = node.args[4]
                if code is None and node.args and isinstance(node.args[0], ast.Constant):
                    code = node.args[0]  # no code: the step's name
                if isinstance(code, ast.JoinedStr):
                    continue  # a code made from a name at run time: the families below
                for sub in ast.walk(code) if code is not None else ():
                    if isinstance(sub, ast.Constant) and pattern.match(str(sub.value)):
                        found.add(str(sub.value))
            # Codes chosen before the call: `code, remedy = ("probe.deadline", ...)` and tables
            # of (code, remedy) pairs.
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                first, second = node.elts
                remedy = not (isinstance(second, ast.Constant) and pattern.match(str(second.value)))
                if isinstance(first, ast.Constant) and prefix.match(str(first.value)) and remedy:
                    found.add(str(first.value))
    return found


def test_every_emitted_code_is_in_the_list() -> None:
    from iodetect.check import codes

    emitted = _emitted_codes()
    assert {"probe.deadline", "selftest.hang", "nofile.hard", "selftest.leak"} <= emitted
    assert sorted(emitted - set(codes.BY_NAME)) == []
    # The codes made from a name at run time: a crash of each step, a worker's failed stage,
    # a self-test's name.
    from iodetect.check.findings import STEPS
    from iodetect.check.judge import TEST_TITLES
    from iodetect.check.report import STAGES

    dynamic = {f"{s}.crash" for s in STEPS} | {f"test.{t}" for t in TEST_TITLES}
    dynamic |= {f"selftest.{s}" for s in (*STAGES, "error")}
    assert sorted(dynamic - set(codes.BY_NAME)) == []


def test_docs_table_is_the_list() -> None:
    from iodetect.check import codes

    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    block = text.split("<!-- finding codes: tested against iodetect/check/codes.py -->", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| ([a-z, ]+) \| (.+) \|$", block, re.M)
    assert [r[0] for r in rows] == [c.code for c in codes.CODES]
    for (code, levels, meaning), known in zip(rows, codes.CODES):
        assert levels == ", ".join(known.levels), code
        assert meaning == known.meaning, code


# --- text that fits the width it is given -------------------------------------------------------


@pytest.mark.parametrize("columns", [40, 60, 200])
def test_check_and_report_fit_the_width_without_trailing_spaces(columns: int) -> None:
    from rich.cells import cell_len

    env = {"COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    runs = [
        _check("--connections", "20", **env),
        _check("--connections", "1000", **env, hard=256),
        subprocess.run(
            [sys.executable, "-m", "iodetect", "report", "--facts", str(HOSTS / "linux.json")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        ),
    ]
    for done in runs:
        assert done.returncode in (0, 1), done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) > 5
        assert "\x1b" not in done.stdout  # NO_COLOR and no terminal: plain text
        for line in lines:
            assert cell_len(line) <= columns, line
            assert not line.endswith(" "), repr(line)


def test_a_log_without_columns_keeps_each_finding_on_one_line() -> None:
    done = _check("--connections", "20")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert any(line.startswith("    ok  TCP over IPv4: 20 connections") for line in lines)
    assert all(not line.endswith(" ") for line in lines)
    assert lines[-1].startswith("PASS: ")


# --- shell completion ---------------------------------------------------------------------------


def test_shell_completion_completes_commands_and_options() -> None:
    shown = run_cli("--show-completion", "bash")
    assert shown.returncode == 0 and "complete" in shown.stdout and "iodetect" in shown.stdout
    for words, cword, expected in (
        ("iodetect che", "1", "check"),
        ("iodetect check --fail", "2", "--fail-on"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "iodetect"],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                "_IODETECT_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": cword,
            },
        )
        assert expected in done.stdout.split(), (words, done.stdout, done.stderr)
