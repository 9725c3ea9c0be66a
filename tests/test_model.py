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
