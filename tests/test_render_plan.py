"""The recommendation section of `iodetect report`: the choice, every reason, the command."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from iodetect import model
from iodetect.model import Library
from iodetect.recommend import Needs, recommend
from iodetect.render_plan import render_plan

HOSTS = Path(__file__).parent / "hosts"


def text_of(renderable: object) -> str:
    console = Console(width=1000, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_shows_choice_every_reason_and_the_command() -> None:
    plan = recommend(model.load(str(HOSTS / "darwin.json")), Needs(connections=1000))
    text = text_of(render_plan(plan))
    assert "Recommendation: uvloop.new_event_loop (uvloop 0.23.0) for CPython 3.12" in text
    for note in plan.reasons:
        assert note.text in text and note.source in text
    assert "raise the soft limit to the hard limit" in text
    assert "iodetect snippet > loop_setup.py" in text


def test_conflicts_have_remedies_and_no_command() -> None:
    facts = model.load(str(HOSTS / "win32.json"))
    plan = recommend(facts, Needs(frozenset({"add_reader", "subprocess"})))
    text = text_of(render_plan(plan))
    assert "Conflicts" in text and "Remedy:" in text
    assert "iodetect snippet > loop_setup.py" not in text


def test_facts_strings_are_not_markup() -> None:
    facts = model.load(str(HOSTS / "win32.json"))
    facts = replace(facts, libraries=(Library("psycopg", "[/][bold]3.2[/bold]"),))
    text = text_of(render_plan(recommend(facts, Needs())))
    assert "psycopg [/][bold]3.2[/bold] needs add_reader" in text


def test_plan_names_the_implementation() -> None:
    pypy = model.load(str(HOSTS / "pypy.json"))
    text = text_of(render_plan(recommend(pypy, Needs())))
    assert (
        "Recommendation: asyncio.SelectorEventLoop with EpollSelector for PyPy 3.11 (PyPy 8.0.1)"
        in text
    )
    assert "for CPython" not in text


def test_unlimited_limits_are_shown_as_unlimited(tmp_path: Path) -> None:
    import json

    from support import run_cli

    data = json.loads((HOSTS / "linux.json").read_text(encoding="utf-8"))
    data["limits"].update(nofile_soft=-1, nofile_hard=-1)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    done = run_cli("report", "--facts", str(path), env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    limits = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("RLIMIT_NOFILE")]
    assert len(limits) == 2 and all(ln.split()[-1] == "unlimited" for ln in limits)
    assert "the soft limit is already unlimited" in done.stdout
    assert "-1" not in "\n".join(limits)
    # An unlimited hard limit with a low soft one: raised to fs.nr_open, shown without -1.
    data["limits"].update(nofile_soft=1024)
    path.write_text(json.dumps(data), encoding="utf-8")
    plan = recommend(model.load(str(path)), Needs(connections=100))
    assert plan.nofile is not None and plan.nofile.target is None  # read at run time
    assert any("from 1024 to 1048576" in r.text for r in plan.reasons)
    assert not any("-1" in r.text for r in plan.reasons)
