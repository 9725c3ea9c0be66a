"""What the quick commands import: only what they need (benchmarks/startup.py measures the cost).

`report --json` and `snippet` run on every deploy and in editors' tasks. Their plain command
lines run without typer (iodetect.commands.quick); none of them imports rich (drawing for
people), the other commands, or the transport to other interpreters. Whichever path a command
line takes, its output is the same, byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from iodetect import model
from iodetect.commands import quick

ROOT = Path(__file__).resolve().parent.parent
HOSTS = sorted((ROOT / "tests" / "hosts").glob("*.json"))
LINUX = str(ROOT / "tests" / "hosts" / "linux.json")

# Modules the machine-readable and code-writing commands must not import.
HEAVY = (
    "rich",
    "iodetect.transport",
    "iodetect.check",
    "iodetect.bench",
    "iodetect.inspect",
    "iodetect.scan",
    "iodetect.fleet",
    "iodetect.commands.check",
    "iodetect.commands.bench",
    "iodetect.commands.inspect",
    "iodetect.commands.scan",
    "iodetect.commands.fleet",
    "iodetect.commands.diff",
    "iodetect.commands.probe_script",
    "tempfile",
    "secrets",
)
# ... and, on a plain command line, neither typer nor the typer commands.
FRAMEWORK = ("typer", "iodetect.commands._common", "iodetect.commands.report")
FRAMEWORK += ("iodetect.commands.snippet",)

# The whole of iodetect that the plain `report --json` imports: the graph, pinned. A module
# added here is start-up time for every deploy: measure it (benchmarks/startup.py) first.
REPORT_JSON = {
    "iodetect",
    "iodetect.catalog",
    "iodetect.catalog.advisories",
    "iodetect.catalog.apis",
    "iodetect.catalog.cpython",
    "iodetect.catalog.libraries",
    "iodetect.catalog.limits",
    "iodetect.catalog.loops",
    "iodetect.catalog.mechanisms",
    "iodetect.catalog.platforms",
    "iodetect.catalog.records",
    "iodetect.catalog.support",
    "iodetect.cli",
    "iodetect.commands",
    "iodetect.commands._support",
    "iodetect.commands.quick",
    "iodetect.errors",
    "iodetect.model",
    "iodetect.output",
    "iodetect.probe",
    "iodetect.recommend",
    "iodetect.recommend.core",
    "iodetect.recommend.idiom",
    "iodetect.recommend.limits",
    "iodetect.recommend.loop",
    "iodetect.recommend.needs",
    "iodetect.recommend.plan",
    "iodetect.recommend.selector",
    "iodetect.record",
    "iodetect.report_json",
    "iodetect.target",
    "iodetect.target.probe",
    "iodetect.text",
}
# `snippet` imports the same, with the module writer instead of the JSON report.
SNIPPET = (REPORT_JSON - {"iodetect.report_json"}) | {"iodetect.snippet"}


DRIVER = """\
import json, sys
from iodetect import cli
code = cli.run(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump(sorted(sys.modules), fh)
sys.exit(code)
"""


def imported(tmp_path: Path, *args: str) -> set[str]:
    """Every module in sys.modules once the command line ARGS has run (as `iodetect` runs it,
    in a fresh interpreter), after it succeeded."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set(json.loads(out.read_text()))
    assert "iodetect.cli" in names  # the list is the real one
    return names


def among(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in prefixes))


PLAIN = [
    ("report", "--json"),
    ("report", "--json", "--facts", LINUX, "--needs", "subprocess", "--connections", "3000"),
    ("snippet",),
    ("snippet", "--facts", LINUX, "--target-python", "3.9+", "--fallback", "--loop", "asyncio"),
    ("snippet", "--platform", "darwin", "--selector", "select"),
]


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: " ".join(a[:3]))
def test_plain_command_lines_import_only_what_they_need(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    assert quick.command(list(args)) is not None
    names = imported(tmp_path, *args)
    assert among(names, HEAVY) == []
    assert among(names, FRAMEWORK) == []
    ours = {n for n in names if n == "iodetect" or n.startswith("iodetect.")}
    pinned = REPORT_JSON if args[0] == "report" else SNIPPET
    if len(args) == 1 or args == ("report", "--json"):  # what benchmarks/startup.py runs
        assert ours == pinned
    else:  # a file to read or write, a platform's documented facts: that much more
        assert ours <= pinned | {"iodetect.files", "iodetect.platforms"}


@pytest.mark.parametrize(
    "args",
    [("report", "--json", "--loop=auto"), ("snippet", "--loop=asyncio")],
    ids=["report", "snippet"],
)
def test_other_command_lines_go_through_typer_and_still_import_little(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """The counterpart: a command line the quick path does not take runs the typer command."""
    assert quick.command(list(args)) is None
    names = imported(tmp_path, *args)
    assert "typer" in names and f"iodetect.commands.{args[0]}" in names
    assert among(names, HEAVY) == []


def test_the_readable_report_draws_with_rich(tmp_path: Path) -> None:
    """The counterpart: the text report does import rich, so the test above can fail."""
    names = imported(tmp_path, "report")
    assert "rich" in names and "iodetect.commands.report" in names
    assert "iodetect.commands.check" not in names


def test_help_still_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for name in ("report", "snippet", "check", "bench", "inspect", "scan", "fleet", "diff"):
        assert f" {name} " in done.stdout


# --- which command lines the quick path takes ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["report"],  # the text report: rich, and typer with it
        ["report", "--json", "--help"],
        ["snippet", "--help"],
        ["--version"],
        ["report", "--json", "--json"],
        ["report", "--json", "--loop=auto"],
        ["report", "--json", "--python", "python3"],
        ["report", "--json", "--bench", "run.json"],
        ["report", "--json", "--timeout", "5"],
        ["report", "--json", "--facts"],
        ["report", "--json", "--facts", "/nonexistent/facts.json"],
        ["report", "--json", "--facts", str(ROOT / "tests")],  # a folder: collected facts
        ["report", "--json", "--connections", "0"],
        ["report", "--json", "--connections", "-5"],
        ["report", "--json", "--connections", "1e3"],
        ["report", "--json", "--connections", "\u0663"],  # an Arabic-Indic 3: int() reads it
        ["report", "--json", "--connections", "9" * 5000],  # past int()'s 4300 digits
        ["report", "--json", "--loop", "bogus"],
        ["report", "--json", "--selector", "kqueue2"],
        ["report", "--json", "--needs", ""],
        ["snippet", "-o", ""],
        ["snippet", "-o", "-"],
        ["snippet", "--verify"],
        ["snippet", "--check", "loop_setup.py"],
        ["snippet", "--python", "python3"],
        ["snippet", "extra"],
        ["check"],
        ["fleet", "--json"],
    ],
)
def test_the_quick_path_leaves_everything_else_to_typer(args: list[str]) -> None:
    assert quick.command(args) is None


