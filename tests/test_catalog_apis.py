"""One source of truth for CPython versions: the API table and the --target-python parser.

The scan, the recommender, the documented facts, the probe's expectations and the snippet take
what each asyncio API does from iodetect.catalog.apis, and both commands parse --target-python
with iodetect.catalog.cpython.parse_versions; nothing else holds a copy.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import iodetect.scan
from iodetect import snippet
from iodetect.catalog import apis, cpython
from iodetect.catalog.cpython import VersionError, VersionSpan, parse_versions
from iodetect.catalog.records import version_tuple
from iodetect.platforms import documented_facts
from iodetect.recommend import Needs, NeedsError, parse_python, recommend
from iodetect.scan.report import rules
from iodetect.scan.verdicts import TargetError, parse_targets

from support import run_cli

SCAN = Path(iodetect.scan.__file__).parent
CITATION = re.compile(r"\b(?:gh|bpo|GH)-\d{3,}|PEP \d{3}|\.html\b")
RECORD_TYPES = {"ApiChange", "Behaviour", "Span", "Pattern", "IdiomRecord"}


def _is_version_literal(node: ast.AST) -> bool:
    """(3, 12), [3, 10, 9]...: a CPython version written as a literal."""
    if not isinstance(node, (ast.Tuple, ast.List)) or len(node.elts) < 2:
        return False
    values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
    return (
        len(values) == len(node.elts)
        and all(type(v) is int for v in values)
        and values[0] == 3
        and 0 <= values[1] <= 30
    )


@pytest.mark.parametrize("path", sorted(SCAN.glob("*.py")), ids=lambda p: p.name)
def test_the_scan_package_holds_no_version_table_of_its_own(path: Path) -> None:
    """No version literal, no citation, no record built: the table is the catalog's."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings
    for node in ast.walk(tree):
        assert not _is_version_literal(node), f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            assert not CITATION.search(node.value), f"{path.name}: {node.value[:80]!r}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in RECORD_TYPES, f"{path.name}:{node.lineno}"
    assert not (SCAN / "apis.py").exists()


def test_the_scan_judges_with_the_catalog_records_themselves() -> None:
    table = rules()
    assert set(map(id, table.records.values())) == set(map(id, apis.RECORDS))
    engine = (SCAN / "engine.py").read_text(encoding="utf-8")
    assert "iodetect" not in {
        (n.module or "").split(".")[0]
        for n in ast.walk(ast.parse(engine))
        if isinstance(n, ast.ImportFrom)
    }  # target-side: the records reach it as parameters


def test_every_behaviour_cites_a_source_and_spans_are_releases() -> None:
    for record in apis.RECORDS:
        for b in record.behaviours:
            assert len(b.source) >= 20, record.id
            for s in b.spans:
                assert len(s.since) == 3 and (s.until is None or len(s.until) == 3), record.id
                assert s.since >= (3, 8, 0) and (s.until is None or s.since < s.until), record.id
        if not record.behaviours:  # fine in every release: the record says who says so
            assert record.cite, record.id


@pytest.mark.parametrize("minor", range(8, 16))
def test_documented_facts_and_probe_expectations_come_from_the_table(minor: int) -> None:
    facts = documented_facts("linux", (3, minor))
    assert facts.asyncio is not None
    release = (3, minor, 0)
    assert facts.asyncio.get_event_loop_without_loop == apis.get_event_loop_without_loop(release)
    assert facts.asyncio.policies_deprecated == (minor >= 14)


def test_the_idiom_reason_cites_the_table() -> None:
    """Every generated module says why it never calls get_event_loop() or a policy."""
    plan = recommend(documented_facts("linux", (3, 14)), Needs(), python=parse_python("3.9+"))
    note = next(r for r in plan.reasons if r.code == "python.idiom")
    assert apis.GET_EVENT_LOOP_RAISES.source in note.source
    assert apis.SET_EVENT_LOOP_POLICY.behaviours[0].source in note.source
    assert cpython.idioms_text() in note.text
    old = recommend(documented_facts("linux", (3, 9)), Needs(), python=parse_python("3.9"))
    old_note = next(r for r in old.reasons if r.code == "python.idiom")
    assert apis.SET_EVENT_LOOP_POLICY.behaviours[0].source not in old_note.source


def test_replacements_name_the_idioms_the_snippet_writes() -> None:
    pointing = [r for r in apis.RECORDS if "`iodetect snippet`" in r.replacement]
    pointing += [r for r in apis.RECORDS if "`iodetect snippet >" in r.replacement]
    assert len(pointing) > 10
    for record in pointing:  # the idioms, as the catalog states them, newest first
        assert cpython.idioms_text(cpython.IDIOMS[1:]) in record.replacement, record.id
    code = snippet.render(
        recommend(documented_facts("linux", (3, 8)), Needs(), python=parse_python("3.8+")),
        documented_facts("linux", (3, 8)),
    )
    for record in cpython.IDIOMS[1:]:  # each branch is guarded by the minor its idiom starts at
        assert f"if sys.version_info >= {record.since!r}:" in code


