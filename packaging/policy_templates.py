"""Writes IT's policy templates from the one settings schema (app/core/settings.py): the JSON Schema, the Windows
Group Policy template (ADMX + en-US ADML) and an example macOS configuration profile.

    python packaging/policy_templates.py            # rewrite the files
    python packaging/policy_templates.py --check    # exit 1 if a committed file differs from the schema

Run it as a script, not with -m: `packaging` is also the name of a PyPI package that would be imported instead.

Rules:
- Every key in SCHEMA appears in every template, with the type the loader accepts; nothing is written by hand.
- Output is deterministic (fixed UUIDs, sorted plist keys), so the committed files can be compared in a test.
- Windows: one policy per key under HKLM\\SOFTWARE\\Policies\\Salus, value name = key, and the registry type that
  `app.core.managed_policy` converts (REG_DWORD for numbers and on/off, REG_SZ for text, REG_MULTI_SZ for lists).
"""

from __future__ import annotations

import json
import plistlib
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make this repository's `app` importable
    sys.path.insert(0, str(ROOT))

from app.core.settings import SCHEMA, Setting, json_schema  # noqa: E402  (needs the path above)
from app.services.policy_sources import PREFERENCES_DOMAIN, REGISTRY_KEY  # noqa: E402

SCHEMA_FILE = Path("resources/policy/salus-policy.schema.json")
ADMX_FILE = Path("packaging/windows/policy/Salus.admx")
ADML_FILE = Path("packaging/windows/policy/en-US/Salus.adml")
MOBILECONFIG_FILE = Path("packaging/macos/org.salus.client.mobileconfig")

ADMX_NAMESPACE = "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"
CATEGORY = "Salus"
SUPPORTED = "SUPPORTED_Salus"
# Stable UUIDs: a profile reinstalled with the same identifiers replaces the old one instead of adding a second.
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, PREFERENCES_DOMAIN)
_WORDS = {"url": "URL", "dns": "DNS", "tls": "TLS", "ca": "CA", "https": "HTTPS", "smime": "S/MIME", "os": "OS"}


def outputs() -> dict[Path, bytes]:
    """Every generated file, by its path relative to the repository root."""
    return {
        SCHEMA_FILE: schema_json().encode("utf-8"),
        ADMX_FILE: _xml_bytes(admx()),
        ADML_FILE: _xml_bytes(adml()),
        MOBILECONFIG_FILE: mobileconfig(),
    }


def schema_json() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --- Windows: ADMX ---------------------------------------------------------------------------------------------


def _json_type(setting: Setting) -> str:
    return str(getattr(setting.validate, "json_schema", {}).get("type", ""))


def _fragment(setting: Setting) -> dict[str, Any]:
    fragment: dict[str, Any] = getattr(setting.validate, "json_schema", {})
    return fragment


def admx() -> ET.Element:
    root = ET.Element("policyDefinitions", {"xmlns": ADMX_NAMESPACE, "revision": "1.0", "schemaVersion": "1.0"})
    namespaces = ET.SubElement(root, "policyNamespaces")
    ET.SubElement(namespaces, "target", prefix="salus", namespace="Salus.Policies.Salus")
    ET.SubElement(root, "resources", minRequiredRevision="1.0")
    definitions = ET.SubElement(ET.SubElement(root, "supportedOn"), "definitions")
    ET.SubElement(definitions, "definition", name=SUPPORTED, displayName=f"$(string.{SUPPORTED})")
    categories = ET.SubElement(root, "categories")
    ET.SubElement(categories, "category", name=CATEGORY, displayName=f"$(string.{CATEGORY})")
    policies = ET.SubElement(root, "policies")
    for setting in SCHEMA:
        policies.append(_admx_policy(setting))
    return root


def _admx_policy(setting: Setting) -> ET.Element:
    key, json_type = setting.key, _json_type(setting)
    attributes = {
        "name": key,
        "class": "Machine",
        "displayName": f"$(string.{key})",
        "explainText": f"$(string.{key}_Explain)",
        "key": REGISTRY_KEY,
    }
    if json_type == "boolean":
        attributes["valueName"] = key  # Enabled writes 1, Disabled writes 0: the policy state is the value.
    else:
        attributes["presentation"] = f"$(presentation.{key})"
    policy = ET.Element("policy", attributes)
    ET.SubElement(policy, "parentCategory", ref=CATEGORY)
    ET.SubElement(policy, "supportedOn", ref=SUPPORTED)
    if json_type == "boolean":
        ET.SubElement(ET.SubElement(policy, "enabledValue"), "decimal", value="1")
        ET.SubElement(ET.SubElement(policy, "disabledValue"), "decimal", value="0")
    else:
        ET.SubElement(policy, "elements").append(_admx_element(setting))
    return policy


def _admx_element(setting: Setting) -> ET.Element:
    key, fragment = setting.key, _fragment(setting)
    if "enum" in fragment:
        element = ET.Element("enum", id=key, valueName=key, required="true")
        for option in fragment["enum"]:
            item = ET.SubElement(element, "item", displayName=f"$(string.{key}_{option})")
            ET.SubElement(ET.SubElement(item, "value"), "string").text = option
        return element
    if fragment["type"] == "integer":
        limits = {"minValue": str(fragment["minimum"]), "maxValue": str(fragment["maximum"])}
        return ET.Element("decimal", {"id": key, "valueName": key, "required": "true", **limits})
    if fragment["type"] == "array":
        return ET.Element("multiText", id=key, valueName=key)
    return ET.Element("text", id=key, valueName=key)


