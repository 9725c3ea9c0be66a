"""The facts model: JSON round trips, the published schema, and rejection of bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iodetect import model
from iodetect.model import FactsError

from support import HOSTS

SCHEMA = json.loads(
    (Path(model.__file__).parent / "schemas" / "facts.schema.json").read_text(encoding="utf-8")
)


def test_fixture_round_trips_and_matches_schema(host_file: Path) -> None:
    data = json.loads(host_file.read_text(encoding="utf-8"))
    jsonschema.validate(data, SCHEMA)
    facts = model.from_dict(data)
    assert model.to_dict(facts) == data
    assert model.from_json(model.to_json(facts)) == facts


def test_documented_fixtures_say_so(host_file: Path) -> None:
    facts = model.load(str(host_file))
    if facts.host.platform != "linux":
        assert facts.origin == "documented"
        assert facts.note and "documented" in facts.note


def _linux() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HOSTS / "linux.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=2), "unsupported facts schema_version 2"),
        (lambda d: d.pop("schema_version"), "unsupported facts schema_version None"),
        (lambda d: d.update(kind="other"), "not iodetect facts"),
        (lambda d: d.pop("host"), "missing field 'host'"),
        (lambda d: d.update(extra=1), "unknown field 'extra'"),
        (lambda d: d["limits"].update(nofile_soft="many"), "facts.limits.nofile_soft: expected"),
        (lambda d: d["limits"].update(nofile_soft=True), "facts.limits.nofile_soft: expected"),
        (lambda d: d["interpreter"].update(version=[3, 12]), "expected 3 items"),
        (lambda d: d["selectors"][0].update(name="iocp"), "facts.selectors[0].name"),
        (lambda d: d.update(origin="guess"), "facts.origin"),
        (lambda d: d.update(loops={}), "facts.loops: expected an array"),
    ],
)
def test_bad_facts_are_rejected_with_a_clear_message(mutate: Any, message: str) -> None:
    data = _linux()
    mutate(data)
    with pytest.raises(FactsError) as info:
        model.from_dict(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    # The published schema rejects the same documents.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", '"facts"', "[" * 100000])
def test_malformed_json_is_rejected(text: str) -> None:
    with pytest.raises(FactsError):
        model.from_json(text)


def test_load_reports_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "facts.json"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(FactsError, match="not UTF-8"):
        model.load(str(bad))
    with pytest.raises(FactsError, match="cannot read facts file"):
        model.load(str(tmp_path / "missing.json"))


def test_model_is_frozen() -> None:
    facts = model.load(str(HOSTS / "linux.json"))
    with pytest.raises(AttributeError):
        facts.host.platform = "win32"  # type: ignore[misc]
    assert copy.deepcopy(facts) == facts


def test_unknown_default_selector_is_refused() -> None:
    data = _linux()
    data["default_selector"] = "iocp"
    with pytest.raises(FactsError, match=r"facts\.default_selector: 'iocp' is not one of select"):
        model.from_dict(data)
    data["default_selector"] = None  # unknown is allowed: null
    assert model.from_dict(data).default_selector is None


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("loops", 0, "name"), "trio"),
        (("asyncio", "get_event_loop_without_loop"), "sometimes"),
        (("origin",), "rumour"),
        (("selectors", 1, "name"), 7),
    ],
)
def test_every_vocabulary_is_checked_while_reading(path: tuple[Any, ...], value: Any) -> None:
    data = _linux()
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(FactsError, match="is not one of"):
        model.from_dict(data)


def test_facts_document_starts_with_kind_and_version() -> None:
    facts = model.load(str(HOSTS / "linux.json"))
    assert list(model.to_dict(facts))[:2] == ["kind", "schema_version"]
    assert model.to_json(facts).startswith('{\n  "kind": "iodetect.facts",\n  "schema_version": 1,')


def test_interpreter_label_names_the_implementation() -> None:
    assert model.load(str(HOSTS / "linux.json")).interpreter.label == "CPython 3.11.7"
    assert model.load(str(HOSTS / "pypy.json")).interpreter.label == "PyPy 3.11 (PyPy 8.0.1)"


def test_vocabularies_are_literal_types() -> None:
    import typing

    assert typing.get_args(model.SelectorName) == model.SELECTOR_NAMES
    assert model.LOOP_NAMES == ("uvloop", "winloop", "rloop")
    assert model.parse_name(model.NeedName, "pty", "need") == "pty"
    with pytest.raises(ValueError, match="unknown need 'tty' \\(choose from add_reader"):
        model.parse_name(model.NeedName, "tty", "need")


def test_unlimited_is_shown_as_unlimited() -> None:
    assert model.show_limit(model.UNLIMITED) == "unlimited"
    assert model.show_limit(None) == "unknown" and model.show_limit(4096) == "4096"
