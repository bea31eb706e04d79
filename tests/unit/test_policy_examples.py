"""Every example policy shipped for IT is valid; every malformed one fails, with the bad key named, in Salus and in
the published JSON Schema alike."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from app.core.errors import PolicyError
from app.services.policy_sources import read_json_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "policy" / "examples").glob("*.json"))
MALFORMED = sorted((ROOT / "tests" / "data" / "policy" / "invalid").glob("*.json"))
PUBLISHED = jsonschema.Draft202012Validator(
    json.loads((ROOT / "resources" / "policy" / "salus-policy.schema.json").read_text("utf-8"))
)


def test_the_repository_ships_examples_and_malformed_policies() -> None:
    assert len(EXAMPLES) >= 4
    assert len(MALFORMED) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_policy_is_valid(path: Path) -> None:
    layer = read_json_file(path)
    assert layer is not None and layer.origin == str(path)
    assert layer.document and layer.document == json.loads(path.read_text("utf-8"))
    PUBLISHED.validate(layer.document)


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_every_malformed_policy_fails_with_the_key_named(path: Path) -> None:
    key = path.name.split(".")[0]  # the files are named <bad key>.<what is wrong>.json
    with pytest.raises(PolicyError) as failure:
        read_json_file(path)
    assert f": {key} " in str(failure.value) or f"unknown key {key!r}" in str(failure.value)
    assert str(path) in str(failure.value)
    errors = list(PUBLISHED.iter_errors(json.loads(path.read_text("utf-8"))))
    assert errors, "the published schema accepts a document Salus refuses"
    assert any(key in error.absolute_path or key in error.message for error in errors)
