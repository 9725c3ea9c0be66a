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
    assert "raise the soft limit to 245760" in text
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