# --- the one parser of --target-python --------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("3.12", [VersionSpan((3, 12), (3, 12))]),
        (" 3.9+ ", [VersionSpan((3, 9), None)]),
        ("3.9 - 3.12", [VersionSpan((3, 9), (3, 12))]),
        ("3.11.7", [VersionSpan((3, 11), (3, 11), 7)]),
        ("3.14,3.10-3.11,3.14", [VersionSpan((3, 10), (3, 11)), VersionSpan((3, 14), (3, 14))]),
    ],
)
def test_one_parser_for_both_commands(text: str, spans: list[VersionSpan]) -> None:
    assert list(parse_versions(text)) == spans


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("three", "must look like 3.12, 3.11.7, 3.9+, 3.9-3.12 or a list"),
        ("3.9; import os", "must look like"),
        ("3.12,", "must look like"),
        ("2.7", "must look like"),
        ("3.7", "covers CPython 3.8 and later"),
        ("3.12-3.9", "is empty"),
        ("3.11.2-3.12", "a range takes minor versions"),
        ("3.12.1+", "a range takes minor versions"),
    ],
)
def test_both_commands_refuse_the_same_input_with_the_same_line(text: str, message: str) -> None:
    for parse, error in ((parse_python, NeedsError), (parse_targets, TargetError)):
        with pytest.raises(error) as caught:
            parse(text)
        assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(VersionError):
        parse_versions(text)


def test_what_each_command_makes_of_a_value() -> None:
    """The scan judges each version; a module runs on the range that holds them all."""
    assert [str(t) for t in parse_targets("3.9,3.12")] == ["3.9", "3.12"]
    assert str(parse_python("3.9,3.12")) == "3.9-3.12"
    assert [str(t) for t in parse_targets("3.11,3.11.7")] == ["3.11", "3.11.7"]
    assert str(parse_python("3.11.7")) == "3.11"
    assert [str(t) for t in parse_targets("3.13+")] == ["3.13", "3.14", "3.15"]
    assert parse_python("3.13+").high is None  # open: the module runs on later versions too
    # past the newest version the records cover: the scan refuses, a module may aim there
    with pytest.raises(TargetError, match=r"the records cover CPython 3\.8 to 3\.15"):
        parse_targets("3.16")
    assert str(parse_python("3.16")) == "3.16"


@pytest.mark.parametrize("text", ["3.7", "3.12-3.9", "x"])
def test_both_commands_exit_2_with_one_line(text: str) -> None:
    for args in (
        ("snippet", "--platform", "linux", "--target-python", text),
        ("scan", str(Path(__file__).parent / "scan_project" / "gel_module.py"), "--target-python",
         text),
    ):  # fmt: skip
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
        assert "--target-python" in done.stderr and "Traceback" not in done.stderr


def test_both_commands_take_a_list() -> None:
    done = run_cli("snippet", "--platform", "linux", "--target-python", "3.10,3.12")
    assert done.returncode == 0, done.stderr
    assert "if sys.version_info < (3, 10):" in done.stdout
    assert " for CPython 3.10-3.12 on Linux." in done.stdout  # the hull: one module for both
    for since in ("(3, 12)", "(3, 11)"):  # and every idiom in between
        assert f"if sys.version_info >= {since}:" in done.stdout
    gel = str(Path(__file__).parent / "scan_project" / "gel_module.py")
    done = run_cli("scan", gel, "--target-python", "3.10,3.12", "--fail-on", "never", "--json")
    assert done.returncode == 0, done.stderr
    assert '"targets": [\n    "3.10",\n    "3.12"\n  ]' in done.stdout


def test_release_timelines_agree_with_version_tuple() -> None:
    """The exact releases where get_event_loop() warns, as the catalog's own version parser
    reads them: 3.10.0-3.10.9 with no loop set, 3.10.0-3.10.8 with one set."""
    no_loop = [r for r in range(0, 14) if apis.get_event_loop_without_loop((3, 10, r)) == "warns"]
    loop_set = apis.BY_ID["get-event-loop-loop-set"]
    with_set = [r for r in range(0, 14) if loop_set.verdict((3, 10, r)) == "warns"]
    assert no_loop == list(range(0, 10)) and with_set == list(range(0, 9))
    assert version_tuple("3.10.9") == (3, 10, 9)