# --- Windows: ADML (en-US) -------------------------------------------------------------------------------------


def adml() -> ET.Element:
    root = ET.Element("policyDefinitionResources", {"xmlns": ADMX_NAMESPACE, "revision": "1.0", "schemaVersion": "1.0"})
    ET.SubElement(root, "displayName").text = "Salus secure email"
    ET.SubElement(root, "description").text = "Managed policy for the Salus secure email client."
    resources = ET.SubElement(root, "resources")
    strings = ET.SubElement(resources, "stringTable")
    presentations = ET.SubElement(resources, "presentationTable")
    _string(strings, CATEGORY, "Salus secure email")
    _string(strings, SUPPORTED, "Salus 0.1 and later")
    for setting in SCHEMA:
        _string(strings, setting.key, display_name(setting.key))
        _string(strings, f"{setting.key}_Explain", explain_text(setting))
        for option in _fragment(setting).get("enum", []):
            _string(strings, f"{setting.key}_{option}", option)
        if _json_type(setting) != "boolean":
            presentations.append(_presentation(setting))
    return root


def _string(table: ET.Element, string_id: str, text: str) -> None:
    ET.SubElement(table, "string", id=string_id).text = text


def display_name(key: str) -> str:
    words = [_WORDS.get(word, word) for word in key.split("_")]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def explain_text(setting: Setting) -> str:
    fragment, key = _fragment(setting), setting.key
    kind = {"integer": "REG_DWORD", "boolean": "REG_DWORD", "string": "REG_SZ", "array": "REG_MULTI_SZ"}
    lines = [setting.description, ""]
    if fragment["type"] == "boolean":
        lines.append("Enabled: on (1). Disabled: off (0). Not configured: the user's setting, else the default.")
    if fragment["type"] == "integer":
        lines.append(f"Allowed: {fragment['minimum']} to {fragment['maximum']}.")
    if fragment["type"] == "array":
        lines.append("One entry per line.")
    if "enum" in fragment:
        lines.append(f"Allowed: {', '.join(fragment['enum'])}.")
    if setting.user_may_only_lower:
        lines.append("Users may still choose a lower value.")
    lines.append(f"Default: {json.dumps(setting.default)}.")
    lines.append(f"Registry: the {kind[fragment['type']]} value {key} under HKLM\\{REGISTRY_KEY}.")
    return "\n".join(lines)


def _presentation(setting: Setting) -> ET.Element:
    key, fragment = setting.key, _fragment(setting)
    presentation = ET.Element("presentation", id=key)
    label = setting.description
    if "enum" in fragment:
        default = fragment["enum"].index(setting.default)
        box = ET.SubElement(presentation, "dropdownList", refId=key, noSort="true", defaultItem=str(default))
        box.text = label
    elif fragment["type"] == "integer":
        box = ET.SubElement(presentation, "decimalTextBox", refId=key, defaultValue=str(setting.default))
        box.text = label
    elif fragment["type"] == "array":
        ET.SubElement(presentation, "multiTextBox", refId=key).text = label
    else:
        box = ET.SubElement(presentation, "textBox", refId=key)
        ET.SubElement(box, "label").text = label
        if setting.default:
            ET.SubElement(box, "defaultValue").text = setting.default
    return presentation


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'.encode()


# --- macOS: configuration profile ------------------------------------------------------------------------------


def mobileconfig() -> bytes:
    """An example profile that forces every key to its default; IT deletes the keys it does not want to fix."""
    settings = {setting.key: setting.default for setting in SCHEMA}
    preferences = {
        "PayloadType": "com.apple.ManagedClient.preferences",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{PREFERENCES_DOMAIN}.policy.preferences",
        "PayloadUUID": str(uuid.uuid5(_UUID_NAMESPACE, "preferences")).upper(),
        "PayloadEnabled": True,
        "PayloadDisplayName": "Salus settings",
        "PayloadContent": {PREFERENCES_DOMAIN: {"Forced": [{"mcx_preference_settings": settings}]}},
    }
    profile = {
        "PayloadContent": [preferences],
        "PayloadDisplayName": "Salus managed policy (example)",
        "PayloadDescription": (
            "Fixes Salus settings for every user of this Mac. This example sets every key to its default: "
            "delete the keys you do not want to fix, and change the others (see salus-policy.schema.json)."
        ),
        "PayloadIdentifier": f"{PREFERENCES_DOMAIN}.policy",
        "PayloadOrganization": "Salus",
        "PayloadRemovalDisallowed": True,
        "PayloadScope": "System",
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.uuid5(_UUID_NAMESPACE, "profile")).upper(),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


# --- command line ----------------------------------------------------------------------------------------------


def stale_files(root: Path = ROOT) -> list[Path]:
    """The generated files whose committed content differs from what the schema produces now."""
    return [path for path, content in outputs().items() if _read(root / path) != content]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        stale = stale_files()
        for path in stale:
            print(f"{path} is out of date: run python packaging/policy_templates.py", file=sys.stderr)
        return 1 if stale else 0
    if argv:
        print("usage: python packaging/policy_templates.py [--check]", file=sys.stderr)
        return 2
    for path, content in outputs().items():
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_bytes(content)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
