"""Managed policy from several places at once: merging the layers and reading Windows registry values (pure).

Rules:
- A layer is one place IT can put policy (a JSON file, a registry key, a managed-preferences plist), already
  validated, with its origin: the exact path or key a person can go and look at.
- Layers are merged key by key, the first layer that sets a key wins, and the key remembers that layer's origin.
  The order of the layers on each platform is decided in `app.services.policy_sources`.
- Registry values are typed by Windows, not by JSON, so each one is converted according to the setting's own
  schema type; a value of the wrong registry type is an error naming the key, never a guess.
- Pure: the caller reads the registry and passes the (name, data, type) triples in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from app.core.errors import PolicyError
from app.core.settings import SCHEMA, Setting, validate


@dataclass(frozen=True, slots=True)
class PolicyLayer:
    origin: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # every layer found, highest precedence first, even one that sets nothing

    @property
    def primary(self) -> str | None:
        return self.sources[0] if self.sources else None


def merge(layers: Sequence[PolicyLayer]) -> ManagedPolicy:
    """Key-by-key merge; `layers` come highest precedence first."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.document.items():
            if key not in values:
                values[key] = value
                origins[key] = layer.origin
    return ManagedPolicy(values, origins, tuple(layer.origin for layer in layers))


class RegistryType(IntEnum):
    """The registry value types, numbered as in winnt.h (and Python's `winreg.REG_*` constants)."""

    REG_NONE = 0
    REG_SZ = 1
    REG_EXPAND_SZ = 2
    REG_BINARY = 3
    REG_DWORD = 4
    REG_DWORD_BIG_ENDIAN = 5
    REG_LINK = 6
    REG_MULTI_SZ = 7
    REG_RESOURCE_LIST = 8
    REG_FULL_RESOURCE_DESCRIPTOR = 9
    REG_RESOURCE_REQUIREMENTS_LIST = 10
    REG_QWORD = 11


@dataclass(frozen=True, slots=True)
class RegistryValue:
    name: str
    data: Any
    kind: int


# JSON Schema type of a setting -> the one registry type that may carry it (what the ADMX template writes).
_REGISTRY_TYPE = {
    "integer": RegistryType.REG_DWORD,
    "boolean": RegistryType.REG_DWORD,
    "string": RegistryType.REG_SZ,
    "array": RegistryType.REG_MULTI_SZ,
}
# Registry value names are case-insensitive on Windows, so "Allow_Plain" set by hand is the same value.
_BY_FOLDED_KEY = {setting.key.casefold(): setting for setting in SCHEMA}


def registry_document(values: Iterable[RegistryValue], *, origin: str) -> dict[str, Any]:
    """The policy document that registry values under the Salus policy key stand for; validated."""
    document: dict[str, Any] = {}
    for value in values:
        setting = _BY_FOLDED_KEY.get(value.name.casefold())
        if setting is None:
            raise PolicyError(f"{origin}: unknown value {value.name!r}.")
        document[setting.key] = _convert(setting, value, origin)
    return validate(document, origin=origin)


def _convert(setting: Setting, value: RegistryValue, origin: str) -> Any:
    json_type = _json_type(setting)
    wanted = _REGISTRY_TYPE[json_type]
    if value.kind != wanted:
        raise PolicyError(f"{origin}: {setting.key} must be a {wanted.name} value, not {_type_name(value.kind)}.")
    if json_type == "boolean":
        if value.data not in (0, 1):
            raise PolicyError(f"{origin}: {setting.key} must be 1 (on) or 0 (off), not {value.data}.")
        return value.data == 1
    if json_type == "array":
        return list(value.data)
    return value.data


def _json_type(setting: Setting) -> str:
    schema: dict[str, Any] = getattr(setting.validate, "json_schema", {})
    json_type = schema.get("type")
    if json_type not in _REGISTRY_TYPE:
        raise TypeError(f"The setting {setting.key!r} has no JSON type that the registry can carry.")
    return str(json_type)


def _type_name(kind: int) -> str:
    try:
        return RegistryType(kind).name
    except ValueError:
        return f"registry type {kind}"
