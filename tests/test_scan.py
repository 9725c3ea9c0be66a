"""`iodetect scan`: verdicts, situations, fine forms, bounds, hostile input, output formats.

What the verdicts say is proved against the real interpreters in test_scan_targets.py; here the
scan runs on this interpreter over the fixture project and over hostile trees made on the spot.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iodetect.catalog import apis
from iodetect.scan import Options, ScanError, engine, scan
from iodetect.scan.render import github_lines, safe, text_lines
from iodetect.scan.report import ReportError, build, rules, to_dict
from iodetect.scan.verdicts import TargetError, parse_targets
from iodetect.workflow import escape_data, escape_property

from support import run_cli

PROJECT = Path(__file__).parent / "scan_project"
SCHEMA = json.loads(
    (Path(engine.__file__).parent.parent / "schemas" / "scan.schema.json").read_text("utf-8")
)
ALL = "3.8-3.15"


def findings(path: Path | str, targets: str = ALL, **kw: Any) -> list[dict[str, Any]]:
    data = to_dict(scan(Options(paths=(str(path),), targets=targets, fail_on="never", **kw)))
    jsonschema.validate(data, SCHEMA)
    return [f for g in data["groups"] for f in g["findings"]]


def verdicts(f: dict[str, Any]) -> str:
    return " ".join(v["verdict"] for v in f["verdicts"])


def only(path: Path | str, targets: str = ALL, **kw: Any) -> dict[str, Any]:
    found = findings(path, targets, **kw)
    assert len(found) == 1, [(f["line"], f["record"]) for f in found]
    return found[0]


# --- verdicts per version, sourced ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "record", "expected"),
    [
        # 3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15
        (
            "gel_module.py",
            "get-event-loop-no-loop",
            "fine fine warns warns warns warns raises raises",
        ),
        (
            "gel_seed_snippet.py",
            "get-event-loop-no-loop",
            "fine fine warns warns warns warns raises raises",
        ),
        ("gel_after_run.py", "get-event-loop-cleared", " ".join(["raises"] * 8)),
        ("gel_after_set_none.py", "get-event-loop-cleared", " ".join(["raises"] * 8)),
        ("fine_gel_coroutine.py", "get-event-loop-running", " ".join(["fine"] * 8)),
        (
            "fine_gel_after_set.py",
            "get-event-loop-loop-set",
            "fine fine warns warns fine fine fine fine",
        ),
        (
            "gel_guarded_try.py",
            "get-event-loop-no-loop",
            "fine fine warns warns warns warns fine fine",
        ),
        ("fine_gel_silenced.py", "get-event-loop-no-loop", " ".join(["fine"] * 8)),
        (
            "ensure_future_module.py",
            "ensure_future-no-loop",
            "fine fine warns warns warns warns raises raises",
        ),
        ("future_module.py", "future-no-loop", "fine fine warns warns warns warns raises raises"),
        ("policy_set.py", "set-event-loop-policy", "fine fine fine fine fine fine warns warns"),
        (
            "policy_class.py",
            "policy-class-defaulteventlooppolicy",
            "fine fine fine fine fine fine warns warns",
        ),
        (
            "policy_events_module.py",
            "policy-module-events-abstracteventlooppolicy",
            "fine fine fine fine fine fine removed removed",
        ),
        (
            "child_safe_watcher.py",
            "child-safechildwatcher",
            "fine fine fine fine warns warns removed removed",
        ),
        (
            "child_threaded_watcher.py",
            "child-threadedchildwatcher",
            "fine fine fine fine fine fine removed removed",
        ),
        (
            "child_pidfd_watcher.py",
            "child-pidfdchildwatcher",
            "removed fine fine fine fine fine removed removed",
        ),
        (
            "child_subclass.py",
            "child-abstractchildwatcher",
            "fine fine fine fine warns warns removed removed",
        ),
        (
            "loop_arg_sleep.py",
            "loop-arg-sleep",
            "warns warns removed removed removed removed removed removed",
        ),
        (
            "loop_arg_gather.py",
            "loop-arg-gather",
            "fine warns removed removed removed removed removed removed",
        ),
        (
            "coroutine_decorator.py",
            "asyncio-coroutine",
            "warns warns warns removed removed removed removed removed",
        ),
        (
            "iscoroutinefunction.py",
            "asyncio-iscoroutinefunction",
            "fine fine fine fine fine fine warns warns",
        ),
        (
            "task_current_task.py",
            "task-current-task",
            "warns removed removed removed removed removed removed removed",
        ),
        (
            "asyncore_import.py",
            "module-asyncore",
            "fine fine warns warns removed removed removed removed",
        ),
        (
            "smtpd_import.py",
            "module-smtpd",
            "fine fine warns warns removed removed removed removed",
        ),
        (
            "reuse_address.py",
            "create-datagram-endpoint-reuse-address",
            "warns warns warns removed removed removed removed removed",
        ),
        ("uvloop_install.py", "uvloop-install", "fine fine fine fine warns warns warns warns"),
    ],
)
def test_verdict_per_version(name: str, record: str, expected: str) -> None:
    f = only(PROJECT / name)
    assert f["record"] == record
    assert verdicts(f) == expected
    for v in f["verdicts"]:
        if v["verdict"] != "fine":
            assert v["source"] and v["effect"], v  # every fact carries its source


def test_patch_releases_of_310_and_311_follow_the_backports() -> None:
    """3.10.0-3.10.8 and 3.11.0 warned even with a loop set; 3.10.9 and 3.11.1 only with none
    set; 3.10.10 and 3.11.2 took the warnings out again (gh-93453, gh-100160)."""
    patches = "3.10.8,3.10.9,3.10.10,3.11.0,3.11.1,3.11.2"
    assert verdicts(only(PROJECT / "gel_module.py", patches)) == "warns warns fine warns warns fine"
    assert verdicts(only(PROJECT / "fine_gel_after_set.py", patches)) == (
        "warns fine fine warns fine fine"
    )
    policy = [f for f in findings(PROJECT / "policy_get_event_loop.py", patches)]
    by_record = {f["record"]: verdicts(f) for f in policy}
    assert by_record["policy-get-event-loop-no-loop"] == "fine warns fine fine warns fine"
    # a minor version stands for all its releases: the worst, with the releases named
    f = only(PROJECT / "gel_module.py", "3.10")
    assert f["verdicts"][0]["verdict"] == "warns"
    assert f["verdicts"][0]["note"] == "3.10.0-3.10.9 only"


def test_fine_forms_and_left_out_code_draw_nothing_that_fails() -> None:
    for name in ("fine_type_checking.py", "fine_gather_tasks.py", "ignored_by_comment.py"):
        assert findings(PROJECT / name) == [], name
    for f in findings(PROJECT / "fine_version_guards.py"):
        assert f["worst"] == "fine", f
        assert any("version test" in v["note"] or "hasattr" in v["note"] for v in f["verdicts"])


def test_situations_are_named(tmp_path: Path) -> None:
    assert "runs the loop itself" in only(PROJECT / "gel_runs_loop.py")["situation"]
    assert "module level" in only(PROJECT / "gel_module.py")["situation"]
    assert "coroutine" in only(PROJECT / "fine_gel_coroutine.py")["situation"]
    code = (
        "import asyncio as aio\n"
        "from asyncio import get_event_loop as gel\n\n"
        "def helper():\n"
        "    return gel()\n\n"
        "class Client:\n"
        "    def __init__(self, loop=None):\n"
        "        self.loop = loop or aio.get_event_loop()\n"
    )
    (tmp_path / "lib.py").write_text(code)
    found = findings(tmp_path, "3.14")
    assert [(f["line"], f["certainty"], f["function"]) for f in found] == [
        (5, "possible", "helper"),
        (9, "possible", "Client.__init__"),
    ]
    assert all(f["worst"] == "raises" and "callers" in f["situation"] for f in found)


def test_select_depends_on_the_descriptor_ceiling() -> None:
    f = only(PROJECT / "select_high_fd.py", "3.14", max_fds=100_000)
    assert (f["worst"], f["certainty"]) == ("raises", "possible")
    f = only(PROJECT / "select_high_fd.py", "3.14", max_fds=1000)
    assert f["worst"] == "fine" and "below 1024" in f["verdicts"][0]["note"]


def test_records_are_complete_and_sourced() -> None:
    ids = [r.id for r in apis.RECORDS]
    assert len(ids) == len(set(ids))
    for r in apis.RECORDS:
        assert r.api and r.replacement, r.id
        for b in r.behaviours:
            assert b.source and b.effect and b.spans, r.id
            assert (b.error is None) == (b.verdict == "warns"), r.id
            for s in b.spans:
                assert s.until is None or s.since < s.until, r.id
    # the situations of a loop-sensitive API each have a record
    table = rules()
    for (index, context), record in table.records.items():
        if table.spec["patterns"][index]["loop_sensitive"] and context == "no_loop":
            assert (index, "cleared") in table.records, record.id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.14", ["3.14"]),
        ("3.11.7", ["3.11.7"]),
        ("3.12+", ["3.12", "3.13", "3.14", "3.15"]),
        ("3.10-3.11,3.14", ["3.10", "3.11", "3.14"]),
    ],
)
def test_target_versions(text: str, expected: list[str]) -> None:
    assert [str(t) for t in parse_targets(text)] == expected


@pytest.mark.parametrize("text", ["3", "2.7", "3.7", "3.16", "3.12-3.10", "3.11.2-3.12", "x"])
def test_bad_target_versions(text: str) -> None:
    with pytest.raises(TargetError):
        parse_targets(text)


# --- the command: exit codes and formats -------------------------------------------------------
def test_exit_codes_follow_fail_on() -> None:
    gel = str(PROJECT / "gel_module.py")
    assert run_cli("scan", gel, "--target-python", "3.14").returncode == 1
    assert run_cli("scan", gel, "--target-python", "3.13").returncode == 0
    assert run_cli("scan", gel, "--target-python", "3.13", "--fail-on", "warn").returncode == 1
    assert run_cli("scan", gel, "--target-python", "3.14", "--fail-on", "never").returncode == 0
    fine = str(PROJECT / "fine_gel_coroutine.py")
    assert run_cli("scan", fine, "--target-python", ALL, "--fail-on", "warn").returncode == 0
    select = str(PROJECT / "select_high_fd.py")
    args = ("scan", select, "--target-python", "3.14", "--max-fds", "65536")
    assert run_cli(*args).returncode == 0  # possible: not a certain break
    assert run_cli(*args, "--fail-on", "possible").returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target-python", "3.99"), "records cover"),
        (("--target-python", "three"), "--target-python must look like"),
        (("--fail-on", "sometimes"), "--fail-on must be one of"),
        (("--format", "xml"), "--format must be one of"),
        (("--python", "/nonexistent/python3"), "command not found"),
        (("/nonexistent/project",), "no such file or folder"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    done = run_cli("scan", str(PROJECT / "gel_module.py"), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_json_output_follows_the_schema_and_tells_the_exit_code() -> None:
    done = run_cli("scan", str(PROJECT), "--target-python", "3.12-3.15", "--json")
    data = json.loads(done.stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["kind"] == "iodetect.scan" and data["schema_version"] == 1
    assert data["exit_code"] == done.returncode == 1
    assert data["summary"]["failing"] > 0 and data["targets"] == ["3.12", "3.13", "3.14", "3.15"]


def test_text_output_most_severe_first_and_narrow() -> None:
    report = scan(Options(paths=(str(PROJECT),), targets="3.14"))
    for width in (40, 80, 120):
        lines = [text for text, _ in text_lines(report, width, verbose=True)]
        assert all(len(line) <= width for line in lines), width
    text = "\n".join(t for t, _ in text_lines(report, 100, verbose=False))
    first = {label: text.find(f"  {label} ") for label in ("REMOVED", "RAISES", "WARNS")}
    assert -1 < first["REMOVED"] < first["RAISES"] < first["WARNS"], first
    assert "FAIL: exit 1" in text
    assert "gh-126353" in text  # the source of the 3.14 RuntimeError is cited


def test_github_annotations() -> None:
    done = run_cli(
        "scan", str(PROJECT / "gel_module.py"), "--target-python", "3.14", "--format", "github"
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("::error file=")
    assert ",line=3,endLine=3,col=8," in lines[0]
    assert "3.14 raises" in lines[0] and "FAIL" in done.stderr


def test_workflow_command_escaping() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


# --- bounds and hostile input --------------------------------------------------------------------
def test_hostile_tree_is_reported_and_skipped_never_followed_or_shown_raw(tmp_path: Path) -> None:
    (tmp_path / "syntax.py").write_text("import asyncio\ndef (:\n")
    (tmp_path / "nul.py").write_bytes(b"import asyncio\nx = 1\0\n")
    (tmp_path / "latin.py").write_bytes(
        b"# -*- coding: utf-8 -*-\nimport asyncio\ns = '\xff\xfe'\n"
    )
    (tmp_path / "cookie.py").write_bytes(b"# -*- coding: no-such-codec -*-\nimport asyncio\n")
    (tmp_path / "big.py").write_text("import asyncio\n" + "x = 1\n" * 5000)
    (tmp_path / "deep.py").write_text("import asyncio\nx = " + "(" * 5000 + ")" * 5000 + "\n")
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "again").symlink_to(tmp_path / "loop")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.py")  # opening it blocking would hang the scan
    evil = "evil\x1b[31m\u202e\nname.py"
    (tmp_path / evil).write_text("import asyncio\nasyncio.get_event_loop()  # \x1b[2J\u202e\n")
    report = scan(Options(paths=(str(tmp_path),), targets="3.14", max_file_bytes=20_000))
    group = report.groups[0]
    reasons = {Path(s.path).name: s.reason for s in group.skipped}
    assert reasons["syntax.py"].startswith("syntax error")
    assert "null" in reasons["nul.py"] or "syntax" in reasons["nul.py"]
    assert reasons["latin.py"].startswith(("cannot decode", "syntax error"))
    assert "no-such-codec" in reasons["cookie.py"] or "encoding" in reasons["cookie.py"]
    assert reasons["big.py"].startswith("larger than")
    assert reasons["deep.py"] in ("too deeply nested to parse",) or "syntax" in reasons["deep.py"]
    assert any("symlink loop" in s.reason for s in group.skipped)
    if hasattr(os, "mkfifo"):
        assert reasons["fifo.py"] == "not a regular file"
    [f] = report.findings
    assert f.worst == "raises" and f.line == 2
    shown = "\n".join(t for t, _ in text_lines(report, 100, verbose=True))
    gh = "\n".join(github_lines(report))
    for out in (shown, gh):
        assert "\x1b" not in out and "\u202e" not in out
        assert "\\x1b" in out and "\\u202e" in out
    assert len(gh.splitlines()) == 1  # the newline in the name cannot start a new command


def test_safe_escapes_controls_and_keeps_text() -> None:
    assert safe("héllo wörld") == "héllo wörld"
    assert safe("a\tb\x00c\x7fd\u200be") == "a\\x09b\\x00c\\x7fd\\u200be"
    assert safe("x" * 1000, 10) == "xxxxxxx..."


def test_deadline_and_use_cap_make_the_scan_incomplete_and_fail() -> None:
    report = scan(Options(paths=(str(PROJECT),), targets="3.14", limits={"timeout": 0}))
    assert report.incomplete == "deadline reached" and report.exit_code == 1
    report = scan(Options(paths=(str(PROJECT),), targets="3.13", limits={"max_hits": 3}))
    assert report.incomplete and "more than 3 uses" in report.incomplete
    assert len(report.findings) <= 3 and report.exit_code == 1
    text = "\n".join(t for t, _ in text_lines(report, 100, verbose=False))
    assert "INCOMPLETE" in text


def test_a_hostile_target_answer_is_an_error_not_a_crash() -> None:
    table = rules()
    targets = parse_targets("3.14")
    from iodetect.scan.report import Descriptors

    d = Descriptors(None, "unknown")
    bad: list[Any] = [
        {"groups": 5},
        {"groups": [{"hits": [{"p": "x"}]}]},
        {"groups": [{"hits": [{"p": 0, "line": "1"}]}]},
        {"groups": [{"hits": [{"p": 0, "ctx": "no_loop", "versions": [[1, 2]]}]}]},
        {"groups": [{"skipped": [7]}]},
    ]
    for answer in bad:
        with pytest.raises(ReportError):
            build([answer], targets, table, "raise", 0.0, None, d)
    # unknown pattern indexes and contexts are not findings
    ok = build(
        [{"groups": [{"hits": [{"p": 10_000, "ctx": "no_loop"}]}]}],
        targets,
        table,
        "raise",
        0.0,
        None,
        d,
    )
    assert ok.findings == ()


def test_a_target_that_prints_garbage_is_a_usage_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\ncat >/dev/null\necho '@@iodetect@@ {\"groups\": 5}'\n")
    fake.chmod(0o755)
    done = run_cli("scan", "--deps", "--python", str(fake), "--target-python", "3.14")
    assert done.returncode == 2 and "scanner's answer" in done.stderr, done.stderr
    fake.write_text("#!/bin/sh\ncat >/dev/null\necho '@@iodetect@@ [1, 2]'\n")
    done = run_cli("scan", str(PROJECT / "gel_module.py"), "--python", str(fake))
    assert done.returncode == 2 and "scanner's answer" in done.stderr, done.stderr


def test_deps_of_this_interpreter_in_process() -> None:
    report = scan(Options(deps=True, targets="3.14", fail_on="never"))
    names = {g.name.lower() for g in report.groups}
    assert {"typer", "rich", "pytest"} <= names
    assert report.python is not None and report.python.version.startswith(
        "%d.%d." % sys.version_info[:2]
    )
    assert all(g.kind == "distribution" for g in report.groups)


def test_engine_is_standard_library_only() -> None:
    """engine.py travels to targets on stdin: nothing but the standard library may be imported."""
    source = Path(engine.__file__).read_text("utf-8")
    imported = set(re.findall(r"^\s*(?:import|from)\s+([a-zA-Z_][\w.]*)", source, re.M))
    assert not {m for m in imported if m.split(".")[0] in ("iodetect", "typer", "rich")}
    with pytest.raises(ScanError):
        scan(Options(paths=("/nonexistent",)))
