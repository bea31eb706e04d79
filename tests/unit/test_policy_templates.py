"""IT's templates (ADMX/ADML for Group Policy, a macOS configuration profile) are generated from the one schema,
are well formed, name every key, and say what the Salus readers accept."""

from __future__ import annotations

import importlib.util
import plistlib
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.core.managed_policy import RegistryType, RegistryValue, registry_document
from app.core.settings import SCHEMA, json_schema, validate
from app.services.policy_sources import read_plist

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "packaging" / "policy_templates.py"
NS = {"p": "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"}
KEYS = [s.key for s in SCHEMA]
DEFAULTS = {s.key: s.default for s in SCHEMA}


def _load_generator() -> Any:
    # Loaded by path: `packaging` is also a PyPI package, which `import packaging` would find first.
    spec = importlib.util.spec_from_file_location("salus_policy_templates", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


templates = _load_generator()


def parse(path: Path) -> ET.Element:
    return ET.parse(ROOT / path).getroot()  # noqa: S314  (our own committed file)


@pytest.fixture(scope="module")
def admx() -> ET.Element:
    return parse(templates.ADMX_FILE)


@pytest.fixture(scope="module")
def adml() -> ET.Element:
    return parse(templates.ADML_FILE)


@pytest.fixture(scope="module")
def profile() -> Any:
    return plistlib.loads((ROOT / templates.MOBILECONFIG_FILE).read_bytes())


def test_committed_templates_are_the_generated_ones() -> None:
    for path, content in templates.outputs().items():
        committed = (ROOT / path).read_bytes() if (ROOT / path).exists() else None
        assert committed == content, f"{path} is out of date: run `python packaging/policy_templates.py` and commit"


def test_generator_check_mode_passes_on_this_tree() -> None:
    done = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_generator_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    (tmp_path / templates.SCHEMA_FILE).parent.mkdir(parents=True)
    (tmp_path / templates.SCHEMA_FILE).write_text("{}", "utf-8")
    assert templates.SCHEMA_FILE in templates.stale_files(tmp_path)
    assert len(templates.stale_files(tmp_path)) == len(templates.outputs())


# --- Windows ------------------------------------------------------------------------------------------------------


def test_admx_has_one_machine_policy_per_key_under_the_salus_policies_key(admx: ET.Element) -> None:
    assert admx.tag == f"{{{NS['p']}}}policyDefinitions"
    policies = admx.findall("p:policies/p:policy", NS)
    assert [p.get("name") for p in policies] == KEYS
    for policy in policies:
        assert policy.get("class") == "Machine"
        assert policy.get("key") == r"SOFTWARE\Policies\Salus"
        assert policy.find("p:parentCategory", NS).get("ref") in {  # type: ignore[union-attr]
            c.get("name") for c in admx.findall("p:categories/p:category", NS)
        }


def test_every_string_and_presentation_the_admx_names_is_in_the_adml(admx: ET.Element, adml: ET.Element) -> None:
    strings = {s.get("id") for s in adml.findall("p:resources/p:stringTable/p:string", NS)}
    presentations = {p.get("id"): p for p in adml.findall("p:resources/p:presentationTable/p:presentation", NS)}
    for element in admx.iter():
        for value in element.attrib.values():
            if value.startswith("$(string."):
                assert value[len("$(string.") : -1] in strings, value
            if value.startswith("$(presentation."):
                presentation = presentations[value[len("$(presentation.") : -1]]
                element_ids = {e.get("id") for e in element.findall("p:elements/*", NS)}
                assert {child.get("refId") for child in presentation} == element_ids


def test_admx_elements_write_the_registry_types_the_reader_accepts(admx: ET.Element) -> None:
    # What Group Policy writes when IT enables each policy with its default, read back as Salus reads the registry.
    values = [_written_by(policy) for policy in admx.findall("p:policies/p:policy", NS)]
    assert registry_document(values, origin="policy test") == DEFAULTS


def _written_by(policy: ET.Element) -> RegistryValue:
    key = policy.get("name", "")
    default = DEFAULTS[key]
    if policy.find("p:enabledValue", NS) is not None:  # an on/off policy: Enabled writes one value, Disabled another
        state = "p:enabledValue/p:decimal" if default else "p:disabledValue/p:decimal"
        value = int(policy.find(state, NS).get("value", ""))  # type: ignore[union-attr]
        return RegistryValue(policy.get("valueName", ""), value, RegistryType.REG_DWORD)
    (element,) = policy.findall("p:elements/*", NS)
    tag = element.tag.split("}")[1]
    assert element.get("valueName") == key
    if tag == "decimal":
        assert int(element.get("minValue", "")) <= default <= int(element.get("maxValue", ""))
        return RegistryValue(key, default, RegistryType.REG_DWORD)
    if tag == "enum":
        options = [item.findtext("p:value/p:string", namespaces=NS) for item in element.findall("p:item", NS)]
        assert options == json_schema()["properties"][key]["enum"]
        return RegistryValue(key, default, RegistryType.REG_SZ)
    registry_type = {"text": RegistryType.REG_SZ, "multiText": RegistryType.REG_MULTI_SZ}[tag]
    return RegistryValue(key, default, registry_type)


def test_adml_explains_each_key_with_its_default_and_registry_value(adml: ET.Element) -> None:
    strings = {s.get("id"): s.text or "" for s in adml.findall("p:resources/p:stringTable/p:string", NS)}
    for setting in SCHEMA:
        explain = strings[f"{setting.key}_Explain"]
        assert explain.startswith(setting.description)
        assert f"value {setting.key} under HKLM\\SOFTWARE\\Policies\\Salus" in explain


# --- macOS --------------------------------------------------------------------------------------------------------


def test_mobileconfig_is_a_configuration_profile_for_the_salus_domain(profile: Any) -> None:
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadScope"] == "System"
    (payload,) = profile["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.ManagedClient.preferences"
    assert list(payload["PayloadContent"]) == ["org.salus.client"]
    identifiers = [profile["PayloadIdentifier"], payload["PayloadIdentifier"]]
    assert len(set(identifiers)) == 2 and len({profile["PayloadUUID"], payload["PayloadUUID"]}) == 2


def test_mobileconfig_settings_name_every_key_and_validate(profile: Any) -> None:
    forced = profile["PayloadContent"][0]["PayloadContent"]["org.salus.client"]["Forced"]
    settings = forced[0]["mcx_preference_settings"]
    assert list(settings) == sorted(KEYS)
    jsonschema.Draft202012Validator(json_schema()).validate(settings)
    assert validate(settings, origin="policy test") == DEFAULTS


def test_mobileconfig_settings_read_back_as_managed_preferences(profile: Any, tmp_path: Path) -> None:
    # What macOS writes to /Library/Managed Preferences when the profile is installed, read as Salus reads it.
    settings = profile["PayloadContent"][0]["PayloadContent"]["org.salus.client"]["Forced"][0]
    path = tmp_path / "org.salus.client.plist"
    path.write_bytes(plistlib.dumps(settings["mcx_preference_settings"], fmt=plistlib.FMT_BINARY))
    layer = read_plist(path)
    assert layer is not None and layer.document == DEFAULTS
