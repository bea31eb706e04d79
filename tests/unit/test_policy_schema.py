"""The published JSON Schema is generated from SCHEMA, and it accepts exactly what Salus's own validator accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from app.core.errors import PolicyError
from app.core.settings import METHODS, SCHEMA, json_schema, validate

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "resources" / "policy" / "salus-policy.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def salus_accepts(document: Any) -> bool:
    try:
        validate(document, origin="policy test")
    except PolicyError:
        return False
    return True


def test_published_schema_is_the_one_generated_from_the_settings() -> None:
    generated = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    assert PUBLISHED.read_text("utf-8") == generated, (
        f"{PUBLISHED.relative_to(ROOT)} is out of date: run `python packaging/policy_templates.py` and commit it."
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())
    assert json_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_describes_every_key_with_type_description_and_default() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == [s.key for s in SCHEMA]
    for setting in SCHEMA:
        prop = schema["properties"][setting.key]
        assert prop["description"].startswith(setting.description)
        assert prop["default"] == setting.default
        assert prop["type"] in ("integer", "boolean", "string", "array")


def test_every_default_is_valid_for_both_validators() -> None:
    defaults = {s.key: s.default for s in SCHEMA}
    assert salus_accepts(defaults)
    VALIDATOR.validate(defaults)


@pytest.mark.parametrize(
    "ladder",
    [["pgp"], ["portal"], ["smime", "pgp", "portal", "tls"], ["pgp", "tls"], ["smime", "portal"]],
)
def test_both_validators_accept_ladders_with_end_to_end_first(ladder: list[str]) -> None:
    assert salus_accepts({"method_ladder": ladder})
    assert VALIDATOR.is_valid({"method_ladder": ladder})


@pytest.mark.parametrize(
    "ladder", [[], ["tls", "pgp"], ["portal", "tls", "smime"], ["pgp", "pgp"], ["pgp", "plain"], "pgp", [1]]
)
def test_both_validators_refuse_weak_first_repeated_or_unknown_ladders(ladder: Any) -> None:
    assert not salus_accepts({"method_ladder": ladder})
    assert not VALIDATOR.is_valid({"method_ladder": ladder})


def test_json_schema_counts_whole_floats_as_integers_which_salus_refuses() -> None:
    # The one known difference, inherent to JSON Schema (a number with no fraction is an integer); it is written
    # in the schema's description so that IT is not surprised when Salus asks for 5 instead of 5.0.
    assert VALIDATOR.is_valid({"idle_timeout_minutes": 5.0})
    assert not salus_accepts({"idle_timeout_minutes": 5.0})
    assert "5.0" in json_schema()["description"]


# --- generated documents: the two validators agree --------------------------------------------------------------

_KEYS = [s.key for s in SCHEMA]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=70000),
    st.sampled_from([-1, 0, 1, 5, 7, 30, 100, 101, 300, 301, 365, 366, 443, 480, 481, 65535, 65536]),
    # Whole floats are left out: JSON Schema calls them integers (see the test above).
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=8),
    st.sampled_from(["", " ", "\t", "none", "syslog", "eventlog", "email", *METHODS, "plain", "[secure]"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_ladders = st.lists(st.sampled_from([*METHODS, "plain"]), max_size=5)


def _near_valid(key: str) -> st.SearchStrategy[Any]:
    """Values close to what `key` accepts, so that generated documents are often valid and probe each limit."""
    fragment = json_schema()["properties"][key]
    if "enum" in fragment:
        return st.sampled_from([*fragment["enum"], "", fragment["enum"][0].upper()])
    if fragment["type"] == "integer":
        low, high = fragment["minimum"], fragment["maximum"]
        return st.sampled_from([low - 1, low, high, high + 1]) | st.integers(min_value=low - 2, max_value=high + 2)
    if fragment["type"] == "boolean":
        return st.booleans()
    if fragment["type"] == "string":
        return st.text(max_size=10)
    blank_or_not = st.text(max_size=4) | st.sampled_from(["", " ", "\t", "\u00a0", "\u2003x", "a"])
    return _ladders if key == "method_ladder" else st.lists(blank_or_not, max_size=3)


def _entry(key: str) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(st.just(key), _near_valid(key) | _values)


_near_documents = st.lists(st.sampled_from(_KEYS).flatmap(_entry), max_size=6).map(dict)
_documents = (
    _near_documents
    | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=12), _values, max_size=4)
    | st.one_of(st.lists(_scalars, max_size=3), _scalars)
)


@settings(max_examples=600, deadline=None)
@given(_documents)
def test_salus_and_the_json_schema_agree_on_every_document(document: Any) -> None:
    assert salus_accepts(document) == VALIDATOR.is_valid(document), document


@settings(max_examples=300, deadline=None)
@given(st.permutations(list(METHODS)), st.integers(min_value=1, max_value=len(METHODS)))
def test_salus_and_the_json_schema_agree_on_every_ladder_order(order: list[str], length: int) -> None:
    document = {"method_ladder": order[:length]}
    assert salus_accepts(document) == VALIDATOR.is_valid(document), document


def test_generated_documents_reach_both_answers() -> None:
    # Guards the property test above against a strategy that only ever finds documents both validators refuse.
    accepted = find(_documents, lambda d: isinstance(d, dict) and len(d) >= 2 and salus_accepts(d))
    refused = find(_documents, lambda d: isinstance(d, dict) and len(d) == 1 and not salus_accepts(d))
    assert VALIDATOR.is_valid(accepted) and not VALIDATOR.is_valid(refused)