def test_the_quick_path_leaves_completion_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert quick.command(["snippet"]) is not None
    monkeypatch.setenv(quick.COMPLETE_VAR, "complete_bash")
    assert quick.command(["snippet"]) is None


# --- the same bytes on either path -----------------------------------------------------------


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != quick.COMPLETE_VAR}
    done = subprocess.run(
        [sys.executable, "-m", "iodetect", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


def typer_form(args: tuple[str, ...]) -> tuple[str, ...]:
    """The same command line as typer alone takes it: every `--opt value` as `--opt=value`."""
    out: list[str] = []
    words = iter(args)
    for word in words:
        if word in quick.VALUES[args[0]] and word.startswith("--"):
            out.append(f"{word}={next(words)}")
        else:
            out.append(word)
    if args[0] == "snippet" and "--loop" not in args:
        out.append("--loop=auto")  # the default, spelt out: a line the quick path refuses
    return tuple(out)


CASES = (
    [
        ("report", "--json", "--facts", str(host), *extra)
        for host in HOSTS
        for extra in [(), ("--needs", "add_reader,subprocess", "--connections", "3000")]
    ]
    + [
        ("snippet", "--facts", str(host), *extra)
        for host in HOSTS
        for extra in [(), ("--target-python", "3.9+", "--fallback"), ("--selector", "select")]
    ]
    + [
        ("snippet", "--platform", "win32", "--target-python", "3.12", "--needs", "subprocess"),
        ("snippet", "--facts", LINUX, "--loop", "uvloop"),  # a conflict or a warning, exit 1 or 0
        ("snippet", "--facts", LINUX, "--needs", "nonsense"),  # a usage error from the core
    ]
)


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(Path(w).name for w in a))
def test_both_paths_give_the_same_bytes(tmp_path: Path, args: tuple[str, ...]) -> None:
    other = typer_form(args)
    assert quick.command(list(args)) is not None and quick.command(list(other)) is None
    assert run(tmp_path, *args) == run(tmp_path, *other)


def test_both_paths_write_the_same_file(tmp_path: Path) -> None:
    args = ("snippet", "--facts", LINUX, "-o", "quick.py")
    assert quick.command(list(args)) is not None
    quick_run = run(tmp_path, *args)
    typer_run = run(tmp_path, "snippet", "--facts", LINUX, "--output=typer.py")
    assert quick_run[0] == typer_run[0] == 0
    assert quick_run[2].replace("quick.py", "typer.py") == typer_run[2]
    assert (tmp_path / "quick.py").read_bytes() == (tmp_path / "typer.py").read_bytes()


def test_an_interrupt_ends_both_paths_alike(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt inside the command: exit 130 and the same stderr, whether the quick
    path or typer ran it."""
    from iodetect import cli

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(quick, "facts_for", interrupted)  # what both paths call
    plain, spelt = ["snippet", "--facts", LINUX], ["snippet", f"--facts={LINUX}"]
    assert quick.command(plain) is not None and quick.command(spelt) is None
    outcomes = []
    for args in (plain, spelt):
        code = cli.run(args)
        outcomes.append((code, capsys.readouterr().err))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 130  # typer's Exit(130); main()'s signal handler says more


def test_the_live_report_is_the_same_on_both_paths(tmp_path: Path) -> None:
    """This interpreter probed live: the same JSON but for the probe's own duration."""
    documents = []
    for args in (("report", "--json"), ("report", "--json", "--loop=auto")):
        code, out, err = run(tmp_path, *args)
        assert code == 0, err
        data = json.loads(out)
        assert data["probe_seconds"] > 0
        data["probe_seconds"] = None
        documents.append(data)
    assert documents[0] == documents[1]


# --- the cheaper steps give what the costly ones gave ------------------------------------------


def test_the_models_types_are_what_get_type_hints_gives() -> None:
    from iodetect.bench import results

    classes = [
        cls
        for module in (model, results)
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
        if dataclasses.is_dataclass(cls)
    ]
    assert len(classes) >= 15
    for cls in classes:
        assert model.hints(cls) == typing.get_type_hints(cls), cls
