"""`iodetect diff A B`: drift between two environments, as the plan sees it; exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iodetect import model

from fleet_support import host_data, variant, without_uvloop, write
from support import HOSTS, run_cli

SCHEMA = json.loads(
    (Path(model.__file__).parent / "schemas" / "diff.schema.json").read_text(encoding="utf-8")
)
LINUX = str(HOSTS / "linux.json")


def diff(*args: str, text: bool = False) -> tuple[int, dict[str, Any], str]:
    """Exit code, the JSON and (with `text`) the output for people of `iodetect diff ARGS`."""
    done = run_cli("diff", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["exit_code"] == done.returncode
    if not text:
        return done.returncode, data, ""
    shown = run_cli("diff", *args)
    assert shown.returncode == done.returncode  # the same verdict both ways
    return done.returncode, data, shown.stdout


def fields(data: dict[str, Any], pair: int = 0) -> dict[str, dict[str, Any]]:
    return {d["field"]: d for d in data["pairs"][pair]["differences"]}


def test_the_same_facts_do_not_differ() -> None:
    code, data, text = diff(LINUX, LINUX, text=True)
    assert code == 0
    (pair,) = data["pairs"]
    assert pair["differences"] == [] and pair["plan_changes"] == [] and pair["ok"]
    assert pair["plan_a"] == pair["plan_b"]
    assert "nothing that matters to the plan differs" in text
    assert "OK: the same plan on B as on A" in text


def test_a_lower_soft_limit_on_b_fails(tmp_path: Path) -> None:
    prod = write(tmp_path, "prod.json", variant(limits__nofile_soft=1024))
    code, data, text = diff(LINUX, str(prod), text=True)
    assert code == 1
    soft = fields(data)["limits.nofile_soft"]
    assert (soft["a"], soft["b"], soft["lower_on_b"]) == ("20000", "1024", True)
    # The module raises the soft limit where it runs, whatever was seen when it was made: the
    # plan is the same on both, and the lower limit alone makes the difference.
    assert data["pairs"][0]["plan_changes"] == [] and "plan differs" not in text
    assert "soft limit lower on B (20000 -> 1024)" in text
    assert "DIFFERS" in text
    # The other way round the limit is higher on B: shown, not lower.
    code, data, _ = diff(str(prod), LINUX)
    assert fields(data)["limits.nofile_soft"]["lower_on_b"] is False


def test_connections_decide_whether_a_lower_limit_matters(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", variant(limits__nofile_soft=20000, limits__nofile_hard=40000))
    b = write(tmp_path, "b.json", variant(limits__nofile_soft=20000, limits__nofile_hard=30000))
    code, data, _ = diff(str(a), str(b))
    assert code == 1 and fields(data)["limits.nofile_hard"]["lower_on_b"]
    code, data, _ = diff(str(a), str(b), "--connections", "5000")
    assert code == 0, data
    hard = fields(data)["limits.nofile_hard"]
    assert (hard["a"], hard["b"], hard["lower_on_b"]) == ("40000", "30000", False)
    code, data, _ = diff(str(a), str(b), "--connections", "35000")
    assert code == 1
    assert fields(data)["limits.nofile_hard"]["lower_on_b"]
    assert "verdict" in {c["aspect"] for c in data["pairs"][0]["plan_changes"]}  # a conflict on B


def test_a_missing_loop_changes_the_plan(tmp_path: Path) -> None:
    prod = write(tmp_path, "prod.json", without_uvloop())
    code, data, text = diff(LINUX, str(prod), text=True)
    assert code == 1
    assert fields(data)["loops.uvloop"]["b"] == "not installed"
    changes = {c["aspect"]: c for c in data["pairs"][0]["plan_changes"]}
    assert changes["loop"]["a"] == "uvloop.new_event_loop"
    assert changes["loop"]["b"] == "asyncio.SelectorEventLoop"
    assert "plan differs (loop, selector)" in text
    # Asking for the standard loop on both sides, the loops no longer change the plan.
    code, data, _ = diff(LINUX, str(prod), "--loop", "asyncio")
    assert code == 0 and data["pairs"][0]["plan_changes"] == []
    assert "loops.uvloop" in fields(data)  # still shown: it is a difference the plan sees


def test_a_version_with_another_idiom_changes_the_plan(tmp_path: Path) -> None:
    old = write(
        tmp_path,
        "py310.json",
        variant(
            interpreter__version=[3, 10, 13],
            interpreter__release="3.10.13",
            asyncio__has_runner=False,
        ),
    )
    code, data, _ = diff(LINUX, str(old))
    assert code == 1
    assert fields(data)["asyncio.idiom"]["b"] == "manual loop lifecycle"
    assert fields(data)["interpreter.release"]["b"] == "3.10.13"
    assert "idiom" in {c["aspect"] for c in data["pairs"][0]["plan_changes"]}
    # A patch release with the same idiom is shown, and passes.
    patch = write(tmp_path, "patch.json", variant(interpreter__release="3.11.9"))
    code, data, _ = diff(LINUX, str(patch))
    assert code == 0 and list(fields(data)) == ["interpreter.release"]


def test_a_constraining_library_on_b_changes_the_needs(tmp_path: Path) -> None:
    win = json.loads((HOSTS / "win32.json").read_text(encoding="utf-8"))
    with_psycopg = {**win, "libraries": [{"name": "psycopg", "version": "3.2.1"}]}
    b = write(tmp_path, "b.json", with_psycopg)
    code, data, _ = diff(str(HOSTS / "win32.json"), str(b))
    assert code == 1
    assert fields(data)["libraries.psycopg"] == {
        "field": "libraries.psycopg",
        "title": "psycopg",
        "a": "absent",
        "b": "3.2.1",
        "lower_on_b": False,
    }
    changes = {c["aspect"]: c for c in data["pairs"][0]["plan_changes"]}
    assert changes["needs"]["b"] == "add_reader"
    assert changes["loop"]["b"] == "asyncio.SelectorEventLoop"


def test_fleet_documents_are_paired_by_name(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    write(staging, "web1.json", host_data())
    write(staging, "web2.json", host_data())
    write(staging, "old.json", host_data())
    prod = tmp_path / "prod"
    write(prod, "web1.json", host_data())
    write(prod, "web2.json", variant(limits__nofile_soft=512))
    a = write(tmp_path, "a.json", run_cli("fleet", "--json", str(staging)).stdout)
    b = write(tmp_path, "b.json", run_cli("fleet", "--json", str(prod)).stdout)
    code, data, text = diff(str(a), str(b), text=True)
    assert code == 1
    assert data["how"] == "by name: 2 target(s) in both"
    assert [(p["a"], p["b"], p["ok"]) for p in data["pairs"]] == [
        ("web1", "web1", True),
        ("web2", "web2", False),
    ]
    assert data["only_in_a"] == ["old"] and data["only_in_b"] == []
    assert "web2 (A) -> web2 (B): " in text and "only in A (not compared): old" in text
    # A target only on the deploy side was never compared: that fails too.
    write(prod, "web2.json", host_data())
    write(prod, "new.json", host_data())
    b = write(tmp_path, "b.json", run_cli("fleet", "--json", str(prod)).stdout)
    code, data, text = diff(str(a), str(b), text=True)
    assert code == 1 and all(p["ok"] for p in data["pairs"])
    assert data["only_in_b"] == ["new"]
    assert "only in B (nothing to compare with, so not verified): new" in text


def test_one_target_against_each_of_a_fleet(tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    write(prod, "web1.json", host_data())
    write(prod, "web2.json", without_uvloop())
    write(prod, "web3.json", "not json")
    b = write(tmp_path, "b.json", run_cli("fleet", "--json", str(prod)).stdout)
    code, data, _ = diff(LINUX, str(b))
    assert code == 1
    assert data["how"] == "A's one target (linux) against each of B's 3 targets"
    ok = {p["b"]: p["ok"] for p in data["pairs"]}
    assert ok == {"web1": True, "web2": False, "web3": False}
    web3 = data["pairs"][2]
    assert web3["error"].startswith("B (web3) has no facts: not JSON")
    # The other way round: each of the fleet against the one.
    code, data, _ = diff(str(b), LINUX)
    assert data["how"] == "each of A's 3 targets against B's one target (linux)"


def test_collected_files_are_read_as_the_fleet_reads_them(tmp_path: Path) -> None:
    probe_out = json.dumps(variant(limits__nofile_soft=256, limits__nofile_hard=256))
    b = write(tmp_path, "web1", {"changed": True, "rc": 0, "stdout": probe_out})
    code, data, _ = diff(LINUX, str(b))
    assert code == 1 and data["b"]["targets"] == ["web1"]
    assert fields(data)["limits.nofile_hard"]["lower_on_b"]


@pytest.mark.parametrize(
    ("b", "message"),
    [
        ("missing.json", "B (missing.json): no such file"),
        ("bad.json", "B (bad.json): not JSON"),
        ("check.json", "holds no facts"),
        ("dir", "is not a regular file"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, b: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "bad.json", "{")
    write(tmp_path, "check.json", {"kind": "iodetect.check", "schema_version": 1})
    (tmp_path / "dir").mkdir()
    done = run_cli("diff", LINUX, b)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_two_fleets_without_a_name_in_common_cannot_be_paired(tmp_path: Path) -> None:
    for side, names in (("a", ("x1", "x2")), ("b", ("y1", "y2"))):
        for n in names:
            write(tmp_path / side, f"{n}.json", host_data())
    a = write(tmp_path, "a.json", run_cli("fleet", "--json", str(tmp_path / "a")).stdout)
    b = write(tmp_path, "b.json", run_cli("fleet", "--json", str(tmp_path / "b")).stdout)
    done = run_cli("diff", str(a), str(b))
    assert done.returncode == 2
    assert "no target name in common" in done.stderr


def test_options_are_checked() -> None:
    for args, message in (
        (("--loop", "tokio"), "unknown loop"),
        (("--needs", "x"), "unknown need"),
        (("--selector", "iocp"), "unknown selector"),
    ):
        done = run_cli("diff", LINUX, LINUX, *args)
        assert done.returncode == 2 and message in done.stderr
