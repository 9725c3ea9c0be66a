"""`iodetect fleet`: collected facts in one table, drift marked, rules verdicts, hostile files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jsonschema
import pytest

from iodetect import fleet, model
from iodetect.fleet import collected, rules
from iodetect.fleet.builder import build
from iodetect.fleet.document import Observation, Options, Source, observations_from_dict

from fleet_support import host_data, variant, without_uvloop, write
from support import HOST_NAMES, HOSTS, run_cli

SCHEMAS = Path(model.__file__).parent / "schemas"
FLEET_SCHEMA = json.loads((SCHEMAS / "fleet.schema.json").read_text(encoding="utf-8"))
FACTS_SCHEMA = json.loads((SCHEMAS / "facts.schema.json").read_text(encoding="utf-8"))


def rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by target name: the cells between the box's bars."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            found[cells[0]] = cells[1:]
    return found


def fleet_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = run_cli("fleet", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, FLEET_SCHEMA)
    for target in data["targets"]:
        if target["facts"] is not None:
            jsonschema.validate(target["facts"], FACTS_SCHEMA)
    assert data["exit_code"] == done.returncode
    return done.returncode, data


# --- the table ---------------------------------------------------------------------------------


def test_fixture_hosts_in_one_table_with_the_drift_marked() -> None:
    done = run_cli("fleet", *(str(HOSTS / f"{h}.json") for h in HOST_NAMES))
    assert done.returncode == 0, done.stdout + done.stderr
    table = rows(done.stdout)
    assert sorted(table) == sorted(HOST_NAMES)
    for host in HOST_NAMES:
        facts = model.load(str(HOSTS / f"{host}.json"))
        python, selector, _, _, _, verdict = table[host]
        assert python.rstrip("*") == facts.interpreter.label
        assert selector.rstrip("*") == (facts.default_selector or "none")
        assert verdict in ("pass", "warn")
    # epoll and kqueue two each: on a tie the first target's (linux, epoll) is the baseline.
    assert [table[h][1] for h in ("linux", "darwin", "win32", "freebsd", "sunos", "pypy")] == [
        "epoll",
        "kqueue*",
        "select*",
        "kqueue*",
        "devpoll*",
        "epoll",
    ]
    assert table["win32"][2] == "asyncio proactor*"
    assert "* differs from the most common value in its column (on a tie, the first's)" in (
        done.stdout
    )
    assert f"{len(HOST_NAMES)} targets (rules only)" in done.stdout
    assert "drift: selector:" in done.stdout
    assert "\x1b" not in done.stdout  # not a terminal: no colour codes, the marks carry it


def test_values_that_agree_are_not_marked(tmp_path: Path) -> None:
    write(tmp_path, "a.json", host_data())
    write(tmp_path, "b.json", host_data())
    done = run_cli("fleet", str(tmp_path))
    assert done.returncode == 0
    assert "*" not in done.stdout
    assert "drift" not in done.stdout


def test_a_lowered_limit_fails_and_is_named_in_the_summary(tmp_path: Path) -> None:
    write(tmp_path, "ci.json", host_data())
    write(tmp_path, "web1.json", host_data())
    write(tmp_path, "web2.json", variant(limits__nofile_soft=256, limits__nofile_hard=256))
    done = run_cli("fleet", str(tmp_path))
    assert done.returncode == 1
    table = rows(done.stdout)
    assert table["web2"][3:] == ["256*", "256*", "FAIL"]
    assert table["ci"][3:] == ["20000", "20000", "pass"]
    assert (
        "FAIL  web2: hard descriptor limit 256 is below the 364 this service needs (300 "
        "connections + 64 headroom); no process can raise it itself"
    ) in done.stdout
    code, data = fleet_json(str(tmp_path))
    assert code == 1
    web2 = next(t for t in data["targets"] if t["name"] == "web2")
    assert web2["verdict"] == "fail"
    assert [f["code"] for f in web2["check"]["findings"] if f["level"] == "fail"] == ["nofile.hard"]
    assert "LimitNOFILE=1024" in web2["check"]["findings"][1]["remedy"]
    assert data["summary"]["failed"] == [
        {"name": "web2", "verdict": "fail", "reason": web2["check"]["findings"][1]["message"]}
    ]
    drift = {d["column"]: d for d in data["drift"]}
    assert drift["nofile_hard"]["common"] == "20000"
    assert drift["nofile_hard"]["differs"] == [{"name": "web2", "value": "256"}]
    # Fewer connections fit under the lowered limit: the same fleet passes.
    assert run_cli("fleet", str(tmp_path), "--connections", "100").returncode == 0


def test_a_raisable_soft_limit_passes_with_the_reason(tmp_path: Path) -> None:
    write(tmp_path, "low-soft.json", variant(limits__nofile_soft=256))
    _, data = fleet_json(str(tmp_path))
    (target,) = data["targets"]
    assert target["verdict"] == "pass"
    limits = [f for f in target["check"]["findings"] if f["step"] == "limits"]
    assert [f["code"] for f in limits] == ["nofile.raisable"]
    assert "the generated loop_setup.py does at start-up" in limits[0]["message"]
    assert target["plan"]["nofile"] is not None


def test_require_loop_fails_where_the_loop_is_missing(tmp_path: Path) -> None:
    write(tmp_path, "with.json", host_data())
    write(tmp_path, "without.json", without_uvloop())
    done = run_cli("fleet", str(tmp_path), "--require-loop", "uvloop")
    assert done.returncode == 1
    table = rows(done.stdout)
    assert table["with"][-1] == "pass"
    assert table["without"][-1] == "FAIL"
    assert "--require-loop uvloop: uvloop is not installed on the target" in done.stdout
    assert run_cli("fleet", str(tmp_path)).returncode == 0  # without the requirement: both pass


def test_an_interpreter_too_old_for_the_code_fails(tmp_path: Path) -> None:
    write(
        tmp_path,
        "old.json",
        variant(interpreter__version=[3, 7, 16], interpreter__release="3.7.16"),
    )
    done = run_cli("fleet", str(tmp_path))
    assert done.returncode == 1
    assert rows(done.stdout)["old"][2] == "none"
    assert "generated code needs CPython 3.8 or later" in done.stdout


def test_strict_fails_on_warnings(tmp_path: Path) -> None:
    write(tmp_path, "graal.json", variant(interpreter__implementation="graalpy"))
    done = run_cli("fleet", str(tmp_path))
    assert done.returncode == 0 and rows(done.stdout)["graal"][-1] == "warn"
    strict = run_cli("fleet", str(tmp_path), "--strict")
    assert strict.returncode == 1
    assert "(--strict: warnings fail)" in strict.stdout
    assert "the rules are verified on CPython and PyPy; this is graalpy" in strict.stdout


# --- the document ------------------------------------------------------------------------------


def test_fleet_document_reads_back_as_the_same_table(tmp_path: Path) -> None:
    folder = tmp_path / "collected"
    write(folder, "ci.json", host_data())
    write(folder, "web1.json", without_uvloop(limits__nofile_soft=1024))
    write(folder, "broken.json", "{not json")
    done = run_cli("fleet", "--json", str(folder))
    saved = write(tmp_path, "fleet.json", done.stdout)
    again = run_cli("fleet", str(saved))
    first = run_cli("fleet", str(folder))
    assert again.returncode == first.returncode == 1
    assert again.stdout == first.stdout
    # Its targets keep their names, sources and errors.
    _, data = fleet_json(str(saved))
    assert [t["name"] for t in data["targets"]] == ["broken", "ci", "web1"]
    assert data["targets"][0]["source"]["location"].endswith("broken.json")
    assert data["targets"][0]["error"].startswith("not JSON")


def test_reading_back_recomputes_plans_with_the_readers_options(tmp_path: Path) -> None:
    write(tmp_path, "web2.json", variant(limits__nofile_soft=256, limits__nofile_hard=256))
    done = run_cli("fleet", "--json", "--connections", "100", str(tmp_path))
    assert done.returncode == 0
    saved = write(tmp_path / "out", "fleet.json", done.stdout)
    assert run_cli("fleet", str(saved)).returncode == 1  # 300 connections: the limit fails now


def test_a_live_checks_findings_are_kept_when_read_back() -> None:
    facts = model.load(str(HOSTS / "linux.json"))
    from iodetect.check import Finding

    live = fleet.TargetCheck(
        "live", (Finding("selftest", "fail", "TCP over IPv4: reset", None, "test.tcp4"),)
    )
    built = build(
        [Observation("web1", Source("command", "ssh web1 python3"), facts, check=live)], Options()
    )
    assert built.targets[0].verdict == "fail" and built.exit_code == 1
    data = json.loads(json.dumps(fleet.to_dict(built)))
    jsonschema.validate(data, FLEET_SCHEMA)
    (obs,) = observations_from_dict(data, "fleet.json")
    assert obs.check is not None and obs.check.mode == "live"
    assert obs.check.findings[0].message == "TCP over IPv4: reset"
    assert obs.source == Source("command", "ssh web1 python3")
    assert build([obs], Options()).targets[0].verdict == "fail"


def test_a_report_of_many_targets_has_no_verdicts() -> None:
    obs = [
        Observation(h, Source("file", h), model.load(str(HOSTS / f"{h}.json")))
        for h in ("linux", "darwin")
    ]
    built = build(obs, Options(check=None))
    assert [t.verdict for t in built.targets] == [None, None]
    assert built.exit_code == 0
    data = fleet.to_dict(built)
    jsonschema.validate(data, FLEET_SCHEMA)
    assert all(t["check"] is None for t in data["targets"])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({"kind": "iodetect.facts"}, "not an iodetect fleet"),
        ({"kind": "iodetect.fleet", "schema_version": 2, "targets": []}, "schema_version 2"),
        ({"kind": "iodetect.fleet", "schema_version": 1, "targets": {}}, "must be an array"),
    ],
)
def test_a_fleet_document_that_is_not_one_is_refused(document: object, message: str) -> None:
    with pytest.raises(fleet.FleetError, match=message):
        observations_from_dict(document, "f.json")


def test_one_bad_target_in_a_fleet_document_stays_with_it(tmp_path: Path) -> None:
    good = {"name": "ok", "source": {"kind": "file", "location": "x"}, "facts": host_data()}
    bad = {"name": "bad\x1b[2J", "facts": {"kind": "iodetect.facts", "schema_version": 1}}
    doc = {"kind": "iodetect.fleet", "schema_version": 1, "targets": [good, bad, "junk"]}
    obs = observations_from_dict(doc, "f.json")
    assert [o.name for o in obs] == ["ok", "bad[2J", "f.json[2]"]
    assert obs[0].facts is not None
    assert obs[1].error is not None and "missing field" in obs[1].error
    assert obs[2].error == "not a target object"


# --- collected files: what is read, how targets are named ---------------------------------------


def test_names_come_from_files_host_folders_or_inside(tmp_path: Path) -> None:
    write(tmp_path, "web1.json", host_data())
    write(tmp_path, "db1.example.com", host_data())  # `ansible --tree` names files by host only
    write(tmp_path / "web2" / "tmp", "facts.json", host_data())  # fetch: DEST/HOST/PATH
    write(tmp_path, "x.json", {**host_data(), "name": "named-inside"})
    write(tmp_path, ".hidden.json", "ignored")
    obs = collected.collect([tmp_path])
    assert [o.name for o in obs] == ["db1.example.com", "web1", "web2", "named-inside"]
    assert all(o.facts is not None for o in obs)


def test_duplicate_names_are_told_apart(tmp_path: Path) -> None:
    a = write(tmp_path / "a", "web1.json", host_data())
    b = write(tmp_path / "b", "web1.json", host_data())
    assert [o.name for o in collected.collect([a, b])] == ["web1", "web1 (2)"]


def test_report_json_and_engine_results_are_read(tmp_path: Path) -> None:
    report = run_cli("report", "--json", "--facts", str(HOSTS / "linux.json"))
    write(tmp_path, "report.json", report.stdout)  # with its recommendation
    probe_out = json.dumps(host_data())
    write(tmp_path, "tree-host", {"changed": True, "rc": 0, "stdout": probe_out, "stderr": ""})
    write(tmp_path, "named", {"name": "from-engine", "rc": 0, "stdout": probe_out + "\r\n"})
    write(
        tmp_path,
        "dead",
        {"unreachable": True, "msg": "Failed to connect to the host via ssh: timed out"},
    )
    write(tmp_path, "failed", {"failed": True, "rc": 127, "stderr": "sh: python3: not found\n"})
    write(tmp_path, "banner.json", "Welcome to web9\nLast login: today\n" + probe_out + "\n")
    obs = {o.name: o for o in collected.collect([tmp_path])}
    for name in ("report", "tree-host", "from-engine", "banner"):
        assert obs[name].facts is not None, obs[name].error
    assert obs["dead"].error == (
        "the engine reported: unreachable; Failed to connect to the host via ssh: timed out"
    )
    assert (
        obs["failed"].error
        == "the engine reported: failed; exit status 127; sh: python3: not found"
    )


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("", "empty file"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"kind": "iodetect.check", "schema_version": 1}', "holds no facts"),
        ('{"kind": "something.else"}', "not iodetect facts (kind is 'something.else'"),
        ('{"hello": 1}', "not iodetect facts (kind is None"),
        ("[" * 100_000, "not JSON"),
        ('{"kind": "iodetect.facts", "n": ' + "1" * 10_000 + "}", "not JSON"),
        ('{"stdout": 5}', "without the probe's output"),
        ('{"kind": "iodetect.facts", "schema_version": 1}', "bad facts: facts: missing field"),
    ],
)
def test_a_bad_file_is_an_error_for_its_target(tmp_path: Path, content: str, error: str) -> None:
    write(tmp_path, "bad.json", content)
    write(tmp_path, "good.json", host_data())
    code, data = fleet_json(str(tmp_path))
    assert code == 1
    bad, good = data["targets"]
    assert bad["name"] == "bad" and bad["verdict"] == "error"
    assert error in bad["error"]
    assert good["verdict"] == "pass"


def test_encodings_a_windows_shell_writes_are_read(tmp_path: Path) -> None:
    text = json.dumps(host_data())
    (tmp_path / "ps5.json").write_bytes(text.encode("utf-16"))  # PowerShell 5's `>`: UTF-16 LE
    (tmp_path / "bom.json").write_bytes(text.encode("utf-8-sig"))
    (tmp_path / "latin.json").write_bytes(b'{"kind": "\xe9"}')
    obs = {o.name: o for o in collected.collect([tmp_path])}
    assert obs["ps5"].facts is not None and obs["bom"].facts is not None
    assert obs["latin"].error == "not UTF-8 text"


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symbolic links")
def test_only_regular_files_are_read_and_nothing_blocks(tmp_path: Path) -> None:
    write(tmp_path, "good.json", host_data())
    os.mkfifo(tmp_path / "fifo.json")  # opening it for reading would wait for a writer
    os.symlink(HOSTS / "linux.json", tmp_path / "link.json")
    os.symlink(tmp_path, tmp_path / "loop")  # a link to a folder is not walked
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(collected.MAX_FILE_BYTES + 1)  # sparse: no disk used
    obs = {o.name: o for o in collected.collect([tmp_path])}
    assert obs["good"].facts is not None
    assert obs["fifo"].error is not None and "not a regular file" in obs["fifo"].error
    assert obs["link"].error == "a symbolic link, not a regular file: not followed"
    assert obs["big"].error is not None and "larger than 16 MiB" in obs["big"].error
    assert obs["loop"].error == "a symbolic link, not a regular file: not followed"
    # Named on the command line, a link is what the user asked for.
    assert collected.collect([tmp_path / "link.json"])[0].facts is not None


def test_folders_are_walked_only_so_deep(tmp_path: Path) -> None:
    deep = tmp_path / "h" / "a" / "b" / "c" / "d"
    write(deep, "facts.json", host_data())
    (obs,) = collected.collect([tmp_path])
    assert obs.name == "h"
    assert obs.error is not None and "nested more than" in obs.error


def test_hostile_names_and_strings_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    evil = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202e"
    data = variant(
        interpreter__release="3.11.7" + evil,
        interpreter__implementation="cpython\n[red]x[/red]",
        errors=[{"probe": "limits" + evil, "error": "boom\x1b[31m\nforged line"}],
    )
    write(tmp_path, "web" + evil + ".json", data)
    write(tmp_path, "m.json", {**data, "name": "[bold]markup[/bold]"})
    done = run_cli("fleet", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for bad in ("\x1b", "\x07", "\u202e", "\nforged"):
        assert bad not in done.stdout
    assert "[bold]markup[/bold]" in done.stdout  # shown as text, not taken as markup
    assert "[red]x[/red]" in done.stdout


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write(tmp_path / "hidden", ".only.json", "x")
    cases = [
        ((str(tmp_path / "missing"),), "no such file or folder"),
        ((str(empty),), "no files in"),
        ((str(tmp_path / "hidden"),), "no files in"),
        ((str(HOSTS), "--require-loop", "tokio"), "--require-loop must be one of"),
        ((str(HOSTS), "--loop", "tokio"), "unknown loop 'tokio'"),
        ((str(HOSTS), "--needs", "telepathy"), "unknown need 'telepathy'"),
        ((str(HOSTS), "--selector", "iocp"), "unknown selector 'iocp'"),
    ]
    for args, message in cases:
        done = run_cli("fleet", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == ""
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# --- rules, directly ---------------------------------------------------------------------------


def test_rules_word_the_recommenders_descriptor_conflict_as_a_limits_finding() -> None:
    facts = model.from_dict(variant(limits__nofile_soft=100, limits__nofile_hard=100))
    from iodetect.fleet.builder import plan_for

    options = Options(connections=1000)
    plan, why = plan_for(facts, options)
    assert plan is not None and plan.conflicts and why is None
    findings = rules.judge(facts, plan, why, options)
    fails = [f for f in findings if f.level == "fail"]
    assert [(f.step, f.code) for f in fails] == [("limits", "nofile.hard")]
    assert rules.verdict(findings) == "fail"
    # Without a connection count no limit is judged, and the same facts pass.
    options = Options(connections=None)
    plan, why = plan_for(facts, options)
    assert rules.verdict(rules.judge(facts, plan, why, options)) == "pass"


def test_a_fleet_document_with_duplicate_names_reads_them_apart(tmp_path: Path) -> None:
    target = {"name": "web1", "source": {"kind": "file", "location": "x"}, "facts": host_data()}
    doc = {"kind": "iodetect.fleet", "schema_version": 1, "targets": [target, target]}
    path = write(tmp_path, "fleet.json", doc)
    assert [o.name for o in collected.read_document(path)] == ["web1", "web1 (2)"]
    assert [o.name for o in collected.collect([path])] == ["web1", "web1 (2)"]


def test_collected_facts_are_completed_as_report_reads_them(tmp_path: Path) -> None:
    from iodetect import probe

    # A raw probe answer: support is iodetect's decision, not the target's.
    raw = variant(loops__uvloop__supported=False, loops__uvloop__support_note=None)
    path = write(tmp_path, "raw.json", raw)
    (obs,) = collected.collect([path])
    assert obs.facts == probe.get_facts(str(path))
    uvloop = obs.facts.loop("uvloop")
    assert uvloop is not None and uvloop.supported
